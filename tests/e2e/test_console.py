"""The console shell: login, customer list and detail, roles, CSRF, rate limiting."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from siyu.accounts.models import AuditLog
from siyu.ingest.orders import import_orders
from tests import platform_files as pf
from tests.conftest import write_csv
from tests.e2e.conftest import declared, login, make_user


def seed(engine, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from siyu.brands.models import Brand
    from siyu.db import session_scope

    with session_scope() as s:
        if s.scalar(sa.select(Brand).where(Brand.code == "b1")) is None:
            s.add(Brand(code="b1", name="品牌一"))
    pos = write_csv(
        tmp_path / "pos.csv",
        pf.POS_HEADER,
        [
            [
                "R1",
                "M1",
                "13812340001",
                "S1",
                "门店S1",
                "2026-07-01 15:00:00",
                "SK-1",
                "洁面乳",
                "洁面",
                1,
                "89",
                "89",
                "89",
                "销售",
            ],
            [
                "R2",
                "M2",
                "13812340002",
                "S2",
                "门店S2",
                "2026-07-01 16:00:00",
                "SK-1",
                "洁面乳",
                "洁面",
                1,
                "89",
                "89",
                "89",
                "销售",
            ],
        ],
    )
    import_orders(engine, settings, pos, "pos", actor="t", brand="b1")


def customer_ids(session) -> dict[str, int]:  # type: ignore[no-untyped-def]
    from siyu.customers.models import Identity

    rows = session.execute(
        sa.select(Identity.value, Identity.customer_id).where(Identity.kind == "member_id")
    )
    return {v: c for v, c in rows}


def test_login_list_and_masked_detail(client, engine, settings, session, tmp_path) -> None:  # type: ignore[no-untyped-def]
    make_user("op", "operator", "S1")
    seed(engine, settings, tmp_path)
    assert client.get("/customers").status_code == 303  # not logged in
    csrf = login(client, "op")
    page = client.get("/customers")
    assert page.status_code == 200 and "客户池" in page.text
    assert "138****0001" in page.text and "13812340001" not in page.text
    found = client.get("/customers", params={"q": "13812340002"})
    assert "138****0002" in found.text and "138****0001" not in found.text
    cid = customer_ids(session)["M1"]
    detail = client.get(f"/customers/{cid}")
    assert "138****0001" in detail.text and "洁面乳" in detail.text
    # unmasking needs the CSRF token and is audit-logged
    assert (
        "13812340001"
        not in client.post(f"/customers/{cid}", data={"unmask": "1", "csrf": "wrong"}).text
    )
    shown = client.post(f"/customers/{cid}", data={"unmask": "1", "csrf": csrf})
    assert "+8613812340001" in shown.text
    actions = set(session.scalars(sa.select(AuditLog.action)))
    assert "customer.unmask" in actions


def test_store_guide_sees_only_their_store(client, engine, settings, session, tmp_path) -> None:  # type: ignore[no-untyped-def]
    make_user("guide1", "store_guide", "S1")
    seed(engine, settings, tmp_path)
    login(client, "guide1")
    ids = customer_ids(session)
    page = client.get("/customers")
    assert "138****0001" in page.text and "138****0002" not in page.text
    assert client.get(f"/customers/{ids['M1']}").status_code == 200
    denied = client.get(f"/customers/{ids['M2']}")
    assert denied.status_code == 404  # another store's customer looks like a missing one
    session.expire_all()
    assert (
        session.scalar(sa.select(AuditLog).where(AuditLog.action == "customer.denied")) is not None
    )


def test_analyst_cannot_unmask(client, engine, settings, session, tmp_path) -> None:  # type: ignore[no-untyped-def]
    make_user("ana", "analyst")
    seed(engine, settings, tmp_path)
    csrf = login(client, "ana")
    cid = customer_ids(session)["M1"]
    page = client.post(f"/customers/{cid}", data={"unmask": "1", "csrf": csrf})
    assert "13812340001" not in page.text and "显示完整信息" not in page.text


def test_login_rate_limit_and_cookie_flags(client) -> None:  # type: ignore[no-untyped-def]
    make_user("op2", "operator")
    for _ in range(5):
        r = client.post("/login", data={"username": "op2", "password": "wrong-password-x"})
        assert r.status_code == 401
    r = client.post("/login", data={"username": "op2", "password": "correct-horse-battery"})
    assert r.status_code == 401 and "15" in r.text


def test_session_cookie_is_httponly_and_samesite(client) -> None:  # type: ignore[no-untyped-def]
    make_user("op3", "operator")
    r = client.post("/login", data={"username": "op3", "password": "correct-horse-battery"})
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie


def test_api_writes_with_a_cookie_need_csrf(client) -> None:  # type: ignore[no-untyped-def]
    make_user("op4", "admin")
    csrf = login(client, "op4")
    ev = {"type": "track", "messageId": "c1", "event": "x", "traits": {"phone": "13812340009"}}
    assert client.post("/api/v1/events", json=ev).status_code == 403
    assert client.post("/api/v1/events", json=ev, headers={"X-CSRF-Token": csrf}).status_code == 200


def test_language_switch_and_empty_state(client) -> None:  # type: ignore[no-untyped-def]
    make_user("op5", "operator")
    login(client, "op5")
    assert "还没有客户" in client.get("/customers").text
    client.get("/lang/en?next=/customers")
    page = client.get("/customers")
    assert "No customers yet" in page.text and "客户池" not in page.text


def test_customer_api_masks_and_scopes(
    client, engine, settings, session, tmp_path, api_key
) -> None:  # type: ignore[no-untyped-def]
    seed(engine, settings, tmp_path)
    h = {"Authorization": f"Bearer {api_key}"}
    listing = client.get("/api/v1/customers", headers=h).json()
    assert listing["total"] == 2 and all("****" in c["phone"] for c in listing["items"])
    cid = customer_ids(session)["M1"]
    assert client.get(f"/api/v1/customers/{cid}?unmask=true", headers=h).status_code == 403
    assert client.get("/api/v1/customers/999999", headers=h).status_code == 404


def test_demo_password_refused_outside_demo(client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from siyu.accounts.models import User
    from siyu.accounts.service import hash_password
    from siyu.config import DEMO_ADMIN_PASSWORD
    from siyu.db import session_scope

    with session_scope() as s:
        s.add(
            User(
                username="admin",
                display_name="a",
                password_hash=hash_password(DEMO_ADMIN_PASSWORD),
                role="admin",
            )
        )
    r = client.post("/login", data={"username": "admin", "password": DEMO_ADMIN_PASSWORD})
    assert r.status_code == 401


def test_merge_unmerge_and_privacy_over_the_api(
    client, engine, settings, session, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    make_user("boss", "admin")
    make_user("op9", "operator")
    seed(engine, settings, tmp_path)
    ids = customer_ids(session)
    csrf = login(client, "op9")
    h = {"X-CSRF-Token": csrf}
    refused = client.post(
        "/api/v1/customers/merge", json={"winner_id": ids["M1"], "loser_id": ids["M2"]}, headers=h
    )
    assert refused.status_code == 409 and "force" in refused.json()["detail"]
    nobody = client.post(
        "/api/v1/customers/merge", json={"winner_id": ids["M1"], "loser_id": 999_999}, headers=h
    )
    assert nobody.status_code == 404 and 404 in declared(client, "POST", "/api/v1/customers/merge")
    merged = client.post(
        "/api/v1/customers/merge",
        json={"winner_id": ids["M1"], "loser_id": ids["M2"], "force": True},
        headers=h,
    )
    assert merged.status_code == 200
    undo = client.post(f"/api/v1/customers/unmerge/{merged.json()['merge_id']}", headers=h)
    assert undo.json() == {"restored_customer_id": ids["M2"]}
    assert (
        client.post("/api/v1/privacy/export", json={"phone": "13812340001"}, headers=h).status_code
        == 403
    )
    client.post("/logout", data={"csrf": csrf})
    h = {"X-CSRF-Token": login(client, "boss")}
    exported = client.post("/api/v1/privacy/export", json={"phone": "13812340001"}, headers=h)
    assert exported.status_code == 200 and "+8613812340001" in str(exported.json())
    erased = client.post("/api/v1/privacy/erase", json={"phone": "13812340001"}, headers=h)
    assert erased.status_code == 200 and erased.json()["erased_profiles"] == 1
    assert erased.json()["analytical_copy"]["state"] == "no copy"  # none built in this test
    assert (
        client.post("/api/v1/privacy/export", json={"phone": "13812340001"}, headers=h).status_code
        == 404
    )


PLANTED = {
    "contact": {"phone": "13933334444", "email": "zhang.san@example.com"},
    "手机号": "13977778888",
    "收货地址": "上海市长宁区长宁路123号5楼501室",
    "备注": "张三 13955556666，身份证110101199003071234",
    "sku": "SK-1001",
}
SECRETS = (
    "13933334444",
    "zhang.san@example.com",
    "13977778888",
    "长宁路123号",
    "13955556666",
    "110101199003071234",
)


def test_personal_data_in_event_properties_is_masked_by_value(
    client, engine, settings, session, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """Analysts saw phones, e-mails and addresses nested in event properties, under Chinese
    keys and in free text; masking now goes by value, on the page and over the API."""
    from siyu.db import session_scope, utcnow
    from siyu.events.models import Event

    make_user("ana", "analyst")
    make_user("op", "operator")
    seed(engine, settings, tmp_path)
    cid = customer_ids(session)["M1"]
    with session_scope() as s:
        s.add(
            Event(
                message_id="planted-1",
                customer_id=cid,
                type="track",
                name="留资 13966667777",
                properties=PLANTED,
                occurred_at=utcnow(),
                source="test",
            )
        )
    ana = login(client, "ana")
    page = client.get(f"/customers/{cid}")
    assert page.status_code == 200 and "SK-1001" in page.text
    api = client.get(f"/api/v1/customers/{cid}")
    assert api.status_code == 200
    for shown in (page.text, api.text):
        for secret in (*SECRETS, "13966667777"):
            assert secret not in shown, secret
    props = next(e for e in api.json()["events"] if e["name"].startswith("留资"))["properties"]
    assert props["contact"]["phone"] == "139****4444"
    assert props["备注"].startswith("张三 139****6666")
    client.post("/logout", data={"csrf": ana})
    csrf = login(client, "op")  # an operator sees it all only by unmasking, which is audited
    assert "13933334444" not in client.get(f"/customers/{cid}").text
    shown = client.post(f"/customers/{cid}", data={"unmask": "1", "csrf": csrf}).text
    assert all(secret in shown for secret in SECRETS)
