"""The follower sync against the simulated official account over real HTTP: the list paged by
next_openid and read 100 at a time, followers linked to customers by openid and unionid (never
merging different unionids), a failure mid-list resumed from the stored cursor, followers gone
from the list ended, a refused secret failing the run, erasure reaching the follower rows."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa


def _sync(session: Any) -> Any:
    from siyu.config import get_settings
    from siyu.oa.service import run_sync

    return run_sync(session, get_settings())


def _openid_owner(session: Any, appid: str, openid: str) -> int | None:
    from siyu.customers.models import Identity

    return session.scalar(
        sa.select(Identity.customer_id).where(
            Identity.kind == "openid", Identity.namespace == appid, Identity.value == openid
        )
    )


def test_followers_become_customers_linked_by_unionid(oa_account: Any, session: Any) -> None:
    from siyu.customers.models import Customer, Identity, IdentityConflict
    from siyu.oa.models import OaFollower

    sim = oa_account
    sim.page_size = 120  # 260 followers: three pages, each read 100 at a time
    member = Customer(name="会员甲", status="active", source="pos")
    other = Customer(name="会员乙", status="active", source="pos")
    session.add_all([member, other])
    session.flush()
    session.add_all(
        [
            Identity(
                customer_id=member.id,
                kind="unionid",
                namespace="wechat",
                value="oUnionMember1",
                source="t",
            ),
            Identity(
                customer_id=other.id,
                kind="unionid",
                namespace="wechat",
                value="oUnionOther22",
                source="t",
            ),
        ]
    )
    session.commit()
    fans = [sim.subscribe(unionid=f"oUnion{n:06d}" if n % 2 else None) for n in range(258)]
    linked = sim.subscribe(unionid="oUnionMember1", scene="ADD_SCENE_QR_CODE", qr_scene="store_1")
    # an openid Siyu holds on ``other``'s profile, while WeChat gives it ``member``'s unionid:
    # two profiles with different unionids, which must not be merged
    clash = sim.subscribe(unionid="oUnionMember1")
    session.add(
        Identity(
            customer_id=other.id, kind="openid", namespace=sim.appid, value=clash.openid, source="t"
        )
    )
    session.commit()

    run = _sync(session)

    assert run.status == "done" and run.counts["listed"] == 260 == run.counts["total"]
    assert [c[0] for c in sim.calls].count("user/get") == 4  # three pages and the empty end
    assert [c[0] for c in sim.calls].count("batchget") == 5  # 100 + 20, 100 + 20, 20
    session.expire_all()
    follower = session.scalar(sa.select(OaFollower).where(OaFollower.openid == linked.openid))
    assert follower.subscribed and follower.scene == "ADD_SCENE_QR_CODE"
    assert follower.qr_scene == "store_1" and follower.subscribe_time is not None
    assert _openid_owner(session, sim.appid, linked.openid) == member.id  # one person
    assert _openid_owner(session, sim.appid, clash.openid) == other.id
    assert session.get(Customer, other.id).status == "active"
    assert session.get(Customer, member.id).status == "active"
    conflict = session.scalar(sa.select(IdentityConflict))
    assert conflict is not None and conflict.kind == "unionid" and conflict.source == "oa"
    owners = {_openid_owner(session, sim.appid, f.openid) for f in fans}
    assert None not in owners and len(owners) == 258  # one new customer per stranger
    new = session.get(Customer, _openid_owner(session, sim.appid, fans[0].openid))
    assert new.source == "oa" and new.first_seen_at is not None
    # syncing again changes nothing and creates no one
    customers = session.scalar(sa.select(sa.func.count()).select_from(Customer))
    again = _sync(session)
    assert again.counts["customers_created"] == 0
    assert session.scalar(sa.select(sa.func.count()).select_from(Customer)) == customers


def test_a_failure_mid_list_resumes_from_the_cursor(oa_account: Any, session: Any) -> None:
    from siyu.oa.models import OaFollower, OaSyncRun
    from siyu.oa.sync import SyncPaused

    sim = oa_account
    sim.page_size = 250  # batches: 0-100, 100-200, 200-250 | 250-350, 350-450 …
    fans = [sim.subscribe() for _ in range(600)]
    sim.inject(-1, api="batchget", after=4)  # WeChat busy on the fifth batch
    with pytest.raises(SyncPaused) as paused:
        _sync(session)
    assert paused.value.retry_after == 10.0
    run = session.get(OaSyncRun, paused.value.run_id)
    assert run.status == "running" and "-1" in (run.error or "")
    page_two = fans[249].openid  # the second page starts after the first page's last openid
    assert run.position == {"next_openid": page_two, "after": fans[349].openid}
    assert session.scalar(sa.select(sa.func.count()).select_from(OaFollower)) == 350
    sim.calls.clear()
    done = _sync(session)
    assert done.id == run.id and done.status == "done" and done.counts["listed"] == 600
    # resumed at the stored cursor: the second page asked again, its stored batch not re-read
    assert sim.calls[:2] == [("user/get", page_two), ("batchget", fans[350].openid)]
    assert ("batchget", fans[250].openid) not in sim.calls
    assert session.scalar(sa.select(sa.func.count()).select_from(OaFollower)) == 600


def test_followers_gone_from_the_list_are_ended(oa_account: Any, session: Any) -> None:
    from siyu.oa.models import OaFollower

    sim = oa_account
    stay, leave = sim.subscribe(), sim.subscribe()
    _sync(session)
    sim.unsubscribe(leave.openid)  # their unsubscribe push never reached Siyu
    run = _sync(session)
    session.expire_all()
    rows = {f.openid: f for f in session.scalars(sa.select(OaFollower))}
    assert rows[stay.openid].subscribed and rows[stay.openid].unsubscribed_at is None
    assert not rows[leave.openid].subscribed and rows[leave.openid].unsubscribed_at
    assert run.counts["ended"] == 1


def test_batchget_says_who_left_between_the_list_and_the_details(
    oa_account: Any, session: Any
) -> None:
    from siyu.db import utcnow
    from siyu.oa.followers import FollowerFacts, store_followers
    from siyu.oa.models import OaFollower

    at = utcnow().replace(microsecond=0)
    gone = FollowerFacts.from_info(
        {"subscribe": 0, "openid": "o_left_just_now_0000000000", "unionid": "oUx"}, at
    )
    store_followers(session, oa_account.appid, [gone], seen=True)
    session.commit()
    row = session.scalar(sa.select(OaFollower))
    assert row.subscribed is False and row.unsubscribed_at == at
    assert _openid_owner(session, oa_account.appid, gone.openid) is None  # no customer for it


def test_a_stale_cursor_starts_the_list_again(oa_account: Any, session: Any) -> None:
    from siyu.oa.models import OaSyncRun

    sim = oa_account
    for _ in range(5):
        sim.subscribe()
    session.add(
        OaSyncRun(appid=sim.appid, position={"next_openid": "o_gone_from_wechat", "after": ""})
    )
    session.commit()
    run = _sync(session)
    assert run.status == "done" and run.counts["restarts"] == 1 and run.counts["listed"] == 5


def test_a_refused_secret_fails_the_run(
    oa_account: Any, session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from siyu.config import reset_settings
    from siyu.oa.models import OaSyncRun
    from siyu.oa.sync import SyncFailed

    oa_account.subscribe()
    monkeypatch.setenv("SIYU_OA_SECRET", "not-the-secret")
    reset_settings()
    with pytest.raises(SyncFailed, match="40125"):
        _sync(session)
    run = session.scalar(sa.select(OaSyncRun))
    assert run.status == "failed" and "40125" in run.error


def test_batchget_refuses_more_than_100(oa_account: Any) -> None:
    from siyu.config import get_settings
    from siyu.oa.service import client_for

    client = client_for(get_settings())
    fans = [oa_account.subscribe().openid for _ in range(101)]
    with pytest.raises(ValueError, match="at most 100"):
        client.user_infos(fans)
    answer = client.call(
        "POST",
        "/cgi-bin/user/info/batchget",
        json={"user_list": [{"openid": o} for o in fans]},
    )
    assert answer["errcode"] == 40032  # the simulator refuses as WeChat does
    assert len(client.user_infos(fans[:100])) == 100


def test_erasure_removes_follower_rows_and_pushes(
    oa_account: Any, session: Any, settings: Any
) -> None:
    from siyu.customers.models import Identity
    from siyu.db import utcnow
    from siyu.oa.models import OaCallback, OaFollower
    from siyu.privacy.service import erase_person

    fan = oa_account.subscribe(unionid="oUnionErase01")
    _sync(session)
    owner = _openid_owner(session, oa_account.appid, fan.openid)
    session.add(
        Identity(customer_id=owner, kind="phone", namespace="", value="+8613957120001", source="t")
    )
    session.add(
        OaCallback(
            appid=oa_account.appid,
            digest="d" * 64,
            event="subscribe",
            openid=fan.openid,
            payload={"FromUserName": fan.openid},
            received_at=utcnow(),
            due_at=utcnow(),
        )
    )
    session.commit()
    erase_person(session, settings, "13957120001", "test")
    session.commit()
    assert session.scalar(sa.select(sa.func.count()).select_from(OaFollower)) == 0
    assert session.scalar(sa.select(sa.func.count()).select_from(OaCallback)) == 0
    # the next sync sees them again: a customer again, but suppressed (not marketable)
    _sync(session)
    again = _openid_owner(session, oa_account.appid, fan.openid)
    from siyu.customers.models import Customer

    assert session.get(Customer, again).suppressed
