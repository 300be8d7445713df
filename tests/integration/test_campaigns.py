"""Campaigns beyond one send: frequency caps, SMS per-number limits, A/B variants, schedules and
recurrence (a clock jump skips missed runs), approval of large sends by a second person,
cancel, an empty audience, snapshot and live audiences."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from tests.reach_world import drain, sms_campaign


def _rows(session: Any, campaign_id: int) -> list[Any]:
    from siyu.reach.models import SendRow

    session.expire_all()
    return list(session.scalars(sa.select(SendRow).where(SendRow.campaign_id == campaign_id)))


def _sms(settings: Any) -> Any:
    from siyu.reach.channels.configured import sms as sms_channel

    return sms_channel(settings)


def test_a_second_marketing_sms_the_same_day_is_capped(
    world: dict[str, Any], session: Any, settings: Any
) -> None:
    first = sms_campaign(session, world["segment"], name="周一")
    drain(settings, _sms(settings))
    second = sms_campaign(session, world["segment"], name="周一晚")
    drain(settings, _sms(settings))
    sent_first = {r.customer_id for r in _rows(session, first.id) if r.state == "sent"}
    second_rows = {r.customer_id: r for r in _rows(session, second.id)}
    assert len(sent_first) == 20
    assert {second_rows[c].reason for c in sent_first} == {"cap:sms/day"}
    assert len(world["gateway"].received()) == 20


def test_caps_are_per_calendar_day_in_shanghai(settings: Any) -> None:
    from siyu.reach.sending.caps import period_start

    late = datetime.fromisoformat("2026-12-06T16:30:00+00:00")  # Monday 00:30 in Shanghai
    assert period_start(late, "day", settings).isoformat() == "2026-12-07T00:00:00+08:00"
    assert period_start(late, "week", settings).isoformat() == "2026-12-07T00:00:00+08:00"
    assert period_start(late, "month", settings).isoformat() == "2026-12-01T00:00:00+08:00"


def test_sms_per_number_limit_defers_service_messages(
    world: dict[str, Any], session: Any, settings: Any
) -> None:
    first = sms_campaign(session, world["segment"], name="发货1", purpose="service")
    drain(settings, _sms(settings))
    second = sms_campaign(session, world["segment"], name="发货2", purpose="service")
    drain(settings, _sms(settings))
    done = {(r.state, r.reason) for r in _rows(session, first.id)}
    assert done == {("sent", None), ("skipped", "suppressed")}  # suppression holds for all
    later = [r for r in _rows(session, second.id) if r.reason != "suppressed"]
    assert {(r.state, r.reason) for r in later} == {("deferred", "sms_number_limit")}
    assert all(r.due_at > r.created_at for r in later)
    assert len(world["gateway"].received()) == 29  # the gateway never had to refuse one


def test_ab_variants_split_by_weight_and_send_their_own_text(
    world: dict[str, Any], session: Any, settings: Any
) -> None:
    from siyu.reach.campaigns.commands import PlanCampaign
    from siyu.reach.campaigns.service import plan_campaign, start
    from siyu.reach.sending.ledger import variant_of

    def tpl(offer: str) -> dict[str, Any]:
        return {
            "sms": {
                "sign_name": "悦颜",
                "template_code": "SMS_000001",
                "text": "${name}您好，${offer}，拒收请回复R",
                "params": {"name": "{{ name }}", "offer": offer},
            }
        }

    campaign = plan_campaign(
        session,
        PlanCampaign(
            name="AB",
            segment_id=world["segment"],
            channel="sms",
            variants=[
                {"key": "A", "weight": 50, "templates": tpl("满199减30")},
                {"key": "B", "weight": 50, "templates": tpl("第二件半价")},
            ],
            holdout_seed=4,
        ),
        actor="test",
    )
    start(session, campaign, actor="test")
    session.commit()
    drain(settings, _sms(settings))
    rows = _rows(session, campaign.id)
    split = [("A", 50), ("B", 50)]
    assert all(r.variant == variant_of(r.customer_id, 4, split) for r in rows)
    assert {r.variant for r in rows} == {"A", "B"}
    by_phone = {m.phone: m.content for m in world["gateway"].received()}
    for r in rows:
        if r.state == "sent":
            offer = "满199减30" if r.variant == "A" else "第二件半价"
            assert offer in by_phone[world["phones"][r.customer_id][3:]]


def test_variant_weights_must_add_up(world: dict[str, Any], session: Any) -> None:
    from siyu.reach.campaigns.commands import PlanCampaign
    from siyu.reach.campaigns.service import plan_campaign
    from siyu.reach.sending.ledger import LedgerError

    with pytest.raises(LedgerError, match="add up to 100"):
        plan_campaign(
            session,
            PlanCampaign(
                name="AB",
                segment_id=world["segment"],
                channel="sms",
                variants=[{"key": "A", "weight": 60, "templates": {}}, {"key": "B", "weight": 60}],
            ),
            actor="test",
        )


def test_scheduled_recurring_campaign_runs_once_per_slot_and_skips_missed_slots(
    world: dict[str, Any], session: Any
) -> None:
    from siyu.db import utcnow
    from siyu.reach.campaigns.service import run_due
    from siyu.reach.models import Campaign

    at = utcnow() + timedelta(hours=1)
    campaign = sms_campaign(
        session, world["segment"], scheduled_at=at, recurrence="daily", purpose="service"
    )
    assert campaign.status == "scheduled" and _rows(session, campaign.id) == []
    assert run_due(session, at - timedelta(minutes=1)) == 0
    assert run_due(session, at) == 1
    assert run_due(session, at + timedelta(seconds=30)) == 0  # a second scheduler: nothing
    session.expire_all()
    c = session.get(Campaign, campaign.id)
    assert (c.runs, c.next_run_at) == (1, at + timedelta(days=1))
    jumped = at + timedelta(days=3, hours=2)  # the clock jumps three days ahead
    assert run_due(session, jumped) == 1
    session.expire_all()
    c = session.get(Campaign, campaign.id)
    assert (c.runs, c.next_run_at) == (2, at + timedelta(days=4))
    steps = {r.step for r in _rows(session, campaign.id)}
    assert steps == {0, 1} and len(_rows(session, campaign.id)) == 60


def test_a_large_send_waits_for_a_second_person(
    world: dict[str, Any], session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from siyu.accounts.permissions import ROLE_PERMISSIONS, Role
    from siyu.accounts.service import Principal
    from siyu.config import reset_settings
    from siyu.reach.campaigns.service import approve
    from siyu.reach.sending.ledger import LedgerError
    from siyu.refusals import Forbidden

    def by(actor: str, role: str = Role.admin) -> Principal:
        return Principal(actor=actor, role=role, permissions=ROLE_PERMISSIONS[Role(role)])

    monkeypatch.setenv("SIYU_REACH_APPROVAL_ABOVE", "10")
    reset_settings()
    campaign = sms_campaign(session, world["segment"])
    assert campaign.status == "awaiting_approval" and _rows(session, campaign.id) == []
    with pytest.raises(Forbidden, match="campaigns:approve"):  # the rule is the service's
        approve(session, campaign, by=by("yunying", Role.operator))
    with pytest.raises(LedgerError, match="someone other"):
        approve(session, campaign, by=by("test"))
    out = approve(session, campaign, by=by("boss"))
    session.commit()
    assert out["status"] == "sending" and out["added"] == 30
    assert campaign.approved_by == "boss"


def test_cancel_skips_what_is_left_and_an_empty_audience_is_refused(
    world: dict[str, Any], session: Any, settings: Any
) -> None:
    from siyu.reach.campaigns.commands import PlanCampaign
    from siyu.reach.campaigns.service import plan_campaign, set_status, start
    from siyu.reach.sending.ledger import LedgerError
    from siyu.segments.models import Segment

    campaign = sms_campaign(session, world["segment"])
    set_status(session, campaign, "cancelled", actor="test")
    session.commit()
    drain(settings, _sms(settings))
    assert {(r.state, r.reason) for r in _rows(session, campaign.id)} == {("skipped", "cancelled")}
    assert world["gateway"].received() == []
    empty = Segment(name="空", dynamic=False, created_by="test")
    session.add(empty)
    session.flush()
    nobody = plan_campaign(
        session,
        PlanCampaign(name="空", segment_id=empty.id, channel="sms", template=campaign.template),
        actor="test",
    )
    with pytest.raises(LedgerError, match="empty"):
        start(session, nobody, actor="test")


def test_snapshot_audience_ignores_later_members_live_audience_follows(
    world: dict[str, Any], session: Any
) -> None:
    from siyu.db import utcnow
    from siyu.reach.campaigns.service import run_due
    from siyu.segments.models import SegmentMember

    snapshot = sms_campaign(session, world["segment"], name="快照")
    live = sms_campaign(session, world["segment"], name="实时", audience_mode="live")
    first = sorted(world["phones"])[0]
    session.execute(
        sa.delete(SegmentMember).where(
            SegmentMember.segment_id == world["segment"], SegmentMember.customer_id == first
        )
    )
    session.commit()
    run_due(session, utcnow())
    snap = {r.customer_id: r for r in _rows(session, snapshot.id)}
    follow = {r.customer_id: r for r in _rows(session, live.id)}
    assert snap[first].state == "pending"  # the ledger was fixed when sending started
    assert (follow[first].state, follow[first].reason) == ("skipped", "left_segment")
