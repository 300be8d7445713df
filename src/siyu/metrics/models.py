"""What the brand spent to acquire customers, per source and month: the denominator of CAC.
Siyu sees customers arrive but not what the ads, the store events or the platform fees cost,
so an operator enters (or imports) it. Month granularity is how such budgets are kept.

And the funnels operators define (AARRR or their own steps): which steps a newly arrived
customer should pass, kept so the dashboard shows the same funnel every time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db import Base, UTCDateTime, utcnow


class AcquisitionSpend(Base):
    """One source's acquisition spend in one calendar month (``YYYY-MM``), in fen."""

    __tablename__ = "acquisition_spend"
    __table_args__ = (sa.UniqueConstraint("source", "month"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(sa.String(32))  # as customers' acquisition source
    month: Mapped[str] = mapped_column(sa.String(7))
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger)
    note: Mapped[str] = mapped_column(sa.String(200), default="")
    recorded_by: Mapped[str] = mapped_column(sa.String(100))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Funnel(Base):
    """A named funnel: its steps in order (the first is always "first seen in the period"),
    each ``{"label", "kind", "event", "from_day", "to_day", "times"}`` — see metrics.funnels.service."""

    __tablename__ = "funnel"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(60), unique=True)
    steps: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON)
    updated_by: Mapped[str] = mapped_column(sa.String(100))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
