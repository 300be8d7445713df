"""Full sync against the simulated WeCom over HTTP, including WeCom's errors mid-sync."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa


def _populate(world: Any, customers: int = 250) -> list[Any]:
    staff = list(world.staff)
    people = []
    for i in range(customers):
        c = world.new_customer(f"顾客{i}", unionid=f"unionid-{i:05d}" if i % 2 else None)
        world.befriend(staff[i % len(staff)], c, state="store-sh" if i % 5 == 0 else "")
        people.append(c)
    # ten customers are friends of a second guide too: still one customer each
    for c in people[:10]:
        world.befriend(staff[(people.index(c) + 1) % len(staff)], c)
    people[3].phone = "13812345678"
    world.follows[(staff[3 % len(staff)], people[3].external_userid)].remark_mobiles = [
        "13812345678"
    ]
    return people


def _sync(corp_id: str) -> Any:
    from siyu.db import new_session
    from siyu.wecom.connection.service import client_for, get_corp
    from siyu.wecom.contacts.sync import sync

    with new_session() as s:
        corp = get_corp(s, corp_id)
        return sync(s, corp, client_for(s, corp))


def _counts(session: Any) -> tuple[int, int, int]:
    from siyu.customers.models import Customer
    from siyu.wecom.contacts.models import WecomContact

    friendships = session.scalar(sa.select(sa.func.count()).select_from(WecomContact))
    customers = session.scalar(sa.select(sa.func.count(sa.distinct(WecomContact.customer_id))))
    all_customers = session.scalar(sa.select(sa.func.count()).select_from(Customer))
    return friendships, customers, all_customers


def test_full_sync_stores_staff_friendships_and_one_customer_per_person(
    wecom: dict, session
) -> None:
    from siyu.customers.models import Identity
    from siyu.wecom.connection.models import WecomStaff

    world = wecom["world"]
    people = _populate(world)
    run = _sync(world.corp_id)
    assert run.status == "done"
    assert run.counts["contacts"] == 260 and run.counts["staff"] == 3
    assert _counts(session) == (260, 250, 250)
    assert session.scalar(sa.select(sa.func.count()).select_from(WecomStaff)) == 3
    # the phone a guide wrote in the remark became an identity of that customer
    phone_owner = session.scalar(sa.select(Identity.customer_id).where(Identity.kind == "phone"))
    ext_owner = session.scalar(
        sa.select(Identity.customer_id).where(Identity.value == people[3].external_userid)
    )
    assert phone_owner == ext_owner
    # a second sync changes nothing; a friendship deleted while callbacks were missed ends
    world.follows.pop((next(iter(world.staff)), people[0].external_userid))
    run2 = _sync(world.corp_id)
    assert run2.counts["contacts"] == 259 and run2.counts["contacts_ended"] == 1
    assert _counts(session)[2] == 250


@pytest.mark.parametrize("errcode", [45009, -1, 42001])
def test_sync_survives_wecom_errors_mid_way(wecom: dict, session, errcode: int) -> None:
    """45009 pauses the run (resumed later from its page); -1 is retried; 42001 refreshes the
    token once. Either way the end state equals an undisturbed sync's."""
    from siyu.wecom.contacts.sync import SyncPaused

    world = wecom["world"]
    _populate(world)
    world.inject("externalcontact/batch/get_by_user", errcode, times=1 if errcode != -1 else 2)
    # let the first page through, fail the second
    original = world.fault_for

    calls = {"n": 0}

    def second_page_fails(api: str) -> int:
        if api == "externalcontact/batch/get_by_user":
            calls["n"] += 1
            if calls["n"] == 1:
                return 0
        return original(api)

    world.fault_for = second_page_fails  # type: ignore[method-assign]
    if errcode == 45009:
        with pytest.raises(SyncPaused) as paused:
            _sync(world.corp_id)
        assert paused.value.retry_at is not None
        from siyu.wecom.contacts.models import WecomSyncRun

        run = session.scalar(sa.select(WecomSyncRun))
        assert run.status == "running" and run.position["phase"] == "contacts"
        assert run.position["cursor"]  # it stopped at the second page
        assert "45009" in (run.error or "")
        assert _counts(session)[0] == 100  # the first page is kept
        from siyu.wecom.connection import client as wc

        wc.LIMITS.blocked_until.clear()  # the back-off has passed
        session.expire_all()
    run = _sync(world.corp_id)
    assert run.status == "done"
    session.expire_all()
    assert _counts(session) == (260, 250, 250)
    codes = [code for api, code in world.call_log if api == "externalcontact/batch/get_by_user"]
    assert codes.count(0) == 3  # three pages of 100, each fetched successfully exactly once


def test_permanent_error_fails_the_run_and_status_shows_it(wecom: dict, session) -> None:
    from siyu.wecom.connection.client import WecomError
    from siyu.wecom.queries import status

    world = wecom["world"]
    world.secret = "rotated-at-wecom"  # Siyu still holds the old one: 40001
    with pytest.raises(WecomError) as err:
        _sync(world.corp_id)
    assert err.value.errcode == 40001 and not err.value.transient
    corp = status(session)[0]
    assert corp["sync"]["status"] == "failed" and "40001" in corp["sync"]["error"]
    assert corp["api_errors_last_hour"][0]["errcode"] == 40001


def test_groups_are_synced_with_members_resolved(wecom: dict, session) -> None:
    from siyu.simulators.wecom.world import Group
    from siyu.wecom.contacts.models import WecomGroupChat, WecomGroupMember

    world = wecom["world"]
    people = _populate(world, 20)
    owner = next(iter(world.staff))
    g = Group("wrgroup1", "上海会员群", owner, 1_700_000_000)
    g.members[owner] = {"userid": owner, "type": 1, "join_time": 1_700_000_000, "join_scene": 1}
    for c in people[:5]:
        g.members[c.external_userid] = {
            "userid": c.external_userid,
            "type": 2,
            "join_time": 1_700_000_100,
            "join_scene": 3,
        }
    world.groups[g.chat_id] = g
    run = _sync(world.corp_id)
    assert run.counts["groups"] == 1
    group = session.scalar(sa.select(WecomGroupChat))
    assert group.name == "上海会员群" and group.member_count == 6
    linked = session.scalar(
        sa.select(sa.func.count()).where(WecomGroupMember.customer_id.is_not(None))
    )
    assert linked == 5
    assert _counts(session)[2] == 20  # group members who are friends are the same customers


def test_client_backs_off_at_least_60_s_and_refreshes_tokens_once(wecom: dict) -> None:
    from siyu.wecom.connection.client import RateLimited, WecomClient, WecomError

    world = wecom["world"]
    now = [1000.0]
    client = WecomClient(world.corp_id, world.secret, wecom["server"].base, clock=lambda: now[0])
    world.inject("department/list", 45009)
    with pytest.raises(RateLimited) as limited:
        client.get("department/list")
    assert limited.value.retry_at - 1000.0 >= 60
    calls_before = len(world.call_log)
    with pytest.raises(RateLimited):  # refused locally: WeCom is not called during the back-off
        client.get("department/list")
    assert len(world.call_log) == calls_before
    now[0] += 76
    assert client.get("department/list")["errcode"] == 0
    # 42001 → one refresh, one retry; a second 42001 in a row is an error, not a loop
    world.inject("department/list", 42001, times=2)
    with pytest.raises(WecomError) as err:
        client.get("department/list")
    assert err.value.errcode == 42001
    world.inject("department/list", 42001, times=1)
    assert client.get("department/list")["errcode"] == 0
    tokens = [c for c in client.calls if c.api == "gettoken"]
    assert len(tokens) == 3  # the first, then one refresh per 42001 that was retried


def test_client_paces_itself_below_the_per_minute_limit(wecom: dict) -> None:
    from siyu.wecom.connection.client import WecomClient

    world = wecom["world"]
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    client = WecomClient(
        world.corp_id,
        world.secret,
        wecom["server"].base,
        per_minute=5,
        clock=lambda: now[0],
        sleep=sleep,
    )
    for _ in range(11):  # 5 at once, 5 a minute later, the 11th a minute after that
        client.get("department/list")
    assert slept == [60.0, 60.0]
    assert all(code == 0 for _api, code in world.call_log)
