"""Read paths for traits: runs, one customer's traits, the trend of the distribution."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu.brands.models import Brand
from siyu.db import plain_value
from siyu.traits.models import CustomerTrait, TraitRun, TraitSnapshot


def recent_runs(session: Session, limit: int = 10) -> list[dict[str, Any]]:
    rows = session.scalars(sa.select(TraitRun).order_by(TraitRun.id.desc()).limit(limit))
    return [
        {
            c: plain_value(getattr(r, c))
            for c in (
                "id",
                "status",
                "engine",
                "reference_date",
                "window_days",
                "customers",
                "stage_changes",
                "error",
                "started_at",
                "finished_at",
                "details",
            )
        }
        for r in rows
    ]


def traits_of(session: Session, customer_id: int) -> list[dict[str, Any]]:
    """A customer's traits in every scope (all brands first), as the 360 view shows them."""
    rows = session.execute(
        sa.select(CustomerTrait, Brand.name)
        .outerjoin(Brand, Brand.id == CustomerTrait.scope)
        .where(CustomerTrait.customer_id == customer_id)
        .order_by(CustomerTrait.scope)
    )
    return [
        {
            "scope": t.scope,
            "brand": brand,  # None for all brands together
            **{c: plain_value(getattr(t, c)) for c in SHOWN},
        }
        for t, brand in rows
    ]


SHOWN = (
    "last_purchase_on",
    "purchase_days",
    "recency_days",
    "frequency",
    "monetary_fen",
    "r_score",
    "f_score",
    "m_score",
    "rfm_class",
    "lifecycle_stage",
    "stage_since",
    "p_alive",
    "purchases_30d",
    "purchases_90d",
    "purchases_365d",
    "expected_spend_fen",
    "clv_fen",
    "computed_at",
)


def trend(session: Session, scope: int = 0, limit: int = 90) -> list[TraitSnapshot]:
    """The last ``limit`` snapshots of a scope, oldest first (for charts)."""
    rows = session.scalars(
        sa.select(TraitSnapshot)
        .where(TraitSnapshot.scope == scope)
        .order_by(TraitSnapshot.id.desc())
        .limit(limit)
    )
    return list(reversed(list(rows)))
