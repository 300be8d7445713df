"""The growth overview: the period's numbers beside the period before, revenue decomposed into
buyers × AOV × frequency, new customers by source, retention by acquisition month — read from
the analytical copy, with how fresh the copy is (the screens show it).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.accounts.service import record_audit
from siyu.analytics.engines import ibis_tables
from siyu.config import Settings
from siyu.metrics import charts
from siyu.metrics import expressions as x
from siyu.metrics.cache import remember
from siyu.metrics.models import AcquisitionSpend
from siyu.metrics.queries import spend_by_source
from siyu.metrics.registry import METRICS
from siyu.refusals import NotFound, Refusal
from siyu.untrusted import FIRST_DAY, LAST_DAY

EPOCH = date(1970, 1, 1)
TABLES = ["order", "customer", "event", "customer_trait"]
MAX_DAYS = 3 * 366


class MetricsError(Refusal):
    """A question the metrics cannot answer as asked (dates the wrong way round, too long);
    ``code`` is a short machine word for the reason (``backwards``, ``no_store``, …)."""

    def __init__(self, template: str, code: str = "", /, **params: Any) -> None:
        super().__init__(template, **params)
        self.code = code


class NoSuchStore(MetricsError, NotFound):
    """The store filter names no store."""


def set_spend(
    session: Session, source: str, month: str, amount_fen: int, *, actor: str, note: str = ""
) -> AcquisitionSpend:
    """Record (or correct) one source's acquisition spend for a month; audit-logged."""
    if not source.strip() or len(source) > 32:
        raise MetricsError("source: 1–32 characters, as customers' acquisition source")
    try:
        datetime.strptime(month, "%Y-%m")
    except ValueError:
        raise MetricsError("month: YYYY-MM, not {month!r}", month=month) from None
    if amount_fen < 0:
        raise MetricsError("spend: 0 or more")
    row = session.scalar(
        sa.select(AcquisitionSpend).where(
            AcquisitionSpend.source == source, AcquisitionSpend.month == month
        )
    )
    if row is None:
        row = AcquisitionSpend(source=source, month=month, amount_fen=amount_fen, recorded_by=actor)
        session.add(row)
    row.amount_fen, row.note, row.recorded_by = amount_fen, note[:200], actor
    record_audit(
        session,
        actor,
        "metrics.spend",
        "acquisition_spend",
        f"{source}/{month}",
        {"fen": amount_fen},
    )
    return row


def latest_day(settings: Settings) -> date | None:
    """The last local day the copy has a paid order or a new customer on (None: neither yet),
    so a screen opened on data that stops in the past shows its last 30 days, not an empty
    month."""
    with ibis_tables(settings.resolved_analytics_path, "duckdb", ["order", "customer"]) as t:
        c = t["customer"]
        found = [
            t["order"].paid_at.max().to_pyarrow().as_py(),
            c.first_seen_at.fill_null(c.created_at).max().to_pyarrow().as_py(),
        ]
    days = [v.replace(tzinfo=UTC).astimezone(settings.tz).date() for v in found if v is not None]
    return max(days) if days else None


def default_range(settings: Settings) -> tuple[date, date]:
    """The range a screen shows when none is asked: the 30 days up to today or — when the data
    stops earlier (an export loaded last month, the demo) — up to the last day with orders."""
    from siyu.analytics.engines import EngineUnavailable

    today = clock.now().astimezone(settings.tz).date()
    try:
        latest = latest_day(settings)
    except EngineUnavailable:
        latest = None
    end = min(today, latest) if latest else today
    return end - timedelta(days=29), end


def period_of(
    settings: Settings,
    start: date,
    end: date,
    brand_id: int | None = None,
    store_id: int | None = None,
) -> x.Period:
    """[start, end] in local days (both included), as expression parameters. Days outside the
    years the product keeps data for are refused: near the ends of the calendar a day's
    midnight in Shanghai, or the day after the period, is no Python date (those were 500s)."""
    if not (FIRST_DAY <= start <= LAST_DAY and FIRST_DAY <= end <= LAST_DAY):
        raise MetricsError(
            "Days from {first} to {last}.", "out_of_range", first=FIRST_DAY, last=LAST_DAY
        )
    if end < start:
        raise MetricsError("The period ends before it starts: swap the dates.", "backwards")
    if (end - start).days + 1 > MAX_DAYS:
        raise MetricsError("A period of at most {days} days.", "too_long", days=MAX_DAYS)
    offset = datetime(start.year, start.month, start.day, 12, tzinfo=settings.tz).utcoffset()
    return x.Period(
        (start - EPOCH).days,
        (end - EPOCH).days + 1,
        int(offset.total_seconds() // 60) if offset else 0,
        brand_id,
        store_id,
    )


def _kpis(t: dict[str, Any], p: x.Period) -> dict[str, float | int | None]:
    bought = x.paid(t["order"], p)
    row = x.totals(bought, p).to_pyarrow().to_pylist()[0]
    acted = x.activity(bought, t["event"], p)
    buyers, orders, revenue = int(row["buyers"]), int(row["orders"]), int(row["revenue"])
    gaps = x.second_purchase_gaps(bought, p).to_pyarrow().to_pylist()
    new = x.new_by_source(t["customer"], p).to_pyarrow().to_pylist()
    return {
        "new_customers": sum(int(r["customers"]) for r in new),
        "active_customers": int(x.active(acted, p).to_pyarrow().as_py() or 0),
        "buyers": buyers,
        "orders": orders,
        "revenue": revenue,
        "aov": round(revenue / orders) if orders else None,
        "frequency": round(orders / buyers, 4) if buyers else None,
        "repurchase_rate": round(int(row["repeaters"]) / buyers, 4) if buyers else None,
        "days_to_second": median({int(r["gap"]): int(r["customers"]) for r in gaps}),
    }


def median(counts: dict[int, int]) -> float | None:
    """The median of values given as value → how many (the lower and upper middle averaged)."""
    n = sum(counts.values())
    if not n:
        return None
    lo, hi = (n - 1) // 2, n // 2
    seen, found = 0, []
    for value in sorted(counts):
        for k in (lo, hi):
            if seen <= k < seen + counts[value]:
                found.append(value)
        seen += counts[value]
    return sum(found) / 2


def _delta(now: float | int | None, before: float | int | None) -> float | None:
    if now is None or before is None or before == 0:
        return None
    return round((now - before) / before, 4)


def overview(
    settings: Settings,
    start: date,
    end: date,
    *,
    brand_id: int | None = None,
    store_id: int | None = None,
    engine: str = "duckdb",
) -> dict[str, Any]:
    """Everything the dashboard's first screen shows, for [start, end] and the period before.
    The copy's aggregates come from the cache while the copy is unchanged (``computed_at`` says
    when they were worked out); spend and reach are read fresh from the database.

    ``store_id`` narrows the copy's numbers and the live-code adds to the customers whose home
    store it is; spend, the lifecycle flow and reach stay brand-wide (``store_wide`` names
    them, so the page can say so)."""
    p = period_of(settings, start, end, brand_id, store_id)
    known_store(store_id)
    got = remember(
        settings,
        ("overview", 3, engine, p.start, p.end, p.offset_minutes, p.brand_id, p.store_id),
        TABLES,
        lambda: _aggregates(settings, p, engine),
    )
    a, db = got.value, _from_database(settings, start, end, brand_id, store_id)
    referral = None if store_id else _referral(settings, start, end, p, engine)
    now, before = a["now"], a["before"]
    fresh = got.fresh
    kpis = {
        key: {"value": now[key], "previous": before[key], "delta": _delta(now[key], before[key])}
        for key in now
    }
    days = p.end - p.start
    return {
        "period": {"start": start.isoformat(), "end": end.isoformat(), "days": days},
        "previous": {
            "start": (start - timedelta(days=days)).isoformat(),
            "end": (start - timedelta(days=1)).isoformat(),
        },
        "brand_id": brand_id,
        "store_id": store_id,
        "store_wide": ["cac", "lifecycle_flow", "reach", "loyalty", "referral", "nps"]
        if store_id
        else [],
        "kpis": kpis,
        "decomposition": {
            "revenue": now["revenue"],
            "buyers": now["buyers"],
            "aov": now["aov"],
            "frequency": now["frequency"],
            "change": {k: kpis[k]["delta"] for k in ("revenue", "buyers", "aov", "frequency")},
        },
        "new_by_source": sorted(
            (
                {
                    "source": r["source"],
                    "customers": int(r["customers"]),
                    "rule": charts.arrived(r["source"], start, end),
                }
                for r in a["new"]
            ),
            key=lambda r: (-r["customers"], r["source"]),
        ),
        "new_by_store": charts.by_store(a["stores"], db["stores"], start, end),
        "new_by_live_code": db["live_codes"],
        "retention": charts.cohorts(a["cohorts"], start, end),
        # spend is entered per source for the whole brand: no CAC for one store's share of it
        "by_source": charts.by_source(a["worth"], {} if store_id else db["spend"], start, end),
        "traits": charts.traits(a["mix"]),
        "lifecycle_flow": db["flow"],
        "reach": db["reach"],
        "loyalty": db["loyalty"],
        "referral": referral,
        "nps": db["nps"],
        "pending": {k: m.pending for k, m in METRICS.items() if m.pending},
        "fresh_as_of": fresh.isoformat() + "Z" if fresh else None,
        "computed_at": got.computed_at.isoformat() + "Z",
        "cached": got.hit,
    }


def _referral(
    settings: Settings, start: date, end: date, p: x.Period, engine: str
) -> dict[str, Any] | None:
    """Referral's figures (K-factor per cohort, cycle time, revenue, fraud rate) from the copy,
    cached as the rest; None while no programme runs referral (nothing to show)."""
    from siyu.db import new_session
    from siyu.growth import figures
    from siyu.growth.queries import any_referral_programme

    with new_session() as session:
        if not any_referral_programme(session):
            return None
    lo, hi = local_bounds(settings, start, end)

    def compute() -> dict[str, Any]:
        with ibis_tables(settings.resolved_analytics_path, engine, figures.TABLES) as copy:
            return figures.referral_figures(
                copy, lo, hi, offset_minutes=p.offset_minutes, brand_id=p.brand_id
            )

    question = ("referral", 1, engine, p.start, p.end, p.offset_minutes, p.brand_id)
    return dict(remember(settings, question, figures.TABLES, compute).value)


def _aggregates(settings: Settings, p: x.Period, engine: str) -> dict[str, Any]:
    """The overview's scans of the copy, as plain rows (what the cache keeps)."""
    with ibis_tables(settings.resolved_analytics_path, engine, TABLES) as copy:
        t = x.scoped(copy, TABLES, p)
        bought = x.paid(t["order"], p)
        acted = x.activity(bought, t["event"], p)
        return {
            "now": _kpis(t, p),
            "before": _kpis(t, p.previous()),
            "new": x.new_by_source(t["customer"], p).to_pyarrow().to_pylist(),
            "stores": x.new_by_store(t["customer"], p).to_pyarrow().to_pylist(),
            "cohorts": x.retention(t["customer"], acted, p).to_pyarrow().to_pylist(),
            "worth": x.cohort_value(t["customer"], bought, t["customer_trait"], p)
            .to_pyarrow()
            .to_pylist(),
            "mix": x.trait_mix(t["customer_trait"], t["customer"], p).to_pyarrow().to_pylist(),
        }


def _from_database(
    settings: Settings, start: date, end: date, brand_id: int | None, store_id: int | None
) -> dict[str, Any]:
    """What the overview reads from the database on every view (spend, stores, live-code adds,
    the lifecycle flow, reach), in one session."""
    from siyu.brands.models import Store
    from siyu.db import new_session
    from siyu.loyalty.figures import summary as loyalty_summary
    from siyu.traits.queries import lifecycle_flow
    from siyu.wecom.queries import adds_by_live_code

    lo, hi = local_bounds(settings, start, end)
    with new_session() as session:
        return {
            "spend": spend_by_source(session, start.strftime("%Y-%m"), end.strftime("%Y-%m")),
            "stores": {
                i: (c, n)
                for i, c, n in session.execute(sa.select(Store.id, Store.code, Store.name))
            },
            "live_codes": adds_by_live_code(session, lo, hi, store_id),
            "flow": lifecycle_flow(session, brand_id or 0),
            "loyalty": loyalty_summary(session, lo, hi, brand_id),
            "nps": _nps(session, lo, hi, brand_id),
            "reach": reach_summary(settings, start, end, session),
        }


def _nps(session: Session, lo: datetime, hi: datetime, brand_id: int | None) -> Any:
    """NPS of the period's survey answers with its months (None: nobody answered one)."""
    from siyu.growth.forms.nps import nps_summary

    got = nps_summary(session, lo, hi, brand_id)
    return got if got["answered"] or got["skipped"] else None


def known_store(store_id: int | None) -> None:
    """Refuse a store filter naming no store (a typo must not show an empty brand)."""
    if store_id is None:
        return
    from siyu.brands.models import Store
    from siyu.db import new_session

    with new_session() as session:
        if session.get(Store, store_id) is None:
            raise NoSuchStore(
                "There is no store with id {id}; pick one from the list.", "no_store", id=store_id
            )


def local_bounds(settings: Settings, start: date, end: date) -> tuple[datetime, datetime]:
    """[start, end] in local days as the instants [first midnight, midnight after the last)."""
    lo = datetime.combine(start, datetime.min.time(), settings.tz)
    return lo, datetime.combine(end + timedelta(days=1), datetime.min.time(), settings.tz)


def reach_summary(
    settings: Settings, start: date, end: date, session: Session | None = None
) -> dict[str, Any]:
    """Reach in [start, end] (local days), from the send ledger: per channel the delivered,
    click and reply rates; the campaigns started in the period with what they earned
    (last-touch revenue, lift against the holdout, cost and ROI; 7-day attribution). A
    customer-group campaign's ``sent`` counts the groups it reached (``sent_unit``)."""
    from siyu.db import new_session
    from siyu.reach.campaigns.queries import campaigns_started, channel_rates, groups_sent
    from siyu.reach.campaigns.results import campaign_results

    if session is None:
        with new_session() as own:
            return reach_summary(settings, start, end, own)
    lo, hi = local_bounds(settings, start, end)
    channels = channel_rates(session, lo, hi)
    campaigns = []
    for c in campaigns_started(session, lo, hi):
        r = campaign_results(session, c)
        groups = c.channel == "wecom_group"  # sent to groups: its ledger counts groups
        campaigns.append(
            {
                "id": c.id,
                "name": c.name,
                "channel": c.channel,
                "sent": groups_sent(session, c.id) if groups else r["funnel"].get("sent", 0),
                "sent_unit": "group" if groups else "customer",
                "replied": r["funnel"].get("replied", 0),
                "revenue_fen": r["last_touch"]["revenue_fen"] if "last_touch" in r else 0,
                "incremental_revenue_fen": r.get("incremental_revenue_fen"),
                "cost_fen": r["cost_fen"],
                "roi": r["roi"],
            }
        )
    return {"channels": channels, "campaigns": campaigns}
