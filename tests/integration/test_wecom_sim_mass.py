"""The simulated corp mass-message APIs the reach capability will use: a task per member, sent
only when the member confirms, one a day per customer, results by customer."""

from __future__ import annotations

import time
from typing import Any

import pytest


def _client(world: Any, base: str) -> Any:
    from siyu.wecom.connection.client import WecomClient

    return WecomClient(corp_id=world.corp_id, secret=world.secret, base=base)


def test_mass_message_task_confirmation_and_daily_limit(wecom: dict[str, Any]) -> None:
    from siyu.simulators.wecom.driver import Driver
    from siyu.wecom.connection.client import WecomError

    world, server = wecom["world"], wecom["server"]
    client = _client(world, server.base)
    driver = Driver(world, "http://127.0.0.1:9/unused")
    a, b, stranger = (world.new_customer(n) for n in ("甲", "乙", "路人"))
    for c in (a, b):
        world.befriend("guide001", c)
    body = {
        "chat_type": "single",
        "sender": "guide001",
        "external_userid": [a.external_userid, b.external_userid, stranger.external_userid],
        "text": {"content": "双11会员日，全场 8 折"},
    }
    first = client.post("externalcontact/add_msg_template", body)
    assert first["fail_list"] == [stranger.external_userid]
    task = client.post("externalcontact/get_groupmsg_task", {"msgid": first["msgid"]})
    assert task["task_list"][0]["status"] == 0  # not sent until the member confirms
    world.follows.pop(("guide001", b.external_userid))  # b deletes the guide meanwhile
    assert driver.staff_sends_mass_message(first["msgid"]) == {
        a.external_userid: 1,
        b.external_userid: 2,
    }
    second = client.post(
        "externalcontact/add_msg_template", {**body, "external_userid": [a.external_userid]}
    )
    assert driver.staff_sends_mass_message(second["msgid"]) == {a.external_userid: 3}
    result = client.post(
        "externalcontact/get_groupmsg_send_result", {"msgid": first["msgid"], "userid": "guide001"}
    )
    assert {r["external_userid"]: r["status"] for r in result["send_list"]} == {
        a.external_userid: 1,
        b.external_userid: 2,
    }
    now = int(time.time())
    listed = client.post(
        "externalcontact/get_groupmsg_list_v2",
        {"chat_type": "single", "start_time": now - 60, "end_time": now + 60},
    )
    assert [m["msgid"] for m in listed["group_msg_list"]] == [first["msgid"], second["msgid"]]
    with pytest.raises(WecomError) as bad:
        client.post("externalcontact/add_msg_template", {**body, "sender": "ghost"})
    assert bad.value.errcode == 60111
    with pytest.raises(WecomError) as bad:
        client.post("externalcontact/get_groupmsg_task", {"msgid": "nope"})
    assert bad.value.errcode == 41063


def test_the_demo_guides_confirm_tasks_that_have_waited() -> None:
    """The demo's guides tap "send" a little while after a task arrives (not at once, and a
    guide who has left confirms nothing); the results then read as sent."""
    from siyu.simulators.wecom.mass import add_msg_template, confirm_waiting
    from siyu.simulators.wecom.run import demo_world

    now = [1_800_000_000.0]
    world = demo_world(2)
    world.clock = lambda: now[0]
    a, b = world.new_customer("甲"), world.new_customer("乙")
    world.befriend("guide001", a)
    world.befriend("guide002", b)

    def task(sender: str, ext: str) -> str:
        body = {"sender": sender, "external_userid": [ext], "text": {"content": "会员日"}}
        return str(add_msg_template(world, {}, body)["msgid"])

    first = task("guide001", a.external_userid)
    now[0] += 10
    second = task("guide002", b.external_userid)
    assert confirm_waiting(world, 20) == []
    now[0] += 15
    assert confirm_waiting(world, 20) == [first]  # 25 s old; the other only 15 s
    world.staff["guide002"].status = 5  # left the company
    now[0] += 60
    assert confirm_waiting(world, 20) == []
    mass = world.extras["mass"]
    assert mass[first].results == {a.external_userid: 1} and not mass[second].confirmed_at
