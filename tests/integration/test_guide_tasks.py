"""Guide tasks through the WeCom app against the simulated WeCom: each customer checked by the
send policy and recorded in the ledger, one list per guide (not a message per customer), lists
cut below WeCom's 2,048 bytes, a lost answer retried under WeCom's duplicate check so the guide
gets the list once, a guide outside the app recorded as such."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from tests.integration.test_wecom_mass import _campaign, _channels, _friends, _rows

TASK = {
    "text": "{{ name }} 上次买了{{ last_product }}，请问问用得怎么样",
    "fallbacks": {"last_product": "我们的产品"},
}


def _drain(settings: Any) -> None:
    from siyu.db import new_session
    from siyu.reach.sending.dispatch import dispatch_once

    with new_session() as s:
        while dispatch_once(s, "w1", settings, _channels(settings)):
            pass


def test_one_list_per_guide_with_every_customer_in_the_ledger(
    world: dict[str, Any], wecom: dict[str, Any], session: Any, settings: Any
) -> None:
    from siyu.customers.models import Customer

    friends = _friends(world, wecom, session, 10)
    dnd = next(iter(friends))
    session.get(Customer, dnd).do_not_disturb = True  # a guide is not sent to bother them either
    session.commit()
    campaign = _campaign(session, world["segment"], channel="wecom_app", template=TASK)
    _drain(settings)
    rows = _rows(session, campaign.id)
    assert {c for c, r in rows.items() if r.state == "sent"} == set(friends) - {dnd}
    assert (rows[dnd].state, rows[dnd].reason) == ("skipped", "do_not_disturb")
    others = {r.reason for c, r in rows.items() if c not in friends}
    # not anyone's WeCom friend: no guide to ask (the suppressed customer is refused first)
    assert others == {"no_address", "suppressed"}
    sent = wecom["world"].app_sent
    assert sorted(m["touser"] for m in sent) == sorted({g for g, _e in friends.values()})
    for m in sent:
        text = m["text"]["content"]
        assert text.startswith("【会员日】请跟进以下") and "\n1. 顾客" in text
        assert m["enable_duplicate_check"] == 1 and len(text.encode()) <= 2000
    assert sum(m["text"]["content"].count("上次买了") for m in sent) == 9


def test_long_lists_are_cut_and_a_lost_answer_is_not_delivered_twice(
    world: dict[str, Any], wecom: dict[str, Any], session: Any, settings: Any, monkeypatch: Any
) -> None:
    from siyu.reach.channels import wecom_tasks
    from siyu.reach.models import SendRow

    lines = [(i, "很长的一行" * 40) for i in range(12)]
    parts = wecom_tasks.task_lists("【标题】", lines)
    assert len(parts) > 1 and all(len(t.encode()) <= 2000 for t, _ids in parts)
    assert sorted(i for _t, ids in parts for i in ids) == list(range(12))

    from siyu.wecom.connection.client import NETWORK, WecomClient

    friends = _friends(world, wecom, session, 4)
    sim = wecom["world"]
    real_send = WecomClient._send
    lost = {"n": 0}

    def answer_lost_once(self: Any, method: str, api: str, params: Any, body: Any) -> Any:
        data = real_send(self, method, api, params, body)
        if api == "message/send" and lost["n"] == 0:
            lost["n"] += 1  # WeCom took it, but the answer never came back
            return {"errcode": NETWORK, "errmsg": "ReadTimeout"}
        return data

    monkeypatch.setattr(WecomClient, "_send", answer_lost_once)
    campaign = _campaign(session, world["segment"], channel="wecom_app", template=TASK)
    _drain(settings)
    guides = {g for g, _e in friends.values()}
    assert lost["n"] == 1
    assert len(sim.app_sent) == len(guides)  # the repeated request was not delivered again
    states = set(
        session.scalars(
            sa.select(SendRow.state).where(
                SendRow.campaign_id == campaign.id, SendRow.customer_id.in_(list(friends))
            )
        )
    )
    assert states == {"sent"}


def test_a_guide_outside_the_app_is_recorded(
    world: dict[str, Any], wecom: dict[str, Any], session: Any, settings: Any
) -> None:
    friends = _friends(world, wecom, session, 2)
    sim = wecom["world"]
    for guide, _ext in friends.values():
        sim.staff.pop(guide, None)  # left the company: not in the app any more
    campaign = _campaign(session, world["segment"], channel="wecom_app", template=TASK)
    _drain(settings)
    rows = _rows(session, campaign.id)
    assert {(rows[c].state, rows[c].reason) for c in friends} == {("skipped", "guide_not_in_app")}
    assert sim.app_sent == []


def test_a_survey_detractor_becomes_a_task_for_their_own_guide_once(
    world: dict[str, Any],
    wecom: dict[str, Any],
    session: Any,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A detractor's call-back goes to the guide whose friend they are, as a one-off task
    (transactional, keyed by the answer); a detractor who is nobody's friend is recorded."""
    from siyu import runtime
    from siyu.db import new_session
    from siyu.growth.forms.submit import submit
    from siyu.reach.models import SendRow
    from siyu.reach.sending.transactional import dispatch_transactional
    from tests import forms_world as fw

    for name in ("SIYU_QUIET_HOURS_START", "SIYU_QUIET_HOURS_END"):
        monkeypatch.setenv(name, "0")  # no quiet hours: the task is not held for the morning
    runtime.reset()
    friends = _friends(world, wecom, session, 2)
    (unhappy, (guide, _ext)), (happy, _g) = sorted(friends.items())
    stranger = fw.customer(session)
    form = fw.form(
        session, "care", fw.SURVEY, kind="survey", actions=["guide_task"], title="售后{{回访}}"
    )
    rows = []
    for cid, score in ((unhappy, 3), (happy, 10), (stranger, 2)):
        rows.append(submit(session, form, fw.entry({"q1": str(score)}, customer_id=cid)))
        session.commit()
    assert rows[0].actions == ["guide_task: queued for the guide"]
    assert rows[1].actions == []
    assert rows[2].actions == ["guide_task: skipped: not a WeCom friend of any guide"]
    with new_session() as s:
        while dispatch_transactional(s, "w1", settings, _channels(settings)):
            pass
    sent = wecom["world"].app_sent
    assert [m["touser"] for m in sent] == [guide]
    text = sent[0]["text"]["content"]
    assert text.startswith("【待跟进】请跟进以下 1 位客户：\n1. ")
    assert "在「售后回访」打了 3 分" in text  # the title's template signs are dropped, not run
    queued = session.scalars(sa.select(SendRow).where(SendRow.channel == "wecom_app")).all()
    assert [(r.customer_id, r.state, r.campaign_id) for r in queued] == [(unhappy, "sent", None)]
