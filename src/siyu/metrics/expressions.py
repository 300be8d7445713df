"""The metrics as Ibis expressions over the analytical copy: written once, run on DuckDB (or on
Spark for scale-out). Days are local calendar days as epoch days (the brand's time zone), a
period is [start, end) in those days; everything is integer counting, so engines agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir

from siyu.orders.models import PAID_STATUSES


@dataclass(frozen=True)
class Period:
    start: int  # epoch day, included
    end: int  # epoch day, excluded
    offset_minutes: int = 480  # the local time zone's offset from UTC
    brand_id: int | None = None
    store_id: int | None = None  # only the customers whose home store this is

    def previous(self) -> Period:
        """The period of the same length just before (for Δ)."""
        n = self.end - self.start
        return Period(self.start - n, self.start, self.offset_minutes, self.brand_id, self.store_id)


def scoped(tables: Mapping[str, ir.Table], names: list[str], p: Period) -> dict[str, ir.Table]:
    """The copy's tables narrowed to one store's customers (their home store) when the period
    asks for a store: their profiles, and all their orders, events and traits wherever they
    happened — so every metric below reads a store exactly as it reads the whole brand."""
    out = {name: tables[name] for name in names}
    if p.store_id is None:
        return out
    c = out["customer"] = tables["customer"].filter(tables["customer"].store_id == p.store_id)
    mine = c.select(mine=c.id)
    for name in names:
        if name != "customer":
            t = tables[name]
            out[name] = t.semi_join(mine, t.customer_id == mine.mine)
    return out


def _day(ts: ir.TimestampValue, p: Period) -> ir.IntegerValue:
    return (ts + ibis.interval(minutes=p.offset_minutes)).date().epoch_days().cast("int64")


def paid(orders: ir.Table, p: Period) -> ir.Table:
    """Paid orders: (customer_id, day, net_fen); refunded, cancelled, unpaid ones left out."""
    o = orders.filter(
        orders.status.isin(PAID_STATUSES), orders.customer_id.notnull(), orders.paid_at.notnull()
    )
    if p.brand_id is not None:
        o = o.filter(o.brand_id == p.brand_id)
    return o.select(
        customer_id=o.customer_id.cast("int64"),
        day=_day(o.paid_at, p),
        net_fen=(o.paid_fen - o.refund_fen).cast("int64"),
    )


def activity(bought: ir.Table, events: ir.Table, p: Period) -> ir.Table:
    """(customer_id, day) of every day a customer ordered or did anything."""
    e = events.filter(events.customer_id.notnull())
    acted = e.select(customer_id=e.customer_id.cast("int64"), day=_day(e.occurred_at, p))
    return bought.select("customer_id", "day").union(acted).distinct()


def totals(bought: ir.Table, p: Period) -> ir.Table:
    """One row: buyers, orders, revenue (fen), repeaters (bought on two or more days)."""
    inside = bought.filter(bought.day >= p.start, bought.day < p.end)
    per = inside.group_by("customer_id").aggregate(
        orders=inside.count(), days=inside.day.nunique(), fen=inside.net_fen.sum()
    )
    return per.aggregate(
        buyers=per.count(),
        orders=per.orders.sum().fill_null(0),
        revenue=per.fen.sum().fill_null(0),
        repeaters=(per.days >= 2).cast("int64").sum().fill_null(0),
    )


def active(acted: ir.Table, p: Period) -> ir.IntegerScalar:
    inside = acted.filter(acted.day >= p.start, acted.day < p.end)
    return inside.customer_id.nunique()


def second_purchase_gaps(bought: ir.Table, p: Period) -> ir.Table:
    """(gap days, customers) for customers whose second purchase day falls in the period."""
    before_end = bought.filter(bought.day < p.end)
    # only customers who bought in the period can have their second purchase day in it: the
    # rest reads their histories, not every customer's (a tenth of the rows, at scale)
    inside = before_end.filter(before_end.day >= p.start).select("customer_id").distinct()
    days = (
        before_end.semi_join(inside, before_end.customer_id == inside.customer_id)
        .select("customer_id", "day")
        .distinct()
    )
    firsts = days.group_by("customer_id").aggregate(first=days.day.min())
    later = days.join(firsts, "customer_id")
    later = later.filter(later.day > later.first)
    second = later.group_by("customer_id").aggregate(day=later.day.min(), first=later.first.min())
    second = second.filter(second.day >= p.start, second.day < p.end)
    gaps = second.select(gap=second.day - second.first)
    return gaps.group_by("gap").aggregate(customers=gaps.count())


def _people(customers: ir.Table, p: Period) -> ir.Table:
    c = customers.filter(customers.status == "active")
    first = c.first_seen_at.fill_null(c.created_at)
    local = first + ibis.interval(minutes=p.offset_minutes)
    return c.select(
        customer_id=c.id.cast("int64"),
        source=c.source.fill_null(""),
        day0=_day(first, p),
        cohort=(local.year() * 100 + local.month()).cast("int64"),
    )


def new_by_store(customers: ir.Table, p: Period) -> ir.Table:
    """(store_id, customers) first seen in the period (store_id null: no store)."""
    c = customers.filter(customers.status == "active")
    day0 = _day(c.first_seen_at.fill_null(c.created_at), p)
    inside = c.filter(day0 >= p.start, day0 < p.end)
    return inside.group_by(store_id=inside.store_id.cast("int64")).aggregate(
        customers=inside.count()
    )


def new_by_source(customers: ir.Table, p: Period) -> ir.Table:
    """(source, customers) first seen in the period."""
    people = _people(customers, p)
    inside = people.filter(people.day0 >= p.start, people.day0 < p.end)
    return inside.group_by("source").aggregate(customers=inside.count())


def retention(customers: ir.Table, acted: ir.Table, p: Period) -> ir.Table:
    """Per acquisition month (yyyymm) and source, customers first seen in the period: size and
    how many were active again within 1, 7 and 30 days after that day."""
    people = _people(customers, p)
    people = people.filter(people.day0 >= p.start, people.day0 < p.end)
    j = people.join(acted, people.customer_id == acted.customer_id)
    after = j.filter(j.day > j.day0, j.day <= j.day0 + 30)
    back = after.group_by(after.customer_id).aggregate(first_back=(after.day - after.day0).min())
    full = people.left_join(back, people.customer_id == back.customer_id)
    gap = full.first_back
    return full.group_by(["cohort", "source"]).aggregate(
        size=full.count(),
        d1=(gap <= 1).cast("int64").sum().fill_null(0),
        d7=(gap <= 7).cast("int64").sum().fill_null(0),
        d30=(gap <= 30).cast("int64").sum().fill_null(0),
    )


def cohort_value(customers: ir.Table, bought: ir.Table, traits: ir.Table, p: Period) -> ir.Table:
    """(source, customers, revenue to date, expected spend) for customers first seen in the
    period: their historic value, every paid order since they arrived, and what the latest
    CLV fit expects them to spend in the next 12 months (0 for whoever has no prediction)."""
    people = _people(customers, p)
    people = people.filter(people.day0 >= p.start, people.day0 < p.end)
    spent = bought.group_by("customer_id").aggregate(fen=bought.net_fen.sum())
    t = traits.filter(traits.scope == (p.brand_id or 0))
    ahead = t.select(tid=t.customer_id.cast("int64"), ahead=t.expected_spend_fen)
    j = people.left_join(spent, people.customer_id == spent.customer_id)
    j = j.left_join(ahead, j.customer_id == ahead.tid)
    return j.group_by("source").aggregate(
        customers=j.count(),
        revenue=j.fen.sum().fill_null(0),
        expected=j.ahead.sum().fill_null(0),
    )


# CLV bands in fen (upper bounds, included): 0, ≤100, ≤300, ≤1,000, ≤3,000, ≤10,000 yuan, more.
CLV_BANDS = (0, 10_000, 30_000, 100_000, 300_000, 1_000_000)


def trait_mix(traits: ir.Table, customers: ir.Table, p: Period) -> ir.Table:
    """Per (RFM class, lifecycle stage, CLV band): how many active customers the latest
    recompute put there, for the brand asked (scope 0: all brands together)."""
    t = traits.filter(traits.scope == (p.brand_id or 0))
    alive = customers.filter(customers.status == "active").select(cid=customers.id)
    t = t.join(alive, t.customer_id == alive.cid)
    band: ir.IntegerValue = ibis.literal(len(CLV_BANDS))
    for i in reversed(range(len(CLV_BANDS))):
        band = (t.clv_fen <= CLV_BANDS[i]).ifelse(i, band)
    t = t.mutate(
        rfm=t.rfm_class.fill_null(""),
        stage=t.lifecycle_stage.fill_null(""),
        band=t.clv_fen.isnull().ifelse(-1, band),
    )
    return t.group_by(["rfm", "stage", "band"]).aggregate(customers=t.count())


def funnel(
    customers: ir.Table,
    acted: ir.Table,
    bought: ir.Table,
    events: ir.Table,
    steps: list[dict[str, Any]],
    p: Period,
) -> ir.Table:
    """One row: ``n0`` customers first seen in the period, then ``n1``… those of them who also
    passed every step up to that one — each step an action (any activity, a paid order, a named
    event) on at least ``times`` days within ``from_day``–``to_day`` days of first being seen."""
    people = _people(customers, p)
    people = people.filter(people.day0 >= p.start, people.day0 < p.end)
    e = events.filter(events.customer_id.notnull())
    named = e.select(
        customer_id=e.customer_id.cast("int64"), name=e.name, day=_day(e.occurred_at, p)
    )
    full = people.select("customer_id")
    for i, step in enumerate(steps[1:], start=1):
        if step["kind"] == "event":
            source = named.filter(named.name == step["event"]).select("customer_id", "day")
        else:
            source = bought.select("customer_id", "day") if step["kind"] == "order" else acted
        j = people.join(source, people.customer_id == source.customer_id)
        j = j.filter(j.day >= j.day0 + step["from_day"], j.day <= j.day0 + step["to_day"])
        hit = j.group_by("customer_id").aggregate(days=j.day.nunique())
        hit = hit.filter(hit.days >= step["times"]).select(
            "customer_id", **{f"h{i}": ibis.literal(1)}
        )
        full = full.left_join(hit, "customer_id").select(full, hit[f"h{i}"])
    counts: dict[str, Any] = {"n0": full.count()}
    passed = None
    for i in range(1, len(steps)):
        ok = full[f"h{i}"].notnull()
        passed = ok if passed is None else passed & ok
        counts[f"n{i}"] = passed.cast("int64").sum().fill_null(0)
    return full.aggregate(**counts)
