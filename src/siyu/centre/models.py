"""The member centre's own state: sign-in codes, customers' sessions, the counters that limit
code requests, and the domain-verification files WeChat asks an admin to serve.

Customers never share the staff's tables: a customer session is a row here, its cookie is
``siyu_member`` (never ``siyu_session``), and what it may read is the one customer it names
(DESIGN §11: customer-facing surfaces use their own session and authentication)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db import Base, UTCDateTime, utcnow


class SignInCode(Base):
    """One SMS code sent to a phone. Only its keyed hash is kept; it is good for a few minutes,
    once, and for a handful of wrong guesses (then it is spent, and a new one must be asked
    for, which the request limits count)."""

    __tablename__ = "centre_signin_code"
    __table_args__ = (sa.Index("ix_centre_signin_code_phone", "phone", "created_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(sa.String(32))  # E.164, as the phone identity holds it
    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customer.id", ondelete="CASCADE"))
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    device: Mapped[str] = mapped_column(sa.String(40), default="")
    tries: Mapped[int] = mapped_column(sa.Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CustomerSession(Base):
    """A customer's sign-in to the member centre; the cookie holds a random token, the table
    only its hash, as for staff logins. ``openid`` is set when the sign-in came through
    WeChat (so a later visit from the same WeChat user signs in again by it)."""

    __tablename__ = "centre_session"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    customer_id: Mapped[int] = mapped_column(
        sa.ForeignKey("customer.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(sa.String(64))
    method: Mapped[str] = mapped_column(sa.String(16))  # sms | wechat
    device: Mapped[str] = mapped_column(sa.String(40), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CentreThrottle(Base):
    """How many times a key (a phone, a client network, a device) did something in one time
    bucket: counted in the database, so every server process sees the same count."""

    __tablename__ = "centre_throttle"
    key: Mapped[str] = mapped_column(sa.String(120), primary_key=True)
    count: Mapped[int] = mapped_column(sa.Integer, default=0)
    bucket_end: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class VerifyFile(Base):
    """A domain-verification file (``MP_verify_<token>.txt``) the official account's admin
    page asks to be served at the web root before it accepts the web-authorisation domain."""

    __tablename__ = "centre_verify_file"
    name: Mapped[str] = mapped_column(sa.String(80), primary_key=True)
    content: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
