"""What loyalty holds about a person, for their PIPL data export (art. 45): memberships with the
evidence of joining, the points lots and ledger, tier changes, coupons and benefits taken."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu.db import plain_value, table_of
from siyu.loyalty.benefits.models import BenefitClaim
from siyu.loyalty.coupons.models import Coupon
from siyu.loyalty.models import Member, PointsEntry, PointsLot, TierChange


def _rows(session: Session, model: Any, where: Any) -> list[dict[str, Any]]:
    columns = [c.key for c in table_of(model).columns]
    return [
        {k: plain_value(getattr(r, k)) for k in columns}
        for r in session.scalars(sa.select(model).where(where).order_by(table_of(model).c.id))
    ]


def export_loyalty(session: Session, customer_ids: Collection[int]) -> dict[str, list[Any]]:
    members = list(
        session.scalars(sa.select(Member.id).where(Member.customer_id.in_(list(customer_ids))))
    )
    return {
        "memberships": _rows(session, Member, Member.id.in_(members)),
        "points_lots": _rows(session, PointsLot, PointsLot.member_id.in_(members)),
        "points_entries": _rows(session, PointsEntry, PointsEntry.member_id.in_(members)),
        "tier_changes": _rows(session, TierChange, TierChange.member_id.in_(members)),
        "coupons": _rows(session, Coupon, Coupon.member_id.in_(members)),
        "benefits_taken": _rows(session, BenefitClaim, BenefitClaim.member_id.in_(members)),
    }
