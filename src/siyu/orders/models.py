"""Orders from every platform and store, money in fen.

Indexes are few on purpose: every one slows the million-row imports, and questions across orders
(RFM, cohorts, segments) run on the analytical copy, not here. Look-ups by customer use
``customer_id``; ``identity_id`` and ``store_id`` are always narrowed by it first.

Receiver names, addresses and phones of the platform export are not kept on the order: the
buyer's phone becomes an identity of the customer and nothing else is needed (PIPL minimisation).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from siyu.analytics.tables import INT, TEXT, TIME, CopiedTable
from siyu.db import Base, UTCDateTime, utcnow

ORDER_STATUSES = (
    "pending",  # created, not paid
    "paid",
    "shipped",
    "completed",
    "partially_refunded",
    "refunded",
    "cancelled",
)
# Orders that count as purchases (for RFM, CLV, summaries): paid and not wholly refunded.
PAID_STATUSES = ("paid", "shipped", "completed", "partially_refunded")


class Order(Base):
    """One order as the platform knows it; re-imports update it by (platform, shop, order id)."""

    __tablename__ = "order"
    __table_args__ = (sa.UniqueConstraint("platform", "shop", "platform_order_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(sa.ForeignKey("brand.id"))
    platform: Mapped[str] = mapped_column(sa.String(16))
    shop: Mapped[str] = mapped_column(sa.String(100), default="")
    platform_order_id: Mapped[str] = mapped_column(sa.String(100))
    customer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customer.id"), index=True)
    # The identity that brought this order: after an unmerge the order follows it.
    identity_id: Mapped[int | None] = mapped_column(sa.ForeignKey("identity.id"))
    store_id: Mapped[int | None] = mapped_column(sa.ForeignKey("store.id"))
    status: Mapped[str] = mapped_column(sa.String(20))
    total_fen: Mapped[int] = mapped_column(sa.BigInteger)
    paid_fen: Mapped[int] = mapped_column(sa.BigInteger)
    refund_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    ordered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    digest: Mapped[str] = mapped_column(sa.String(32))
    import_run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("import_run.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class OrderLine(Base):
    """A SKU line of an order (a JD export row is one of these, not an order)."""

    __tablename__ = "order_line"
    __table_args__ = (sa.UniqueConstraint("order_id", "line_no"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("order.id", ondelete="CASCADE"))
    line_no: Mapped[int] = mapped_column(sa.Integer)
    product_id: Mapped[int | None] = mapped_column(sa.ForeignKey("product.id"))
    sku: Mapped[str | None] = mapped_column(sa.String(100))
    product_name: Mapped[str | None] = mapped_column(sa.String(300))
    category: Mapped[str | None] = mapped_column(sa.String(100))
    quantity: Mapped[int] = mapped_column(sa.Integer, default=1)
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger)


# What the analytical copy holds of these tables (no direct identifiers: DESIGN §5).
ORDER = CopiedTable(
    "order",
    (
        ("id", INT),
        ("brand_id", INT),
        ("customer_id", INT),
        ("platform", TEXT),
        ("store_id", INT),
        ("status", TEXT),
        ("total_fen", INT),
        ("paid_fen", INT),
        ("refund_fen", INT),
        ("ordered_at", TIME),
        ("paid_at", TIME),
        ("updated_at", TIME),
    ),
    changed_at="updated_at",
    customer_key="customer_id",
)
ORDER_LINE = CopiedTable(
    "order_line",
    (
        ("id", INT),
        ("order_id", INT),
        ("product_id", INT),
        ("category", TEXT),
        ("quantity", INT),
        ("amount_fen", INT),
    ),
    follows=("order", "order_id"),
)
COPIED = (ORDER, ORDER_LINE)
