"""Transactional messages through the send ledger: one row per sender's key, customer and channel
(twice is once); no marketing consent, frequency caps, quiet hours or do-not-disturb, but never
to a suppressed, erased or unreachable person; expired after its minutes, never deferred; sent
by a pump of its own through the same channels, a lost answer reconciled, never resent; and the
campaigns' pump, counts and rates untouched by it."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from tests.reach_world import drain, sms_campaign

CODE = {
    "sign_name": "悦颜",
    "template_code": "SMS_100001",
    "text": "您的验证码是${code}，10分钟内有效",
    "params": {"code": "482913"},
}


def _send(session: Any, customer: int, key: str = "", **kw: Any) -> Any:
    from siyu.reach.sending.transactional import send_transactional

    kw.setdefault("channel", "sms")
    kw.setdefault("template", CODE)
    kw.setdefault("expires_minutes", 10)
    return send_transactional(session, key=key or f"signin:{customer}", customer_id=customer, **kw)


def _pump(channel: Any, worker: str = "w1") -> int:
    from siyu.config import get_settings
    from siyu.db import new_session
    from siyu.reach.sending.transactional import dispatch_transactional

    total = 0
    with new_session() as s:
        while n := dispatch_transactional(s, worker, get_settings(), {channel.name: channel}):
            total += n
    return total


def _row(session: Any, row_id: int) -> Any:
    from siyu.reach.models import SendRow

    session.expire_all()
    return session.get(SendRow, row_id)


def test_the_same_key_twice_writes_one_row(world: dict[str, Any], session: Any) -> None:
    from siyu.reach.models import SendOrigin, SendRow
    from siyu.reach.sending.transactional import origin_id

    first = sorted(world["phones"])[0]
    a = _send(session, first, "signin:77")
    b = _send(session, first, "signin:77", template={**CODE, "params": {"code": "000000"}})
    other = _send(session, first, "signin:78")
    email = _send(session, first, "signin:77", expires_minutes=5, channel="email",
                  template={"subject": "验证码", "text": "482913"})  # fmt: skip
    session.commit()
    assert a.created and not b.created and a.id == b.id
    assert other.created and other.id != a.id and email.id not in (a.id, other.id)
    rows = session.scalars(sa.select(SendRow).where(SendRow.customer_id == first)).all()
    assert len(rows) == 3
    row = _row(session, a.id)
    assert (row.origin, row.origin_id, row.campaign_id, row.step) == (
        SendOrigin.transactional,
        origin_id("signin:77"),
        None,
        0,
    )
    assert row.message["params"] == {"code": "482913"}  # the first write stands
    assert row.send_by - row.created_at == timedelta(minutes=10)
    assert 0 < origin_id("signin:77") < 2**63


def test_consent_caps_quiet_hours_and_do_not_disturb_do_not_hold_it_back(
    world: dict[str, Any], session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from siyu.customers.models import Customer
    from siyu.db import utcnow
    from siyu.reach.channels.fake import FakeChannel
    from siyu.reach.sending.caps import set_cap
    from tests.reach_world import quiet_now

    quiet_now(monkeypatch)  # it is quiet now
    set_cap(session, "sms", "day", 0, actor="test")  # and no marketing SMS at all today
    set_cap(session, "*", "day", 0, actor="test")
    ids = sorted(world["phones"])
    consented, withdrew, suppressed, quiet, never = ids[0], ids[20], ids[22], ids[23], ids[25]
    gone = Customer(name="已删除", status="erased", created_at=utcnow(), updated_at=utcnow())
    nophone = Customer(name="无号码", status="active", created_at=utcnow(), updated_at=utcnow())
    session.add_all([gone, nophone])
    session.flush()
    queued = {c: _send(session, c).id for c in (consented, withdrew, suppressed, quiet, never)}
    queued[gone.id] = _send(session, gone.id).id
    queued[nophone.id] = _send(session, nophone.id).id
    session.commit()
    sms = FakeChannel("sms")
    assert _pump(sms) == 7
    got = {m.address for m in sms.asked}
    assert got == {world["phones"][c] for c in (consented, withdrew, quiet, never)}
    assert all(len(sms.to(a)) == 1 for a in got)
    assert sms.asked[0].parts == {"params.code": "482913"} and sms.asked[0].purpose == "service"
    states = {c: (_row(session, r).state, _row(session, r).reason) for c, r in queued.items()}
    assert states[suppressed] == ("skipped", "suppressed")
    assert states[gone.id] == ("skipped", "not_active")
    assert states[nophone.id] == ("skipped", "no_address")
    assert {states[c][0] for c in (consented, withdrew, quiet, never)} == {"sent"}


def test_a_campaign_cap_does_not_count_it(world: dict[str, Any], session: Any) -> None:
    """A code sent today does not use up the customer's marketing SMS for the day."""
    from siyu.config import get_settings
    from siyu.db import utcnow
    from siyu.reach.channels.fake import FakeChannel
    from siyu.reach.models import SendRow
    from siyu.reach.sending.ledger import counts

    first = sorted(world["phones"])[0]
    code = _send(session, first)
    session.commit()
    assert _pump(FakeChannel("sms")) == 1
    # sent two minutes ago: past the number's one-a-minute limit, still today (or yesterday,
    # which proves less but still holds)
    earlier = utcnow() - timedelta(minutes=2)
    session.execute(sa.update(SendRow).where(SendRow.id == code.id).values(checked_at=earlier))
    session.commit()
    campaign = sms_campaign(session, world["segment"])
    sms = FakeChannel("sms")
    drain(get_settings(), sms)
    assert world["phones"][first] in {m.address for m in sms.asked}
    assert counts(session, campaign.id)["sent"] == 20


def test_it_expires_after_its_minutes_and_is_never_deferred(
    world: dict[str, Any], session: Any
) -> None:
    from siyu.db import utcnow
    from siyu.reach.channels.fake import FakeChannel

    ids = sorted(world["phones"])
    late = _send(session, ids[0], expires_minutes=1, now=utcnow() - timedelta(minutes=2))
    busy = _send(session, ids[1], expires_minutes=10)
    session.commit()
    sms = FakeChannel("sms")
    sms.fail_for_now(world["phones"][ids[1]], code="busy")
    assert _pump(sms) == 1  # the late one is ended, not claimed
    row = _row(session, late.id)
    assert (row.state, row.reason) == ("skipped", "expired")
    assert sms.to(world["phones"][ids[0]]) == []
    retry = _row(session, busy.id)  # a provider's passing failure is tried again …
    assert (retry.state, retry.reason) == ("deferred", "retry:busy")
    retry.send_by = utcnow() - timedelta(seconds=1)  # … until its time is up
    retry.due_at = utcnow() - timedelta(seconds=2)
    session.commit()
    assert _pump(sms) == 0
    row = _row(session, busy.id)
    assert (row.state, row.reason) == ("skipped", "expired")
    assert len(sms.to(world["phones"][ids[1]])) == 1


def test_a_lost_answer_is_reconciled_not_resent(world: dict[str, Any], session: Any) -> None:
    from siyu.config import get_settings
    from siyu.reach.channels.fake import FakeChannel
    from siyu.reach.sending.dispatch import reconcile

    first = sorted(world["phones"])[0]
    phone = world["phones"][first]
    queued = _send(session, first)
    session.commit()
    sms = FakeChannel("sms")
    sms.lose_answer(phone)
    _pump(sms)
    assert _row(session, queued.id).state == "ambiguous"
    assert _pump(sms) == 0  # an ambiguous message is not claimed again
    assert reconcile(session, {"sms": sms}, get_settings()) == 1
    row = _row(session, queued.id)
    assert (row.state, row.reason) == ("sent", "reconciled") and row.provider_ref
    assert len(sms.to(phone)) == 1


def test_the_pumps_keep_to_their_own_rows(world: dict[str, Any], session: Any) -> None:
    """The campaigns' pump leaves transactional rows alone (and the other way round), and a
    campaign's counts and the channel rates stay the campaign's."""
    from siyu.config import get_settings
    from siyu.db import utcnow
    from siyu.reach.campaigns.queries import channel_rates
    from siyu.reach.channels.fake import FakeChannel
    from siyu.reach.sending.ledger import counts

    never = sorted(world["phones"])[25]  # no marketing consent: the campaign skips them
    queued = _send(session, never)
    session.commit()
    campaign = sms_campaign(session, world["segment"])
    before = counts(session, campaign.id)
    campaigns_sms = FakeChannel("sms")
    drain(get_settings(), campaigns_sms)
    assert _row(session, queued.id).state == "pending"
    assert world["phones"][never] not in {m.address for m in campaigns_sms.asked}
    assert sum(before.values()) == 30 and counts(session, campaign.id)["sent"] == 20
    codes = FakeChannel("sms")
    assert _pump(codes) == 1 and len(codes.asked) == 1
    assert counts(session, campaign.id)["sent"] == 20
    now = utcnow()
    rates = channel_rates(session, now - timedelta(hours=1), now + timedelta(hours=1))
    assert [(r["channel"], r["sent"]) for r in rates] == [("sms", 20)]


def test_refused_before_anything_is_written(world: dict[str, Any], session: Any) -> None:
    from siyu.reach.models import SendRow
    from siyu.reach.sending.ledger import LedgerError
    from siyu.reach.sending.templates import TemplateProblem

    first = sorted(world["phones"])[0]
    with pytest.raises(LedgerError, match="channel"):
        _send(session, first, channel="wecom", template={"text": "hi"})
    with pytest.raises(LedgerError, match="minutes"):
        _send(session, first, expires_minutes=0)
    with pytest.raises(LedgerError, match="no customer"):
        _send(session, 10**6)
    with pytest.raises(LedgerError, match="key"):
        _send(session, first, key=" " * 3)
    with pytest.raises(TemplateProblem, match=r"params\.code"):
        _send(session, first, template={**CODE, "params": {}})
    assert session.scalar(sa.select(sa.func.count()).select_from(SendRow)) == 0


def test_the_worker_pump_sends_through_the_configured_sms_channel(
    world: dict[str, Any], session: Any
) -> None:
    from siyu.capabilities import provided
    from siyu.reach import tasks

    assert tasks.send_transactional in [fn for _cap, fn in provided("pumps")]
    first = sorted(world["phones"])[0]
    shipped = {
        "sign_name": "悦颜",
        "template_code": "SMS_000002",
        "text": "您的订单${order}已发货",
        "params": {"order": "{{ name }}的E2026"},
    }
    queued = _send(session, first, "order_shipped:E2026", template=shipped)
    session.commit()
    assert tasks.send_transactional("w1") == 1
    received = world["gateway"].received()
    assert [m.phone for m in received] == [world["phones"][first][3:]]
    assert received[0].content == "【悦颜】您的订单顾客00的E2026已发货"  # with their variables
    assert _row(session, queued.id).state == "sent"


def test_erasure_removes_the_message_text(world: dict[str, Any], session: Any) -> None:
    from siyu.config import get_settings
    from siyu.privacy.service import ErasureContext
    from siyu.reach.privacy import erase_messages

    ids = sorted(world["phones"])
    mine, theirs = _send(session, ids[0]), _send(session, ids[1])
    session.commit()
    assert erase_messages(session, ErasureContext([ids[0]], [], get_settings())) == 1
    session.commit()
    assert _row(session, mine.id).message is None
    assert _row(session, theirs.id).message == CODE


def test_an_operator_sends_a_notice_from_the_shell(
    world: dict[str, Any], session: Any, tmp_path: Any
) -> None:
    from typer.testing import CliRunner

    from siyu.cli import app

    runner = CliRunner()
    good = tmp_path / "code.json"
    good.write_text(json.dumps(CODE, ensure_ascii=False), encoding="utf-8")
    first = str(sorted(world["phones"])[0])
    base = ["campaigns", "notify", "--customer", first, "--template", str(good)]
    made = runner.invoke(app, [*base, "--channel", "sms", "--key", "n:1", "--json"])
    assert made.exit_code == 0, made.output
    out = json.loads(made.output)
    assert out["state"] == "pending" and out["new"] is True
    again = runner.invoke(app, [*base, "--channel", "sms", "--key", "n:1"])
    assert again.exit_code == 0 and "already queued" in again.output
    wecom = runner.invoke(app, [*base, "--channel", "wecom", "--key", "n:2"])
    assert wecom.exit_code == 1 and "sms, email, oa, wecom_app" in wecom.output
    nobody = [*base[:3], "999999", *base[4:], "--channel", "sms", "--key", "n:3"]
    refused = runner.invoke(app, nobody)
    assert refused.exit_code == 1 and "no customer" in refused.output
    forever = [*base, "--channel", "sms", "--key", "n:4", "--expires-minutes", "0"]
    assert runner.invoke(app, forever).exit_code == 2
    absent = [*base[:4], "--template", str(tmp_path / "x.json"), "--channel", "sms"]
    missing = runner.invoke(app, [*absent, "--key", "n:5"])
    assert missing.exit_code == 1 and "is not a file" in missing.output
