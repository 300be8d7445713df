"""Channel live codes with the staff rotating behind them, group live codes, and the welcome
messages new friends get (with each delivery)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db import Base, UTCDateTime, utcnow


class LiveCode(Base):
    """A channel live code (渠道活码): one QR code for one channel (a store's counter, a poster,
    a parcel card, a live stream) whose WeCom contact way hands each scanning customer to one
    staff member in turn. ``state`` comes back on every add event, which is how an add is
    credited to the channel. Siyu keeps one member in the contact way at a time and moves it on
    after each add, so rotation, weights, daily limits and the 5,000-friend cap are exact."""

    __tablename__ = "live_code"
    __table_args__ = (sa.UniqueConstraint("corp_id", "state"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    corp_id: Mapped[int] = mapped_column(sa.ForeignKey("wecom_corp.id"))
    name: Mapped[str] = mapped_column(sa.String(100))
    channel: Mapped[str] = mapped_column(sa.String(32), default="other")
    state: Mapped[str] = mapped_column(sa.String(30))
    config_id: Mapped[str | None] = mapped_column(sa.String(100))
    qr_url: Mapped[str | None] = mapped_column(sa.String(500))
    qr_png: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    rotation: Mapped[str] = mapped_column(sa.String(16), default="round_robin")  # or weighted
    skip_verify: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    tag_ids: Mapped[list[int]] = mapped_column(sa.JSON, default=list)
    welcome_id: Mapped[int | None] = mapped_column(sa.ForeignKey("welcome_message.id"))
    store_id: Mapped[int | None] = mapped_column(sa.ForeignKey("store.id"))
    current_userid: Mapped[str | None] = mapped_column(sa.String(64))
    turn: Mapped[int] = mapped_column(sa.Integer, default=0)
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class LiveCodeStaff(Base):
    """A staff member behind a live code: weight for weighted rotation, a daily add limit
    (0 = none)."""

    __tablename__ = "live_code_staff"
    __table_args__ = (sa.UniqueConstraint("live_code_id", "staff_userid"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    live_code_id: Mapped[int] = mapped_column(sa.ForeignKey("live_code.id"))
    staff_userid: Mapped[str] = mapped_column(sa.String(64))
    weight: Mapped[int] = mapped_column(sa.Integer, default=1)
    daily_limit: Mapped[int] = mapped_column(sa.Integer, default=0)
    position: Mapped[int] = mapped_column(sa.Integer, default=0)


class WelcomeMessage(Base):
    """A welcome message (欢迎语): text with variables ({{ nickname }}, {{ staff }}, {{ store }})
    and up to 9 attachments (image, link, mini-program card). One per corp is the default; a
    live code may name its own."""

    __tablename__ = "welcome_message"
    id: Mapped[int] = mapped_column(primary_key=True)
    corp_id: Mapped[int] = mapped_column(sa.ForeignKey("wecom_corp.id"))
    name: Mapped[str] = mapped_column(sa.String(100))
    is_default: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    text: Mapped[str] = mapped_column(sa.Text, default="")
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class WelcomeDelivery(Base):
    """Each welcome Siyu sent (or could not): with the latency from the callback's arrival, so
    "welcome messages that don't fire" (a common complaint about other SCRMs) are visible."""

    __tablename__ = "welcome_delivery"
    id: Mapped[int] = mapped_column(primary_key=True)
    corp_id: Mapped[int] = mapped_column(sa.ForeignKey("wecom_corp.id"))
    callback_id: Mapped[int] = mapped_column(sa.Integer, unique=True)
    live_code_id: Mapped[int | None] = mapped_column(sa.Integer, index=True)
    welcome_id: Mapped[int | None] = mapped_column(sa.Integer)
    staff_userid: Mapped[str] = mapped_column(sa.String(64))
    external_userid: Mapped[str] = mapped_column(sa.String(100))
    customer_id: Mapped[int | None] = mapped_column(sa.Integer, index=True)
    # sent | failed | expired (the code's 20 s had passed) | none (no welcome configured) |
    # render_error (the text could not be rendered: nothing sent, an alert raised)
    status: Mapped[str] = mapped_column(sa.String(12))
    errcode: Mapped[int] = mapped_column(sa.Integer, default=0)
    latency_ms: Mapped[int] = mapped_column(sa.Integer, default=0)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class GroupLiveCode(Base):
    """A group live code (群活码): one QR code that lets customers join the brand's groups one
    after another. WeCom's join way takes at most 5 groups and lets only the first 200 members
    of a group join by QR code; Siyu keeps the operator's longer list of groups and, as the
    groups in the join way fill, moves the next ones in, so the printed code keeps working."""

    __tablename__ = "group_live_code"
    __table_args__ = (sa.UniqueConstraint("corp_id", "state"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    corp_id: Mapped[int] = mapped_column(sa.ForeignKey("wecom_corp.id"))
    name: Mapped[str] = mapped_column(sa.String(100))
    state: Mapped[str] = mapped_column(sa.String(30))
    config_id: Mapped[str] = mapped_column(sa.String(100))
    qr_url: Mapped[str | None] = mapped_column(sa.String(500))
    qr_png: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    chat_ids: Mapped[list[str]] = mapped_column(sa.JSON, default=list)  # the whole rotation
    active_chat_ids: Mapped[list[str]] = mapped_column(sa.JSON, default=list)  # in the join way
    full: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
