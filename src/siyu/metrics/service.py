"""The growth overview: the period's numbers beside the period before, revenue decomposed into
buyers × AOV × frequency, new customers by source, retention by acquisition month — read from
the analytical copy, with how fresh the copy is (the screens show it).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu.accounts.service import record_audit
from siyu.analytics.engines import ibis_tables
from siyu.analytics.service import refreshed_at
from siyu.config import Settings
from siyu.metrics import expressions as x
from siyu.metrics.cache import remember
from siyu.metrics.models import AcquisitionSpend
from siyu.metrics.queries import spend_by_source
from siyu.metrics.registry import METRICS

EPOCH = date(1970, 1, 1)
TABLES = ["order", "customer", "event", "customer_trait"]
MAX_DAYS = 3 * 366


class MetricsError(ValueError):
    """A question the metrics cannot answer as asked (dates the wrong way round, too long).
    ``code`` names the reason for the console, which says it in the reader's language; the
    message says it in English (API, CLI)."""

    def __init__(self, message: str, code: str = "", **params: Any) -> None:
        super().__init__(message)
        self.code, self.params = code, params


def set_spend(
    session: Session, source: str, month: str, amount_fen: int, *, actor: str, note: str = ""
) -> AcquisitionSpend:
    """Record (or correct) one source's acquisition spend for a month; audit-logged."""
    if not source.strip() or len(source) > 32:
        raise MetricsError("source: 1–32 characters, as customers' acquisition source")
    try:
        datetime.strptime(month, "%Y-%m")
    except ValueError:
        raise MetricsError(f"month: YYYY-MM, not {month!r}") from None
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
    from siyu.db import utcnow

    today = utcnow().astimezone(settings.tz).date()
    try:
        latest = latest_day(settings)
    except EngineUnavailable:
        latest = None
    end = min(today, latest) if latest else today
    return end - timedelta(days=29), end


def period_of(settings: Settings, start: date, end: date, brand_id: int | None = None) -> x.Period:
    """[start, end] in local days (both included), as expression parameters."""
    if end < start:
        raise MetricsError("the period ends before it starts", "backwards")
    if (end - start).days + 1 > MAX_DAYS:
        raise MetricsError(f"a period of at most {MAX_DAYS} days", "too_long", days=MAX_DAYS)
    offset = datetime(start.year, start.month, start.day, 12, tzinfo=settings.tz).utcoffset()
    return x.Period(
        (start - EPOCH).days,
        (end - EPOCH).days + 1,
        int(offset.total_seconds() // 60) if offset else 0,
        brand_id,
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
    engine: str = "duckdb",
) -> dict[str, Any]:
    """Everything the dashboard's first screen shows, for [start, end] and the period before.
    The copy's aggregates come from the cache while the copy is unchanged (``computed_at`` says
    when they were worked out); spend and reach are read fresh from the database."""
    p = period_of(settings, start, end, brand_id)
    got = remember(
        settings,
        ("overview", 2, engine, p.start, p.end, p.offset_minutes, p.brand_id),
        TABLES,
        lambda: _aggregates(settings, p, engine),
    )
    a = got.value
    now, before = a["now"], a["before"]
    fresh = refreshed_at(settings, TABLES)
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
                    "rule": arrived(r["source"], start, end),
                }
                for r in a["new"]
            ),
            key=lambda r: (-r["customers"], r["source"]),
        ),
        "new_by_store": _by_store(a["stores"], start, end),
        "new_by_live_code": _by_live_code(settings, start, end),
        "retention": _cohorts(a["cohorts"], start, end),
        "by_source": _by_source(a["worth"], start, end),
        "traits": _traits(a["mix"]),
        "lifecycle_flow": _lifecycle_flow(brand_id),
        "reach": reach_summary(settings, start, end),
        "pending": {k: m.pending for k, m in METRICS.items() if m.pending},
        "fresh_as_of": fresh.isoformat() + "Z" if fresh else None,
        "computed_at": got.computed_at.isoformat() + "Z",
        "cached": got.hit,
    }


def _aggregates(settings: Settings, p: x.Period, engine: str) -> dict[str, Any]:
    """The overview's scans of the copy, as plain rows (what the cache keeps)."""
    with ibis_tables(settings.resolved_analytics_path, engine, TABLES) as t:
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


def arrived(source: str, start: date, end: date) -> dict[str, Any]:
    """The drill-down rule of customers from ``source`` first seen in [start, end] (an empty
    source: customers whose source is not known)."""
    by_source = (
        {"field": "source", "op": "=", "value": source}
        if source
        else {"field": "source", "op": "is_empty"}
    )
    seen = {"field": "first_seen", "op": "between", "value": [start.isoformat(), end.isoformat()]}
    return {"all": [by_source, seen]}


def _month_within(cohort: int, start: date, end: date) -> tuple[date, date]:
    """The days of acquisition month ``cohort`` (yyyymm) that lie in [start, end]."""
    first = date(cohort // 100, cohort % 100, 1)
    after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return max(first, start), min(after - timedelta(days=1), end)


def _cohorts(rows: list[dict[str, Any]], start: date, end: date) -> list[dict[str, Any]]:
    """Per acquisition month (all sources together, then each source), rates of 1/7/30 days."""
    by: dict[tuple[int, str | None], list[int]] = {}
    for r in rows:  # each row once under its source, and once under all sources (None)
        for key in ((int(r["cohort"]), None), (int(r["cohort"]), str(r["source"]))):
            acc = by.setdefault(key, [0, 0, 0, 0])
            for i, name in enumerate(("size", "d1", "d7", "d30")):
                acc[i] += int(r[name])
    out = []
    for (cohort, source), (size, d1, d7, d30) in sorted(
        by.items(), key=lambda kv: (kv[0][0], kv[0][1] is not None, kv[0][1] or "")
    ):
        first, last = _month_within(cohort, start, end)
        seen = {"field": "first_seen", "op": "between", "value": [str(first), str(last)]}
        out.append(
            {
                "rule": seen if source is None else arrived(source, first, last),
                "cohort": f"{cohort // 100}-{cohort % 100:02d}",
                "source": source,  # None: all sources; "": source not known
                "customers": size,
                "d1": round(d1 / size, 4),
                "d7": round(d7 / size, 4),
                "d30": round(d30 / size, 4),
            }
        )
    return out


def _by_source(rows: list[dict[str, Any]], start: date, end: date) -> list[dict[str, Any]]:
    """Per acquisition source of the period's new customers: what they have spent to date
    (historic LTV per customer), what acquiring them cost (CAC) and the ratio."""
    from siyu.db import new_session

    with new_session() as session:
        spend = spend_by_source(session, start.strftime("%Y-%m"), end.strftime("%Y-%m"))
    out = []
    for r in rows:
        n, fen = int(r["customers"]), int(r["revenue"])
        ltv = round(fen / n) if n else None
        predicted = round((fen + int(r["expected"])) / n) if n else None
        cost = spend.get(str(r["source"]))
        cac = round(cost / n) if cost is not None and n else None
        out.append(
            {
                "source": r["source"],
                "customers": n,
                "ltv_fen": ltv,
                "predicted_ltv_fen": predicted,
                "spend_fen": cost,
                "cac_fen": cac,
                "ltv_cac": round(ltv / cac, 2) if ltv is not None and cac else None,
                "predicted_ltv_cac": (
                    round(predicted / cac, 2) if predicted is not None and cac else None
                ),
                "rule": arrived(str(r["source"]), start, end),
            }
        )
    return sorted(out, key=lambda r: (r["ltv_cac"] is None, -(r["ltv_cac"] or 0), r["source"]))


def _by_store(rows: list[dict[str, Any]], start: date, end: date) -> list[dict[str, Any]]:
    """The period's new customers per home store (named from the database), biggest first;
    each with the rule that lists them (customers with no store: "—", no drill-down)."""
    from siyu.brands.models import Store
    from siyu.db import new_session

    with new_session() as session:
        stores = {
            i: (c, n) for i, c, n in session.execute(sa.select(Store.id, Store.code, Store.name))
        }
    seen = {"field": "first_seen", "op": "between", "value": [start.isoformat(), end.isoformat()]}
    out = []
    for r in rows:
        code, name = (
            stores.get(r["store_id"], (None, None)) if r["store_id"] is not None else (None, None)
        )
        rule = {"all": [{"field": "store", "op": "=", "value": code}, seen]} if code else None
        out.append(
            {
                "store_id": r["store_id"],
                "code": code,
                "name": name,
                "customers": int(r["customers"]),
                "rule": rule,
            }
        )
    return sorted(out, key=lambda r: (-r["customers"], r["name"] or ""))


def _by_live_code(settings: Settings, start: date, end: date) -> list[dict[str, Any]]:
    """WeCom friends added through each live code in [start, end] (local days)."""
    from siyu.db import new_session
    from siyu.wecom.queries import adds_by_live_code

    lo = datetime.combine(start, datetime.min.time(), settings.tz)
    hi = datetime.combine(end + timedelta(days=1), datetime.min.time(), settings.tz)
    with new_session() as session:
        return adds_by_live_code(session, lo, hi)


def _lifecycle_flow(brand_id: int | None) -> dict[str, Any] | None:
    """Stage moves between the last two recomputes of the brand (or of all brands)."""
    from siyu.db import new_session
    from siyu.traits.queries import lifecycle_flow

    with new_session() as session:
        return lifecycle_flow(session, brand_id or 0)


def reach_summary(settings: Settings, start: date, end: date) -> dict[str, Any]:
    """Reach in [start, end] (local days), from the send ledger: per channel the delivered,
    click and reply rates; the campaigns started in the period with what they earned
    (last-touch revenue, lift against the holdout, cost and ROI; 7-day attribution)."""
    from siyu.db import new_session
    from siyu.reach.queries import campaigns_started, channel_rates
    from siyu.reach.results import campaign_results

    lo = datetime.combine(start, datetime.min.time(), settings.tz)
    hi = datetime.combine(end + timedelta(days=1), datetime.min.time(), settings.tz)
    with new_session() as session:
        channels = channel_rates(session, lo, hi)
        campaigns = []
        for c in campaigns_started(session, lo, hi):
            r = campaign_results(session, c)
            campaigns.append(
                {
                    "id": c.id,
                    "name": c.name,
                    "channel": c.channel,
                    "sent": r["funnel"].get("sent", 0),
                    "replied": r["funnel"].get("replied", 0),
                    "revenue_fen": r["last_touch"]["revenue_fen"] if "last_touch" in r else 0,
                    "incremental_revenue_fen": r.get("incremental_revenue_fen"),
                    "cost_fen": r["cost_fen"],
                    "roi": r["roi"],
                }
            )
    return {"channels": channels, "campaigns": campaigns}


def _traits(mix: list[dict[str, Any]]) -> dict[str, Any]:
    """RFM classes, lifecycle stages and CLV bands of the latest recompute, each item with the
    rule that lists its customers."""
    rfm: dict[str, int] = {}
    stage: dict[str, int] = {}
    band: dict[int, int] = {}
    for r in mix:
        n = int(r["customers"])
        if r["rfm"]:
            rfm[r["rfm"]] = rfm.get(r["rfm"], 0) + n
        if r["stage"]:
            stage[r["stage"]] = stage.get(r["stage"], 0) + n
        if int(r["band"]) >= 0:
            band[int(r["band"])] = band.get(int(r["band"]), 0) + n
    bounds = (None, *x.CLV_BANDS, None)
    bands = []
    for i in range(len(x.CLV_BANDS) + 1):
        lo, hi = bounds[i], bounds[i + 1]
        conds: list[dict[str, Any]] = []
        if lo is not None:
            conds.append({"field": "clv", "op": ">", "value": lo / 100})
        if hi is not None:
            conds.append({"field": "clv", "op": "<=", "value": hi / 100})
        bands.append(
            {
                "low_fen": lo,
                "high_fen": hi,
                "customers": band.get(i, 0),
                "rule": {"all": conds} if len(conds) > 1 else conds[0],
            }
        )
    return {
        "customers": sum(int(r["customers"]) for r in mix),
        "rfm": [
            {"code": k, "customers": v, "rule": {"field": "rfm.class", "op": "=", "value": k}}
            for k, v in sorted(rfm.items(), key=lambda kv: -kv[1])
        ],
        "lifecycle": [
            {"code": k, "customers": v, "rule": {"field": "lifecycle", "op": "=", "value": k}}
            for k, v in sorted(stage.items(), key=lambda kv: -kv[1])
        ],
        "clv": bands,
    }
