"""Reading orders for other capabilities, which use these instead of the order tables."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu.db import plain_value, table_of
from siyu.orders.models import Order, OrderLine


def orders_with_lines(session: Session, customer_ids: Collection[int]) -> list[dict[str, Any]]:
    """Every order of these customers with its lines, each as stored (column: value), oldest
    first: what a PIPL access export gives the person."""
    orders = session.scalars(
        sa.select(Order).where(Order.customer_id.in_(customer_ids)).order_by(Order.id)
    ).all()
    if not orders:
        return []
    lines = session.scalars(
        sa.select(OrderLine).where(OrderLine.order_id.in_([o.id for o in orders]))
    ).all()
    return [{**_row(o), "lines": [_row(ln) for ln in lines if ln.order_id == o.id]} for o in orders]


def _row(obj: Any) -> dict[str, Any]:
    return {c.key: plain_value(getattr(obj, c.key)) for c in table_of(obj).columns}
