"""Tables of customer intelligence: each customer's current traits, the recomputes that produced
them, and the distribution each recompute saw (for trend charts)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from siyu.analytics.tables import DATE, FLOAT, INT, TEXT, CopiedTable
from siyu.db import Base, UTCDateTime, utcnow


class TraitRun(Base):
    """One recompute: the reference date and engine it ran with, how it ended, what it found.
    A failed run leaves the previous results in place, so the console can say which run the
    numbers on screen come from."""

    __tablename__ = "trait_run"
    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(sa.String(12), default="running")  # running|done|failed
    engine: Mapped[str] = mapped_column(sa.String(12))
    reference_date: Mapped[date] = mapped_column(sa.Date)
    window_days: Mapped[int] = mapped_column(sa.Integer)
    actor: Mapped[str] = mapped_column(sa.String(100))
    customers: Mapped[int] = mapped_column(sa.Integer, default=0)
    stage_changes: Mapped[int] = mapped_column(sa.Integer, default=0)
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    error: Mapped[str | None] = mapped_column(sa.Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CustomerTrait(Base):
    """A customer's current RFM, lifecycle stage and value, per scope: 0 for all brands together,
    otherwise one brand's id (a group may run several brands; each sees its own buyers).

    Rows are replaced as a whole by each successful recompute; ``stage_since`` carries over
    while the stage stays the same, so "at risk since" survives recomputes."""

    __tablename__ = "customer_trait"
    __table_args__ = (
        sa.UniqueConstraint("customer_id", "scope"),
        sa.Index("ix_customer_trait_scope_stage", "scope", "lifecycle_stage"),
        sa.Index("ix_customer_trait_scope_class", "scope", "rfm_class"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customer.id"))
    scope: Mapped[int] = mapped_column(sa.Integer)
    run_id: Mapped[int] = mapped_column(sa.ForeignKey("trait_run.id"))
    last_purchase_on: Mapped[date | None] = mapped_column(sa.Date)
    purchase_days: Mapped[int] = mapped_column(sa.Integer, default=0)
    recency_days: Mapped[int | None] = mapped_column(sa.Integer)
    frequency: Mapped[int | None] = mapped_column(sa.Integer)
    monetary_fen: Mapped[int | None] = mapped_column(sa.BigInteger)
    r_score: Mapped[int | None] = mapped_column(sa.SmallInteger)
    f_score: Mapped[int | None] = mapped_column(sa.SmallInteger)
    m_score: Mapped[int | None] = mapped_column(sa.SmallInteger)
    rfm_class: Mapped[str | None] = mapped_column(sa.String(24))
    lifecycle_stage: Mapped[str] = mapped_column(sa.String(16))
    stage_since: Mapped[date] = mapped_column(sa.Date)
    p_alive: Mapped[float | None] = mapped_column(sa.Float)
    purchases_30d: Mapped[float | None] = mapped_column(sa.Float)
    purchases_90d: Mapped[float | None] = mapped_column(sa.Float)
    purchases_365d: Mapped[float | None] = mapped_column(sa.Float)
    expected_spend_fen: Mapped[int | None] = mapped_column(sa.BigInteger)
    clv_fen: Mapped[int | None] = mapped_column(sa.BigInteger)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TraitSnapshot(Base):
    """How the population looked at one recompute, per scope: counts per RFM class and lifecycle
    stage, CLV quantiles. Kept so the console can plot movement over time."""

    __tablename__ = "trait_snapshot"
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(sa.ForeignKey("trait_run.id", ondelete="CASCADE"))
    scope: Mapped[int] = mapped_column(sa.Integer)
    reference_date: Mapped[date] = mapped_column(sa.Date, index=True)
    customers: Mapped[int] = mapped_column(sa.Integer)
    rfm_classes: Mapped[dict[str, int]] = mapped_column(sa.JSON, default=dict)
    lifecycle: Mapped[dict[str, int]] = mapped_column(sa.JSON, default=dict)
    clv_quantiles: Mapped[dict[str, int]] = mapped_column(sa.JSON, default=dict)
    # Customers per "from>to" lifecycle stage since the recompute before ("" where a customer
    # had no stage yet; staying put counts too); None on the first recompute.
    lifecycle_flow: Mapped[dict[str, int] | None] = mapped_column(sa.JSON)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# The columns a recompute writes, in the order of its bulk insert.
CLV_COLUMNS = (
    "p_alive",
    "purchases_30d",
    "purchases_90d",
    "purchases_365d",
    "expected_spend_fen",
    "clv_fen",
)
TRAIT_COLUMNS = (
    "customer_id",
    "scope",
    "run_id",
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
    "computed_at",
    *CLV_COLUMNS,
)


# What the analytical copy holds of these tables (no direct identifiers: DESIGN §5).
CUSTOMER_TRAIT = CopiedTable(
    "customer_trait",
    (
        ("customer_id", INT),
        ("scope", INT),
        ("run_id", INT),
        ("last_purchase_on", DATE),
        ("purchase_days", INT),
        ("recency_days", INT),
        ("frequency", INT),
        ("monetary_fen", INT),
        ("r_score", INT),
        ("f_score", INT),
        ("m_score", INT),
        ("rfm_class", TEXT),
        ("lifecycle_stage", TEXT),
        ("stage_since", DATE),
        ("p_alive", FLOAT),
        ("purchases_90d", FLOAT),
        ("expected_spend_fen", INT),
        ("clv_fen", INT),
    ),
    on_request=True,
    customer_key="customer_id",
)
COPIED = (CUSTOMER_TRAIT,)
