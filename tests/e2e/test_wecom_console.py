"""The WeCom console pages over HTTP: status and staff, live codes (create, QR, stats), the
default welcome, keyword rules and handovers — forms checked for CSRF and permissions."""

from __future__ import annotations

from typing import Any

from tests.wecom_sim import pump_inbox


def _sync(world: Any) -> None:
    from siyu.db import new_session
    from siyu.wecom.connection.service import client_for, get_corp
    from siyu.wecom.contacts.sync import sync

    with new_session() as s:
        corp = get_corp(s, world.corp_id)
        sync(s, corp, client_for(s, corp))


def test_wecom_pages_for_an_operator(driver: Any, client: Any) -> None:
    from tests.e2e.conftest import login, make_user

    world = driver.world
    customer = driver.add("guide001", welcome=False)[0]
    _sync(world)
    make_user("ops", "operator")
    csrf = login(client, "ops")
    page = client.get("/wecom")
    assert page.status_code == 200
    assert world.corp_id in page.text and "guide001" in page.text and "完成" in page.text
    # a live code from the form: redirected to its page with the QR image and stats
    bad = client.post("/wecom/live-codes", data={"csrf": csrf, "name": "柜台", "staff": "ghost"})
    assert bad.status_code == 200 and "ghost" in bad.text and 'data-testid="form-error"' in bad.text
    stale = client.post("/wecom/live-codes", data={"csrf": "old", "name": "x", "staff": "guide001"})
    assert "页面已过期" in stale.text
    made = client.post(
        "/wecom/live-codes",
        data={
            "csrf": csrf,
            "name": "南京西路店柜台",
            "staff": "guide001,guide002",
            "channel": "store",
        },
        follow_redirects=False,
    )
    assert made.status_code == 303
    code_page = client.get(made.headers["location"])
    assert "南京西路店柜台" in code_page.text and "qr.png" in code_page.text
    qr = code_page.text.split('data-testid="qr"')[0].rsplit('src="', 1)[1].split('"')[0]
    assert client.get(qr).content[:4] == b"\x89PNG"
    assert "南京西路店柜台" in client.get("/wecom/live-codes").text
    # the default welcome
    saved = client.post("/wecom/welcome", data={"csrf": csrf, "text": "{{ nickname }}您好"})
    assert 'data-testid="saved"' in saved.text
    broken = client.post("/wecom/welcome", data={"csrf": csrf, "text": "{{ nickname"})
    assert "模板第 1 行有误" in broken.text
    # a keyword rule, then disabling it
    made = client.post(
        "/wecom/keywords",
        data={
            "csrf": csrf,
            "name": "地址",
            "match": "exact",
            "pattern": "地址",
            "reply": "南京西路1号",
            "ch_kf": "1",
        },
        follow_redirects=False,
    )
    assert made.status_code == 303
    page = client.get("/wecom/keywords")
    assert "南京西路1号" in page.text and "停用" in page.text
    bad = client.post(
        "/wecom/keywords",
        data={"csrf": csrf, "name": "x", "match": "regex", "pattern": "(", "reply": "r"},
    )
    assert "不是有效的正则表达式" in bad.text
    slow = client.post(
        "/wecom/keywords",
        data={"csrf": csrf, "name": "x", "match": "regex", "pattern": "(a|aa)+$", "reply": "r"},
    )
    assert slow.status_code == 200 and "匹配太慢" in slow.text
    # a handover: to its page, customer by customer
    made = client.post(
        "/wecom/handovers",
        data={"csrf": csrf, "kind": "onjob", "from": "guide001", "to": "guide002", "groups": "1"},
        follow_redirects=False,
    )
    assert made.status_code == 303
    detail = client.get(made.headers["location"])
    assert customer.external_userid in detail.text and "等待接替" in detail.text
    same = client.post(
        "/wecom/handovers", data={"csrf": csrf, "from": "guide001", "to": "guide001"}
    )
    assert "转出和接替的是同一位员工" in same.text
    pump_inbox()
    assert client.get("/wecom/handovers/999").status_code == 404


def test_wecom_pages_read_only_for_a_guide(driver: Any, client: Any) -> None:
    from tests.e2e.conftest import login, make_user

    make_user("guide", "store_guide", "s01")
    csrf = login(client, "guide")
    for path in (
        "/wecom",
        "/wecom/live-codes",
        "/wecom/welcome",
        "/wecom/keywords",
        "/wecom/handovers",
    ):
        page = client.get(path)
        assert page.status_code == 200, path
        assert '<form method="post" action="/wecom' not in page.text, path
    denied = client.post("/wecom/live-codes", data={"csrf": csrf, "name": "x", "staff": "guide001"})
    assert denied.status_code == 403
    client.get("/lang/en")
    assert "Live codes" in client.get("/wecom/live-codes").text


def test_connect_a_corp_from_the_console(client: Any) -> None:
    from siyu.wecom.connection.crypto import new_aes_key
    from tests.e2e.conftest import login, make_user

    make_user("ops", "operator")
    csrf = login(client, "ops")
    assert 'data-testid="corp-form"' in client.get("/wecom").text
    form = {
        "csrf": csrf,
        "name": "悦颜",
        "corp_id": "ww0123456789abcdef",
        "agent_id": "1000002",
        "secret": "s3cret-value-1234567890",
        "token": "tok123",
        "aes_key": "short",
    }
    bad = client.post("/wecom/corps", data=form)
    assert "EncodingAESKey：" in bad.text and "s3cret" not in bad.text
    made = client.post(
        "/wecom/corps", data={**form, "aes_key": new_aes_key()}, follow_redirects=False
    )
    assert made.status_code == 303
    page = client.get("/wecom").text
    assert "ww0123456789abcdef" in page and "s3cret-value" not in page
