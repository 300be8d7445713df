"""Loyalty's figures for the dashboard and the metric registry: members, active members, the
points liability, redemption, coupon redemption, and where members stand and move between
tiers. Read from the database (the balance summary and the entries by their indexes), since
they follow every order and redemption as it happens; a period is [start, end) in instants."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu.i18n import N_
from siyu.loyalty.benefits.service import activation
from siyu.loyalty.coupons.models import Coupon, CouponStatus, CouponTemplate
from siyu.loyalty.models import (
    EntryKind,
    Member,
    PointsBalance,
    PointsEntry,
    Programme,
    Tier,
    TierChange,
)
from siyu.metrics.registry import Metric
from siyu.orders.queries import buyers_among

METRICS = (
    Metric(
        "members",
        N_("Members"),
        "count",
        N_(
            "Customers enrolled in a loyalty programme at the end of the period (erased members excluded)."
        ),
    ),
    Metric(
        "active_members",
        N_("Active members"),
        "count",
        N_("Members with a paid order in the period."),
    ),
    Metric(
        "points_liability",
        N_("Points liability"),
        "fen",
        N_(
            "Points members hold now (pending ones included, owed ones deducted) × each programme's point value: what the points would cost if all were spent."
        ),
    ),
    Metric(
        "redemption_rate",
        N_("Points redemption rate"),
        "ratio",
        N_("Points spent in the period (net of points given back) ÷ points earned in the period."),
    ),
    Metric(
        "coupon_redemption_rate",
        N_("Coupon redemption rate"),
        "ratio",
        N_("Coupons issued in the period that have been used ÷ coupons issued in the period."),
    ),
    Metric(
        "benefit_activation_rate",
        N_("Benefit activation rate"),
        "ratio",
        N_(
            "Per tier benefit: members who took it up (claimed it) in the period ÷ members whose tier has it now."
        ),
    ),
    Metric(
        "tier_distribution",
        N_("Tier distribution"),
        "count",
        N_("Members per tier now; and the moves between tiers in the period (up, down)."),
    ),
)


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def summary(
    session: Session, start: datetime, end: datetime, brand_id: int | None = None
) -> dict[str, Any] | None:
    """The loyalty figures of the programmes of ``brand_id`` (all when None; a group-wide
    programme counts for every brand); None when there is no programme."""
    programmes = sa.select(Programme.id)
    if brand_id is not None:
        programmes = programmes.where(
            sa.or_(Programme.brand_id == brand_id, Programme.brand_id.is_(None))
        )
    ids = list(session.scalars(programmes))
    if not ids:
        return None
    members = sa.select(Member.id).where(Member.programme_id.in_(ids), Member.status == "active")
    count = int(
        session.scalar(
            sa.select(sa.func.count()).select_from(members.where(Member.joined_at < end).subquery())
        )
        or 0
    )
    customers = sa.select(Member.customer_id).where(
        Member.programme_id.in_(ids), Member.status == "active", Member.customer_id.is_not(None)
    )
    liability = session.scalar(
        sa.select(
            sa.func.coalesce(
                sa.func.sum(
                    (PointsBalance.remaining - PointsBalance.debt) * Programme.point_value_fen
                ),
                0,
            )
        )
        .select_from(PointsBalance)
        .join(Member, Member.id == PointsBalance.member_id)
        .join(Programme, Programme.id == Member.programme_id)
        .where(Member.programme_id.in_(ids), Member.status == "active")
    )
    moved = dict(
        session.execute(
            sa.select(PointsEntry.kind, sa.func.coalesce(sa.func.sum(PointsEntry.points), 0))
            .join(Member, Member.id == PointsEntry.member_id)
            .where(
                Member.programme_id.in_(ids),
                PointsEntry.created_at >= start,
                PointsEntry.created_at < end,
                PointsEntry.kind.in_([EntryKind.earn, EntryKind.spend, EntryKind.give_back]),
            )
            .group_by(PointsEntry.kind)
        ).all()
    )
    earned = int(moved.get(EntryKind.earn.value, 0))
    spent = -int(moved.get(EntryKind.spend.value, 0)) - int(moved.get(EntryKind.give_back.value, 0))
    issued, used = session.execute(
        sa.select(
            sa.func.count(),
            sa.func.count().filter(Coupon.status == CouponStatus.redeemed),
        )
        .join(CouponTemplate, CouponTemplate.id == Coupon.template_id)
        .where(
            CouponTemplate.programme_id.in_(ids), Coupon.issued_at >= start, Coupon.issued_at < end
        )
    ).one()
    tiers = {
        t.id: (t.programme_id, t.rank, t.name)
        for t in session.scalars(sa.select(Tier).where(Tier.programme_id.in_(ids)))
    }
    by_tier = session.execute(
        sa.select(Member.tier_id, sa.func.count())
        .where(Member.programme_id.in_(ids), Member.status == "active")
        .group_by(Member.tier_id)
    ).all()
    flows = session.execute(
        sa.select(TierChange.from_tier_id, TierChange.to_tier_id, sa.func.count())
        .join(Member, Member.id == TierChange.member_id)
        .where(
            Member.programme_id.in_(ids),
            TierChange.changed_at >= start,
            TierChange.changed_at < end,
            TierChange.reason.in_(["upgrade", "downgrade"]),
        )
        .group_by(TierChange.from_tier_id, TierChange.to_tier_id)
    ).all()

    def name(tier_id: int | None) -> str | None:
        return tiers[tier_id][2] if tier_id in tiers else None

    return {
        "members": count,
        "active_members": buyers_among(session, customers, start, end),
        "points_liability": int(liability or 0),
        "points_earned": earned,
        "points_spent": spent,
        "redemption_rate": _ratio(spent, earned),
        "coupons_issued": int(issued),
        "coupons_used": int(used),
        "coupon_redemption_rate": _ratio(int(used), int(issued)),
        "tiers": [
            {"tier": name(t), "members": int(n)}
            for t, n in sorted(by_tier, key=lambda r: tiers.get(r[0] or 0, (0, -1, ""))[:2])
        ],
        "benefits": [a.__dict__ for a in activation(session, ids, start, end)],
        "tier_flow": sorted(
            ({"from": name(a), "to": name(b), "members": int(n)} for a, b, n in flows),
            key=lambda r: -r["members"],
        ),
    }
