"""Friendships between staff and customers (follow relations), customer groups and their
members, the record of each full sync, and the alerts an operator acts on."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db import Base, UTCDateTime, utcnow


class WecomContact(Base):
    """One friendship between a staff member and a customer (WeCom's follow_user). A customer
    added by three guides has three rows and one Siyu customer. Deletions are kept with who
    deleted whom (流失提醒), so the history of the relationship survives."""

    __tablename__ = "wecom_contact"
    __table_args__ = (
        sa.UniqueConstraint("corp_id", "staff_userid", "external_userid"),
        sa.Index("ix_wecom_contact_external", "corp_id", "external_userid"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    corp_id: Mapped[int] = mapped_column(sa.ForeignKey("wecom_corp.id"))
    staff_userid: Mapped[str] = mapped_column(sa.String(64))
    external_userid: Mapped[str] = mapped_column(sa.String(100))
    customer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customer.id"), index=True)
    nickname: Mapped[str | None] = mapped_column(sa.String(100))
    remark: Mapped[str | None] = mapped_column(sa.String(200))
    add_way: Mapped[int | None] = mapped_column(sa.Integer)
    state: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    wecom_tags: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    added_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # customer (the customer deleted the staff member), staff, transfer (handed over)
    deleted_by: Mapped[str | None] = mapped_column(sa.String(16))
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # when a sync or callback last saw the friendship; a full sync ends the ones it did not see
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class WecomGroupChat(Base):
    """A customer group (客户群) owned by a staff member."""

    __tablename__ = "wecom_group_chat"
    __table_args__ = (sa.UniqueConstraint("corp_id", "chat_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    corp_id: Mapped[int] = mapped_column(sa.ForeignKey("wecom_corp.id"))
    chat_id: Mapped[str] = mapped_column(sa.String(100))
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    owner_userid: Mapped[str] = mapped_column(sa.String(64), default="")
    member_count: Mapped[int] = mapped_column(sa.Integer, default=0)
    dismissed: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WecomGroupMember(Base):
    """A member of a customer group: staff (type 1) or an external customer (type 2)."""

    __tablename__ = "wecom_group_member"
    __table_args__ = (sa.UniqueConstraint("group_id", "member_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(sa.ForeignKey("wecom_group_chat.id"))
    member_id: Mapped[str] = mapped_column(sa.String(100))
    member_type: Mapped[int] = mapped_column(sa.Integer)
    customer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customer.id"), index=True)
    joined_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    join_scene: Mapped[int | None] = mapped_column(sa.Integer)


class WecomSyncRun(Base):
    """One full sync (staff, contacts, groups, tags). ``position`` records how far it got so a
    sync stopped by a WeCom error resumes where it stopped instead of starting over."""

    __tablename__ = "wecom_sync_run"
    id: Mapped[int] = mapped_column(primary_key=True)
    corp_id: Mapped[int] = mapped_column(sa.ForeignKey("wecom_corp.id"))
    # running | done | failed
    status: Mapped[str] = mapped_column(sa.String(12), default="running")
    position: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    counts: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    error: Mapped[str | None] = mapped_column(sa.Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WecomAlert(Base):
    """Something an operator should know now: a staff member near the 5,000-friend cap, a
    customer who deleted their guide (流失提醒), a guide who deleted a customer, a failed
    transfer."""

    __tablename__ = "wecom_alert"
    __table_args__ = (sa.Index("ix_wecom_alert_open", "corp_id", "resolved", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    corp_id: Mapped[int] = mapped_column(sa.ForeignKey("wecom_corp.id"))
    kind: Mapped[str] = mapped_column(sa.String(32))
    staff_userid: Mapped[str | None] = mapped_column(sa.String(64))
    customer_id: Mapped[int | None] = mapped_column(sa.Integer, index=True)
    message: Mapped[str] = mapped_column(sa.String(500))
    resolved: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
