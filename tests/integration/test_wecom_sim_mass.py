"""The simulated corp mass-message APIs the reach capability will use: a task per member, sent
only when the member confirms, one a day per customer, results by customer."""

from __future__ import annotations

import time
from typing import Any

import pytest


def _client(world: Any, base: str) -> Any:
    from siyu.wecom.client import WecomClient

    return WecomClient(corp_id=world.corp_id, secret=world.secret, base=base)


def test_mass_message_task_confirmation_and_daily_limit(wecom: dict[str, Any]) -> None:
    from siyu.simulators.wecom.driver import Driver
    from siyu.wecom.client import WecomError

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
