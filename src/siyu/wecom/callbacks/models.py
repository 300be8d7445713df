"""The callback inbox: every callback WeCom sends, stored before it is processed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db import Base, UTCDateTime, utcnow


class WecomCallback(Base):
    """The callback inbox: every verified callback is stored here first and answered at once;
    the worker processes it. WeCom contact events carry no id, so ``digest`` (corp, event,
    change type, user, external user, create time…) is the idempotency key: WeCom retries a
    callback it thinks failed, and the retry must not add a friend twice."""

    __tablename__ = "wecom_callback"
    __table_args__ = (sa.Index("ix_wecom_callback_due", "status", "priority", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    corp_id: Mapped[int] = mapped_column(sa.ForeignKey("wecom_corp.id"))
    digest: Mapped[str] = mapped_column(sa.String(64), unique=True)
    event: Mapped[str] = mapped_column(sa.String(80))
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    # 0 = a welcome_code is waiting (it lives 20 s); 5 = everything else
    priority: Mapped[int] = mapped_column(sa.Integer, default=5)
    # queued | done | failed | ignored
    status: Mapped[str] = mapped_column(sa.String(12), default="queued")
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(sa.String(100))
    error: Mapped[str | None] = mapped_column(sa.Text)
    customer_id: Mapped[int | None] = mapped_column(sa.Integer, index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)  # retries wait
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
