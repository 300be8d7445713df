"""Tags: groups of labels an operator puts on customers (肤质, 价格敏感度, 所在城市), by hand or
by rules, each assignment remembering who or what set it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from siyu.analytics.tables import BOOL, INT, TEXT, TIME, CopiedTable
from siyu.db import Base, UTCDateTime, utcnow


class TagGroup(Base):
    """A family of tags. Single-choice groups (价格敏感度: 高/中/低) hold at most one tag per
    customer from each source; multi-choice groups (兴趣) hold any number."""

    __tablename__ = "tag_group"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(50), unique=True)
    single: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Tag(Base):
    """One label within a group."""

    __tablename__ = "tag"
    __table_args__ = (sa.UniqueConstraint("group_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(sa.ForeignKey("tag_group.id"))
    name: Mapped[str] = mapped_column(sa.String(50))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TagRule(Base):
    """Puts a tag on every customer meeting a condition (see ``tags.rules``), kept up to date by
    each recompute. Deleting the rule takes off only the tags it put on."""

    __tablename__ = "tag_rule"
    id: Mapped[int] = mapped_column(primary_key=True)
    tag_id: Mapped[int] = mapped_column(sa.ForeignKey("tag.id"))
    condition: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    created_by: Mapped[str] = mapped_column(sa.String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    matched: Mapped[int] = mapped_column(sa.Integer, default=0)


class CustomerTag(Base):
    """A tag on a customer, with its provenance: ``manual`` (``actor`` says who), ``rule``
    (``rule_id``), ``import`` or ``wecom``. The same tag may stand twice from two sources, so
    that removing one source leaves the other."""

    __tablename__ = "customer_tag"
    __table_args__ = (sa.UniqueConstraint("customer_id", "tag_id", "source", "rule_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customer.id"), index=True)
    tag_id: Mapped[int] = mapped_column(sa.ForeignKey("tag.id"), index=True)
    source: Mapped[str] = mapped_column(sa.String(12))  # manual | rule | import | wecom
    rule_id: Mapped[int] = mapped_column(sa.Integer, default=0)  # 0 unless source is rule
    actor: Mapped[str] = mapped_column(sa.String(100))
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# What the analytical copy holds of these tables (no direct identifiers: DESIGN §5).
TAG_GROUP = CopiedTable("tag_group", (("id", INT), ("name", TEXT), ("single", BOOL)))
TAG = CopiedTable("tag", (("id", INT), ("group_id", INT), ("name", TEXT)))
CUSTOMER_TAG = CopiedTable(
    "customer_tag",
    (
        ("id", INT),
        ("customer_id", INT),
        ("tag_id", INT),
        ("source", TEXT),
        ("rule_id", INT),
        ("assigned_at", TIME),
    ),
    follows=("customer", "customer_id"),
    customer_key="customer_id",
)
COPIED = (TAG_GROUP, TAG, CUSTOMER_TAG)
