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
    from siyu.growth.forms.submit import submit
    from siyu.reach.models import SendRow
    from tests import forms_world as fw

    _no_quiet_hours(monkeypatch)  # the task is not held for the morning
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
    _pump(settings)
    sent = wecom["world"].app_sent
    assert [m["touser"] for m in sent] == [guide]
    text = sent[0]["text"]["content"]
    assert text.startswith("【待跟进】请跟进以下 1 位客户：\n1. ")
    assert "在「售后回访」打了 3 分" in text  # the title's template signs are dropped, not run
    queued = session.scalars(sa.select(SendRow).where(SendRow.channel == "wecom_app")).all()
    assert [(r.customer_id, r.state, r.campaign_id) for r in queued] == [(unhappy, "sent", None)]


def _no_quiet_hours(monkeypatch: pytest.MonkeyPatch) -> None:
    from siyu import runtime

    for name in ("SIYU_QUIET_HOURS_START", "SIYU_QUIET_HOURS_END"):
        monkeypatch.setenv(name, "0")
    runtime.reset()


def _pump(settings: Any) -> None:
    from siyu.db import new_session
    from siyu.reach.sending.transactional import dispatch_transactional

    with new_session() as s:
        while dispatch_transactional(s, "w1", settings, _channels(settings)):
            pass


def test_two_unnamed_detractors_are_two_tasks_each_naming_whom_to_call(
    world: dict[str, Any],
    wecom: dict[str, Any],
    session: Any,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """WeCom drops a repeated body within its duplicate check: two tasks of one guide in two
    rounds must differ, and each must say which customer to call."""
    from siyu.customers.models import Customer
    from siyu.growth.forms.submit import submit
    from tests import forms_world as fw

    _no_quiet_hours(monkeypatch)
    friends = _friends(world, wecom, session, 3)
    first, _other, third = sorted(friends)
    assert friends[first][0] == friends[third][0]  # the same guide
    for cid in (first, third):
        session.get(Customer, cid).name = None
    session.commit()
    form = fw.form(session, "care", fw.SURVEY, kind="survey", actions=["guide_task"], title="回访")
    for cid in (first, third):
        submit(session, form, fw.entry({"q1": "3"}, customer_id=cid))
        session.commit()
        _pump(settings)
    texts = [m["text"]["content"] for m in wecom["world"].app_sent]
    assert len(texts) == 2
    assert f"客户 #{first}" in texts[0] and f"客户 #{third}" in texts[1]


def test_no_guide_is_asked_to_call_a_customer_who_asked_not_to_be_disturbed(
    world: dict[str, Any],
    wecom: dict[str, Any],
    session: Any,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from siyu.customers.models import Customer
    from siyu.reach.models import SendRow
    from siyu.reach.sending.transactional import send_transactional

    _no_quiet_hours(monkeypatch)
    ((cid, _guide),) = _friends(world, wecom, session, 1).items()
    session.get(Customer, cid).do_not_disturb = True
    session.commit()
    send_transactional(
        session,
        key="op:1",
        customer_id=cid,
        channel="wecom_app",
        template={"text": "{{ name }} 请邀请到店"},
        expires_minutes=60,
        actor="op",
    )
    session.commit()
    _pump(settings)
    row = session.scalars(sa.select(SendRow).where(SendRow.channel == "wecom_app")).one()
    assert (row.state, row.reason) == ("skipped", "do_not_disturb")
    assert wecom["world"].app_sent == []


def test_a_task_line_never_breaks_into_lines_of_its_own(
    world: dict[str, Any],
    wecom: dict[str, Any],
    session: Any,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A name with carriage returns, line separators or direction marks cannot forge entries
    in the guide's list."""
    from siyu.customers.models import Customer
    from siyu.growth.forms.submit import submit
    from tests import forms_world as fw

    _no_quiet_hours(monkeypatch)
    ((cid, _guide),) = _friends(world, wecom, session, 1).items()
    session.get(Customer, cid).name = "张三\r2. 李四\u20283. 王五\u202e\x1b[31m"
    session.commit()
    form = fw.form(
        session, "care", fw.SURVEY, kind="survey", actions=["guide_task"], title="回访\r\n2. 假"
    )
    submit(session, form, fw.entry({"q1": "1"}, customer_id=cid))
    session.commit()
    _pump(settings)
    (sent,) = wecom["world"].app_sent
    body = sent["text"]["content"].split("\n", 1)[1]  # after the list's title
    assert body.startswith("1. 张三 2. 李四 3. 王五")
    assert not any(ch in body for ch in "\r\n\u2028\u202e\x1b")


def test_a_guide_of_another_brand_is_not_asked(
    world: dict[str, Any],
    wecom: dict[str, Any],
    session: Any,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from siyu.brands.service import add_brand
    from siyu.growth.forms.submit import submit
    from siyu.wecom.connection.models import WecomCorp
    from tests import forms_world as fw

    _no_quiet_hours(monkeypatch)
    add_brand(session, "bra", "品牌甲")
    other = add_brand(session, "brb", "品牌乙")
    session.flush()
    for corp in session.scalars(sa.select(WecomCorp)):
        corp.brand_id = other.id  # the only corp serves brand B
    session.commit()
    ((cid, _guide),) = _friends(world, wecom, session, 1).items()
    form = fw.form(session, "carea", fw.SURVEY, kind="survey", actions=["guide_task"], brand="bra")
    row = submit(session, form, fw.entry({"q1": "0"}, customer_id=cid))
    session.commit()
    _pump(settings)
    assert row.actions == ["guide_task: skipped: not a WeCom friend of any guide"]
    assert wecom["world"].app_sent == []
