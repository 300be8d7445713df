"""WeCom customer mass-send through the ledger, against the simulated WeCom: one task per guide
and text, nothing sent until the guide confirms, per-customer results, a lost answer found in
the task list instead of a second task, customers who are not friends falling through to SMS,
and WeCom templates that would differ per customer refused."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa


def _friends(world: dict[str, Any], wecom: dict[str, Any], session: Any, n: int) -> dict:
    """The first ``n`` audience customers become friends of two guides (alternating)."""
    from siyu.wecom.connection.service import get_corp
    from siyu.wecom.contacts.models import WecomContact

    sim = wecom["world"]
    guides = list(sim.staff)[:2]
    corp = get_corp(session, sim.corp_id)
    out = {}
    for k, cid in enumerate(sorted(world["phones"])[:n]):
        person = sim.new_customer(f"顾客{k}")
        guide = guides[k % 2]
        sim.befriend(guide, person)
        session.add(
            WecomContact(
                corp_id=corp.id,
                staff_userid=guide,
                external_userid=person.external_userid,
                customer_id=cid,
            )
        )
        out[cid] = (guide, person.external_userid)
    session.commit()
    return out


TEXT = {"text": "{{ store }}会员日：全场 8 折", "fallbacks": {"store": "悦颜"}}
SMS = {
    "sign_name": "悦颜",
    "template_code": "SMS_000001",
    "text": "${name}您好，${offer}，拒收请回复R",
    "params": {"name": "{{ name }}", "offer": "会员日8折"},
}


def _campaign(session: Any, segment: int, **kw: Any) -> Any:
    from siyu.reach.campaigns.commands import PlanCampaign
    from siyu.reach.campaigns.service import plan_campaign, start

    c = plan_campaign(session, PlanCampaign(name="会员日", segment_id=segment, **kw), actor="t")
    start(session, c, actor="t")
    session.commit()
    return c


def _channels(settings: Any) -> dict[str, Any]:
    from siyu.reach.sending.dispatch import configured_channels

    return configured_channels(settings)


def _rows(session: Any, cid: int) -> dict[int, Any]:
    from siyu.reach.models import SendRow

    session.expire_all()
    return {
        r.customer_id: r
        for r in session.scalars(sa.select(SendRow).where(SendRow.campaign_id == cid))
    }


def test_one_task_per_guide_sent_only_when_confirmed(
    world: dict[str, Any], wecom: dict[str, Any], session: Any, settings: Any
) -> None:
    from siyu.reach.channels.wecom_mass import reconcile
    from siyu.reach.models import WecomMassBatch
    from siyu.simulators.wecom.driver import Driver

    friends = _friends(world, wecom, session, 10)
    campaign = _campaign(
        session, world["segment"], channels=["wecom", "sms"], templates={"wecom": TEXT, "sms": SMS}
    )
    from siyu.db import new_session
    from siyu.reach.sending.dispatch import dispatch_once

    with new_session() as s:
        while dispatch_once(s, "w1", settings, _channels(settings)):
            pass
    batches = session.scalars(sa.select(WecomMassBatch)).all()
    assert len(batches) == 2 and {b.state for b in batches} == {"created"}
    assert sum(b.recipients for b in batches) == 10
    rows = _rows(session, campaign.id)
    assert {rows[c].state for c in friends} == {"submitted"}
    others = [r for c, r in rows.items() if c not in friends]
    assert {(r.channel, r.state) for r in others if r.state == "sent"} == {("sms", "sent")}
    assert reconcile(session)["waiting"] == 2  # nobody has confirmed yet
    sim = wecom["world"]
    driver = Driver(sim, "http://127.0.0.1:9/unused")
    gone = next(iter(friends))
    sim.follows.pop(friends[gone])  # one customer deletes the guide before the guide confirms
    for b in batches:
        driver.staff_sends_mass_message(b.msgid)
    assert reconcile(session)["settled"] == 2
    rows = _rows(session, campaign.id)
    assert (rows[gone].state, rows[gone].reason) == ("skipped", "not_friend")
    assert {rows[c].state for c in friends if c != gone} == {"sent"}
    # the customers who are no WeCom friends got the SMS instead, each once
    phones = [m.phone for m in world["gateway"].received()]
    assert len(phones) == len(set(phones)) == sum(1 for r in others if r.state == "sent")


def test_a_lost_answer_is_found_in_the_task_list_not_sent_twice(
    world: dict[str, Any], wecom: dict[str, Any], session: Any, settings: Any, monkeypatch: Any
) -> None:
    from siyu.db import new_session
    from siyu.reach.channels import wecom_mass
    from siyu.reach.models import WecomMassBatch
    from siyu.reach.sending.dispatch import dispatch_once
    from siyu.wecom.connection.client import NETWORK, WecomClient, WecomError

    _friends(world, wecom, session, 6)
    _campaign(session, world["segment"], channel="wecom", template=TEXT, purpose="service")
    real = WecomClient.post

    def lose_answer(
        self: Any, api: str, body: dict, member: Any = None, *, retry: bool = True
    ) -> Any:
        data = real(self, api, body, member, retry=retry)
        if api == "externalcontact/add_msg_template":
            raise WecomError(api, NETWORK, "ReadTimeout")  # WeCom made the task; we never heard
        return data

    monkeypatch.setattr(WecomClient, "post", lose_answer)
    with new_session() as s:
        dispatch_once(s, "w1", settings, _channels(settings))
    monkeypatch.setattr(WecomClient, "post", real)
    batches = session.scalars(sa.select(WecomMassBatch)).all()
    assert {b.state for b in batches} == {"ambiguous"}
    tasks_at_wecom = len(wecom["world"].extras["mass"])
    assert tasks_at_wecom == 2
    assert wecom_mass.reconcile(session)["found"] == 2
    session.expire_all()
    assert {b.state for b in session.scalars(sa.select(WecomMassBatch))} == {"created"}
    assert len(wecom["world"].extras["mass"]) == tasks_at_wecom  # no second task


def test_a_wecom_template_that_differs_per_customer_is_refused(
    world: dict[str, Any], session: Any
) -> None:
    from siyu.reach.campaigns.commands import PlanCampaign
    from siyu.reach.campaigns.service import plan_campaign
    from siyu.reach.sending.ledger import LedgerError

    with pytest.raises(LedgerError, match="one text for many customers"):
        plan_campaign(
            session,
            PlanCampaign(
                name="x",
                segment_id=world["segment"],
                channel="wecom",
                template={"text": "{{ name }}，会员日"},
            ),
            actor="t",
        )


def test_wecom_monthly_quota_falls_through_to_sms(
    world: dict[str, Any], wecom: dict[str, Any], session: Any, settings: Any
) -> None:
    """A customer who already had WeCom's four corp mass messages this month gets the SMS."""
    from siyu.db import new_session, utcnow
    from siyu.reach.models import Campaign, SendRow
    from siyu.reach.sending.dispatch import dispatch_once

    friends = _friends(world, wecom, session, 2)
    full = next(iter(friends))
    old = Campaign(name="旧", channel="wecom", purpose="service", created_by="t", segment_id=None)
    session.add(old)
    session.flush()
    now = utcnow()
    for step in range(4):
        session.add(
            SendRow(
                campaign_id=old.id,
                step=step,
                customer_id=full,
                channel="wecom",
                state="sent",
                due_at=now,
                send_by=now,
                checked_at=now,
                finished_at=now,
            )
        )
    session.commit()
    campaign = _campaign(
        session, world["segment"], channels=["wecom", "sms"], templates={"wecom": TEXT, "sms": SMS}
    )
    with new_session() as s:
        while dispatch_once(s, "w1", settings, _channels(settings)):
            pass
    rows = _rows(session, campaign.id)
    assert (rows[full].channel, rows[full].state) == ("sms", "sent")
    other = next(c for c in friends if c != full)
    assert (rows[other].channel, rows[other].state) == ("wecom", "submitted")


def test_a_mass_campaign_is_done_once_wecom_reported_every_customer(
    world: dict[str, Any], wecom: dict[str, Any], session: Any, settings: Any
) -> None:
    """Nothing is left to claim once the task is created, so the reconciliation that settles
    the last customers closes the campaign; WeCom's "sent" (the message is in the customer's
    chat) counts as delivered."""
    from siyu.db import new_session
    from siyu.reach.channels.wecom_mass import reconcile
    from siyu.reach.models import Campaign, WecomMassBatch
    from siyu.reach.sending.dispatch import dispatch_once
    from siyu.simulators.wecom.driver import Driver

    friends = _friends(world, wecom, session, 4)
    friend_ids = list(friends)
    segment = world["segment"]
    from siyu.segments.models import SegmentMember

    session.execute(
        sa.delete(SegmentMember).where(
            SegmentMember.segment_id == segment, SegmentMember.customer_id.notin_(friend_ids)
        )
    )
    session.commit()
    campaign = _campaign(session, segment, channel="wecom", template=TEXT)
    with new_session() as s:
        while dispatch_once(s, "w1", settings, _channels(settings)):
            pass
    assert reconcile(session)["waiting"] == 2
    session.expire_all()
    assert session.get(Campaign, campaign.id).status == "sending"  # the guides have not confirmed
    driver = Driver(wecom["world"], "http://127.0.0.1:9/unused")
    for b in session.scalars(sa.select(WecomMassBatch)):
        driver.staff_sends_mass_message(b.msgid)
    assert reconcile(session)["settled"] == 2
    session.expire_all()
    done = session.get(Campaign, campaign.id)
    assert done.status == "done" and done.finished_at is not None
    rows = _rows(session, campaign.id)
    assert {(r.state, r.delivered) for r in rows.values()} == {("sent", True)}
