"""Segments: named groups of customers, by rule (dynamic) or by list (static), with their
materialised membership and the history of their size."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from siyu.analytics.tables import BOOL, INT, TIME, CopiedTable
from siyu.db import Base, UTCDateTime, utcnow


class Segment(Base):
    """A group of customers campaigns and journeys pick from.

    A dynamic segment keeps a rule (JSON form; ``rule_text`` is its canonical text) and its
    membership follows the data; a static one is a snapshot (an uploaded phone list, or a
    dynamic rule frozen at one moment). ``brand_id`` limits whose orders, traits and consents
    the rule sees; empty means all brands."""

    __tablename__ = "segment"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    description: Mapped[str] = mapped_column(sa.Text, default="")
    dynamic: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    rule: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    rule_text: Mapped[str] = mapped_column(sa.Text, default="")
    brand_id: Mapped[int | None] = mapped_column(sa.ForeignKey("brand.id"))
    size: Mapped[int] = mapped_column(sa.Integer, default=0)
    created_by: Mapped[str] = mapped_column(sa.String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The copy's freshness the membership was computed from (what "as of" the numbers are).
    data_as_of: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refresh_error: Mapped[str | None] = mapped_column(sa.Text)
    # Set when a static segment's list changes; the analytical copy follows it (dynamic
    # segments are compiled in place wherever another rule uses them).
    members_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SegmentMember(Base):
    """A customer in a segment since ``entered_at``. Entering and leaving are also written as
    ``segment_entered`` / ``segment_exited`` events, which journeys react to."""

    __tablename__ = "segment_member"
    __table_args__ = (sa.PrimaryKeyConstraint("segment_id", "customer_id"),)
    segment_id: Mapped[int] = mapped_column(sa.ForeignKey("segment.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customer.id"), index=True)
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SegmentSize(Base):
    """The segment's size after a refresh, for the size-trend chart."""

    __tablename__ = "segment_size"
    id: Mapped[int] = mapped_column(primary_key=True)
    segment_id: Mapped[int] = mapped_column(
        sa.ForeignKey("segment.id", ondelete="CASCADE"), index=True
    )
    size: Mapped[int] = mapped_column(sa.Integer)
    entered: Mapped[int] = mapped_column(sa.Integer, default=0)
    exited: Mapped[int] = mapped_column(sa.Integer, default=0)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# What the analytical copy holds of these tables (no direct identifiers: DESIGN §5).
# Static segments' members (dynamic segments are compiled in place wherever they are used).
SEGMENT = CopiedTable(
    "segment",
    (("id", INT), ("dynamic", BOOL), ("members_changed_at", TIME)),
    changed_at="members_changed_at",
)
SEGMENT_MEMBER = CopiedTable(
    "segment_member",
    (("segment_id", INT), ("customer_id", INT)),
    follows=("segment", "segment_id", "members_changed_at"),
    customer_key="customer_id",
    where="t.segment_id IN (SELECT id FROM segment WHERE dynamic = false)",
)
COPIED = (SEGMENT, SEGMENT_MEMBER)
