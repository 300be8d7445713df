"""Suppression: the only trace kept of an erased person, as an HMAC nobody can reverse."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db import Base, UTCDateTime, utcnow


class Suppression(Base):
    """HMAC-SHA256 of a normalised identity under SIYU_SECRET_KEY.

    A re-import or replayed event carrying it may still store orders, but the profile it lands on
    is marked suppressed (not marketable).
    """

    __tablename__ = "suppression"
    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(sa.String(64), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(24))
    reason: Mapped[str] = mapped_column(sa.String(32))  # erased | opt_out
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
