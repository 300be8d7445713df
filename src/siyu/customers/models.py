"""The customer pool: one profile per person, the identities that point at it, consent, merges.

Identities are (kind, namespace, value): an openid belongs to one app, an external_userid to one
WeCom corp, a buyer id to one platform shop; phones and emails are global. Resolution and merge
rules live in ``customers.identity``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from siyu.analytics.tables import BOOL, INT, TEXT, TIME, CopiedTable
from siyu.db import Base, UTCDateTime, utcnow


class Customer(Base):
    """A person the brand owns a relationship with, however many platforms they bought on."""

    __tablename__ = "customer"
    # On SQLite, ids are never handed out twice: without AUTOINCREMENT a new customer could take
    # the id of one erased last, and inherit what the send ledger keeps under it (the campaigns
    # the erased person got, which would then skip the new one). PostgreSQL's sequence never
    # goes back.
    __table_args__ = (
        # the profiles merged into one (a person's family, read by every sign-up and referral
        # check): few rows, so a partial index; without it each look-up reads the whole table
        sa.Index(
            "ix_customer_merged_into",
            "merged_into_id",
            sqlite_where=sa.text("merged_into_id IS NOT NULL"),
            postgresql_where=sa.text("merged_into_id IS NOT NULL"),
        ),
        {"sqlite_autoincrement": True},
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str | None] = mapped_column(sa.String(100))
    gender: Mapped[str | None] = mapped_column(sa.String(8))
    birthday: Mapped[date | None] = mapped_column(sa.Date)
    province: Mapped[str | None] = mapped_column(sa.String(32))
    city: Mapped[str | None] = mapped_column(sa.String(32))
    first_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    source: Mapped[str | None] = mapped_column(sa.String(32), index=True)
    store_id: Mapped[int | None] = mapped_column(sa.ForeignKey("store.id"), index=True)
    # active | merged (folded into merged_into_id) | erased (PIPL erasure; an empty shell)
    status: Mapped[str] = mapped_column(sa.String(16), default="active")
    merged_into_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customer.id"))
    # Not marketable: an erased person came back through an import or event.
    suppressed: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    # Do not send marketing (DESIGN §5), with who asked for it: an operator who heard the
    # customer, an import column, or the member's own choice; policy checks it at send time.
    do_not_disturb: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    do_not_disturb_source: Mapped[str | None] = mapped_column(
        sa.String(16)
    )  # operator|import|member
    do_not_disturb_reason: Mapped[str | None] = mapped_column(sa.String(200))
    do_not_disturb_by: Mapped[str | None] = mapped_column(sa.String(100))
    do_not_disturb_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime,
        default=utcnow,
        onupdate=utcnow,
        index=True,  # the analytical copy follows it
    )


class Identity(Base):
    """One way to recognise a customer; unique across the pool, so it points at one profile."""

    __tablename__ = "identity"
    __table_args__ = (sa.UniqueConstraint("kind", "namespace", "value"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customer.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(24))
    namespace: Mapped[str] = mapped_column(sa.String(100), default="")
    value: Mapped[str] = mapped_column(sa.String(200))
    verified: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    source: Mapped[str] = mapped_column(sa.String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Consent(Base):
    """Permission to contact an address on a channel for a purpose, per brand.

    Withdrawal wins immediately; a merge moves these rows unchanged.
    """

    __tablename__ = "consent"
    __table_args__ = (sa.UniqueConstraint("brand_id", "channel", "purpose", "address"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customer.id"), index=True)
    brand_id: Mapped[int] = mapped_column(sa.ForeignKey("brand.id"))
    channel: Mapped[str] = mapped_column(sa.String(16))  # sms | email | wecom | oa | call
    purpose: Mapped[str] = mapped_column(sa.String(16))  # marketing | service
    address: Mapped[str] = mapped_column(sa.String(200))
    status: Mapped[str] = mapped_column(sa.String(12))  # granted | withdrawn
    source: Mapped[str] = mapped_column(sa.String(64))
    evidence: Mapped[str | None] = mapped_column(sa.Text)
    # a reference to the proof kept elsewhere (a signed form's number), and who recorded it
    evidence_ref: Mapped[str | None] = mapped_column(sa.String(100))
    recorded_by: Mapped[str | None] = mapped_column(sa.String(100))
    # when the customer said it (the newer statement wins; a withdrawal is always now)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MergeLog(Base):
    """A merge of one profile into another, with what moved, so it can be undone."""

    __tablename__ = "merge_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    winner_id: Mapped[int] = mapped_column(sa.ForeignKey("customer.id"), index=True)
    loser_id: Mapped[int] = mapped_column(sa.ForeignKey("customer.id"), index=True)
    reason: Mapped[str] = mapped_column(sa.String(200))
    actor: Mapped[str] = mapped_column(sa.String(100))
    moved: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    loser_snapshot: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    undone_by: Mapped[str | None] = mapped_column(sa.String(100))


class IdentityConflict(Base):
    """Two profiles a record links but that may not be auto-merged (different strong ids).

    Kept for an operator to review: merged by hand if they really are one person, or kept
    apart, after which the resolver neither raises the pair again nor merges it by itself.
    """

    __tablename__ = "identity_conflict"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customer.id"), index=True)
    other_customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customer.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(24))
    source: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution: Mapped[str | None] = mapped_column(sa.String(16))  # merged | kept_apart
    resolved_by: Mapped[str | None] = mapped_column(sa.String(100))


# What the analytical copy holds of these tables (no direct identifiers: DESIGN §5).
CUSTOMER = CopiedTable(
    "customer",
    (
        ("id", INT),
        ("status", TEXT),
        ("merged_into_id", INT),
        ("gender", TEXT),
        ("province", TEXT),
        ("city", TEXT),
        ("source", TEXT),
        ("store_id", INT),
        ("suppressed", BOOL),
        ("do_not_disturb", BOOL),
        ("first_seen_at", TIME),
        ("created_at", TIME),
        ("updated_at", TIME),
    ),
    changed_at="updated_at",
    customer_key="id",
)
# Which kinds of identity a customer has (never the values), for "has a phone / a WeCom friend".
IDENTITY = CopiedTable(
    "identity",
    (("id", INT), ("customer_id", INT), ("kind", TEXT), ("namespace", TEXT), ("verified", BOOL)),
    follows=("customer", "customer_id"),
    customer_key="customer_id",
)
# Consent state per brand, channel and purpose (never the address).
CONSENT = CopiedTable(
    "consent",
    (
        ("id", INT),
        ("customer_id", INT),
        ("brand_id", INT),
        ("channel", TEXT),
        ("purpose", TEXT),
        ("status", TEXT),
        ("recorded_at", TIME),
    ),
    follows=("customer", "customer_id"),
    customer_key="customer_id",
)
COPIED = (CUSTOMER, IDENTITY, CONSENT)
