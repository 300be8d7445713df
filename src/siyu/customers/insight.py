"""The customer 360's reading of a person: how they buy (orders summary), what they are
(traits from the last recompute), one line that says it in plain Chinese, and one timeline
of everything they did."""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.brands.models import Store
from siyu.config import get_settings
from siyu.i18n import in_language
from siyu.orders.models import PAID_STATUSES, Order, OrderLine
from siyu.tags.queries import tags_of
from siyu.traits.labels import RFM_CLASS_LABELS, STAGE_LABELS
from siyu.traits.queries import traits_of

TOP = 3


def order_summary(session: Session, customer_id: int) -> dict[str, Any]:
    """First and last paid order, count, net spend, average order value, favourite categories
    (by spend), and where they buy (platforms and stores, by orders)."""
    paid = sa.and_(Order.customer_id == customer_id, Order.status.in_(PAID_STATUSES))
    first, last, n, net = session.execute(
        sa.select(
            sa.func.min(Order.paid_at),
            sa.func.max(Order.paid_at),
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(Order.paid_fen - Order.refund_fen), 0),
        ).where(paid)
    ).one()
    spend = sa.func.sum(OrderLine.amount_fen)
    categories = session.execute(
        sa.select(OrderLine.category, spend)
        .join(Order, Order.id == OrderLine.order_id)
        .where(paid, OrderLine.category.is_not(None))
        .group_by(OrderLine.category)
        .order_by(spend.desc(), OrderLine.category)
        .limit(TOP)
    ).all()
    count = sa.func.count()
    platforms = session.execute(
        sa.select(Order.platform, count).where(paid).group_by(Order.platform).order_by(count.desc())
    ).all()
    stores = session.execute(
        sa.select(Store.name, count)
        .join(Order, Order.store_id == Store.id)
        .where(paid)
        .group_by(Store.name)
        .order_by(count.desc(), Store.name)
        .limit(TOP)
    ).all()
    return {
        "first_order_at": first.isoformat() if first else None,
        "last_order_at": last.isoformat() if last else None,
        "orders": int(n),
        "net_spend_fen": int(net),
        "aov_fen": int(net) // int(n) if n else None,
        "favourite_categories": [{"category": c, "spend_fen": int(s)} for c, s in categories],
        "platforms": [{"platform": p, "orders": int(k)} for p, k in platforms],
        "stores": [{"store": name, "orders": int(k)} for name, k in stores],
    }


def persona(
    city: str | None, overall: dict[str, Any] | None, summary: dict[str, Any], today: date
) -> str:
    """e.g. "上海 · 重要价值客户 · 近30天未购 · 偏好护肤" — city, RFM class, recency, taste."""
    parts = [city] if city else []
    if overall is None:
        parts.append("尚未购买" if not summary["orders"] else "待计算")
    else:
        if overall["rfm_class"]:
            parts.append(in_language("zh-CN", RFM_CLASS_LABELS[overall["rfm_class"]]))
        parts.append(in_language("zh-CN", STAGE_LABELS[overall["lifecycle_stage"]]))
        days = overall["recency_days"]
        if days is None and overall["last_purchase_on"]:  # no purchase within the RFM window
            days = (today - date.fromisoformat(overall["last_purchase_on"])).days
        if days is not None:
            parts.append("近30天有购买" if days < 30 else f"近{30 * (days // 30)}天未购")
    if summary["favourite_categories"]:
        parts.append(f"偏好{summary['favourite_categories'][0]['category']}")
    return " · ".join(parts)


def timeline(orders: list[dict[str, Any]], events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Orders and events in one list, newest first (messages join when reach arrives)."""
    items = [
        {"at": o["paid_at"], "kind": "order", "title": o["order_id"], "ref": o["id"]}
        for o in orders
        if o["paid_at"]
    ] + [
        {"at": e["occurred_at"], "kind": "event", "title": e["name"], "ref": e["id"]}
        for e in events
    ]
    return sorted(items, key=lambda i: i["at"], reverse=True)


def insight(
    session: Session,
    customer_id: int,
    city: str | None,
    summary: dict[str, Any],
    orders: list[dict[str, Any]],
    events: list[dict[str, Any]],
) -> dict[str, Any]:
    """The 360 additions to a customer's detail (``summary`` from ``order_summary``)."""
    traits = traits_of(session, customer_id)
    overall = next((t for t in traits if t["scope"] == 0), None)
    return {
        "tags": tags_of(session, customer_id),
        "orders_summary": summary,
        "traits": traits,
        "persona": persona(city, overall, summary, clock.today(get_settings().tz)),
        "timeline": timeline(orders, events),
    }
