"""Dispatching a campaign against the local SMS gateway: policy at send time (consent, a
withdrawal, suppression, do-not-disturb, quiet hours), each eligible customer texted exactly
once, every other row with its reason, a lost answer reconciled instead of resent."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from tests.reach_world import drain, quiet_hours, quiet_now, sms_campaign


def test_each_eligible_customer_is_texted_once_and_every_other_has_a_reason(
    world: dict[str, Any], session: Any
) -> None:
    from siyu.config import get_settings
    from siyu.reach.channels.configured import sms as sms_channel
    from siyu.reach.models import Campaign, SendRow
    from siyu.reach.sending.ledger import counts

    campaign = sms_campaign(session, world["segment"], holdout_pct=10, holdout_seed=3)
    settings = get_settings()
    assert drain(settings, sms_channel(settings)) == 30 - counts(session, campaign.id).get(
        "held_out", 0
    )
    rows = session.scalars(sa.select(SendRow).where(SendRow.campaign_id == campaign.id)).all()
    by_state: dict[str, set[int]] = {}
    for r in rows:
        by_state.setdefault(r.state if r.state != "skipped" else f"skipped:{r.reason}", set()).add(
            r.customer_id
        )
    held = by_state.get("held_out", set())
    sent = by_state.get("sent", set())
    received = [m.phone for m in world["gateway"].received()]
    assert sorted(received) == sorted(world["phones"][c][3:] for c in sent)  # once each
    assert len(set(received)) == len(received)
    ids = sorted(world["phones"])
    consented = set(ids[:20])
    assert sent == consented - held
    assert by_state.get("skipped:consent_withdrawn", set()) == set(ids[20:22]) - held
    assert by_state.get("skipped:suppressed", set()) == {ids[22]} - held
    assert by_state.get("skipped:do_not_disturb", set()) == {ids[23]} - held
    assert by_state.get("skipped:no_consent", set()) == set(ids[24:]) - held
    assert world["gateway"].received()[0].content.startswith("【悦颜】顾客")
    session.expire_all()
    assert session.get(Campaign, campaign.id).status == "done"


def test_withdrawal_after_start_and_quiet_hours(
    world: dict[str, Any], session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from siyu.config import get_settings
    from siyu.customers.models import Consent
    from siyu.reach.channels.configured import sms as sms_channel
    from siyu.reach.models import SendRow

    campaign = sms_campaign(session, world["segment"])
    first = sorted(world["phones"])[0]
    session.execute(
        sa.update(Consent).where(Consent.customer_id == first).values(status="withdrawn")
    )
    session.commit()  # the customer withdraws after the campaign started, before it reaches them
    ends = quiet_now(monkeypatch)  # now it is quiet
    settings = get_settings()
    drain(settings, sms_channel(settings))
    assert world["gateway"].received() == []
    rows = session.scalars(sa.select(SendRow).where(SendRow.campaign_id == campaign.id)).all()
    states = {r.customer_id: (r.state, r.reason) for r in rows}
    assert states[first] == ("skipped", "consent_withdrawn")
    deferred = [r for r in rows if r.state == "deferred"]
    assert len(deferred) == 19 and {r.reason for r in deferred} == {"quiet_hours"}
    local = deferred[0].due_at.astimezone(settings.tz)
    assert (local.hour, local.minute) == (ends, 0) and deferred[0].due_at > rows[0].created_at


def test_the_dispatcher_reads_the_frozen_clock(
    world: dict[str, Any], session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Siyu's clock frozen at 22:30 in Shanghai is the time the campaign starts, the ledger
    claims and the policy decides at: marketing waits for 08:00 (the default quiet hours,
    21 → 8), and goes out once the clock has reached it."""
    from datetime import datetime

    from siyu import clock
    from siyu.config import get_settings
    from siyu.reach.channels.fake import FakeChannel
    from siyu.reach.models import SendRow
    from siyu.reach.sending.ledger import counts

    quiet_hours(monkeypatch, 21, 8)
    settings = get_settings()
    night = datetime(2026, 3, 10, 22, 30, tzinfo=settings.tz)
    morning = datetime(2026, 3, 11, 8, 0, tzinfo=settings.tz)
    fake = FakeChannel()
    with clock.frozen(night):
        campaign = sms_campaign(session, world["segment"])
        drain(settings, fake)
    assert fake.asked == []
    rows = session.scalars(sa.select(SendRow).where(SendRow.campaign_id == campaign.id)).all()
    assert {r.created_at for r in rows} == {night}
    deferred = [r for r in rows if r.state == "deferred"]
    assert len(deferred) == 20 and {(r.reason, r.due_at) for r in deferred} == {
        ("quiet_hours", morning)
    }
    with clock.frozen(morning - timedelta(seconds=1)):
        assert drain(settings, fake) == 0  # not due yet
    with clock.frozen(morning):
        drain(settings, fake)
    session.expire_all()
    assert len(fake.asked) == 20 and counts(session, campaign.id)["sent"] == 20
    finished = session.scalars(
        sa.select(SendRow.finished_at).where(
            SendRow.campaign_id == campaign.id, SendRow.state == "sent"
        )
    ).all()
    assert set(finished) == {morning}


def test_a_lost_answer_is_reconciled_not_resent(world: dict[str, Any], session: Any) -> None:
    from siyu.config import get_settings
    from siyu.reach.channels.configured import sms as sms_channel
    from siyu.reach.channels.sms import AliyunSms
    from siyu.reach.models import SendRow
    from siyu.reach.sending.dispatch import reconcile

    settings = get_settings()
    gateway = world["gateway"]
    impatient = AliyunSms(
        settings.sms_access_key_id,
        settings.sms_access_key_secret,
        settings.sms_endpoint,
        timeout=0.3,
    )
    campaign = sms_campaign(session, world["segment"])
    gateway.inject("slow", times=1, seconds=1.0)
    drain(settings, impatient)
    rows = session.scalars(sa.select(SendRow).where(SendRow.campaign_id == campaign.id)).all()
    ambiguous = [r for r in rows if r.state == "ambiguous"]
    assert len(ambiguous) == 1 and len(gateway.received()) == 20
    assert reconcile(session, {"sms": sms_channel(settings)}, settings) == 1
    session.expire_all()
    row = session.get(SendRow, ambiguous[0].id)
    assert (row.state, row.reason) == ("sent", "reconciled") and row.provider_ref
    drain(settings, sms_channel(settings))
    assert len(gateway.received()) == 20  # nothing was sent twice
    phones = [m.phone for m in gateway.received()]
    assert len(set(phones)) == len(phones)
    assert timedelta(0) <= row.finished_at - row.created_at


def test_a_batch_outlasting_half_its_lease_gives_its_rest_back_unsent(
    world: dict[str, Any], session: Any
) -> None:
    """A worker starts no provider call once half its claim's lease is gone: the rest of a slow
    batch goes back to the queue, so no call lands after the row could be settled elsewhere."""
    from siyu.config import get_settings
    from siyu.reach.channels.configured import sms as sms_channel
    from siyu.reach.models import SendRow

    settings = get_settings().model_copy(update={"reach_lease_seconds": 2})
    gateway = world["gateway"]
    campaign = sms_campaign(session, world["segment"])
    gateway.inject("slow", times=1, seconds=1.2)  # the batch's first answer takes 1.2 s
    drain(settings, sms_channel(settings))
    rows = session.scalars(sa.select(SendRow).where(SendRow.campaign_id == campaign.id)).all()
    sent = [r for r in rows if r.state == "sent"]
    assert len(sent) == 20 and len(gateway.received()) == 20
    assert [r.attempts for r in sent].count(2) == 6  # the rest of that batch of 7
    phones = [m.phone for m in gateway.received()]
    assert len(set(phones)) == len(phones)


def test_personal_variables_preview_and_the_skip_policy(
    world: dict[str, Any], session: Any
) -> None:
    """Customers who bought something hear about it; the others are skipped with the variable
    as the reason (the skip policy); the preview shows real customers, names masked."""
    from datetime import date

    from siyu.config import get_settings
    from siyu.orders.queries import forget_best_sellers
    from siyu.reach.campaigns.commands import PlanCampaign
    from siyu.reach.campaigns.service import plan_campaign, preview, start
    from siyu.reach.channels.configured import sms as sms_channel
    from siyu.reach.models import SendRow
    from tests import shop

    forget_best_sellers()
    ids = sorted(world["phones"])
    brand = session.scalar(sa.text("SELECT id FROM brand"))
    for n, cid in enumerate(ids[:5]):
        shop.order(session, brand, cid, date(2026, 11, 1 + n), 199, product="玻尿酸精华")
    shop.order(session, brand, ids[5], date(2026, 11, 11), 99, product="防晒乳")
    session.commit()
    template = {
        "sign_name": "悦颜",
        "template_code": "SMS_000001",
        "text": "${name}您好，${offer}，拒收请回复R",
        "params": {"name": "{{ name }}", "offer": "您买过的{{ last_product }}补货啦"},
        "on_missing": "skip",
    }
    settings = get_settings()
    shown = preview(
        session,
        channel="sms",
        template=template,
        purpose="marketing",
        segment_id=world["segment"],
        settings=settings,
        samples=8,
    )
    first = shown.samples[0]
    assert first.name == "顾***" and (first.content or "").startswith(
        "【悦颜】顾***您好，您买过的玻尿酸"
    )
    assert first.sms_count == 1 and first.chars == len(first.content or "")
    assert shown.samples[6].skipped == "missing:last_product"
    campaign = plan_campaign(
        session,
        PlanCampaign(
            name="补货提醒", segment_id=world["segment"], channel="sms", template=template
        ),
        actor="test",
    )
    start(session, campaign, actor="test")
    session.commit()
    drain(settings, sms_channel(settings))
    rows = {
        r.customer_id: r
        for r in session.scalars(sa.select(SendRow).where(SendRow.campaign_id == campaign.id))
    }
    sent = {c for c, r in rows.items() if r.state == "sent"}
    assert sent == set(ids[:6])
    assert {rows[c].reason for c in ids[6:20]} == {"missing:last_product"}
    texts = {m.phone: m.content for m in world["gateway"].received()}
    assert (
        texts[world["phones"][ids[5]][3:]]
        == "【悦颜】顾客05您好，您买过的防晒乳补货啦，拒收请回复R"
    )


def test_a_template_error_is_refused_when_the_campaign_is_saved(
    world: dict[str, Any], session: Any
) -> None:
    from siyu.reach.campaigns.commands import PlanCampaign
    from siyu.reach.campaigns.service import plan_campaign
    from siyu.reach.sending.ledger import LedgerError

    with pytest.raises(LedgerError, match=r"params.offer line 1: unknown variable 'lastproduct'"):
        plan_campaign(
            session,
            PlanCampaign(
                name="错字",
                segment_id=world["segment"],
                channel="sms",
                template={
                    "sign_name": "悦颜",
                    "template_code": "SMS_000001",
                    "text": "${name}您好，${offer}，拒收请回复R",
                    "params": {"name": "{{ name }}", "offer": "{{ lastproduct }}"},
                },
            ),
            actor="test",
        )


def test_a_render_that_fails_for_a_customer_sends_nothing_and_is_recorded(
    world: dict[str, Any], session: Any
) -> None:
    """A template that checks (it renders for the sample customer) but fails for real ones:
    each of their rows is skipped with the reason and the sandbox's words, nothing is texted,
    and the batch goes on."""
    from siyu.config import get_settings
    from siyu.reach.campaigns.commands import PlanCampaign
    from siyu.reach.campaigns.service import plan_campaign, start
    from siyu.reach.channels.configured import sms as sms_channel
    from siyu.reach.models import SendRow

    template = {
        "sign_name": "悦颜",
        "template_code": "SMS_000001",
        "text": "${name}您好，${offer}，拒收请回复R",
        # the sample name has 2 characters; every customer here has 4 (顾客05)
        "params": {"name": "{{ name }}", "offer": "满{{ 100 // (name|length - 4) }}减30"},
    }
    campaign = plan_campaign(
        session,
        PlanCampaign(name="坏模板", segment_id=world["segment"], channel="sms", template=template),
        actor="test",
    )
    start(session, campaign, actor="test")
    session.commit()
    settings = get_settings()
    drain(settings, sms_channel(settings))
    assert world["gateway"].received() == []
    rows = session.scalars(sa.select(SendRow).where(SendRow.campaign_id == campaign.id)).all()
    consented = [r for r in rows if r.customer_id in sorted(world["phones"])[:20]]
    assert {(r.state, r.reason) for r in consented} == {("skipped", "template_error")}
    assert all("ZeroDivisionError" in (r.error or "") for r in consented), [
        r.error for r in consented
    ][:2]
