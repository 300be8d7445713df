"""The official account's followers as Siyu knows them, the follower syncs, and the inbox of
the account's event pushes.

A follower is keyed by (appid, openid): an openid belongs to one account. The customer it
belongs to is found through the identity table (kind ``openid``, namespace the appid), so a
merge or an unmerge of customers needs nothing from these tables.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db import Base, UTCDateTime, utcnow


class OaFollower(Base):
    """Whether an openid follows the account now, and how it came to. ``status_at`` is the
    time of the fact that set ``subscribed`` (a push's CreateTime, taken as the end of its
    second, or when a sync read the list): an older fact never overrides a newer one, so a push
    that arrives late (WeChat retries) or a page read before an unsubscribe cannot make someone
    a follower again. Sending checks this row: an openid known to have unfollowed is not sent
    template messages."""

    __tablename__ = "oa_follower"
    __table_args__ = (
        sa.UniqueConstraint("appid", "openid"),
        sa.Index("ix_oa_follower_appid_subscribed", "appid", "subscribed"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    appid: Mapped[str] = mapped_column(sa.String(32))
    openid: Mapped[str] = mapped_column(sa.String(64))
    subscribed: Mapped[bool] = mapped_column(sa.Boolean)
    subscribe_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # WeChat's subscribe_scene (ADD_SCENE_QR_CODE, ADD_SCENE_SEARCH …) and the QR code's scene
    scene: Mapped[str | None] = mapped_column(sa.String(40))
    qr_scene: Mapped[str | None] = mapped_column(sa.String(64))
    status_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # when a sync last found the openid in the follower list (a full sync ends the others)
    seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class OaSyncRun(Base):
    """One read of the whole follower list. ``position`` is where the next call starts
    (``next_openid`` of the page being read, and ``after``, the last openid of that page already
    stored), so a sync stopped by an error or a crash resumes there instead of starting over."""

    __tablename__ = "oa_sync_run"
    id: Mapped[int] = mapped_column(primary_key=True)
    appid: Mapped[str] = mapped_column(sa.String(32), index=True)
    # running | done | failed
    status: Mapped[str] = mapped_column(sa.String(12), default="running")
    position: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    counts: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    error: Mapped[str | None] = mapped_column(sa.Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OaCallback(Base):
    """The inbox of the account's event pushes (subscribe, unsubscribe, SCAN): stored first,
    answered at once, processed by the worker. WeChat retries a push three times and its events
    carry no id, so ``digest`` (appid, openid, event, CreateTime) keeps a retry from being
    processed twice."""

    __tablename__ = "oa_callback"
    __table_args__ = (sa.Index("ix_oa_callback_due", "status", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    appid: Mapped[str] = mapped_column(sa.String(32))
    digest: Mapped[str] = mapped_column(sa.String(64), unique=True)
    event: Mapped[str] = mapped_column(sa.String(40))
    openid: Mapped[str] = mapped_column(sa.String(64), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    # queued | working | done | ignored | failed
    status: Mapped[str] = mapped_column(sa.String(12), default="queued")
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(sa.String(100))
    error: Mapped[str | None] = mapped_column(sa.Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
