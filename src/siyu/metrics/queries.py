"""Reads of the spend table (small; it stays in the system of record)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu.metrics.models import AcquisitionSpend
from siyu.shapes import Number, Shape


class MetricOut(Shape):
    """A metric in both languages; ``pending`` says what it waits for when it has no number
    yet."""

    key: str
    zh: str
    en: str
    unit: str
    definition_zh: str
    definition_en: str
    pending: str
    pending_zh: str


class Span(Shape):
    start: str
    end: str


class Period(Span):
    days: int


class Kpi(Shape):
    value: Number | None
    previous: Number | None
    delta: Number | None


class Decomposition(Shape):
    revenue: Number | None
    buyers: Number | None
    aov: Number | None
    frequency: Number | None
    change: dict[str, Number | None]


class Overview(Shape):
    """The dashboard's first screen for a period beside the one before: the figures, revenue
    decomposed, new customers by source, store and live code, retention, traits, the
    lifecycle flow and reach, and how fresh the analytical copy is."""

    period: Period
    previous: Span
    brand_id: int | None
    store_id: int | None
    store_wide: list[str]
    kpis: dict[str, Kpi]
    decomposition: Decomposition
    new_by_source: list[dict[str, Any]]
    new_by_store: list[dict[str, Any]]
    new_by_live_code: list[dict[str, Any]]
    retention: list[dict[str, Any]]
    by_source: list[dict[str, Any]]
    traits: dict[str, Any]
    lifecycle_flow: Any
    reach: Any
    loyalty: Any  # members, points and tiers (None: no loyalty programme)
    referral: Any  # K-factor per cohort, cycle time, revenue, fraud rate (None: no referral)
    nps: Any  # the period's NPS and its months (None: no survey answered)
    pending: dict[str, str]
    fresh_as_of: str | None
    computed_at: str
    cached: bool


def spend_by_source(session: Session, first_month: str, last_month: str) -> dict[str, int]:
    """Fen spent per source in the months from ``first_month`` to ``last_month`` (YYYY-MM)."""
    rows = session.execute(
        sa.select(AcquisitionSpend.source, sa.func.sum(AcquisitionSpend.amount_fen))
        .where(AcquisitionSpend.month >= first_month, AcquisitionSpend.month <= last_month)
        .group_by(AcquisitionSpend.source)
    )
    return {str(s): int(n or 0) for s, n in rows}


def list_spend(session: Session) -> list[dict[str, Any]]:
    return [
        {"source": r.source, "month": r.month, "amount_fen": r.amount_fen, "note": r.note}
        for r in session.scalars(
            sa.select(AcquisitionSpend).order_by(AcquisitionSpend.month, AcquisitionSpend.source)
        )
    ]
