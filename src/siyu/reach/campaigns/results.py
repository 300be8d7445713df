"""What a campaign earned: conversions within an attribution window, last-touch revenue, and
the incremental lift against the holdout with a 95 % confidence interval, revenue and ROI, per
campaign and per A/B variant.

Lift compares like with like: every targeted customer (sent to or not: intent to treat) against
the held-out ones, each from the moment the campaign reached the ledger, so a customer the
policy skipped counts where they were drawn, as in the holdout. A conversion is a paid order
(not cancelled or refunded; partial refunds net) within the window. Last-touch revenue is what
customers spent within the window after this campaign's message when no later message of any
campaign reached them before the order.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu.accounts.service import Principal
from siyu.bulk import chunks
from siyu.customers.service import only_visible
from siyu.orders.models import Order
from siyu.reach.models import Campaign, SendRow, SendState
from siyu.reach.sending.ledger import campaign_rows

Z95 = 1.959964


@dataclass
class Group:
    customers: int = 0
    converted: int = 0
    revenue: list[int] = field(default_factory=list)  # fen, one value per customer

    def rate(self) -> float:
        return self.converted / self.customers if self.customers else 0.0

    def mean(self) -> float:
        return sum(self.revenue) / self.customers if self.customers else 0.0

    def var(self) -> float:
        if self.customers < 2:
            return 0.0
        m = self.mean()
        return sum((x - m) ** 2 for x in self.revenue) / (self.customers - 1)


def _orders(
    session: Session, customer_ids: list[int], start: datetime, end: datetime
) -> dict[int, list[tuple[datetime, int]]]:
    out: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
    when = sa.func.coalesce(Order.paid_at, Order.ordered_at)
    for part in chunks(customer_ids, 5000):
        rows = session.execute(
            sa.select(Order.customer_id, when, Order.paid_fen - Order.refund_fen).where(
                Order.customer_id.in_(list(part)),
                when >= start,
                when < end,
                Order.status.notin_(("cancelled", "refunded")),
                Order.paid_fen > Order.refund_fen,
            )
        )
        for cid, at, fen in rows:
            if cid is not None and at is not None:
                out[cid].append((at, int(fen)))
    return out


def _later_sends(
    session: Session, campaign_id: int, customer_ids: list[int], start: datetime, end: datetime
) -> dict[int, list[datetime]]:
    out: dict[int, list[datetime]] = defaultdict(list)
    for part in chunks(customer_ids, 5000):
        rows = session.execute(
            sa.select(SendRow.customer_id, SendRow.finished_at).where(
                SendRow.customer_id.in_(list(part)),
                SendRow.campaign_id != campaign_id,
                SendRow.state == SendState.sent,
                SendRow.finished_at >= start,
                SendRow.finished_at < end,
            )
        )
        for cid, at in rows:
            if at is not None:
                out[cid].append(at)
    return out


def _diff(t: Group, h: Group) -> dict[str, Any]:
    """Treatment minus holdout: conversion-rate and revenue-per-customer differences with
    normal-approximation 95 % intervals (Welch for revenue)."""
    if not t.customers or not h.customers:
        return {"lift_pp": None, "lift_ci_pp": None, "incremental_revenue_fen": None}
    p1, p0 = t.rate(), h.rate()
    se = math.sqrt(p1 * (1 - p1) / t.customers + p0 * (1 - p0) / h.customers)
    d_rev = t.mean() - h.mean()
    se_rev = math.sqrt(t.var() / t.customers + h.var() / h.customers)
    return {
        "lift_pp": round(100 * (p1 - p0), 3),
        "lift_ci_pp": [round(100 * (p1 - p0 - Z95 * se), 3), round(100 * (p1 - p0 + Z95 * se), 3)],
        "revenue_per_customer_diff_fen": round(d_rev, 1),
        "incremental_revenue_fen": round(d_rev * t.customers),
        "incremental_revenue_ci_fen": [
            round((d_rev - Z95 * se_rev) * t.customers),
            round((d_rev + Z95 * se_rev) * t.customers),
        ],
    }


def campaign_results(
    session: Session,
    campaign: Campaign,
    *,
    window_days: int = 7,
    now: datetime | None = None,
    principal: Principal | None = None,
) -> dict[str, Any]:
    """The campaign's conversions, last-touch revenue, lift vs holdout, cost and ROI, over the
    customers ``principal`` may see (``None``: everyone it reached)."""
    if not 1 <= window_days <= 90:
        raise ValueError("attribution window: 1–90 days")
    window = timedelta(days=window_days)
    rows = session.execute(
        sa.select(
            SendRow.customer_id,
            SendRow.variant,
            SendRow.state,
            SendRow.created_at,
            SendRow.finished_at,
            SendRow.delivered,
            SendRow.clicked_at,
            SendRow.replied_at,
        ).where(campaign_rows(campaign.id), only_visible(principal, SendRow.customer_id))
    ).all()
    if not rows:  # nothing in the ledger yet (a draft): the same shape, nothing measured
        return {
            "campaign_id": campaign.id,
            "window_days": window_days,
            "funnel": {},
            **_diff(Group(), Group()),
            "cost_fen": 0,
            "roi": None,
            "variants": {},
        }
    start = min(r.created_at for r in rows)
    end = max(r.created_at for r in rows) + window
    ids = sorted({r.customer_id for r in rows})
    orders = _orders(session, ids, start, end)
    others = _later_sends(session, campaign.id, ids, start, end)
    groups: dict[tuple[str, bool], Group] = defaultdict(Group)
    sent = delivered = clicked = replied = 0
    touch_orders = touch_revenue = 0
    for r in rows:
        held = r.state == SendState.held_out
        spent = [
            f
            for at, f in orders.get(r.customer_id, ())
            if r.created_at <= at < r.created_at + window
        ]
        for key in ((r.variant or "", held), ("*", held)):
            g = groups[key]
            g.customers += 1
            g.converted += bool(spent)
            g.revenue.append(sum(spent))
        if r.state != SendState.sent or r.finished_at is None:
            continue
        sent += 1
        delivered += bool(r.delivered)
        clicked += r.clicked_at is not None
        replied += r.replied_at is not None
        for at, fen in orders.get(r.customer_id, ()):
            if r.finished_at <= at < r.finished_at + window and not any(
                r.finished_at < s < at for s in others.get(r.customer_id, ())
            ):
                touch_orders += 1
                touch_revenue += fen
    total_t, total_h = groups[("*", False)], groups[("*", True)]
    cost = sent * campaign.cost_fen_per_message
    lift = _diff(total_t, total_h)
    inc = lift.get("incremental_revenue_fen")
    variants = {
        key: {
            "customers": g.customers,
            "converted": g.converted,
            "conversion_pct": round(100 * g.rate(), 3),
            "revenue_fen": sum(g.revenue),
            **(_diff(g, total_h) if campaign.holdout_pct else {}),
        }
        for (key, held), g in sorted(groups.items())
        if key not in ("*",) and not held and campaign.variants
    }
    return {
        "campaign_id": campaign.id,
        "window_days": window_days,
        "funnel": {
            "targeted": len(rows),
            "held_out": total_h.customers,
            "sent": sent,
            "delivered": delivered,
            "clicked": clicked,
            "replied": replied,
            "converted": total_t.converted,
        },
        "treatment": {
            "customers": total_t.customers,
            "converted": total_t.converted,
            "conversion_pct": round(100 * total_t.rate(), 3),
            "revenue_fen": sum(total_t.revenue),
        },
        "holdout": {
            "customers": total_h.customers,
            "converted": total_h.converted,
            "conversion_pct": round(100 * total_h.rate(), 3),
            "revenue_fen": sum(total_h.revenue),
        },
        "last_touch": {"orders": touch_orders, "revenue_fen": touch_revenue},
        **lift,
        "cost_fen": cost,
        "roi": round((inc - cost) / cost, 3) if cost and inc is not None else None,
        "variants": variants,
    }
