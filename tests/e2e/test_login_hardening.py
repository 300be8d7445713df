"""Logins and sessions at the edges: logout ends the server session whatever the form says,
a short production key is refused, another store's customer looks like a missing one, and
behind a trusted reverse proxy the real client's address and scheme count."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from siyu.cli import app as cli_app
from tests.e2e.conftest import login, make_user

runner = CliRunner()


def test_logout_without_the_csrf_token_ends_the_server_session(client: TestClient) -> None:
    make_user("op1", "operator")
    login(client, "op1")
    stolen = client.cookies.get("siyu_session")
    assert stolen
    out = client.post("/logout", data={})  # no token: the form was forged, or it expired
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert "siyu_session=" in out.headers["set-cookie"]  # cleared in the browser
    with TestClient(client.app, follow_redirects=False) as other:
        other.cookies.set("siyu_session", stolen)
        assert other.get("/customers").status_code == 303  # and dead on the server
        assert other.get("/api/v1/customers").status_code == 401


def test_logout_with_a_wrong_token_or_no_session_still_answers_the_login_page(
    client: TestClient,
) -> None:
    make_user("op2", "operator")
    login(client, "op2")
    stolen = client.cookies.get("siyu_session")
    assert client.post("/logout", data={"csrf": "wrong"}).status_code == 303
    with TestClient(client.app, follow_redirects=False) as other:
        other.cookies.set("siyu_session", stolen or "")
        assert other.get("/customers").status_code == 303
        again = other.post("/logout", data={})  # an already ended or made-up session
        assert again.status_code == 303 and again.headers["location"] == "/login"


def test_a_short_production_secret_key_is_refused_at_start(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import uvicorn

    from siyu.config import reset_settings

    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: pytest.fail("started"))
    monkeypatch.setenv("SIYU_SECRET_KEY", "x" * 31)
    reset_settings()
    out = runner.invoke(cli_app, ["serve"])
    assert out.exit_code == 1 and "31 bytes" in out.output and "32" in out.output
    monkeypatch.setenv("SIYU_SECRET_KEY", "長" * 11)  # 33 bytes in UTF-8: bytes count, not letters
    reset_settings()
    from siyu.config import get_settings

    assert len(get_settings().secret_key_bytes()) == 33
    monkeypatch.setenv("SIYU_MODE", "demo")  # the demo keeps whatever key it was given
    monkeypatch.setenv("SIYU_SECRET_KEY", "short")
    reset_settings()
    assert get_settings().secret_key_bytes() == b"short"


def _two_stores() -> tuple[int, int]:
    from siyu.brands.models import Store
    from siyu.customers.models import Customer
    from siyu.db import session_scope

    make_user("guide", "store_guide", "s1")
    make_user("other", "store_guide", "s2")
    with session_scope() as s:
        s2 = s.scalar(sa.select(Store.id).where(Store.code == "s2"))
        theirs = Customer(name="别家客户", store_id=s2, status="active")
        s.add(theirs)
        s.flush()
        return theirs.id, theirs.id + 1000


def test_another_stores_customer_answers_like_a_missing_one(client: TestClient) -> None:
    theirs, missing = _two_stores()
    login(client, "guide")
    a = client.get(f"/api/v1/customers/{theirs}")
    b = client.get(f"/api/v1/customers/{missing}")
    assert a.status_code == b.status_code == 404
    assert a.json()["detail"] == f"no customer {theirs}"
    assert b.json()["detail"] == f"no customer {missing}"
    zh = {"Accept-Language": "zh-CN"}
    za = client.get(f"/api/v1/customers/{theirs}", headers=zh).json()["detail"]
    zb = client.get(f"/api/v1/customers/{missing}", headers=zh).json()["detail"]
    assert za.replace(str(theirs), "N") == zb.replace(str(missing), "N")
    pa, pb = client.get(f"/customers/{theirs}"), client.get(f"/customers/{missing}")
    assert pa.status_code == pb.status_code == 404
    same = pb.text.replace(f"/customers/{missing}", f"/customers/{theirs}")  # the page's own URL
    assert pa.text == same
    from siyu.accounts.models import AuditLog
    from siyu.db import session_scope

    with session_scope() as s:  # the probe is still on record
        denied = s.scalars(
            sa.select(AuditLog.target_id).where(AuditLog.action == "customer.denied")
        )
        assert str(theirs) in set(denied)


def test_the_cli_says_the_same(client: TestClient, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    theirs, missing = _two_stores()
    monkeypatch.setenv("SIYU_CLI_USER", "guide")
    a = runner.invoke(cli_app, ["customers", "show", str(theirs)])
    b = runner.invoke(cli_app, ["customers", "show", str(missing)])
    assert a.exit_code == b.exit_code == 1
    assert a.output.replace(str(theirs), "N") == b.output.replace(str(missing), "N")


# -- behind a reverse proxy ---------------------------------------------------------------
def _behind_proxy(trusted: str, peer: str) -> TestClient:
    from siyu.app import create_app

    proxied: Any = ProxyHeadersMiddleware(create_app(), trusted_hosts=trusted)
    return TestClient(proxied, client=(peer, 40000), follow_redirects=False)


def _fail(c: TestClient, username: str, client_ip: str) -> int:
    headers = {"X-Forwarded-For": client_ip, "X-Forwarded-Proto": "https"}
    r = c.post(
        "/login", data={"username": username, "password": "wrong-password-x"}, headers=headers
    )
    return r.status_code


def test_a_trusted_proxy_forwards_the_client_address_and_scheme(settings) -> None:  # type: ignore[no-untyped-def]
    make_user("p1", "operator")
    with _behind_proxy("10.0.0.0/8", "10.0.0.2") as c:
        # one client spends the address's allowance on names that do not exist ...
        for i in range(settings.login_max_failures):
            assert _fail(c, f"nobody{i}", "203.0.113.7") == 401
        # ... which locks that client out, not everyone else behind the same proxy
        locked = c.post(
            "/login",
            data={"username": "p1", "password": "correct-horse-battery"},
            headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"},
        )
        assert locked.status_code == 401
        ok = c.post(
            "/login",
            data={"username": "p1", "password": "correct-horse-battery"},
            headers={"X-Forwarded-For": "198.51.100.9", "X-Forwarded-Proto": "https"},
        )
        assert ok.status_code == 303
        cookie = ok.headers["set-cookie"].lower()
        assert "secure" in cookie and "httponly" in cookie
    from siyu.accounts.models import AuditLog
    from siyu.db import session_scope

    with session_scope() as s:
        actors = set(s.scalars(sa.select(AuditLog.actor).where(AuditLog.action == "login.failed")))
    assert actors == {"anon:203.0.113.7"}


def test_an_untrusted_peer_cannot_pick_its_address_or_scheme(settings) -> None:  # type: ignore[no-untyped-def]
    """A client that talks to Siyu directly and writes X-Forwarded-For itself stays itself: it
    cannot dodge the lockout by naming a new address each time, nor claim https."""
    make_user("p2", "operator")
    with _behind_proxy("10.0.0.0/8", "192.0.2.50") as c:
        for i in range(settings.login_max_failures):
            assert _fail(c, f"nobody{i}", f"203.0.113.{i + 1}") == 401
        r = c.post(
            "/login",
            data={"username": "p2", "password": "correct-horse-battery"},
            headers={"X-Forwarded-For": "198.51.100.200", "X-Forwarded-Proto": "https"},
        )
        assert r.status_code == 401  # its own address is locked, whatever it claims
    from siyu.accounts.models import AuditLog
    from siyu.db import session_scope

    with session_scope() as s:
        actors = set(s.scalars(sa.select(AuditLog.actor).where(AuditLog.action == "login.failed")))
    assert actors == {"anon:192.0.2.50"}


def test_without_a_proxy_the_cookie_is_not_secure_over_http() -> None:
    make_user("p3", "operator")
    with _behind_proxy("10.0.0.0/8", "192.0.2.51") as c:
        r = c.post(
            "/login",
            data={"username": "p3", "password": "correct-horse-battery"},
            headers={"X-Forwarded-Proto": "https"},  # claimed, not believed
        )
        assert r.status_code == 303 and "secure" not in r.headers["set-cookie"].lower()


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        ([], None, "127.0.0.1"),
        (["--forwarded-allow-ips", "10.0.0.0/8, 192.168.1.7"], None, "10.0.0.0/8,192.168.1.7"),
        ([], "172.16.0.0/12", "172.16.0.0/12"),
        (["--forwarded-allow-ips", "*"], "172.16.0.0/12", "*"),
    ],
)
def test_serve_passes_the_trusted_proxies_to_uvicorn(monkeypatch, args, env, expected) -> None:  # type: ignore[no-untyped-def]
    import uvicorn

    from siyu.config import reset_settings

    if env is not None:
        monkeypatch.setenv("SIYU_FORWARDED_ALLOW_IPS", env)
    reset_settings()
    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: seen.update(kw))
    out = runner.invoke(cli_app, ["serve", *args])
    assert out.exit_code == 0, out.output
    assert seen["proxy_headers"] is True and seen["forwarded_allow_ips"] == expected


@pytest.mark.parametrize("value", ["proxy.internal", "10.0.0.0/33", "", " , "])
def test_serve_refuses_a_proxy_list_it_cannot_read(monkeypatch, value) -> None:  # type: ignore[no-untyped-def]
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: pytest.fail("started"))
    out = runner.invoke(cli_app, ["serve", "--forwarded-allow-ips", value])
    assert out.exit_code == 1 and "forwarded-allow-ips" in out.output


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Origin": "http://testserver"}, 303),  # the console's own page
        ({"Referer": "http://testserver/login?next=/x"}, 303),
        ({"Origin": "http://127.0.0.1:8000"}, 303),  # the configured public address
        ({}, 303),  # a script or an old client says nothing
        ({"Origin": "https://evil.example"}, 403),
        ({"Origin": "null"}, 403),  # a sandboxed frame elsewhere
        ({"Referer": "https://testserver.evil.example/"}, 403),
        ({"Origin": "http://testserver", "Sec-Fetch-Site": "cross-site"}, 403),
        ({"Origin": "https://TestServer:8443"}, 303),  # a proxy's Host $host drops the port
        ({"Origin": "http://127.0.0.1"}, 303),  # the public address, its port left out
        ({"Referer": "http://testserver@evil.example/"}, 403),
        ({"Origin": "http://[::1"}, 403),  # unreadable
    ],
)
def test_a_login_form_from_another_site_is_refused(
    client: TestClient, headers: dict[str, str], status: int
) -> None:
    make_user("op9", "operator")
    r = client.post(
        "/login",
        data={"username": "op9", "password": "correct-horse-battery", "next": "/customers"},
        headers=headers,
    )
    assert r.status_code == status
    if status == 403:
        assert "其他网站" in r.text and "siyu_session" not in r.headers.get("set-cookie", "")


@pytest.mark.parametrize("target", ["//evil.example/", "/\\evil.example", "https://evil.example"])
def test_after_login_only_a_path_of_this_site_is_followed(client: TestClient, target: str) -> None:
    make_user("op10", "operator")
    r = client.post(
        "/login",
        data={"username": "op10", "password": "correct-horse-battery", "next": target},
    )
    assert r.status_code == 303 and r.headers["location"] == "/customers"


def test_a_password_change_ends_the_users_sessions(client: TestClient) -> None:
    make_user("op11", "operator")
    login(client, "op11")
    assert client.get("/customers").status_code == 200
    out = runner.invoke(cli_app, ["users", "passwd", "op11", "--password", "a-new-long-secret-7"])
    assert out.exit_code == 0, out.output
    assert client.get("/customers").status_code == 303
    out = runner.invoke(cli_app, ["users", "passwd", "op11", "--password", "short"])
    assert out.exit_code != 0
    login(client, "op11", "a-new-long-secret-7")  # the refused change left the new password
