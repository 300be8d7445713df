"""Customer-group campaigns (客户群群发) against the simulated WeCom: one row per group under a
unique key, one task per owner with the groups' chat ids, nothing sent until the owner
confirms, per-group results (a dismissed group, WeCom's monthly limit), a lost answer found in
the task list instead of a second task, quiet hours, and what such a campaign may not have."""

from __future__ import annotations

import time as clock
from typing import Any

import pytest
import sqlalchemy as sa

from tests.reach_world import never_quiet, quiet_now


def _groups(wecom: dict[str, Any], session: Any, names: list[tuple[str, int]]) -> dict[str, Any]:
    """Groups in WeCom and in Siyu: (name, owner index) each; returns chat_id → owner."""
    from siyu.simulators.wecom.world import Group, _rand
    from siyu.wecom.connection.service import get_corp
    from siyu.wecom.contacts.models import WecomGroupChat

    sim = wecom["world"]
    owners = list(sim.staff)
    corp = get_corp(session, sim.corp_id)
    out = {}
    for name, k in names:
        chat_id = "wr" + _rand(30)
        sim.groups[chat_id] = Group(chat_id, name, owners[k], int(clock.time()))
        session.add(
            WecomGroupChat(
                corp_id=corp.id, chat_id=chat_id, name=name, owner_userid=owners[k], member_count=40
            )
        )
        out[chat_id] = owners[k]
    session.commit()
    return out


def _campaign(session: Any, **kw: Any) -> Any:
    from siyu.reach.campaigns.commands import PlanCampaign
    from siyu.reach.campaigns.service import plan_campaign, start

    c = plan_campaign(
        session,
        PlanCampaign(
            name="会员日", channel="wecom_group", template={"text": "本周六会员日，全场 8 折"}, **kw
        ),
        actor="t",
    )
    start(session, c, actor="t")
    session.commit()
    return c


def _submit(settings: Any) -> int:
    from siyu.db import new_session
    from siyu.reach.channels.wecom_groups import submit_groups

    with new_session() as s:
        return submit_groups(s, "w1", settings)


def _states(session: Any, campaign_id: int) -> dict[str, tuple[str, str | None]]:
    from siyu.reach.models import GroupSend
    from siyu.wecom.contacts.models import WecomGroupChat

    session.expire_all()
    return {
        chat: (state, reason)
        for chat, state, reason in session.execute(
            sa.select(WecomGroupChat.chat_id, GroupSend.state, GroupSend.reason)
            .join(WecomGroupChat, WecomGroupChat.id == GroupSend.group_id)
            .where(GroupSend.campaign_id == campaign_id)
        )
    }


@pytest.fixture(autouse=True)
def _daytime(monkeypatch: pytest.MonkeyPatch) -> None:
    never_quiet(monkeypatch)


def test_one_task_per_owner_and_results_per_group(
    wecom: dict[str, Any], session: Any, settings: Any
) -> None:
    from siyu.reach.campaigns.queries import detail
    from siyu.reach.channels.wecom_mass import reconcile
    from siyu.reach.models import WecomMassBatch
    from siyu.simulators.wecom.driver import Driver

    chats = _groups(wecom, session, [("会员1群", 0), ("会员2群", 0), ("会员3群", 1), ("员工群", 1)])
    campaign = _campaign(session, group_filter={"name_contains": "会员"})
    assert _submit(settings) == 3
    batches = session.scalars(sa.select(WecomMassBatch)).all()
    assert sorted(b.recipients for b in batches) == [1, 2]
    assert {(b.chat_type, b.state) for b in batches} == {("group", "created")}
    assert _submit(settings) == 0  # nothing is submitted twice
    assert reconcile(session)["waiting"] == 2
    sim = wecom["world"]
    gone = next(c for c, _o in chats.items() if sim.groups[c].name == "会员2群")
    sim.groups[gone].dismissed = True  # dismissed before the owner confirmed
    driver = Driver(sim, "http://127.0.0.1:9/unused")
    for b in batches:
        driver.staff_sends_mass_message(b.msgid)
    assert reconcile(session)["settled"] == 2
    states = _states(session, campaign.id)
    assert states[gone] == ("skipped", "group_gone")
    assert sorted(v for c, v in states.items() if c != gone) == [("sent", None)] * 2
    assert all(sim.groups[c].name != "员工群" for c in states)  # only the filter's groups
    _submit(settings)  # the round that finds nothing left closes the campaign
    session.expire_all()
    shown = detail(session, campaign)
    assert shown.status == "done" and shown.funnel.sent == 2
    assert shown.groups is not None and shown.groups.members_reached == 80
    from siyu.db import utcnow
    from siyu.metrics.service import reach_summary

    today = utcnow().astimezone(settings.tz).date()
    [row] = reach_summary(settings, today, today, session)["campaigns"]  # the dashboard's row
    assert (row["sent"], row["sent_unit"]) == (2, "group")


def test_a_lost_answer_is_found_not_sent_twice_and_quiet_hours_wait(
    wecom: dict[str, Any], session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from siyu.config import get_settings
    from siyu.reach.channels.wecom_mass import reconcile
    from siyu.reach.models import WecomMassBatch
    from siyu.wecom.connection.client import NETWORK, WecomClient

    _groups(wecom, session, [("会员1群", 0), ("会员2群", 0)])
    quiet_now(monkeypatch)
    campaign = _campaign(session)
    assert _submit(get_settings()) == 0
    assert {v for v in _states(session, campaign.id).values()} == {("pending", "quiet_hours")}
    never_quiet(monkeypatch)
    from siyu.reach.models import GroupSend

    session.execute(sa.update(GroupSend).values(due_at=sa.func.current_timestamp()))
    session.commit()
    real_send = WecomClient._send

    def lose_answer(self: Any, method: str, api: str, params: Any, body: Any) -> Any:
        data = real_send(self, method, api, params, body)
        return (
            {"errcode": NETWORK, "errmsg": "ReadTimeout"}
            if api.endswith("add_msg_template")
            else data
        )

    monkeypatch.setattr(WecomClient, "_send", lose_answer)
    assert _submit(get_settings()) == 2
    monkeypatch.setattr(WecomClient, "_send", real_send)
    batch = session.scalars(sa.select(WecomMassBatch)).one()
    assert batch.state == "ambiguous"
    assert reconcile(session)["found"] == 1
    session.refresh(batch)
    assert batch.state == "created" and batch.msgid
    from siyu.simulators.wecom.mass import _messages

    assert len(_messages(wecom["world"])) == 1  # one task at WeCom, not two


def test_what_a_group_campaign_may_not_have(
    wecom: dict[str, Any], session: Any, world: dict[str, Any]
) -> None:
    from siyu.reach.campaigns.commands import PlanCampaign
    from siyu.reach.campaigns.service import plan_campaign, start
    from siyu.reach.sending.ledger import LedgerError

    base: dict[str, Any] = {"name": "x", "channel": "wecom_group"}
    with pytest.raises(LedgerError, match="no holdout"):
        plan_campaign(
            session, PlanCampaign(template={"text": "hi"}, holdout_pct=10, **base), actor="t"
        )
    with pytest.raises(LedgerError, match="not a segment"):
        plan_campaign(
            session,
            PlanCampaign(template={"text": "hi"}, segment_id=world["segment"], **base),
            actor="t",
        )
    with pytest.raises(LedgerError, match="whole group"):
        plan_campaign(session, PlanCampaign(template={"text": "{{ name }}您好"}, **base), actor="t")
    with pytest.raises(LedgerError, match="group filter"):
        plan_campaign(
            session,
            PlanCampaign(template={"text": "hi"}, group_filter={"owner": "x"}, **base),
            actor="t",
        )
    with pytest.raises(LedgerError, match="customer-group campaigns"):
        plan_campaign(
            session,
            PlanCampaign(
                name="y",
                channel="sms",
                segment_id=world["segment"],
                template={},
                group_filter={"owners": ["a"]},
            ),
            actor="t",
        )
    nobody = plan_campaign(
        session,
        PlanCampaign(template={"text": "hi"}, group_filter={"name_contains": "无此群"}, **base),
        actor="t",
    )
    with pytest.raises(LedgerError, match="no customer group"):
        start(session, nobody, actor="t")
