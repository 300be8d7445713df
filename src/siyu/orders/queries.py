"""Reading orders for other capabilities, which use these instead of the order tables."""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock, runtime
from siyu.bulk import from_db_time, rows_where_in, session_reads
from siyu.capability import TemplateVariables
from siyu.db import plain_value, table_of
from siyu.orders.models import ORDER_STATUSES, PAID_STATUSES, Order, OrderLine

__all__ = [
    "ORDER_STATUSES",
    "PAID_STATUSES",
    "best_sellers",
    "first_paid_before",
    "line_amounts",
    "order_money",
    "order_states",
    "orders_with_lines",
    "purchase_variables",
    "spend_in_window",
]


def spend_in_window(
    session: Session, customer_id: int, brand_id: int | None, since: datetime
) -> tuple[int, int]:
    """(money paid net of refunds in fen, paid orders) of the customer since ``since``, in one
    brand or all: what a tier counts when it qualifies by spend or by orders."""
    paid = sa.and_(
        Order.customer_id == customer_id,
        Order.status.in_(PAID_STATUSES),
        sa.func.coalesce(Order.paid_at, Order.ordered_at) >= since,
    )
    if brand_id is not None:
        paid = sa.and_(paid, Order.brand_id == brand_id)
    money, count = session.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(Order.paid_fen - Order.refund_fen), 0), sa.func.count()
        ).where(paid)
    ).one()
    return max(int(money), 0), int(count)


def first_paid_before(session: Session, customer_ids: Collection[int], at: datetime) -> bool:
    """Whether any of these customers paid an order before ``at`` (a referral's invitee who
    bought before is not new)."""
    return (
        session.scalar(
            sa.select(Order.id)
            .where(
                Order.customer_id.in_(list(customer_ids)),
                Order.status.in_((*PAID_STATUSES, "refunded")),
                sa.func.coalesce(Order.paid_at, Order.ordered_at) < at,
            )
            .limit(1)
        )
        is not None
    )


def order_money(session: Session, order_ids: Collection[int]) -> dict[int, tuple[str, int, int]]:
    """(status, paid, refunded) of these orders by id, whoever they belong to now (an order of
    an erased person is gone: it is simply not in the answer)."""
    return {
        int(i): (str(st), int(paid or 0), int(refund or 0))
        for i, st, paid, refund in session.execute(
            sa.select(Order.id, Order.status, Order.paid_fen, Order.refund_fen).where(
                Order.id.in_(list(order_ids))
            )
        )
    }


def order_states(session: Session, order_ids: Collection[int]) -> list[tuple[Any, ...]]:
    """(id, brand, store, customer, status, paid, refunded, paid at, ordered at, the
    platform's order id, the platform) of these orders that have a customer, by id: what
    loyalty settles an order by."""
    return [
        tuple(row)
        for row in session.execute(
            sa.select(
                Order.id,
                Order.brand_id,
                Order.store_id,
                Order.customer_id,
                Order.status,
                Order.paid_fen,
                Order.refund_fen,
                Order.paid_at,
                Order.ordered_at,
                Order.platform_order_id,
                Order.platform,
            )
            .where(Order.id.in_(order_ids), Order.customer_id.is_not(None))
            .order_by(Order.id)
        )
    ]


def line_amounts(
    session: Session, order_ids: Collection[int]
) -> dict[int, list[tuple[str | None, int]]]:
    """Each order's lines as (category, amount in fen)."""
    found: dict[int, list[tuple[str | None, int]]] = defaultdict(list)
    for order_id, category, amount in session.execute(
        sa.select(OrderLine.order_id, OrderLine.category, OrderLine.amount_fen).where(
            OrderLine.order_id.in_(order_ids)
        )
    ):
        found[order_id].append((category, int(amount)))
    return found


@dataclass(frozen=True)
class OrderSummary:
    """One order as its buyer sees it in the member centre."""

    platform: str
    order_id: str
    status: str
    paid_fen: int
    refund_fen: int
    at: datetime | None


def orders_of(session: Session, customer_id: int, most: int = 30) -> list[OrderSummary]:
    """The customer's latest orders, newest first."""
    return [
        OrderSummary(o.platform, o.platform_order_id, o.status, o.paid_fen, o.refund_fen, at)
        for o, at in session.execute(
            sa.select(Order, sa.func.coalesce(Order.paid_at, Order.ordered_at))
            .where(Order.customer_id == customer_id)
            .order_by(sa.func.coalesce(Order.paid_at, Order.ordered_at).desc(), Order.id.desc())
            .limit(most)
        )
    ]


def buyers_among(
    session: Session, customers: sa.Select[Any], start: datetime, end: datetime
) -> int:
    """How many of ``customers`` (a select of customer ids) paid for an order in [start, end)."""
    return int(
        session.scalar(
            sa.select(sa.func.count(sa.distinct(Order.customer_id))).where(
                Order.customer_id.in_(customers),
                Order.status.in_(PAID_STATUSES),
                Order.paid_at >= start,
                Order.paid_at < end,
            )
        )
        or 0
    )


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


BEST_SELLERS_SECONDS = 900
_best: dict[str, Any] = {"at": 0.0, "by_category": {}}
_best_lock = threading.Lock()


def purchase_variables(
    session: Session,
    ids: Sequence[int],
    out: dict[int, dict[str, Any]],
    _today: date,
    wanted: Collection[str] | None,
) -> None:
    """Template variables from the orders: the last product bought, and the recommended one
    (the best seller of the last 90 days in their most-bought category not bought yet)."""
    recommend = wanted is None or "recommended" in wanted
    when = sa.func.coalesce(Order.paid_at, Order.ordered_at)
    rows = session.execute(
        sa.select(Order.customer_id, OrderLine.product_name, OrderLine.category)
        .join(OrderLine, OrderLine.order_id == Order.id)
        .where(Order.customer_id.in_(ids), Order.status.notin_(("cancelled", "refunded")))
        .order_by(Order.customer_id, when.desc(), OrderLine.line_no)
    )
    bought: dict[int, set[str]] = defaultdict(set)
    categories: dict[int, Counter[str]] = defaultdict(Counter)
    for cid, product, category in rows:
        if cid is None:  # never: the query asked for these customers
            continue
        if product:
            out[cid].setdefault("last_product", product)
            bought[cid].add(product)
        if category:
            categories[cid][category] += 1
    best = best_sellers(session) if recommend else {}
    for cid in ids:
        out[cid].setdefault("last_product", None)
        pick = None
        if categories[cid]:
            favourite = categories[cid].most_common(1)[0][0]
            pick = next((p for p in best.get(favourite, ()) if p not in bought[cid]), None)
        out[cid]["recommended"] = pick


def best_sellers(session: Session, now: datetime | None = None) -> dict[str, list[str]]:
    """The ten best-selling products of the last 90 days, per category (cached 15 minutes)."""
    with _best_lock:
        if time.monotonic() - _best["at"] < BEST_SELLERS_SECONDS:
            return dict(_best["by_category"])
        since = (now or clock.now()) - timedelta(days=90)
        units = sa.func.sum(OrderLine.quantity)
        rows = session.execute(
            sa.select(OrderLine.category, OrderLine.product_name, units)
            .join(Order, Order.id == OrderLine.order_id)
            .where(
                Order.ordered_at >= since,
                Order.status.notin_(("cancelled", "refunded")),
                OrderLine.category.is_not(None),
                OrderLine.product_name.is_not(None),
            )
            .group_by(OrderLine.category, OrderLine.product_name)
            .order_by(OrderLine.category, units.desc(), OrderLine.product_name)
        )
        by_category: dict[str, list[str]] = defaultdict(list)
        for category, product, _units in rows:
            if category and product and len(by_category[category]) < 10:
                by_category[category].append(product)
        _best.update(at=time.monotonic(), by_category=dict(by_category))
        return dict(by_category)


def forget_best_sellers() -> None:
    """Drop the cached lists (tests, or after a large import)."""
    with _best_lock:
        _best.update(at=0.0, by_category={})


runtime.forgets("orders.best_sellers", forget_best_sellers)

TEMPLATE_VARIABLES = (
    TemplateVariables(
        labels={"last_product": "最近购买的商品", "recommended": "推荐商品"},
        samples={"last_product": "玻尿酸精华", "recommended": "防晒乳"},
        load=purchase_variables,
        personal=frozenset({"last_product", "recommended"}),
    ),
)


def first_paid_each(session: Session, customer_ids: Collection[int]) -> dict[int, datetime]:
    """Each customer's first paid (or since refunded) order's time, for those who have one."""
    statuses = (*PAID_STATUSES, "refunded")
    marks = ", ".join(["?"] * len(statuses))
    sql = f'SELECT customer_id, min(coalesce(paid_at, ordered_at)) FROM "order" WHERE status IN ({marks}) AND customer_id IN ({{in}}) GROUP BY customer_id'  # noqa: S608 - marks only
    out: dict[int, datetime] = {}
    for cid, first in rows_where_in(
        session_reads(session), sql, statuses, sorted(set(customer_ids))
    ):
        if cid is not None and first is not None:
            out[int(cid)] = from_db_time(first)  # type: ignore[assignment]
    return out


def paid_orders_since(
    session: Session, customer_ids: Collection[int], since: datetime, most: int = 50
) -> list[int]:
    """Ids of these customers' paid orders since ``since`` (oldest first, at most ``most``): a
    capability that learns of a customer late looks at what they bought meanwhile."""
    when = sa.func.coalesce(Order.paid_at, Order.ordered_at)
    return [
        int(i)
        for i in session.scalars(
            sa.select(Order.id)
            .where(
                Order.customer_id.in_(list(customer_ids)),
                Order.status.in_(PAID_STATUSES),
                when >= since,
            )
            .order_by(when, Order.id)
            .limit(most)
        )
    ]
