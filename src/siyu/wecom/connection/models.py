"""The corps a brand connects, their departments and staff, and the record of every WeCom
API call, so that a failure is visible rather than silent."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db import Base, UTCDateTime, utcnow


class WecomCorp(Base):
    """A connected WeCom corp (one self-built app with customer-contact rights). Secrets are
    sealed under SIYU_SECRET_KEY (siyu.secretbox); only their last characters are ever shown."""

    __tablename__ = "wecom_corp"
    id: Mapped[int] = mapped_column(primary_key=True)
    corp_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100), default="")
    brand_id: Mapped[int | None] = mapped_column(sa.ForeignKey("brand.id"))
    agent_id: Mapped[str] = mapped_column(sa.String(32))
    secret_sealed: Mapped[str] = mapped_column(sa.Text)
    secret_hint: Mapped[str] = mapped_column(sa.String(16))
    token_sealed: Mapped[str] = mapped_column(sa.Text)
    aes_key_sealed: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class WecomDepartment(Base):
    """A department of the corp's address book (stores are often departments)."""

    __tablename__ = "wecom_department"
    __table_args__ = (sa.UniqueConstraint("corp_id", "dept_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    corp_id: Mapped[int] = mapped_column(sa.ForeignKey("wecom_corp.id"))
    dept_id: Mapped[int] = mapped_column(sa.Integer)
    name: Mapped[str] = mapped_column(sa.String(100))
    parent_dept_id: Mapped[int] = mapped_column(sa.Integer, default=0)
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WecomStaff(Base):
    """A member of the corp (导购/客服) who can hold customer friendships. ``status`` is WeCom's:
    1 active, 2 disabled, 4 not activated, 5 left the company; a member who leaves keeps the row,
    because resigned inheritance (离职继承) needs it."""

    __tablename__ = "wecom_staff"
    __table_args__ = (sa.UniqueConstraint("corp_id", "userid"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    corp_id: Mapped[int] = mapped_column(sa.ForeignKey("wecom_corp.id"))
    userid: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(100), default="")
    departments: Mapped[list[int]] = mapped_column(sa.JSON, default=list)
    store_id: Mapped[int | None] = mapped_column(sa.ForeignKey("store.id"))
    status: Mapped[int] = mapped_column(sa.Integer, default=1)
    has_contact_rights: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WecomApiCall(Base):
    """Every call Siyu made to WeCom with its errcode, kept a week: the sync status page and
    `siyu wecom status` read failures and rate-limit back-offs from here."""

    __tablename__ = "wecom_api_call"
    __table_args__ = (sa.Index("ix_wecom_api_call_at", "corp_id", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    corp_id: Mapped[int] = mapped_column(sa.ForeignKey("wecom_corp.id"))
    api: Mapped[str] = mapped_column(sa.String(80))
    errcode: Mapped[int] = mapped_column(sa.Integer)
    errmsg: Mapped[str] = mapped_column(sa.String(200), default="")
    elapsed_ms: Mapped[int] = mapped_column(sa.Integer, default=0)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
