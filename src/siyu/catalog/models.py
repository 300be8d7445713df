"""Products and SKUs; categories drive tags, segments and recommendations later."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from siyu.analytics.tables import INT, TEXT, CopiedTable
from siyu.db import Base, UTCDateTime, utcnow


class Product(Base):
    """A SKU of a brand, as orders name it."""

    __tablename__ = "product"
    __table_args__ = (sa.UniqueConstraint("brand_id", "sku"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(sa.ForeignKey("brand.id"))
    sku: Mapped[str] = mapped_column(sa.String(100))
    name: Mapped[str] = mapped_column(sa.String(300))
    category: Mapped[str | None] = mapped_column(sa.String(100), index=True)
    price_fen: Mapped[int | None] = mapped_column(sa.BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# What the analytical copy holds of these tables (no direct identifiers: DESIGN §5).
PRODUCT = CopiedTable(
    "product",
    (("id", INT), ("brand_id", INT), ("sku", TEXT), ("name", TEXT), ("category", TEXT)),
)
COPIED = (PRODUCT,)
