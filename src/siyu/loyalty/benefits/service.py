"""Tier benefits: what each tier gives, and members taking them up. A benefit is for members of
its tier and every tier above; it is taken once per period (a calendar year or month in the
brand's time zone, or once); a birthday gift only in the member's birthday month. Claiming is
written once under its unique key (a double tap claims once) and issues the benefit's coupon,
if it has one, in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.config import get_settings
from siyu.loyalty.benefits.models import Benefit, BenefitClaim, BenefitKind
from siyu.loyalty.coupons.models import CouponTemplate
from siyu.loyalty.coupons.service import issue
from siyu.loyalty.ledger import LoyaltyError
from siyu.loyalty.models import Member, Programme, Tier
from siyu.privacy.service import find_person
from siyu.refusals import Conflict, NotFound

PERIODS = ("year", "month", "once")


class NoSuchBenefit(LoyaltyError, NotFound):
    """Not a benefit of the member's programme (answered alike for another programme's)."""


class NotNow(LoyaltyError, Conflict):
    """The benefit exists but cannot be taken now (tier, period, birthday month)."""


def set_benefit(
    session: Session,
    programme: Programme,
    code: str,
    name: str,
    kind: str,
    tier_code: str,
    *,
    period: str = "year",
    coupon_code: str | None = None,
    active: bool = True,
) -> Benefit:
    """Create or change the programme's benefit ``code``."""
    if not 0 < len(code) <= 40 or not 0 < len(name.strip()) <= 100:
        raise LoyaltyError("benefit code 1–40 characters, name 1–100")
    if kind not in set(BenefitKind):
        raise LoyaltyError("benefit kind: one of {kinds}", kinds=", ".join(BenefitKind))
    if period not in PERIODS:
        raise LoyaltyError("benefit period: year, month or once")
    tier = session.scalar(
        sa.select(Tier).where(Tier.programme_id == programme.id, Tier.code == tier_code)
    )
    if tier is None:
        raise LoyaltyError(
            "no tier {code} in programme {programme}", code=tier_code, programme=programme.code
        )
    template_id = None
    if coupon_code:
        template = session.scalar(
            sa.select(CouponTemplate).where(
                CouponTemplate.programme_id == programme.id, CouponTemplate.code == coupon_code
            )
        )
        template_id = template.id if template is not None else None
        if template is not None and period != "once" and template.per_member:
            raise LoyaltyError(
                "coupon {code} allows {most} per member, which would end a benefit given every "
                "{period}: create the coupon with no per-member limit (--per-member 0)",
                code=coupon_code,
                most=template.per_member,
                period=period,
            )
        if template_id is None:
            raise LoyaltyError(
                "no coupon {code} in programme {programme}",
                code=coupon_code,
                programme=programme.code,
            )
    elif kind == BenefitKind.coupon:
        raise LoyaltyError("a coupon benefit names its coupon (--coupon)")
    row = session.scalar(
        sa.select(Benefit).where(Benefit.programme_id == programme.id, Benefit.code == code)
    ) or Benefit(programme_id=programme.id, code=code)
    row.name, row.kind, row.period, row.tier_id = name.strip(), kind, period, tier.id
    row.coupon_template_id, row.active = template_id, active
    session.add(row)
    session.flush()
    return row


def period_key(period: str, now: datetime) -> str:
    local = now.astimezone(get_settings().tz)
    if period == "year":
        return f"{local.year}"
    if period == "month":
        return f"{local.year}-{local.month:02d}"
    return "once"


@dataclass(frozen=True)
class BenefitView:
    """A benefit as a member sees it: whether they may take it now, and whether they have."""

    id: int
    code: str
    name: str
    kind: str
    reached: bool  # the member's tier has it
    taken: bool  # taken this period
    why_not: str  # "" | tier | birthday | taken


def _rank(session: Session, tier_id: int | None) -> int:
    if tier_id is None:
        return -1
    return int(session.scalar(sa.select(Tier.rank).where(Tier.id == tier_id)) or 0)


def _birthday_month(session: Session, member: Member) -> int | None:
    if member.customer_id is None:
        return None
    birthday = find_person(session, member.customer_id).birthday
    return birthday.month if birthday else None


def benefits_for(session: Session, member: Member) -> list[BenefitView]:
    now = clock.now()
    mine = _rank(session, member.tier_id)
    taken = {
        (c.benefit_id, c.period_key)
        for c in session.scalars(sa.select(BenefitClaim).where(BenefitClaim.member_id == member.id))
    }
    month = now.astimezone(get_settings().tz).month
    views = []
    for b, rank in session.execute(
        sa.select(Benefit, Tier.rank)
        .join(Tier, Tier.id == Benefit.tier_id)
        .where(Benefit.programme_id == member.programme_id, Benefit.active.is_(True))
        .order_by(Tier.rank, Benefit.id)
    ):
        done = (b.id, period_key(b.period, now)) in taken
        why = ""
        if rank > mine:
            why = "tier"
        elif done:
            why = "taken"
        elif b.kind == BenefitKind.birthday_gift and _birthday_month(session, member) != month:
            why = "birthday"
        views.append(BenefitView(b.id, b.code, b.name, b.kind, rank <= mine, done, why))
    return views


def claim_benefit(
    session: Session, member: Member, benefit_id: int, channel: str = "member_centre"
) -> BenefitClaim:
    """The member takes the benefit up for this period (the existing claim when taken before)."""
    benefit = session.get(Benefit, benefit_id)
    if benefit is None or benefit.programme_id != member.programme_id or not benefit.active:
        raise NoSuchBenefit("no benefit {id}", id=benefit_id)
    now = clock.now()
    key = period_key(benefit.period, now)
    found = session.scalar(
        sa.select(BenefitClaim).where(
            BenefitClaim.benefit_id == benefit.id,
            BenefitClaim.member_id == member.id,
            BenefitClaim.period_key == key,
        )
    )
    if found is not None:
        return found
    if _rank(session, member.tier_id) < _rank(session, benefit.tier_id):
        raise NotNow("{name} is for a higher tier", name=benefit.name)
    if benefit.kind == BenefitKind.birthday_gift:
        month = now.astimezone(get_settings().tz).month
        if _birthday_month(session, member) != month:
            raise NotNow("{name} can be taken in your birthday month", name=benefit.name)
    try:
        with session.begin_nested():  # a double tap: the second finds the first's claim
            claim = BenefitClaim(
                benefit_id=benefit.id,
                member_id=member.id,
                period_key=key,
                channel=channel,
                claimed_at=now,
            )
            session.add(claim)
            session.flush()
            if benefit.coupon_template_id is not None:
                template = session.get(CouponTemplate, benefit.coupon_template_id)
                assert template is not None
                coupon = issue(session, template, member.id, ("benefit", f"{benefit.id}:{key}"))
                claim.coupon_id = coupon.id
                session.flush()
    except sa.exc.IntegrityError:
        return claim_benefit(session, member, benefit_id, channel)
    return claim


@dataclass(frozen=True)
class Activation:
    """How many of the members a benefit is for took it up in the period."""

    code: str
    name: str
    eligible: int
    taken: int
    rate: float | None


def activation(
    session: Session, programme_ids: list[int], start: datetime, end: datetime
) -> list[Activation]:
    """Per benefit: members now in its tier or above, and those of them who claimed it in
    [start, end)."""
    out = []
    for b, rank in session.execute(
        sa.select(Benefit, Tier.rank)
        .join(Tier, Tier.id == Benefit.tier_id)
        .where(Benefit.programme_id.in_(programme_ids))
        .order_by(Benefit.programme_id, Tier.rank, Benefit.id)
    ):
        eligible_members = (
            sa.select(Member.id)
            .join(Tier, Tier.id == Member.tier_id)
            .where(
                Member.programme_id == b.programme_id, Member.status == "active", Tier.rank >= rank
            )
        )
        eligible = int(
            session.scalar(sa.select(sa.func.count()).select_from(eligible_members.subquery())) or 0
        )
        taken = int(
            session.scalar(
                sa.select(sa.func.count(sa.distinct(BenefitClaim.member_id))).where(
                    BenefitClaim.benefit_id == b.id,
                    BenefitClaim.claimed_at >= start,
                    BenefitClaim.claimed_at < end,
                    BenefitClaim.member_id.in_(eligible_members),
                )
            )
            or 0
        )
        out.append(
            Activation(
                b.code, b.name, eligible, taken, round(taken / eligible, 4) if eligible else None
            )
        )
    return out
