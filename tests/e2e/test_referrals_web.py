"""Referral over HTTP: a member's page (code, link, QR), the short link and the invitation a
new customer opens (the visit counted with their device), the sign-up it leads to credited to
the referrer; hostile codes and names; the API's settings, list and decisions with their
4xx; the console page with its forms checked for CSRF and permissions."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from tests.centre_world import code_for
from tests.e2e.conftest import login, make_user
from tests.e2e.test_member_centre import sign_in

REFERRER, NEWCOMER = "13912340011", "13912340012"
HOSTILE = "<script>alert(1)</script>"


def _rules(**kw: Any) -> None:
    from siyu.db import session_scope
    from siyu.growth.service import set_rules

    with session_scope() as s:
        set_rules(s, "yy", "test", referrer_points=100, invitee_points=50, **kw)


def _deliver() -> None:
    from siyu.jobs import service as jobs

    while jobs.run_once("test-worker"):  # the worker that sent the SMS codes
        pass


def _my_code(client: TestClient) -> str:
    page = client.get("/m/referrals")
    assert page.status_code == 200, page.text
    found = re.search(r'class="number">([A-Z0-9]{8})<', page.text)
    assert found, page.text
    return found.group(1)


def test_a_friend_opens_the_link_signs_up_and_is_credited(
    client: TestClient, centre: dict[str, Any]
) -> None:
    from siyu.app import create_app
    from siyu.db import session_scope
    from siyu.growth.models import Referral, ReferralVisit

    _rules()
    sign_in(client, centre, REFERRER)
    code = _my_code(client)
    qr = client.get("/m/referrals/qr.svg")
    assert qr.status_code == 200 and qr.headers["content-type"].startswith("image/svg+xml")
    drawn = client.get("/m/referrals/poster.png")  # no WeCom guide: the link's QR on it
    assert drawn.status_code == 200 and drawn.content.startswith(b"\x89PNG")
    assert "Rewards are for friends" in client.get("/m/referrals").text or "从不因为分享" in (
        client.get("/m/referrals", headers={"Accept-Language": "zh-CN"}).text
    )
    with TestClient(create_app(), follow_redirects=False) as friend:
        short = friend.get(f"/r/{code.lower()}")
        assert short.status_code == 303 and short.headers["location"] == f"/m/invite/{code}"
        invite = friend.get(short.headers["location"])
        assert invite.status_code == 200
        assert "siyu_device" in invite.headers.get("set-cookie", "")
        join = re.search(r'href="(/m/login\?via=referral:\d+)"', invite.text)
        assert join, invite.text
        again = friend.get(f"/m/invite/{code}")  # a reload counts once
        assert again.status_code == 200
        assert friend.get(join.group(1)).status_code == 200
        friend.post("/m/login/code", data={"phone": NEWCOMER})
        sms = code_for(centre["gateway"], NEWCOMER)
        via = join.group(1).split("via=", 1)[1]
        done = friend.post(
            "/m/login", data={"phone": NEWCOMER, "code": sms, "agree": "yes", "via": via}
        )
        assert done.status_code == 303, done.text
    _deliver()
    with session_scope() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(ReferralVisit)) == 1
        referral = s.scalars(sa.select(Referral)).one()
        assert (referral.channel, referral.status, referral.reasons) == ("centre", "attributed", [])
    mine = client.get("/m/referrals")
    assert "Waiting for their first order" in mine.text or "等待" in mine.text
    assert NEWCOMER not in mine.text  # a masked name, never the number


def test_hostile_and_unknown_codes_answer_the_not_valid_page(
    client: TestClient, centre: dict[str, Any]
) -> None:
    _rules()
    assert client.get("/r/..%2F..%2Fadmin").status_code == 404  # no route: nothing to follow
    assert client.get("/r/A%00").status_code == 400  # control characters: refused before routing
    for path in ("/r/ZZZZZZZZ", "/r/%3Cscript%3E", "/r/" + "A" * 3000, "/r/%E4%BD%A0"):
        hop = client.get(path)
        assert hop.status_code == 303 and hop.headers["location"].startswith("/m/invite/")
        assert "<script" not in hop.headers["location"]
        page = client.get(hop.headers["location"])
        assert page.status_code == 404 and "<script>" not in page.text
    assert client.get("/m/referrals").headers["location"] == "/m/login"
    assert client.get("/m/referrals/qr.svg").headers["location"] == "/m/login"
    assert client.get("/m/referrals/poster.png").headers["location"] == "/m/login"


def test_the_inviters_name_is_masked_and_escaped(
    client: TestClient, centre: dict[str, Any]
) -> None:
    from siyu.customers.models import Customer
    from siyu.db import session_scope

    _rules()
    sign_in(client, centre, REFERRER)
    code = _my_code(client)
    with session_scope() as s:
        for c in s.scalars(sa.select(Customer)):
            c.name = HOSTILE + "王芳"
    client.cookies.clear()
    page = client.get(f"/m/invite/{code}")
    assert page.status_code == 200
    assert HOSTILE not in page.text and "王芳" not in page.text and "&lt;**" in page.text


def test_a_member_without_a_running_programme_sees_no_code(
    client: TestClient, centre: dict[str, Any]
) -> None:
    sign_in(client, centre, REFERRER)
    page = client.get("/m/referrals")
    assert page.status_code == 200 and 'class="number"' not in page.text
    assert client.get("/m/referrals/qr.svg").status_code == 404
    assert client.get("/m/referrals/poster.png").status_code == 404
    _rules(active=False)
    assert 'class="number"' not in client.get("/m/referrals").text


# -- the API ---------------------------------------------------------------------------------------
def _key(*scopes: str) -> dict[str, str]:
    from siyu.accounts.service import create_api_key
    from siyu.db import session_scope

    with session_scope() as s:
        _row, secret = create_api_key(s, "growth", list(scopes))
    return {"Authorization": f"Bearer {secret}"}


def test_the_api_sets_reads_and_decides(client: TestClient, centre: dict[str, Any]) -> None:
    from siyu.db import session_scope
    from siyu.growth.models import Referral

    key = _key("growth:manage")
    path = "/api/v1/growth/programmes/yy/referral"
    assert client.get(path, headers=key).status_code == 404  # not set up yet
    put = client.put(path, headers=key, json={"referrer_points": 200, "invitee_coupon": "new20"})
    assert put.status_code == 200, put.text
    assert put.json()["referrer_points"] == 200 and put.json()["invitee_coupon"] == "new20"
    assert client.get(path, headers=key).json()["refund_days"] == 7
    for bad in (
        {"refund_days": 400},
        {"device_most": 0},
        {"invitee_coupon": "nope"},
        {"store_networks": ["not-an-ip"]},
        {"shares": 1},
        {"referrer_points": -1},
        {"referrer_points": "1e9"},
    ):
        answer = client.put(path, headers=key, json=bad)
        assert answer.status_code == 422, (bad, answer.text)
    assert (
        client.put("/api/v1/growth/programmes/nope/referral", headers=key, json={}).status_code
        == 404
    )
    assert client.get(path).status_code == 401
    assert client.get(path, headers=_key("events:write")).status_code == 403
    listed = client.get("/api/v1/growth/referrals?status=review", headers=key)
    assert listed.status_code == 200 and listed.json() == {"total": 0, "referrals": []}
    assert client.get("/api/v1/growth/referrals?status=bogus", headers=key).status_code == 422
    decide = "/api/v1/growth/referrals/{}/decision"
    assert client.post(decide.format(999), headers=key, json={"approve": True}).status_code == 404
    assert client.post(decide.format(0), headers=key, json={"approve": True}).status_code == 422
    assert client.post(decide.format(2**40), headers=key, json={"approve": True}).status_code == 422
    # one held referral, made as the checks would
    from siyu.growth.service import set_rules
    from siyu.loyalty.models import Programme
    from tests.growth_world import arrive, referrer

    with session_scope() as s:
        set_rules(s, "yy", "t", device_most=1)
        programme = s.scalars(sa.select(Programme)).one()
        ref = referrer(s, programme)
        arrive(s, programme, ref, device="same")
        held, _ = arrive(s, programme, ref, device="same", address="10.0.0.2")
        held_id = held.id
    ok = client.post(decide.format(held_id), headers=key, json={"approve": False})
    assert ok.status_code == 200 and ok.json()["status"] == "void"
    assert "operator" in ok.json()["reasons"]
    again = client.post(decide.format(held_id), headers=key, json={"approve": True})
    assert again.status_code == 409
    with session_scope() as s:
        assert s.get(Referral, held_id).decided_by  # who decided, in the row and the audit log


# -- the console -----------------------------------------------------------------------------------
def test_the_console_page_saves_settings_and_checks_its_forms(
    client: TestClient, centre: dict[str, Any]
) -> None:
    make_user("ops", "operator")
    make_user("guide", "store_guide", "s1")
    csrf = login(client, "ops")
    page = client.get("/growth/referrals")
    assert page.status_code == 200 and "referral-settings-yy" in page.text
    form = {
        "csrf": csrf,
        "programme": "yy",
        "active": "1",
        "referrer_points": "300",
        "invitee_points": "100",
        "referrer_coupon": "",
        "invitee_coupon": "new20",
        "min_order_yuan": "99",
        "refund_days": "7",
        "store_networks": "10.1.0.0/16",
    }
    saved = client.post("/growth/referrals/settings", data=form)
    assert saved.status_code == 303, saved.text
    shown = client.get("/growth/referrals?done=saved")
    assert 'value="300"' in shown.text and "10.1.0.0/16" in shown.text
    refused = client.post("/growth/referrals/settings", data={**form, "csrf": "x"})
    assert refused.status_code == 403
    for bad in ({"refund_days": "-1"}, {"store_networks": HOSTILE}, {"invitee_coupon": HOSTILE}):
        answer = client.post("/growth/referrals/settings", data={**form, **bad})
        assert answer.status_code == 422, bad
        assert "<script>alert" not in answer.text
    assert (
        client.post(
            "/growth/referrals/999/decision", data={"csrf": csrf, "approve": "1"}
        ).status_code
        == 404
    )
    client.cookies.clear()
    login(client, "guide")
    assert client.get("/growth/referrals").status_code == 403


# -- fission ---------------------------------------------------------------------------------------
def test_fission_over_the_api_console_and_member_centre(
    client: TestClient, centre: dict[str, Any]
) -> None:
    _rules()
    key = _key("growth:manage")
    body = {
        "programme": "yy",
        "name": "三月任务宝",
        "poster_text": "好友首单满 99 元，你得 200 积分",
        "starts_at": "2026-03-01T00:00:00+08:00",
        "ends_at": "2030-03-31T00:00:00+08:00",
        "stages": [{"orders": 1, "points": 100}, {"orders": 3, "points": 500, "coupon": "new20"}],
    }
    made = client.post("/api/v1/growth/fission", headers=key, json=body)
    assert made.status_code == 201, made.text
    for bad in (
        {"stages": [{"trigger": "shares", "orders": 1, "points": 1}]},
        {"stages": [{"trigger": "invites", "orders": 5, "points": 1}]},
        {"poster_text": "转发朋友圈送红包"},
        {"poster_text": HOSTILE + "助力"},
        {"stages": []},
        {"ends_at": "2020-01-01T00:00:00+08:00"},
        {"starts_at": "2026-03-01T00:00:00"},  # no zone
        {"group_code_id": 999},  # no such group live code
        {"group_code_id": 2**40},
    ):
        refused = client.post("/api/v1/growth/fission", headers=key, json={**body, **bad})
        assert refused.status_code == 422, (bad, refused.text)
    words = client.post(
        "/api/v1/growth/fission",
        headers=key,
        json={**body, "stages": [{"trigger": "shares", "orders": 1, "points": 1}]},
    ).json()["detail"]
    assert "WeChat" in str(words)
    listed = client.get("/api/v1/growth/fission", headers=key)
    assert listed.status_code == 200 and [c["name"] for c in listed.json()] == ["三月任务宝"]
    # the member sees the campaign with their progress
    sign_in(client, centre, REFERRER)
    page = client.get("/m/fission")
    assert page.status_code == 200 and "三月任务宝" in page.text
    client.cookies.clear()
    assert client.get("/m/fission").headers["location"] == "/m/login"
    # the console refuses a share-triggered campaign and says why
    make_user("ops", "operator")
    csrf = login(client, "ops")
    assert client.get("/growth/fission").status_code == 200
    form = {"csrf": csrf, "programme": "yy", "name": HOSTILE, "days": "30", "stages": "1, 100"}
    refused = client.post("/growth/fission", data={**form, "trigger": "shares"})
    assert refused.status_code == 422
    assert "诱导分享" in refused.text or "WeChat forbids" in refused.text
    assert "<script>alert" not in refused.text
    for group in ("999", "x1", "-3"):  # no such group live code, and not a number
        no_group = client.post("/growth/fission", data={**form, "group_code": group})
        assert no_group.status_code == 422 and HOSTILE not in no_group.text
    ok = client.post("/growth/fission", data={**form, "trigger": "paid_orders"})
    assert ok.status_code == 303
    assert "&lt;script&gt;" in client.get("/growth/fission").text
    assert client.post("/growth/fission", data={**form, "csrf": "x"}).status_code == 403
