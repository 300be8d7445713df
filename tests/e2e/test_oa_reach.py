"""Official-account reach end to end: followers in the simulated account are synced into
customers with openids, a service-notice campaign reaches them through the ledger and the
simulator, a follower unfollows (a push to /oa/callback/{appid}) and the next send skips them
before calling WeChat. And the push URL under attack: bad signatures, replays, hostile XML,
huge bodies, plain pushes to a safe-mode account."""

from __future__ import annotations

import time
from typing import Any

import pytest
import sqlalchemy as sa

from tests.oa_sim import pump_oa_inbox, safe_mode

POINTS = {  # followers come without a name (WeChat no longer gives nicknames): a fallback
    "template_id": "TPL_POINTS",
    "data": {"number1": "+100", "number2": "{{ name }}"},
    "fallbacks": {"name": "会员"},
}


def _driver(sim: Any, client: Any) -> Any:
    from siyu.simulators.oa.driver import OaDriver

    return OaDriver(sim, f"/oa/callback/{sim.appid}", http=client)


def _inbox(session: Any) -> list[Any]:
    from siyu.oa.models import OaCallback

    session.expire_all()
    return list(session.scalars(sa.select(OaCallback).order_by(OaCallback.id)))


def _follower(session: Any, openid: str) -> Any:
    from siyu.oa.models import OaFollower

    session.expire_all()
    return session.scalar(sa.select(OaFollower).where(OaFollower.openid == openid))


def _customer_of(session: Any, appid: str, openid: str) -> int | None:
    from siyu.customers.models import Identity

    return session.scalar(
        sa.select(Identity.customer_id).where(
            Identity.kind == "openid", Identity.namespace == appid, Identity.value == openid
        )
    )


def _segment_of(session: Any, customer_ids: list[int]) -> int:
    from siyu.db import utcnow
    from siyu.segments.models import Segment, SegmentMember

    seg = Segment(
        name=f"公众号粉丝{len(customer_ids)}-{time.time_ns()}", dynamic=False, created_by="t"
    )
    session.add(seg)
    session.flush()
    for cid in customer_ids:
        session.add(SegmentMember(segment_id=seg.id, customer_id=cid, entered_at=utcnow()))
    session.commit()
    return int(seg.id)


def _send(session: Any, segment: int, name: str) -> dict[int, Any]:
    from siyu.config import get_settings
    from siyu.db import new_session
    from siyu.reach.campaigns.commands import PlanCampaign
    from siyu.reach.campaigns.service import plan_campaign, start
    from siyu.reach.models import SendRow
    from siyu.reach.sending.dispatch import configured_channels, dispatch_once

    campaign = plan_campaign(
        session,
        PlanCampaign(
            name=name, segment_id=segment, channel="oa", template=POINTS, purpose="service"
        ),
        actor="t",
    )
    start(session, campaign, actor="t")
    session.commit()
    settings = get_settings()
    channels = configured_channels(settings)
    with new_session() as s:
        while dispatch_once(s, "w1", settings, channels):
            pass
    session.expire_all()
    return {
        r.customer_id: r
        for r in session.scalars(sa.select(SendRow).where(SendRow.campaign_id == campaign.id))
    }


def test_followers_synced_reached_and_skipped_once_they_unfollow(
    oa_account: Any, client: Any, session: Any
) -> None:
    from siyu.config import get_settings
    from siyu.oa.service import run_sync

    sim = oa_account
    fans = [sim.subscribe() for _ in range(4)]
    run = run_sync(session, get_settings())
    assert run.counts["customers_created"] == 4
    people = [_customer_of(session, sim.appid, f.openid) for f in fans]
    assert None not in people
    segment = _segment_of(session, people)  # type: ignore[arg-type]

    rows = _send(session, segment, "积分变动通知")
    assert {(r.state, r.reason) for r in rows.values()} == {("sent", None)}
    assert sorted(m.openid for m in sim.received()) == sorted(f.openid for f in fans)

    # one follower unfollows: WeChat pushes the event; a new one follows by scanning a code
    driver = _driver(sim, client)
    gone = fans[0]
    resp = driver.unsubscribe(gone.openid)
    assert (resp.status_code, resp.text) == (200, "success")
    newcomer, resp = driver.subscribe(qr_scene="store_1")
    assert resp.status_code == 200
    assert [(r.event, r.status) for r in _inbox(session)] == [
        ("unsubscribe", "queued"),
        ("subscribe", "queued"),
    ]
    assert pump_oa_inbox() == 2
    assert _follower(session, gone.openid).subscribed is False
    joined = _follower(session, newcomer.openid)
    assert joined.subscribed and joined.qr_scene == "store_1"
    assert _customer_of(session, sim.appid, newcomer.openid) is not None

    attempts = len(sim.attempts)
    rows = _send(session, segment, "积分变动通知 2")
    skipped = rows[people[0]]  # type: ignore[index]
    assert (skipped.state, skipped.reason) == ("skipped", "not_following")
    assert {rows[p].state for p in people[1:]} == {"sent"}  # type: ignore[index]
    assert len(sim.attempts) == attempts + 3  # WeChat was not asked for the one who left
    assert len(sim.received(gone.openid)) == 1


def test_a_late_retry_does_not_undo_a_newer_fact(
    oa_account: Any, client: Any, session: Any
) -> None:
    driver = _driver(oa_account, client)
    fan, _resp = driver.subscribe()
    now = int(time.time())
    driver.post(driver.event(fan.openid, "unsubscribe", CreateTime=now))
    # WeChat's retry of the subscribe from ten seconds before arrives after the unsubscribe
    driver.post(driver.event(fan.openid, "subscribe", CreateTime=now - 10))
    pump_oa_inbox()
    assert _follower(session, fan.openid).subscribed is False


def test_url_check_answers_the_echostr(oa_account: Any, client: Any) -> None:
    from siyu.simulators.oa.driver import signature

    ts, nonce = str(int(time.time())), "n0nce"
    sig = signature(oa_account.server_token, ts, nonce)
    url = f"/oa/callback/{oa_account.appid}"
    ok = client.get(
        url, params={"signature": sig, "timestamp": ts, "nonce": nonce, "echostr": "e1"}
    )
    assert (ok.status_code, ok.text) == (200, "e1")
    bad = client.get(
        url, params={"signature": "0" * 40, "timestamp": ts, "nonce": nonce, "echostr": "e1"}
    )
    assert bad.status_code == 403 and "e1" not in bad.text


def test_replays_and_retries_are_stored_once(oa_account: Any, client: Any, session: Any) -> None:
    driver = _driver(oa_account, client)
    fields = driver.event(oa_account.subscribe().openid, "subscribe")
    body, query = driver.envelope(fields)
    url = driver.callback_url
    first = client.post(url, params=query, content=body)
    again = client.post(url, params=query, content=body)  # the identical request: a replay
    retry = driver.post(fields)  # WeChat retrying the event (fresh nonce)
    assert [r.status_code for r in (first, again, retry)] == [200, 200, 200]
    assert {r.text for r in (first, again, retry)} == {"success"}
    assert len(_inbox(session)) == 1
    # a replayed signature with another body (plain mode signs no body) stores nothing
    forged = driver.event("o_someone_else_000000000000", "unsubscribe")
    from siyu.simulators.oa.driver import event_xml

    assert client.post(url, params=query, content=event_xml(forged)).status_code == 200
    assert [r.openid for r in _inbox(session)] == [fields["FromUserName"]]


def test_messages_and_unknown_events_store_nothing(
    oa_account: Any, client: Any, session: Any
) -> None:
    driver = _driver(oa_account, client)
    text = {
        "ToUserName": driver.gh_id,
        "FromUserName": "o_writer_00000000000000000",
        "CreateTime": int(time.time()),
        "MsgType": "text",
        "Content": "你好 13812345678",
        "MsgId": 1234567890123456,
    }
    assert driver.post(text).text == "success"
    assert (
        driver.post(driver.event("o_clicker_0000000000000000", "CLICK", EventKey="M1")).text
        == "success"
    )
    assert _inbox(session) == []


def test_safe_mode_pushes_are_decrypted_and_plain_ones_refused(
    oa_account: Any, client: Any, session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from siyu.simulators.oa.driver import event_xml
    from siyu.wecom.connection.crypto import CallbackCrypto
    from siyu.wecom.connection.crypto import signature as msg_signature

    safe_mode(oa_account, monkeypatch)
    driver = _driver(oa_account, client)
    fan, resp = driver.subscribe(unionid="oUnionSafe0001", qr_scene="42")
    assert (resp.status_code, resp.text) == (200, "success")
    assert pump_oa_inbox() == 1
    assert _follower(session, fan.openid).qr_scene == "42"
    # a plain push to a safe-mode account: its signature holds, but it is refused
    oa_account.safe_mode = False
    plain = driver.post(driver.event(fan.openid, "unsubscribe"))
    assert plain.status_code == 403 and "plain_refused" in plain.text
    oa_account.safe_mode = True
    # cipher text made for another account, signed correctly
    fields = driver.event(fan.openid, "unsubscribe")
    _body, query = driver.envelope(fields)
    other = CallbackCrypto(oa_account.server_token, oa_account.aes_key, "wxsomeoneelse0001")
    enc = other.encrypt(event_xml(fields))
    query["msg_signature"] = msg_signature(
        oa_account.server_token, query["timestamp"], query["nonce"], enc
    )
    wrong = client.post(
        driver.callback_url, params=query, content=f"<xml><Encrypt>{enc}</Encrypt></xml>".encode()
    )
    assert wrong.status_code == 403
    # the cipher text changed in transit: msg_signature no longer holds
    body, query = driver.envelope(fields)
    tampered = body.replace(b"<Encrypt><![CDATA[", b"<Encrypt><![CDATA[AAAA")
    assert client.post(driver.callback_url, params=query, content=tampered).status_code == 403
    assert len(_inbox(session)) == 1
    assert _follower(session, fan.openid).subscribed


BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "'
    + b"a" * 100
    + b'">'
    + b"".join(b'<!ENTITY a%d "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">' % i for i in range(8))
    + b"]><xml><MsgType>event</MsgType><Event>subscribe</Event><FromUserName>&a7;"
    + b"</FromUserName><CreateTime>1</CreateTime></xml>"
)
EXTERNAL = (
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    b"<xml><MsgType>event</MsgType><Event>subscribe</Event><FromUserName>&e;</FromUserName>"
    b"<CreateTime>1</CreateTime></xml>"
)


@pytest.mark.parametrize(
    "attack",
    [
        "bad_signature",
        "no_signature",
        "stale",
        "xml_bomb",
        "external_entity",
        "too_large",
        "too_large_streamed",
        "not_xml",
        "no_openid",
        "odd_openid",
        "absurd_time",
        "unknown_account",
    ],
)
def test_hostile_pushes_are_refused_without_writes(
    attack: str, oa_account: Any, client: Any, session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from siyu.oa import inbox

    driver = _driver(oa_account, client)
    body, query = driver.envelope(driver.event(oa_account.subscribe().openid, "subscribe"))
    url, expect = driver.callback_url, 400
    parsed: list[bytes] = []
    real = inbox.xml_fields
    monkeypatch.setattr(inbox, "xml_fields", lambda data: parsed.append(data) or real(data))
    if attack == "bad_signature":
        query["signature"] = query["signature"][::-1]
        expect = 403
    elif attack == "no_signature":
        del query["signature"]
    elif attack == "stale":
        body, query = driver.envelope(driver.event("o_x", "subscribe"), int(time.time()) - 1000)
        expect = 403
    elif attack == "xml_bomb":
        body = BOMB
    elif attack == "external_entity":
        body = EXTERNAL
    elif attack == "too_large":
        body = b"<xml>" + b"A" * (10 * 1024 * 1024) + b"</xml>"
        expect = 413
    elif attack == "too_large_streamed":  # no Content-Length to trust: counted as it comes
        chunk = b"A" * (16 * 1024)
        body = iter([b"<xml>"] + [chunk] * 640)  # type: ignore[assignment]
        expect = 413
    elif attack == "not_xml":
        body = b"\x00\xff garbage"
    elif attack == "no_openid":
        body = (
            b"<xml><MsgType>event</MsgType><Event>subscribe</Event><CreateTime>1</CreateTime></xml>"
        )
    elif attack == "odd_openid":
        body, query = driver.envelope(driver.event("<script>alert(1)</script>", "subscribe"))
    elif attack == "absurd_time":
        fields = driver.event(oa_account.subscribe().openid, "unsubscribe")
        body, query = driver.envelope({**fields, "CreateTime": 99999999999999})
    elif attack == "unknown_account":
        url, expect = "/oa/callback/wxnotours00000000", 404
    started = time.perf_counter()
    r = client.post(url, params=query, content=body)
    assert r.status_code == expect, (attack, r.text)
    assert time.perf_counter() - started < 2
    assert _inbox(session) == []
    if expect in (403, 404, 413):
        assert parsed == []  # refused before any XML was parsed


def test_someone_who_unfollowed_gets_the_next_channel(
    world: dict[str, Any], oa_account: Any, client: Any, session: Any
) -> None:
    """A service notice on [oa, sms]: a follower gets it on the official account, someone who
    unfollowed falls through to SMS, as someone without an openid does."""
    from siyu.config import get_settings
    from siyu.customers.models import Identity
    from siyu.db import new_session
    from siyu.oa.service import run_sync
    from siyu.reach.campaigns.commands import PlanCampaign
    from siyu.reach.campaigns.service import plan_campaign, start
    from siyu.reach.models import SendRow
    from siyu.reach.sending.dispatch import configured_channels, dispatch_once

    sim = oa_account
    stays, leaves, *_ = sorted(world["phones"])
    for cid in (stays, leaves):
        fan = sim.subscribe()
        session.add(
            Identity(
                customer_id=cid, kind="openid", namespace=sim.appid, value=fan.openid, source="t"
            )
        )
    session.commit()
    run_sync(session, get_settings())
    gone = session.scalar(
        sa.select(Identity.value).where(Identity.customer_id == leaves, Identity.kind == "openid")
    )
    _driver(sim, client).unsubscribe(gone)
    pump_oa_inbox()
    sms = {
        "sign_name": "悦颜",
        "template_code": "SMS_000002",
        "text": "您的订单${order}已发货",
        "params": {"order": "SO2026"},
    }
    campaign = plan_campaign(
        session,
        PlanCampaign(
            name="积分通知",
            segment_id=world["segment"],
            channels=["oa", "sms"],
            templates={"oa": POINTS, "sms": sms},
            purpose="service",
        ),
        actor="t",
    )
    start(session, campaign, actor="t")
    session.commit()
    settings = get_settings()
    with new_session() as s:
        while dispatch_once(s, "w1", settings, configured_channels(settings)):
            pass
    session.expire_all()
    rows = {
        r.customer_id: r
        for r in session.scalars(sa.select(SendRow).where(SendRow.campaign_id == campaign.id))
    }
    assert (rows[stays].channel, rows[stays].state) == ("oa", "sent")
    assert (rows[leaves].channel, rows[leaves].state) == ("sms", "sent")
    assert [m.openid for m in sim.received()] != [] and gone not in {
        m.openid for m in sim.received()
    }
    assert world["phones"][leaves].removeprefix("+86") in {
        m.phone for m in world["gateway"].received()
    }
