"""A member's poster and personal contact way: the QR on the poster is their own WeCom contact
way (state ``r_<code>``: whoever adds through it arrives as their invitee) when they have a
guide, else their link. The way is made when the poster is first opened, reused after, and
deleted after 90 days unused (``sweep_ways``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.config import Settings
from siyu.customers.masking import mask_text
from siyu.customers.queries import display_names
from siyu.growth.models import ReferralCode
from siyu.growth.poster import PosterText, link_qr, poster
from siyu.growth.service import STATE_PREFIX, code_for, settings_of
from siyu.loyalty.queries import MemberView
from siyu.privacy.service import family_of
from siyu.wecom.live_codes.personal import drop_way, make_way, qr_of

UNUSED = timedelta(days=90)
RETRY = timedelta(days=1)  # a member without a guide, or refused by WeCom: asked again daily


def link_of(settings: Settings, code: str) -> str:
    return settings.public_url.rstrip("/") + f"/r/{code}"


def _ways_in(session: Session, corp_pk: int) -> int:
    return int(
        session.scalar(
            sa.select(sa.func.count()).where(
                ReferralCode.way_corp_id == corp_pk, ReferralCode.way_config_id.is_not(None)
            )
        )
        or 0
    )


def way_qr(session: Session, code: ReferralCode) -> bytes | None:
    """The QR image of the member's contact way, made now if they have none yet (and a guide);
    None: the poster carries the link instead."""
    now = clock.now()
    if code.way_config_id is None and _claim(session, code.id, now):
        customers = family_of(session, code.customer_id) if code.customer_id else []
        way = make_way(
            session, customers, f"{STATE_PREFIX}{code.code}", lambda corp: _ways_in(session, corp)
        )
        if way is not None:
            code.way_corp_id, code.way_config_id, code.way_qr_url = (
                way.corp_pk,
                way.config_id,
                way.qr_url,
            )
            code.way_qr_png = way.qr_png
            code.way_created_at = clock.now()
            session.flush()
            return way.qr_png
        return None
    if code.way_config_id is None:
        return None
    if code.way_qr_png is None:  # WeCom's image could not be read when the way was made
        code.way_qr_png = qr_of(code.way_qr_url)
    return code.way_qr_png


def _claim(session: Session, code_id: int, now: datetime) -> bool:
    """Whether this request makes the member's contact way: the first to mark the code does
    (two first posters at once make one way, not two); a member whose last try failed (no
    guide, WeCom refused) is tried again a day later."""
    done = session.execute(
        sa.update(ReferralCode)
        .where(
            ReferralCode.id == code_id,
            ReferralCode.way_config_id.is_(None),
            sa.or_(
                ReferralCode.way_created_at.is_(None), ReferralCode.way_created_at < now - RETRY
            ),
        )
        .values(way_created_at=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return bool(getattr(done, "rowcount", 0))


def member_poster(session: Session, settings: Settings, member: MemberView) -> bytes:
    """The member's poster (drawn the first time, then read from the cache)."""
    code = code_for(session, member)
    session.commit()
    qr = way_qr(session, code) or link_qr(link_of(settings, code.code))
    code.used_at = clock.now()
    session.commit()
    rules = settings_of(session, member.programme_id)
    names = display_names(session, [member.customer_id or 0])
    offer = ""
    if rules is not None and rules.invitee_points:
        offer = f"扫码入会，首单完成后得 {rules.invitee_points} 积分"
    elif rules is not None and rules.invitee_coupon_id:
        offer = "扫码入会，首单完成后得新人券"
    text = PosterText(
        # as saved, but a phone number or an address typed as a name is masked (DESIGN §11)
        name=mask_text(names.get(member.customer_id or 0, "") or "好友"),
        programme=member.programme_name,
        offer=offer,
        hint="长按识别二维码",
    )
    art = rules.poster_art if rules is not None else None
    return poster(Path(settings.data_dir) / "posters", text, qr, art, prefix=f"{code.id}-")


def sweep_ways(session: Session) -> int:
    """Delete the contact ways of codes unused for 90 days (WeCom's quota is the corp's), one
    at a time with no lock held across the call; returns how many were deleted."""
    now = clock.now()
    stale = session.scalars(
        sa.select(ReferralCode.id)
        .where(
            ReferralCode.way_config_id.is_not(None),
            sa.func.coalesce(ReferralCode.used_at, ReferralCode.way_created_at) < now - UNUSED,
        )
        .order_by(ReferralCode.id)
        .limit(1000)
    ).all()
    session.commit()
    gone = 0
    for code_id in stale:
        code = session.get(ReferralCode, code_id)
        if code is None or code.way_config_id is None or code.way_corp_id is None:
            continue
        corp, config = code.way_corp_id, code.way_config_id
        session.commit()
        if drop_way(session, corp, config):
            code = session.get(ReferralCode, code_id)
            if code is not None:
                code.way_config_id = code.way_qr_url = code.way_corp_id = None
                code.way_qr_png = None
                code.way_created_at = None
            session.commit()
            gone += 1
    return gone
