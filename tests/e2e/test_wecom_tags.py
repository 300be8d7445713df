"""Tag sync both ways against the simulated WeCom: corp tags become Siyu tags, guides' tagging in
WeCom shows in Siyu, Siyu's tagging reaches WeCom after commit, and the conflict rule holds."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tests.wecom_sim import pump_inbox


def _sync(world: Any) -> None:
    from siyu.db import new_session
    from siyu.wecom.connection.service import client_for, get_corp
    from siyu.wecom.contacts.sync import sync

    with new_session() as s:
        corp = get_corp(s, world.corp_id)
        sync(s, corp, client_for(s, corp))


def _run_pushes() -> int:
    """What the worker does after commit: deliver the tag.changed reactions (which queue the
    pushes), then run the queued tag pushes. Returns how many pushes ran."""
    from siyu.db import new_session
    from siyu.jobs.models import Job
    from siyu.jobs.service import run_job

    n = 0
    with new_session() as s:
        for kind in ("reaction", "wecom.tags.push"):
            for job in s.scalars(
                sa.select(Job).where(Job.kind == kind, Job.status == "queued").order_by(Job.id)
            ).all():
                job.attempts += 1
                run_job(s, job)
                assert job.status == "done", job.last_error
                n += kind == "wecom.tags.push"
    return n


def _tags_of(session: Any, customer_id: int) -> set[tuple[str, str]]:
    from siyu.tags.models import CustomerTag, Tag

    session.expire_all()
    return set(
        session.execute(
            sa.select(Tag.name, CustomerTag.source)
            .join(Tag, Tag.id == CustomerTag.tag_id)
            .where(CustomerTag.customer_id == customer_id)
        ).all()
    )


def test_tags_both_ways(driver: Any, session: Any) -> None:
    from siyu.db import session_scope
    from siyu.tags.models import Tag, TagGroup
    from siyu.tags.service import add_group, add_tag, assign, find_tag, unassign
    from siyu.wecom.connection.service import client_for, get_corp
    from siyu.wecom.contacts.models import WecomContact
    from siyu.wecom.tagsync.models import WecomTagLink
    from siyu.wecom.tagsync.service import pair

    world = driver.world
    vip = driver.corp_tag("客户等级", "VIP")
    driver.corp_tag("客户等级", "普通")
    customer, follow, _r = driver.add("guide001", welcome=False)
    follow.tag_ids = [vip]  # the guide tagged them in WeCom before Siyu was connected
    _sync(world)
    pump_inbox()
    names = set(
        session.execute(sa.select(TagGroup.name, Tag.name).join(Tag, Tag.group_id == TagGroup.id))
    )
    assert {("客户等级", "VIP"), ("客户等级", "普通")} <= names
    cid = session.scalar(sa.select(WecomContact.customer_id))
    assert _tags_of(session, cid) == {("VIP", "wecom")}
    # the guide takes the tag off in WeCom: it goes in Siyu
    driver.guide_tags("guide001", customer.external_userid, remove=(vip,))
    pump_inbox()
    assert _tags_of(session, cid) == set()
    # an operator tags the customer in Siyu: after commit, the worker marks it in WeCom
    with session_scope() as s:
        assign(s, find_tag(s, "客户等级/VIP"), [cid], actor="ops")
    assert world.follows[("guide001", customer.external_userid)].tag_ids == []  # not before
    assert _run_pushes() == 1
    assert world.follows[("guide001", customer.external_userid)].tag_ids == [vip]
    assert _tags_of(session, cid) == {("VIP", "manual"), ("VIP", "wecom")}
    # the guide removes it in WeCom: Siyu keeps its own assignment, the WeCom one goes
    driver.guide_tags("guide001", customer.external_userid, remove=(vip,))
    pump_inbox()
    assert _tags_of(session, cid) == {("VIP", "manual")}
    # taken off by hand in Siyu: removed in WeCom as well
    driver.guide_tags("guide001", customer.external_userid, add=(vip,))
    pump_inbox()
    with session_scope() as s:
        unassign(s, find_tag(s, "客户等级/VIP"), [cid], actor="ops")
    assert _run_pushes() == 1
    assert world.follows[("guide001", customer.external_userid)].tag_ids == []
    assert _tags_of(session, cid) == set()
    # a Siyu tag WeCom does not have: pairing creates it there and pushes its holders
    with session_scope() as s:
        add_group(s, "兴趣", single=False, actor="ops")
        add_tag(s, "兴趣/咖啡", actor="ops")
        assign(s, find_tag(s, "兴趣/咖啡"), [cid], actor="ops")
    assert _run_pushes() == 0  # not paired yet: nothing to push
    with session_scope() as s:
        corp = get_corp(s, world.corp_id)
        link = pair(s, corp, client_for(s, corp), find_tag(s, "兴趣/咖啡"))
        coffee = link.wecom_tag_id
    assert any(g["group_name"] == "兴趣" for g in world.tag_groups.values())
    assert _run_pushes() == 1
    assert world.follows[("guide001", customer.external_userid)].tag_ids == [coffee]
    # a corp tag deleted in WeCom: the pair ends, Siyu's own tag and assignment stay
    driver.delete_corp_tag(coffee)
    pump_inbox()
    session.expire_all()
    assert session.scalar(
        sa.select(WecomTagLink.deleted).where(WecomTagLink.wecom_tag_id == coffee)
    )
    assert ("咖啡", "manual") in _tags_of(session, cid)


def test_pairing_refuses_names_wecom_cannot_hold(driver: Any) -> None:
    import pytest

    from siyu.db import session_scope
    from siyu.tags.service import add_group, add_tag, find_tag
    from siyu.wecom.connection.service import client_for, get_corp
    from siyu.wecom.tagsync.service import TagSyncError, pair

    with session_scope() as s:
        add_group(s, "兴趣", single=False, actor="ops")
        add_tag(s, "兴趣/" + "长" * 31, actor="ops")
    with session_scope() as s, pytest.raises(TagSyncError, match="30"):
        corp = get_corp(s, driver.world.corp_id)
        pair(s, corp, client_for(s, corp), find_tag(s, "兴趣/" + "长" * 31))


def test_tags_cli(driver: Any) -> None:
    from typer.testing import CliRunner

    from siyu.cli import app

    driver.corp_tag("客户等级", "VIP")
    runner = CliRunner()
    out = runner.invoke(app, ["wecom", "tags", "sync"])
    assert out.exit_code == 0 and "1 corp tags; 1 Siyu tags created" in out.output, out.output
    out = runner.invoke(app, ["wecom", "tags", "pair", "客户等级/VIP"])
    assert out.exit_code == 0, out.output
    out = runner.invoke(app, ["wecom", "tags", "pair", "没有/这个"])
    assert out.exit_code == 1 and "no tag" in out.output
