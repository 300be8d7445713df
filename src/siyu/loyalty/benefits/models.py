"""Tier benefits' tables: what each tier gives, and members taking them up."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db import Base, UTCDateTime, utcnow


class BenefitKind(StrEnum):
    birthday_gift = "birthday_gift"  # claimable in the member's birthday month
    free_delivery = "free_delivery"
    priority_service = "priority_service"
    member_price = "member_price"
    coupon = "coupon"  # a coupon of the programme, issued when claimed


class Benefit(Base):
    """What a tier gives (DESIGN §12; seed 001's 权益): from ``tier_id`` upward, once per
    ``period`` (year, month, or once). A benefit counts only when the member takes it up (claims
    it in the member centre or at the till), so its activation rate says whether it brings
    anyone back; one with a coupon template issues that coupon when claimed."""

    __tablename__ = "loyalty_benefit"
    __table_args__ = (sa.UniqueConstraint("programme_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(sa.ForeignKey("loyalty_programme.id"))
    tier_id: Mapped[int] = mapped_column(sa.ForeignKey("loyalty_tier.id"))
    code: Mapped[str] = mapped_column(sa.String(40))
    name: Mapped[str] = mapped_column(sa.String(100))
    kind: Mapped[str] = mapped_column(sa.String(20))
    period: Mapped[str] = mapped_column(sa.String(8), default="year")  # year | month | once
    coupon_template_id: Mapped[int | None] = mapped_column(sa.ForeignKey("coupon_template.id"))
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BenefitClaim(Base):
    """A member took a benefit up for one period (``period_key``: 2026, 2026-12 or once):
    written once under the unique key, so a double tap claims once."""

    __tablename__ = "loyalty_benefit_claim"
    __table_args__ = (sa.UniqueConstraint("benefit_id", "member_id", "period_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    benefit_id: Mapped[int] = mapped_column(sa.ForeignKey("loyalty_benefit.id"))
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("loyalty_member.id"), index=True)
    period_key: Mapped[str] = mapped_column(sa.String(10))
    coupon_id: Mapped[int | None] = mapped_column(sa.ForeignKey("coupon.id"))
    channel: Mapped[str] = mapped_column(sa.String(20), default="member_centre")
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
