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
