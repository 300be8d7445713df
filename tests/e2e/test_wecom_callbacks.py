"""The callback URL end to end: encrypted callbacks in, inbox, worker, friendships out."""

from __future__ import annotations

import time
from typing import Any

import pytest
import sqlalchemy as sa

from tests.wecom_sim import pump_inbox


def _inbox(session: Any) -> list[Any]:
    from siyu.wecom.callbacks.models import WecomCallback

    session.expire_all()
    return list(session.scalars(sa.select(WecomCallback).order_by(WecomCallback.id)))


def test_url_verification_answers_the_decrypted_echostr(driver: Any, client: Any) -> None:
    ts, nonce = str(int(time.time())), "abc123"
    echostr = driver.crypto.encrypt(b"8817623417645")
    from siyu.wecom.connection.crypto import signature

    sig = signature(driver.world.token, ts, nonce, echostr)
    url = driver.callback_url
    r = client.get(
        url, params={"msg_signature": sig, "timestamp": ts, "nonce": nonce, "echostr": echostr}
    )
    assert r.status_code == 200 and r.text == "8817623417645"
    r = client.get(
        url, params={"msg_signature": "0" * 40, "timestamp": ts, "nonce": nonce, "echostr": echostr}
    )
    assert r.status_code == 403


def test_add_edit_delete_through_callbacks(driver: Any, session: Any) -> None:
    from siyu.customers.models import Customer, Identity
    from siyu.wecom.contacts.models import WecomContact

    world = driver.world
    guide, other = list(world.staff)[:2]
    customer, _follow, resp = driver.add(guide, state="poster-01")
    assert resp.status_code == 200 and resp.text == "success"
    rows = _inbox(session)
    assert [(r.event, r.priority, r.status) for r in rows] == [
        ("change_external_contact/add_external_contact", 0, "queued")
    ]
    assert rows[0].payload["WelcomeCode"]
    assert pump_inbox(once=True) == 1
    contact = session.scalar(sa.select(WecomContact))
    assert contact.state == "poster-01" and contact.customer_id and contact.deleted_at is None
    person = session.get(Customer, contact.customer_id)
    assert person.source == "wecom" and person.name == customer.name
    # the same person adds a second guide: still one customer
    driver.add(other, customer)
    # the guide writes the customer's phone into the remark: it becomes an identity
    driver.edit(guide, customer.external_userid, remark="VIP", mobiles=["13900001111"])
    assert pump_inbox(once=True) == 2
    session.expire_all()
    contacts = list(session.scalars(sa.select(WecomContact)))
    assert len(contacts) == 2 and len({c.customer_id for c in contacts}) == 1
    phone = session.scalar(sa.select(Identity).where(Identity.kind == "phone"))
    assert phone.value == "+8613900001111" and phone.customer_id == contact.customer_id
    # the customer deletes one guide, the other guide deletes the customer
    driver.customer_deletes(guide, customer.external_userid)
    driver.staff_deletes(other, customer.external_userid)
    assert pump_inbox(once=True) == 2
    session.expire_all()
    ended = {c.staff_userid: c.deleted_by for c in session.scalars(sa.select(WecomContact))}
    assert ended == {guide: "customer", other: "staff"}
    assert all(r.status == "done" for r in _inbox(session))


def test_retries_and_replays_store_nothing_twice(driver: Any, client: Any, session: Any) -> None:
    world = driver.world
    fields = driver._event(
        "change_external_contact",
        "add_external_contact",
        UserID=next(iter(world.staff)),
        ExternalUserID="wmXYZ",
        WelcomeCode="c0de",
    )
    body, query = driver.envelope(fields)
    url = driver.callback_url
    assert client.post(url, params=query, content=body).status_code == 200
    # the identical request again is a replay
    again = client.post(url, params=query, content=body)
    assert again.status_code == 403 and "replayed" in again.text
    # WeCom retrying the same event (fresh nonce) is stored once
    assert driver.post(fields).status_code == 200
    assert len(_inbox(session)) == 1


@pytest.mark.parametrize(
    "attack",
    [
        "bad_signature",
        "stale",
        "future",
        "wrong_corp",
        "bad_base64",
        "xml_bomb",
        "external_entity",
        "too_large",
        "missing_params",
        "not_xml",
    ],
)
def test_hostile_callbacks_are_refused_without_writes(
    attack: str, driver: Any, client: Any, session: Any
) -> None:
    from siyu.wecom.connection.crypto import CallbackCrypto, signature

    world = driver.world
    fields = driver._event(
        "change_external_contact",
        "del_follow_user",
        UserID=next(iter(world.staff)),
        ExternalUserID="wmABC",
    )
    body, query = driver.envelope(fields)
    expect = 403
    if attack == "bad_signature":
        query["msg_signature"] = query["msg_signature"][::-1]
    elif attack in ("stale", "future"):
        ts = int(time.time()) + (-1000 if attack == "stale" else 1000)
        body, query = driver.envelope(fields, timestamp=ts)
    elif attack == "wrong_corp":
        other = CallbackCrypto(world.token, world.aes_key, "wwsomeoneelse")
        body, sig = other.seal(
            b"<xml><MsgType>event</MsgType></xml>", query["timestamp"], query["nonce"]
        )
        query["msg_signature"] = sig
    elif attack == "bad_base64":
        enc = "@@not-base64@@"
        body = f"<xml><Encrypt><![CDATA[{enc}]]></Encrypt></xml>".encode()
        query["msg_signature"] = signature(world.token, query["timestamp"], query["nonce"], enc)
        expect = 400
    elif attack == "xml_bomb":
        body = (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "'
            + b"a" * 100
            + b'">'
            + b"".join(b'<!ENTITY a%d "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">' % i for i in range(8))
            + b"]><xml><Encrypt>&a7;</Encrypt></xml>"
        )
        expect = 400
    elif attack == "external_entity":
        body = (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            b"<xml><Encrypt>&e;</Encrypt></xml>"
        )
        expect = 400
    elif attack == "too_large":
        body = b"<xml><Encrypt>" + b"A" * (10 * 1024 * 1024) + b"</Encrypt></xml>"
        expect = 413
    elif attack == "missing_params":
        query = {}
        expect = 400
    elif attack == "not_xml":
        body = b"\x00\xff garbage"
        expect = 400
    started = time.perf_counter()
    r = client.post(driver.callback_url, params=query, content=body)
    assert r.status_code == expect, (attack, r.text)
    assert time.perf_counter() - started < 2
    assert _inbox(session) == []
    if attack != "too_large":  # (an oversized body is refused before the corp is looked up)
        unknown = client.post("/wecom/callback/wwunknown", params=query, content=body)
        assert unknown.status_code == 404


def test_skew_check_can_be_turned_off_for_replaying_recorded_callbacks(
    driver: Any, client: Any, session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from siyu.config import reset_settings

    monkeypatch.setenv("SIYU_WECOM_CALLBACK_SKEW_SECONDS", "0")
    reset_settings()
    fields = driver._event("change_external_chat", "dismiss", ChatId="wrOld")
    body, query = driver.envelope(fields, timestamp=int(time.time()) - 86400 * 30)
    assert client.post(driver.callback_url, params=query, content=body).status_code == 200
    assert len(_inbox(session)) == 1


def test_unknown_events_are_kept_and_marked_ignored(driver: Any, session: Any) -> None:
    driver.post(driver._event("some_future_event", None, Foo="bar"))
    driver.post({"ToUserName": driver.world.corp_id, "MsgType": "location", "CreateTime": 1})
    assert pump_inbox(once=True) == 2
    rows = _inbox(session)
    assert [r.status for r in rows] == ["ignored", "ignored"]
    assert rows[0].error == "no handler for some_future_event"


def test_welcome_callbacks_jump_the_queue(driver: Any, session: Any) -> None:
    from siyu.db import new_session
    from siyu.wecom.callbacks.service import claim

    world = driver.world
    userid = next(iter(world.staff))
    for i in range(5):
        driver.post(driver._event("change_external_chat", "dismiss", ChatId=f"wr{i}"))
    driver.add(userid)
    with new_session() as s:
        first = claim(s, "w1", limit=1)
    assert first[0].event == "change_external_contact/add_external_contact"


def test_a_failing_wecom_call_is_retried_then_reported(driver: Any, session: Any) -> None:
    from siyu.db import new_session
    from siyu.wecom.callbacks.models import WecomCallback
    from siyu.wecom.queries import status

    world = driver.world
    customer, _f, _r = driver.add(next(iter(world.staff)), welcome=False)
    world.inject("externalcontact/get", 40096, times=10)  # permanent: not retried
    assert pump_inbox(once=True) == 1
    row = _inbox(session)[0]
    assert row.status == "failed" and "40096" in row.error
    with new_session() as s:
        corp = status(s)[0]
    assert corp["inbox"]["failed"] == 1 and corp["inbox_failures"][0]["id"] == row.id
    # a transient error is queued again with a delay, not dropped
    driver.add(list(world.staff)[1], customer, welcome=False)
    world.faults.clear()
    world.inject("externalcontact/get", -1, times=3)  # the client retries -1 twice itself
    assert pump_inbox(once=True) == 1
    again = session.scalar(sa.select(WecomCallback).where(WecomCallback.id != row.id))
    session.refresh(again)
    assert again.status == "queued" and again.attempts == 1 and again.due_at > again.received_at


def test_erasure_removes_the_person_from_wecom_tables(driver: Any, session: Any) -> None:
    from siyu.config import get_settings
    from siyu.db import new_session
    from siyu.privacy.service import erase_person
    from siyu.wecom.callbacks.models import WecomCallback
    from siyu.wecom.contacts.models import WecomContact

    world = driver.world
    guide = next(iter(world.staff))
    customer, _f, _r = driver.add(guide, welcome=False)
    driver.edit(guide, customer.external_userid, remark="张女士 VIP", mobiles=["13700002222"])
    stranger, _f2, _r2 = driver.add(guide, welcome=False)
    pump_inbox(once=True)
    with new_session() as s:
        erase_person(s, get_settings(), "13700002222", "test")
        s.commit()
    session.expire_all()
    left = [c.external_userid for c in session.scalars(sa.select(WecomContact))]
    assert left == [stranger.external_userid]
    payloads = [str(r.payload) for r in session.scalars(sa.select(WecomCallback))]
    assert payloads and not any(customer.external_userid in p for p in payloads)
    # WeCom re-sending the add does not bring back a marketable profile
    driver.add(guide, customer, welcome=False)
    pump_inbox(once=True)
    from siyu.customers.models import Customer

    back = session.scalar(
        sa.select(Customer)
        .join(WecomContact, WecomContact.customer_id == Customer.id)
        .where(WecomContact.external_userid == customer.external_userid)
    )
    assert back is not None and back.suppressed


def test_old_api_calls_and_processed_callbacks_are_purged(driver: Any, session: Any) -> None:
    from datetime import timedelta

    from siyu.db import new_session, utcnow
    from siyu.wecom.callbacks.models import WecomCallback
    from siyu.wecom.connection.models import WecomApiCall
    from siyu.wecom.tasks import purge

    driver.post(driver._event("some_future_event", None, Foo="old"))
    driver.post(driver._event("some_future_event", None, Foo="new"))
    pump_inbox(once=True)
    with new_session() as s:
        corp_id = s.scalar(sa.select(WecomCallback.corp_id))
        s.add(WecomApiCall(corp_id=corp_id, api="old", errcode=0, at=utcnow() - timedelta(days=8)))
        s.add(WecomApiCall(corp_id=corp_id, api="new", errcode=0, at=utcnow()))
        old = s.scalar(
            sa.select(WecomCallback).where(WecomCallback.payload["Foo"].as_string() == "old")
        )
        old.received_at = utcnow() - timedelta(days=31)
        s.commit()
        purge(s, {})
        s.commit()
        assert [c.api for c in s.scalars(sa.select(WecomApiCall))] == ["new"]
        assert [c.payload["Foo"] for c in s.scalars(sa.select(WecomCallback))] == ["new"]


def test_a_second_edit_in_the_same_second_is_read_again(driver: Any, session: Any) -> None:
    """WeCom's edit events carry no id: two edits of one friendship within a second have the
    same digest. The second must not be lost once the first was handled."""
    customer, _f, _r = driver.add("guide001", welcome=False)
    pump_inbox()
    fields = driver._event(
        "change_external_contact",
        "edit_external_contact",
        UserID="guide001",
        ExternalUserID=customer.external_userid,
    )
    for _ in range(2):  # in one group commit: stored once
        body, query = driver.envelope(fields)
        assert driver.http.post(driver.callback_url, params=query, content=body).status_code == 200
    rows = [r for r in _inbox(session) if r.event.endswith("edit_external_contact")]
    assert len(rows) == 1 and rows[0].status == "queued"
    pump_inbox()
    driver.world.follows[("guide001", customer.external_userid)].remark = "老客户"
    body, query = driver.envelope(fields)  # the same event again, after it was handled
    driver.http.post(driver.callback_url, params=query, content=body)
    rows = [r for r in _inbox(session) if r.event.endswith("edit_external_contact")]
    assert len(rows) == 1 and rows[0].status == "queued"
    pump_inbox()
    from siyu.wecom.contacts.models import WecomContact

    session.expire_all()
    assert session.scalar(sa.select(WecomContact.remark)) == "老客户"


def test_a_group_commit_of_many_callbacks(driver: Any, session: Any, engine: Any) -> None:
    """Under load the inbox writes many callbacks in one statement (executemany), duplicates
    and re-read events among them; one test per row would never exercise that path."""
    import hashlib

    from siyu.wecom.callbacks import service as inbox
    from siyu.wecom.connection.service import corp_keys

    keys = corp_keys(driver.world.corp_id)
    items = []
    for n in range(5):
        fields = driver._event(
            "change_external_contact",
            "edit_external_contact" if n % 2 else "del_follow_user",
            UserID="guide001",
            ExternalUserID=f"wm{n // 2}",
        )
        digest = hashlib.sha256(str(sorted(fields.items())).encode()).hexdigest()
        items.append(inbox.Incoming(keys.pk, inbox.event_name(fields), fields, digest, 5))
    items.append(items[1])  # the same event twice in one group
    with engine.begin() as conn:
        inbox._store(conn, items)
    rows = _inbox(session)
    assert len(rows) == 5
    for row in rows:
        row.status = "done"
    session.commit()
    with engine.begin() as conn:  # WeCom sends them all again: only the edits are re-read
        inbox._store(conn, items)
    rows = _inbox(session)
    assert sorted((r.event.split("/")[1], r.status) for r in rows) == [
        ("del_follow_user", "done"),
        ("del_follow_user", "done"),
        ("del_follow_user", "done"),
        ("edit_external_contact", "queued"),
        ("edit_external_contact", "queued"),
    ]
