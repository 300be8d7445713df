"""Brands and stores are first-class: a chain has many stores, a group may run several brands."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from siyu.analytics.tables import INT, TEXT, CopiedTable
from siyu.db import Base, UTCDateTime, utcnow


class Brand(Base):
    """A brand the group sells under; consent and orders belong to a brand."""

    __tablename__ = "brand"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Store(Base):
    """A physical or online store (门店/店铺); store guides only see their store's customers."""

    __tablename__ = "store"
    __table_args__ = (sa.UniqueConstraint("brand_id", "code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(sa.ForeignKey("brand.id"), index=True)
    code: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(200))
    province: Mapped[str | None] = mapped_column(sa.String(32))
    city: Mapped[str | None] = mapped_column(sa.String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# What the analytical copy holds of these tables (no direct identifiers: DESIGN §5).
BRAND = CopiedTable("brand", (("id", INT), ("code", TEXT), ("name", TEXT)))
STORE = CopiedTable(
    "store",
    (("id", INT), ("brand_id", INT), ("code", TEXT), ("name", TEXT), ("city", TEXT)),
)
COPIED = (BRAND, STORE)
