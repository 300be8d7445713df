"""What a message template knows about each customer (``templates.VARIABLES``), loaded for a
whole batch of recipients in a few queries, never one query per message.

A value the pool does not hold is None; the template's missing-variable policy decides what
happens then (a fallback text, or the customer is skipped with the variable as the reason).
"Recommended" is the best seller of the last 90 days in the customer's most-bought category
that they have not bought yet; it is computed only when a template uses it, and the category
best-seller lists are kept for 15 minutes per process.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from collections.abc import Collection, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu.brands.models import Store
from siyu.bulk import chunks
from siyu.customers.models import Customer
from siyu.db import utcnow
from siyu.i18n import in_language
from siyu.orders.models import Order, OrderLine
from siyu.traits.labels import RFM_CLASS_LABELS, STAGE_LABELS
from siyu.traits.models import CustomerTrait

BEST_SELLERS_SECONDS = 900
_best: dict[str, Any] = {"at": 0.0, "by_category": {}}
_best_lock = threading.Lock()


def load_variables(
    session: Session,
    customer_ids: Sequence[int],
    *,
    today: date,
    wanted: Collection[str] | None = None,
) -> dict[int, dict[str, Any]]:
    """Template variables per customer id (``wanted`` narrows the work to what is used)."""
    want = set(wanted) if wanted is not None else None
    out: dict[int, dict[str, Any]] = {cid: {} for cid in customer_ids}
    for part in chunks(list(customer_ids), 500):
        _profiles(session, part, out)
        if want is None or want & {"tier", "stage", "days_since_purchase"}:
            _traits(session, part, out, today)
        if want is None or want & {"last_product", "recommended"}:
            _purchases(session, part, out, recommend=want is None or "recommended" in want)
    return out


def _profiles(session: Session, ids: Sequence[int], out: dict[int, dict[str, Any]]) -> None:
    rows = session.execute(
        sa.select(Customer.id, Customer.name, Customer.city, Customer.province, Store.name)
        .outerjoin(Store, Store.id == Customer.store_id)
        .where(Customer.id.in_(ids))
    )
    for cid, name, city, province, store in rows:
        out[cid].update(name=name, city=city, province=province, store=store)


def _traits(
    session: Session, ids: Sequence[int], out: dict[int, dict[str, Any]], today: date
) -> None:
    rows = session.execute(
        sa.select(
            CustomerTrait.customer_id,
            CustomerTrait.rfm_class,
            CustomerTrait.lifecycle_stage,
            CustomerTrait.last_purchase_on,
        ).where(CustomerTrait.customer_id.in_(ids), CustomerTrait.scope == 0)
    )
    for cid, rfm, stage, last in rows:
        out[cid].update(
            tier=in_language("zh-CN", RFM_CLASS_LABELS[rfm]) if rfm in RFM_CLASS_LABELS else rfm,
            stage=in_language("zh-CN", STAGE_LABELS[stage]) if stage in STAGE_LABELS else stage,
            days_since_purchase=(today - last).days if last else None,
        )


def _purchases(
    session: Session, ids: Sequence[int], out: dict[int, dict[str, Any]], *, recommend: bool
) -> None:
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
        since = (now or utcnow()) - timedelta(days=90)
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
