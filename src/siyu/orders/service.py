"""Rules about orders that other capabilities ask for. The imports write orders (``ingest``);
a PIPL erasure removes them through ``erase_orders``, so no other capability deletes from the
order tables itself."""

from __future__ import annotations

from collections.abc import Collection

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu.orders.models import Order, OrderLine


def erase_orders(session: Session, customer_ids: Collection[int]) -> dict[str, int]:
    """Delete these customers' orders, lines first (they point at their order); returns the
    rows removed per table, for the erasure report."""
    order_ids = sa.select(Order.id).where(Order.customer_id.in_(customer_ids))
    lines = session.execute(sa.delete(OrderLine).where(OrderLine.order_id.in_(order_ids)))
    orders = session.execute(sa.delete(Order).where(Order.customer_id.in_(customer_ids)))
    return {
        "order_line": int(getattr(lines, "rowcount", 0) or 0),
        "order": int(getattr(orders, "rowcount", 0) or 0),
    }
