"""Coupon templates and coupons. A coupon is one code for one member, redeemed once: its row
says by which order, at which store, for how much, so a replayed redeem finds its answer and a
refund can return it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db import Base, UTCDateTime, utcnow


class CouponKind(StrEnum):
    amount_off = "amount_off"  # 满 threshold 减 amount
    percent_off = "percent_off"  # percent off, at most cap
    gift = "gift"  # a gift at the till (what it is: ``gift``)
    free_shipping = "free_shipping"


class CouponStatus(StrEnum):
    issued = "issued"
    redeemed = "redeemed"
    void = "void"  # taken back by an operator, or its points exchange refunded
    # (an issued coupon past its date is expired without a write: ``valid_until`` says it)


class CouponTemplate(Base):
    """What a coupon is worth and how it may be used and given out."""

    __tablename__ = "coupon_template"
    __table_args__ = (sa.UniqueConstraint("programme_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(sa.ForeignKey("loyalty_programme.id"))
    code: Mapped[str] = mapped_column(sa.String(40))
    name: Mapped[str] = mapped_column(sa.String(100))
    kind: Mapped[str] = mapped_column(sa.String(16))
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0)  # amount_off
    percent_off: Mapped[int] = mapped_column(sa.Integer, default=0)  # percent_off: 1–99
    cap_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0)  # percent_off's most (0: none)
    threshold_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0)  # order at least
    gift: Mapped[str] = mapped_column(sa.String(100), default="")
    valid_days: Mapped[int | None] = mapped_column(sa.Integer)  # from issue; or the fixed dates
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    per_member: Mapped[int] = mapped_column(sa.Integer, default=1)  # 0: no limit
    total: Mapped[int] = mapped_column(sa.Integer, default=0)  # 0: no limit
    issued: Mapped[int] = mapped_column(sa.Integer, default=0)  # kept with each issue
    stackable: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    points_price: Mapped[int] = mapped_column(sa.Integer, default=0)  # exchange; 0: not sold
    claimable: Mapped[bool] = mapped_column(sa.Boolean, default=False)  # in the member centre
    return_on_refund: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Coupon(Base):
    """One coupon of one member. Issued once per source (an exchange, a claim, a campaign
    step, a tier benefit's period); redeemed once, by one order."""

    __tablename__ = "coupon"
    __table_args__ = (
        sa.UniqueConstraint("template_id", "member_id", "source_kind", "source_id"),
        sa.Index("ix_coupon_member", "member_id", "status"),
        sa.Index("ix_coupon_redeemed_order", "redeemed_order"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(20), unique=True)
    template_id: Mapped[int] = mapped_column(sa.ForeignKey("coupon_template.id"))
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("loyalty_member.id"))
    status: Mapped[str] = mapped_column(sa.String(10), default=CouponStatus.issued)
    source_kind: Mapped[str] = mapped_column(sa.String(20))
    source_id: Mapped[str] = mapped_column(sa.String(100))
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    redeemed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    redeemed_order: Mapped[str | None] = mapped_column(sa.String(100))
    redeemed_store_id: Mapped[int | None] = mapped_column(sa.ForeignKey("store.id"))
    order_amount_fen: Mapped[int | None] = mapped_column(sa.BigInteger)
    discount_fen: Mapped[int | None] = mapped_column(sa.BigInteger)


class CouponTrigger(StrEnum):
    joined = "joined"  # 入会礼: members who join after the rule was set
    tier = "tier"  # 升级礼: members who reach the tier (or a higher one) after the rule was set
    event = "event"  # a tracked event of the member's (a review, a sign-in): each one, within
    # the template's per-member limit


class CouponRule(Base):
    """A coupon given out without an operator (seed 001: benefits that bring people back): on
    joining, on reaching a tier, on an event. Only what happens after the rule is set counts,
    so setting a welcome coupon does not shower the members who joined years ago; each member
    gets a rule's coupon once (an event rule: once per event, within the template's limits)."""

    __tablename__ = "coupon_rule"
    __table_args__ = (sa.UniqueConstraint("programme_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(sa.ForeignKey("loyalty_programme.id"))
    code: Mapped[str] = mapped_column(sa.String(40))
    template_id: Mapped[int] = mapped_column(sa.ForeignKey("coupon_template.id"))
    trigger: Mapped[str] = mapped_column(sa.String(10))
    tier_id: Mapped[int | None] = mapped_column(sa.ForeignKey("loyalty_tier.id"))
    event: Mapped[str] = mapped_column(sa.String(64), default="")
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
