"""Coupon templates with their terms and figures, a member's wallet, and the members a batch of
coupons goes to."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.orm import Session

from siyu import clock
from siyu.bulk import chunks
from siyu.loyalty.coupons.models import Coupon, CouponStatus, CouponTemplate
from siyu.loyalty.models import Member


class TemplateView(BaseModel):
    id: int
    code: str
    name: str
    kind: str
    issued: int
    redeemed: int
    points_price: int
    claimable: bool
    # the terms, as the console's template list shows them
    amount_fen: int = 0
    percent_off: int = 0
    cap_fen: int = 0
    threshold_fen: int = 0
    gift: str = ""
    valid_days: int | None = None
    ends_at: datetime | None = None
    per_member: int = 0
    total: int = 0
    active: bool = True


class CouponView(BaseModel):
    id: int
    code: str
    name: str
    kind: str
    amount_fen: int
    percent_off: int
    threshold_fen: int
    gift: str
    state: str  # usable | redeemed | expired | void
    valid_until: datetime | None


def templates(session: Session, programme_id: int) -> list[TemplateView]:
    redeemed = (
        sa.select(sa.func.count())
        .where(Coupon.template_id == CouponTemplate.id, Coupon.status == CouponStatus.redeemed)
        .scalar_subquery()
    )
    return [
        TemplateView(
            id=t.id,
            code=t.code,
            name=t.name,
            kind=t.kind,
            issued=t.issued,
            redeemed=int(n),
            points_price=t.points_price,
            claimable=t.claimable,
            amount_fen=t.amount_fen,
            percent_off=t.percent_off,
            cap_fen=t.cap_fen,
            threshold_fen=t.threshold_fen,
            gift=t.gift,
            valid_days=t.valid_days,
            ends_at=t.ends_at,
            per_member=t.per_member,
            total=t.total,
            active=t.active,
        )
        for t, n in session.execute(
            sa.select(CouponTemplate, redeemed)
            .where(CouponTemplate.programme_id == programme_id)
            .order_by(CouponTemplate.id)
        )
    ]


def wallet(session: Session, member_id: int) -> list[CouponView]:
    """The member's coupons, usable first (soonest to expire first)."""
    now = clock.now()
    found = []
    for c, t in session.execute(
        sa.select(Coupon, CouponTemplate)
        .join(CouponTemplate, CouponTemplate.id == Coupon.template_id)
        .where(Coupon.member_id == member_id)
        .order_by(Coupon.valid_until, Coupon.id)
    ):
        state = c.status
        if state == CouponStatus.issued:
            state = "expired" if c.valid_until is not None and c.valid_until <= now else "usable"
        found.append(
            CouponView(
                id=c.id,
                code=c.code,
                name=t.name,
                kind=t.kind,
                amount_fen=t.amount_fen,
                percent_off=t.percent_off,
                threshold_fen=t.threshold_fen,
                gift=t.gift,
                state=state,
                valid_until=c.valid_until,
            )
        )
    order = {"usable": 0, "redeemed": 1, "expired": 2, "void": 3}
    return sorted(found, key=lambda v: order.get(v.state, 4))


def members_among(session: Session, programme_id: int, customer_ids: Sequence[int]) -> list[int]:
    """The programme's active members among these customers (those not enrolled are left out),
    in id order: whom a batch of coupons for a segment goes to."""
    out: list[int] = []
    for part in chunks(sorted(set(customer_ids)), 5000):
        out.extend(
            session.scalars(
                sa.select(Member.id).where(
                    Member.programme_id == programme_id,
                    Member.status == "active",
                    Member.customer_id.in_(part),
                )
            )
        )
    return sorted(out)


def template_id_of(session: Session, programme_id: int, code: str) -> int | None:
    """The id of the programme's coupon template ``code`` (None: the programme has none)."""
    return session.scalar(
        sa.select(CouponTemplate.id).where(
            CouponTemplate.programme_id == programme_id, CouponTemplate.code == code[:40]
        )
    )


def template_codes(session: Session, ids: Sequence[int]) -> dict[int, str]:
    return dict(
        session.execute(
            sa.select(CouponTemplate.id, CouponTemplate.code).where(CouponTemplate.id.in_(ids))
        ).all()
    )
