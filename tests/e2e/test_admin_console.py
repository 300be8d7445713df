"""Administration over HTTP: users created and changed (role, store, switched off — their
sessions end), the last admin kept, API keys shown once and revoked, the audit log filtered
and exported (the export itself audited); forms refuse stale CSRF tokens and other roles."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.e2e.conftest import login, make_user


def _csrf(client: TestClient) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', client.get("/admin").text)
    assert m
    return m.group(1)


def test_users_roles_and_api_keys(client: TestClient) -> None:
    import sqlalchemy as sa

    from siyu.accounts.models import User
    from siyu.db import session_scope

    make_user("boss", "admin")
    make_user("daogou", "store_guide", store_code="s1")
    login(client, "boss")
    csrf = _csrf(client)
    page = client.get("/admin")
    assert page.status_code == 200 and "门店导购" in page.text and "daogou" in page.text
    made = client.post(
        "/admin/users",
        data={"csrf": csrf, "username": "fenxi", "password": "long-enough-pw", "role": "analyst"},
    )
    assert made.status_code == 303
    assert "fenxi" in client.get("/admin").text
    twice = client.post(
        "/admin/users",
        data={"csrf": csrf, "username": "fenxi", "password": "long-enough-pw", "role": "analyst"},
    )
    assert twice.status_code == 400 and "用户 &#39;fenxi&#39; 已存在" in twice.text
    guide_without_store = client.post(
        "/admin/users",
        data={"csrf": csrf, "username": "g2", "password": "long-enough-pw", "role": "store_guide"},
    )
    assert (
        guide_without_store.status_code == 400
        and "门店导购需要指定门店" in guide_without_store.text
    )
    stale = client.post("/admin/users", data={"csrf": "old", "username": "x", "password": "y"})
    assert stale.status_code == 400 and "页面已过期" in stale.text
    # a guide with their WeCom userid (a bad one is refused in words)
    guide = {"csrf": csrf, "username": "g3", "password": "long-enough-pw", "role": "store_guide"}
    with session_scope() as s:
        guide["store_id"] = str(s.scalar(sa.select(User.store_id).where(User.username == "daogou")))
    bad = client.post("/admin/users", data={**guide, "wecom_userid": "小王 guide"})
    assert bad.status_code == 400 and "企微账号" in bad.text
    assert (
        client.post("/admin/users", data={**guide, "wecom_userid": "xiaowang"}).status_code == 303
    )
    assert 'value="xiaowang"' in client.get("/admin").text
    with session_scope() as s:
        g3 = s.scalar(sa.select(User).where(User.username == "g3"))
        assert g3 is not None and g3.wecom_userid == "xiaowang"
        g3_id = g3.id
    cleared = {"csrf": csrf, "role": "store_guide", "active": "1", "wecom_userid": ""}
    assert client.post(f"/admin/users/{g3_id}", data=cleared).status_code == 303
    with session_scope() as s:
        assert s.get(User, g3_id).wecom_userid is None  # type: ignore[union-attr]

    # the analyst logs in; switching them off ends their session at once
    other = TestClient(client.app, follow_redirects=False)
    login(other, "fenxi", "long-enough-pw")
    with session_scope() as s:
        fenxi = s.scalar(sa.select(User.id).where(User.username == "fenxi"))
        boss = s.scalar(sa.select(User.id).where(User.username == "boss"))
    off = client.post(
        f"/admin/users/{fenxi}", data={"csrf": csrf, "role": "analyst", "active": "0"}
    )
    assert off.status_code == 303
    assert other.get("/customers").status_code == 303  # back to the login page
    refused = other.post(
        "/login", data={"username": "fenxi", "password": "long-enough-pw", "next": "/customers"}
    )
    assert refused.status_code != 303
    # the last admin cannot demote themself
    alone = client.post(
        f"/admin/users/{boss}", data={"csrf": csrf, "role": "operator", "active": "1"}
    )
    assert alone.status_code == 400 and "最后一位在用的管理员" in alone.text

    # an API key: shown once, works, revoked
    key_page = client.post(
        "/admin/apikeys", data={"csrf": csrf, "name": "小程序", "scope": ["events:write"]}
    )
    secret = re.search(r'data-testid="new-key">.*?<code class="mono">([^<]+)</code>', key_page.text)
    assert key_page.status_code == 200 and secret
    event = {
        "type": "track",
        "messageId": "m-admin-1",
        "event": "浏览商品",
        "traits": {"phone": "13812340001"},
        "timestamp": "2026-06-18T10:00:00+08:00",
    }
    h = {"Authorization": f"Bearer {secret.group(1)}"}
    assert client.post("/api/v1/events", json=event, headers=h).status_code == 200
    assert secret.group(1) not in client.get("/admin").text  # never shown again
    no_scope = client.post("/admin/apikeys", data={"csrf": csrf, "name": "x"})
    assert no_scope.status_code == 400 and "scope" in no_scope.text
    prefix = re.search(r'data-testid="revoke-([0-9a-f]+)"', client.get("/admin").text)
    assert prefix
    assert (
        client.post(f"/admin/apikeys/{prefix.group(1)}/revoke", data={"csrf": csrf}).status_code
        == 303
    )
    event["messageId"] = "m-admin-2"
    assert client.post("/api/v1/events", json=event, headers=h).status_code == 401

    # the audit log shows all of it, filtered and exported
    def rows(url: str) -> str:
        page = client.get(url)
        assert page.status_code == 200
        return page.text.split('data-testid="audit-rows"', 1)[1]

    users = rows("/admin/audit?action=user.")
    assert "user.update" in users and "user.create" in users and "apikey.revoke" not in users
    assert "apikey.revoke" in rows("/admin/audit?actor=boss")
    assert client.get("/admin/audit?start=昨天").status_code == 400
    sheet = client.get("/admin/audit.csv?action=apikey.")
    body = sheet.content.decode("utf-8-sig")
    assert sheet.headers["content-type"].startswith("text/csv")
    assert body.splitlines()[0].startswith("id,time,actor,action")
    assert "apikey.create" in body and "user.create" not in body
    assert "audit.export" in rows("/admin/audit?action=audit.")

    # nobody else gets in
    login(client, "daogou")
    assert client.get("/admin").status_code == 403
    assert client.get("/admin/audit").status_code == 403
