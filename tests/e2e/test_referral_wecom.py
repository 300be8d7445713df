"""A member's poster and personal WeCom contact way, against the simulated WeCom: the way is made
with the member's guide and a state naming the code when the poster is first opened, reused
after, scanned by a friend who arrives as the member's invitee, deleted after 90 days unused;
the corp's quota alerts at 80 % and falls back to the link past it; the poster is an image of
WeChat's share size, drawn once and read from the cache after."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from siyu import clock
from tests.wecom_sim import pump_inbox


def _deliver() -> None:
    from siyu.jobs import service as jobs

    while jobs.run_once("test-worker"):
        pass


def _friend_member(driver: Any, session: Any, name: str = "王芳") -> Any:
    """A new WeCom friend of the first guide, enrolled in programme vip (made with referral
    running the first time)."""
    from siyu.customers.models import Customer
    from siyu.growth.service import set_rules
    from siyu.loyalty.queries import member_view, programme_named
    from siyu.loyalty.service import create_programme, enrol
    from siyu.wecom.contacts.models import WecomContact

    guide = next(iter(driver.world.staff))
    friend, _follow, _resp = driver.add(guide)
    pump_inbox()
    contact = session.scalar(
        sa.select(WecomContact).where(WecomContact.external_userid == friend.external_userid)
    )
    session.get(Customer, contact.customer_id).name = name
    programme = programme_named(session, "vip")
    if programme is None:
        programme = create_programme(session, "vip", "悦颜会员")
        set_rules(session, "vip", "t", referrer_points=100, invitee_points=50)
    member = enrol(session, programme, contact.customer_id, channel="wecom")
    session.commit()
    return member_view(session, member.id)


def test_the_poster_makes_the_way_once_and_a_scan_arrives_as_an_invitee(
    driver: Any, session: Any, settings: Any
) -> None:
    from PIL import Image

    from siyu.growth.models import Referral, ReferralCode
    from siyu.growth.sharing import member_poster, sweep_ways

    member = _friend_member(driver, session)
    guide = next(iter(driver.world.staff))
    first = member_poster(session, settings, member)
    with Image.open(io.BytesIO(first)) as img:
        assert img.size == (750, 1334) and img.format == "PNG"
    code = session.scalars(sa.select(ReferralCode)).one()
    ways = driver.world.contact_ways
    assert code.way_config_id in ways and len(ways) == 1
    way = ways[code.way_config_id]
    assert way.state == f"r_{code.code}" and way.users == [guide] and way.type == 1
    again = member_poster(session, settings, member)
    assert again == first and len(ways) == 1  # reused, and read from the cache
    # a friend scans it: they arrive as the member's invitee
    driver.scan(code.way_config_id)
    pump_inbox()
    _deliver()
    referral = session.scalars(sa.select(Referral)).one()
    assert (referral.channel, referral.status, referral.referrer_id) == (
        "wecom",
        "attributed",
        member.id,
    )
    # unused for 90 days: deleted at WeCom, and made again when the poster is next opened
    with clock.frozen(clock.now() + timedelta(days=91)):
        assert sweep_ways(session) == 1
    assert code.way_config_id not in ways
    session.expire_all()
    assert session.get(ReferralCode, code.id).way_config_id is None


def test_the_quota_alerts_at_80_percent_then_falls_back_to_the_link(
    driver: Any, session: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from siyu.growth.models import ReferralCode
    from siyu.growth.sharing import member_poster
    from siyu.wecom.contacts.models import WecomAlert
    from siyu.wecom.live_codes import personal

    def way_of(member: Any) -> Any:
        session.expire_all()
        code = session.scalar(sa.select(ReferralCode).where(ReferralCode.member_id == member.id))
        return code.way_config_id

    monkeypatch.setattr(personal, "QUOTA", 2)
    first = _friend_member(driver, session, "甲")
    member_poster(session, settings, first)  # 0 of 2: made, nothing said
    assert way_of(first) is not None
    assert session.scalar(sa.select(sa.func.count()).select_from(WecomAlert)) == 0
    monkeypatch.setattr(personal, "ALERT_AT", 0.5)
    second = _friend_member(driver, session, "乙")
    member_poster(session, settings, second)  # 1 of 2 is past 50 %: made, and the team told
    assert way_of(second) is not None
    third = _friend_member(driver, session, "丙")
    png = member_poster(session, settings, third)  # 2 of 2: none made; the link instead
    assert way_of(third) is None and png.startswith(b"\x89PNG")
    kinds = session.scalars(sa.select(WecomAlert.kind)).all()
    assert kinds == ["contact_way_quota"]  # one open alert, not one per poster
    assert len(driver.world.contact_ways) == 2


def test_group_fission_welcomes_the_friend_with_the_group_qr_and_notes_the_join(
    driver: Any, session: Any, settings: Any, client: Any
) -> None:
    """A participant's new friend is welcomed with the campaign group's QR (the one message
    WeCom sends by itself), joins, and the join shows in the participant's progress, earning
    nothing; an add through anyone else's way gets no QR."""
    from siyu.centre.service import MEMBER_COOKIE, open_session
    from siyu.db import new_session, session_scope
    from siyu.growth.fission.service import StageSpec, create_campaign
    from siyu.growth.models import Referral, ReferralCode, ReferralReward
    from siyu.growth.sharing import member_poster
    from siyu.wecom.connection.service import client_for, get_corp
    from siyu.wecom.contacts.sync import sync
    from siyu.wecom.live_codes import group_codes

    world = driver.world
    member = _friend_member(driver, session)
    driver.create_group("guide001", "新客福利群", [])
    with new_session() as s:
        corp = get_corp(s, world.corp_id)
        sync(s, corp, client_for(s, corp))
    with session_scope() as s:
        corp = get_corp(s, world.corp_id)
        code = group_codes.create_group_code(
            s,
            client_for(s, corp),
            corp.id,
            name="新客福利群",
            chat_ids=list(world.groups),
            actor="t",
        )
        group_id, config_id, qr = code.id, code.config_id, code.qr_url
    create_campaign(
        session,
        "vip",
        "春季邀请",
        [StageSpec(1, 100)],
        starts_at=clock.now() - timedelta(days=1),
        ends_at=clock.now() + timedelta(days=30),
        group_code_id=group_id,
        actor="t",
    )
    session.commit()
    member_poster(session, settings, member)
    way = session.scalars(sa.select(ReferralCode)).one().way_config_id
    friend, _follow, _resp = driver.scan(way)
    pump_inbox()
    _deliver()
    sent = next(wc.sent for wc in world.welcome_codes.values() if wc.sent)
    link = sent["attachments"][-1]
    assert link["msgtype"] == "link" and link["link"]["url"] == qr
    assert link["link"]["title"] == "加入「新客福利群」"
    referral = session.scalars(sa.select(Referral)).one()
    assert referral.group_joined_at is None
    # an add through a shared code (no participant's state) is welcomed without the QR
    driver.add(next(iter(world.staff)))
    pump_inbox()
    plain = [wc.sent for wc in world.welcome_codes.values() if wc.sent and wc.sent is not sent]
    assert all(not (m.get("attachments") or []) for m in plain)
    # the friend joins the group by its QR: noted on the referral, no reward for it
    assert driver.join_by_code(config_id, friend) is not None
    pump_inbox()
    _deliver()
    session.expire_all()
    referral = session.scalars(sa.select(Referral)).one()
    assert referral.group_joined_at is not None
    assert session.scalar(sa.select(sa.func.count()).select_from(ReferralReward)) == 0
    client.cookies.set(MEMBER_COOKIE, open_session(session, member.customer_id, "sms", "d1"))
    session.commit()
    page = client.get("/m/fission", headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200 and "1 位好友已入群" in page.text
    # a group code of another brand's WeCom is refused for this programme's campaign
    from siyu.brands.service import add_brand
    from siyu.growth.fission.service import FissionRefused
    from siyu.loyalty.queries import programme_named
    from siyu.wecom.connection.models import WecomCorp

    ours, theirs = add_brand(session, "bx", "品牌甲"), add_brand(session, "by", "品牌乙")
    session.flush()
    for corp in session.scalars(sa.select(WecomCorp)):
        corp.brand_id = theirs.id
    programme_named(session, "vip").brand_id = ours.id
    session.commit()
    with pytest.raises(FissionRefused, match="another brand"):
        create_campaign(
            session,
            "vip",
            "夏季邀请",
            [StageSpec(1, 100)],
            starts_at=clock.now(),
            ends_at=clock.now() + timedelta(days=30),
            group_code_id=group_id,
            actor="t",
        )
