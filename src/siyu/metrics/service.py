"""The growth overview: the period's numbers beside the period before, revenue decomposed into
buyers × AOV × frequency, new customers by source, retention by acquisition month — read from
the analytical copy, with how fresh the copy is (the screens show it).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from siyu.analytics.engines import ibis_tables
from siyu.analytics.service import refreshed_at
from siyu.config import Settings
from siyu.metrics import expressions as x
from siyu.metrics.registry import METRICS

EPOCH = date(1970, 1, 1)
TABLES = ["order", "customer", "event"]
MAX_DAYS = 3 * 366


class MetricsError(ValueError):
    """A question the metrics cannot answer as asked (dates the wrong way round, too long)."""


def period_of(settings: Settings, start: date, end: date, brand_id: int | None = None) -> x.Period:
    """[start, end] in local days (both included), as expression parameters."""
    if end < start:
        raise MetricsError("the period ends before it starts")
    if (end - start).days + 1 > MAX_DAYS:
        raise MetricsError(f"a period of at most {MAX_DAYS} days")
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
    """Everything the dashboard's first screen shows, for [start, end] and the period before."""
    p = period_of(settings, start, end, brand_id)
    with ibis_tables(settings.resolved_analytics_path, engine, TABLES) as t:
        now, before = _kpis(t, p), _kpis(t, p.previous())
        bought = x.paid(t["order"], p)
        acted = x.activity(bought, t["event"], p)
        new = x.new_by_source(t["customer"], p).to_pyarrow().to_pylist()
        cohorts = x.retention(t["customer"], acted, p).to_pyarrow().to_pylist()
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
            ({"source": r["source"], "customers": int(r["customers"])} for r in new),
            key=lambda r: (-r["customers"], r["source"]),
        ),
        "retention": _cohorts(cohorts),
        "pending": {k: m.pending for k, m in METRICS.items() if m.pending},
        "fresh_as_of": fresh.isoformat() + "Z" if fresh else None,
    }


def _cohorts(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per acquisition month (all sources together, then each source), rates of 1/7/30 days."""
    by: dict[tuple[int, str], list[int]] = {}
    for r in rows:
        for key in ((int(r["cohort"]), ""), (int(r["cohort"]), str(r["source"]))):
            acc = by.setdefault(key, [0, 0, 0, 0])
            for i, name in enumerate(("size", "d1", "d7", "d30")):
                acc[i] += int(r[name])
    out = []
    for (cohort, source), (size, d1, d7, d30) in sorted(by.items()):
        out.append(
            {
                "cohort": f"{cohort // 100}-{cohort % 100:02d}",
                "source": source or None,
                "customers": size,
                "d1": round(d1 / size, 4),
                "d7": round(d7 / size, 4),
                "d30": round(d30 / size, 4),
            }
        )
    return out
