"""Staff handovers (在职转接 / 离职继承) and each item they move."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db import Base, UTCDateTime, utcnow


class Handover(Base):
    """A handover of one staff member's customers (and groups) to another: on-job transfer
    (在职转接, the guide moves stores) or resigned inheritance (离职继承, the guide left). WeCom
    completes a customer's transfer 24 hours after it is asked unless the customer refuses, so
    each item is tracked until WeCom reports how it ended."""

    __tablename__ = "wecom_handover"
    id: Mapped[int] = mapped_column(primary_key=True)
    corp_id: Mapped[int] = mapped_column(sa.ForeignKey("wecom_corp.id"))
    kind: Mapped[str] = mapped_column(sa.String(10))  # onjob | resigned
    handover_userid: Mapped[str] = mapped_column(sa.String(64))
    takeover_userid: Mapped[str] = mapped_column(sa.String(64))
    selection: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)  # the filter used
    message: Mapped[str] = mapped_column(sa.String(200), default="")  # told to the customer
    status: Mapped[str] = mapped_column(sa.String(12), default="running")  # running | done
    created_by: Mapped[str] = mapped_column(sa.String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class HandoverItem(Base):
    """One customer or group in a handover and how its transfer stands: ``queued`` (not yet
    asked), ``waiting`` (WeCom accepted; 24 h), ``succeeded``, ``refused`` (the customer said
    no; not retried), ``limit`` (the takeover member was at the 5,000 cap; retry to someone
    else), ``failed`` (an errcode, or a WeCom rule Siyu checked first)."""

    __tablename__ = "wecom_handover_item"
    __table_args__ = (
        sa.UniqueConstraint("handover_id", "target_type", "target_id"),
        sa.Index("ix_wecom_handover_item_target", "corp_id", "target_id", "status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    handover_id: Mapped[int] = mapped_column(sa.ForeignKey("wecom_handover.id"), index=True)
    corp_id: Mapped[int] = mapped_column(sa.ForeignKey("wecom_corp.id"))
    target_type: Mapped[str] = mapped_column(sa.String(10))  # customer | group
    target_id: Mapped[str] = mapped_column(sa.String(100))  # external_userid or chat_id
    customer_id: Mapped[int | None] = mapped_column(sa.Integer)
    takeover_userid: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(10), default="queued")
    errcode: Mapped[int] = mapped_column(sa.Integer, default=0)
    error: Mapped[str | None] = mapped_column(sa.String(300))
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
