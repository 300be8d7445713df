"""Behavioural events (page views, scans, replies…) ingested through the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from siyu.analytics.tables import INT, JSON, TEXT, TIME, CopiedTable
from siyu.db import Base, UTCDateTime, utcnow


class Event(Base):
    """One identify/track call; ``message_id`` makes replays harmless."""

    __tablename__ = "event"
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(sa.String(100), unique=True)
    customer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customer.id"), index=True)
    identity_id: Mapped[int | None] = mapped_column(sa.ForeignKey("identity.id"))
    type: Mapped[str] = mapped_column(sa.String(16))  # identify | track
    name: Mapped[str | None] = mapped_column(sa.String(100), index=True)
    properties: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    source: Mapped[str] = mapped_column(sa.String(100))
    # Bumped when the event moves to another profile (merge, unmerge); the analytical copy
    # follows it.
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, index=True
    )


# What the analytical copy holds of these tables (no direct identifiers: DESIGN §5).
EVENT = CopiedTable(
    "event",
    (
        ("id", INT),
        ("customer_id", INT),
        ("type", TEXT),
        ("name", TEXT),
        ("properties", JSON),
        ("occurred_at", TIME),
        ("updated_at", TIME),
    ),
    changed_at="updated_at",
    customer_key="customer_id",
)
COPIED = (EVENT,)
