"""Referral's figures, on the analytical copy (Ibis: DuckDB here, Spark for scale-out): the
K-factor per monthly cohort with its parts, the cycle time, referral revenue and the fraud rate.

Definitions (each with a hand-computed test, ``tests/integration/test_growth_figures.py``):

- a **cohort** is the members who joined a programme in one local calendar month; a period
  that starts inside a month counts cohorts from the next month's first day (a part of a month
  is not a cohort; a period's last month may still be under way);
- its **K-factor** = invitees attributed to its members (counted: after the fraud checks) who
  arrived within 30 days of their referrer's join ÷ the cohort's size; shown with its parts
  **i** = visits to the cohort's referral links in those 30 days ÷ the cohort's size and
  **c** = those attributed ÷ those visits (an arrival by WeCom or an order is not a visit, so
  i × c is K only when every arrival came through a link);
- **cycle time** = the median of days from a referrer's join to their invitee's arrival, over
  the counted referrals that arrived in the period;
- **referral revenue** = what counted invitees paid (net of refunds) in the period, for orders
  paid after they arrived — under the profile they were merged into since (following up to
  three merges), and for a brand's figures only the brand's orders;
- **fraud rate** = referrals that arrived in the period with any fraud reason (void or sent to
  review by a rule; an operator's approval does not clear the reason) ÷ all that arrived.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir

from siyu.i18n import N_
from siyu.metrics.registry import Metric
from siyu.orders.queries import PAID_STATUSES

WINDOW_DAYS = 30
TABLES = [
    "customer",
    "loyalty_member",
    "loyalty_programme",
    "referral",
    "referral_visit",
    "referral_code",
    "order",
]

METRICS = (
    Metric(
        "k_factor",
        N_("K-factor"),
        "ratio",
        N_(
            "Per monthly cohort of new members: invitees attributed to them (after the fraud checks) within 30 days of their joining ÷ the cohort's size; shown with i = link visits per member and c = attributed ÷ visits."
        ),
    ),
    Metric(
        "referral_cycle_days",
        N_("Referral cycle time"),
        "days",
        N_("Median days from a referrer's joining to their invitee's arrival (counted referrals)."),
    ),
    Metric(
        "referral_revenue",
        N_("Referral revenue"),
        "fen",
        N_("What counted invitees paid in the period (net of refunds), after they arrived."),
    ),
    Metric(
        "referral_fraud_rate",
        N_("Referral fraud rate"),
        "ratio",
        N_("Referrals that arrived in the period with a fraud reason ÷ all that arrived."),
    ),
)


def _local(ts: ir.TimestampValue, offset_minutes: int) -> ir.TimestampValue:
    return ts + ibis.interval(minutes=offset_minutes)


def _month(ts: ir.TimestampValue, offset_minutes: int) -> ir.IntegerValue:
    local = _local(ts, offset_minutes)
    return (local.year() * 100 + local.month()).cast("int64")


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def referral_figures(
    tables: dict[str, Any],
    start: datetime,
    end: datetime,
    *,
    offset_minutes: int = 480,
    brand_id: int | None = None,
) -> dict[str, Any]:
    """The referral figures for [start, end) (instants; cohorts are the local months that
    begin inside it) from the copy's tables, in a handful of scans."""
    # the copy keeps UTC instants without a zone
    lo = ibis.literal(start.astimezone(UTC).replace(tzinfo=None))
    first_month = ibis.literal(_month_start_after(start, offset_minutes))
    hi = ibis.literal(end.astimezone(UTC).replace(tzinfo=None))
    programmes = tables["loyalty_programme"]
    if brand_id is not None:
        programmes = programmes.filter(
            (programmes.brand_id == brand_id) | programmes.brand_id.isnull()
        )
    ids = programmes.select(pid=programmes.id)
    members = tables["loyalty_member"]
    members = members.semi_join(ids, members.programme_id == ids.pid)
    cohort = members.filter((members.joined_at >= first_month) & (members.joined_at < hi)).select(
        member_id=members.id,
        joined_at=members.joined_at,
        month=_month(members.joined_at, offset_minutes),
    )
    sizes = cohort.group_by("month").aggregate(members=cohort.count())
    window = ibis.interval(days=WINDOW_DAYS)
    referrals = tables["referral"]
    referrals = referrals.semi_join(ids, referrals.programme_id == ids.pid)
    counted = referrals.filter(referrals.status == "attributed")
    won = counted.join(cohort, counted.referrer_id == cohort.member_id).filter(
        lambda t: t.arrived_at < t.joined_at + window
    )
    attributed = won.group_by("month").aggregate(attributed=won.count())
    codes = tables["referral_code"]
    visits = tables["referral_visit"]
    seen = (
        visits.join(codes, visits.code_id == codes.id)
        .join(cohort, codes.member_id == cohort.member_id)
        .filter(lambda t: (t.at >= t.joined_at) & (t.at < t.joined_at + window))
    )
    opened = seen.group_by("month").aggregate(visits=seen.count())
    rows = sizes.left_join(attributed, sizes.month == attributed.month).select(
        sizes.month, sizes.members, attributed=attributed.attributed.fill_null(0)
    )
    rows = (
        rows.left_join(opened, rows.month == opened.month)
        .select(rows.month, rows.members, rows.attributed, visits=opened.visits.fill_null(0))
        .order_by("month")
    )
    cohorts = []
    for r in rows.to_pyarrow().to_pylist():
        size, got, seen_n = int(r["members"]), int(r["attributed"]), int(r["visits"])
        cohorts.append(
            {
                "month": f"{r['month'] // 100:04d}-{r['month'] % 100:02d}",
                "members": size,
                "visits": seen_n,
                "attributed": got,
                "i": _ratio(seen_n, size),
                "c": _ratio(got, seen_n),
                "k_factor": _ratio(got, size),
            }
        )
    arrived = referrals.filter((referrals.arrived_at >= lo) & (referrals.arrived_at < hi))
    days = (
        arrived.arrived_at.epoch_seconds() - arrived.referrer_joined_at.epoch_seconds()
    ) / 86400.0
    counted_here = arrived.filter(arrived.status == "attributed")
    cycle_days = (
        (counted_here.arrived_at.epoch_seconds() - counted_here.referrer_joined_at.epoch_seconds())
        / 86400.0
    ).median()
    flagged = (arrived.reasons.length() > 2).cast("int64")  # a JSON list with something in it
    totals = arrived.aggregate(
        referrals=arrived.count(), flagged=flagged.sum().fill_null(0), mean_days=days.mean()
    )
    orders = tables["order"]
    paid = orders.filter(
        orders.status.isin(PAID_STATUSES)
        & orders.customer_id.notnull()
        & (orders.paid_at >= lo)
        & (orders.paid_at < hi)
    )
    if brand_id is not None:
        paid = paid.filter(paid.brand_id == brand_id)
    under = _now_under(tables["customer"], counted)
    # two invitees merged into one person are one buyer: their orders count once, from the
    # first arrival
    buyers = under.group_by("buyer").aggregate(arrived_at=under.arrived_at.min())
    money = paid.join(buyers, paid.customer_id == buyers.buyer).filter(
        lambda t: t.paid_at >= t.arrived_at
    )
    revenue = money.aggregate(fen=(money.paid_fen - money.refund_fen).sum().fill_null(0))
    t = totals.to_pyarrow().to_pylist()[0]
    cycle = cycle_days.to_pyarrow().as_py()
    n_ref, n_flag = int(t["referrals"] or 0), int(t["flagged"] or 0)
    return {
        "cohorts": cohorts,
        "cycle_days": round(float(cycle), 2) if cycle is not None else None,
        "referrals": n_ref,
        "flagged": n_flag,
        "fraud_rate": _ratio(n_flag, n_ref),
        "revenue_fen": int(revenue.to_pyarrow().to_pylist()[0]["fen"] or 0),
    }


def _month_start_after(start: datetime, offset_minutes: int) -> datetime:
    """The first local month start at or after ``start``, as a naive UTC instant (the copy's)."""
    shift = timedelta(minutes=offset_minutes)
    local = start.astimezone(UTC).replace(tzinfo=None) + shift
    first = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if first < local:
        first = (first + timedelta(days=32)).replace(day=1)
    return first - shift


def _now_under(customers: ir.Table, counted: ir.Table) -> ir.Table:
    """Counted referrals with ``buyer``: the profile the invitee's orders are under now (a merge
    moves the orders to the profile kept), following up to three merges."""
    steps = customers.select(cid=customers.id, into=customers.merged_into_id)
    out = counted.mutate(buyer=counted.invitee_id)
    for _ in range(3):
        joined = out.left_join(steps, out.buyer == steps.cid)
        out = joined.mutate(buyer=joined.into.fill_null(joined.buyer)).drop("cid", "into")
    return out


def local_range(start: date, end: date, tz: Any) -> tuple[datetime, datetime]:
    """[start, end] in local days as instants [first midnight, midnight after the last)."""
    lo = datetime.combine(start, time.min, tz)
    return lo, datetime.combine(end + timedelta(days=1), time.min, tz)
