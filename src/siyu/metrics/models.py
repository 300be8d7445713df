"""What the brand spent to acquire customers, per source and month: the denominator of CAC.

Siyu sees customers arrive but not what the ads, the store events or the platform fees cost,
so an operator enters (or imports) it. Month granularity is how such budgets are kept."""

from __future__ import annotations

from datetime import datetime

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
