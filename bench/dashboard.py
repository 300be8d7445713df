"""Dashboard benchmark (issue: console and growth metrics): the overview page's server time at
1M customers / 10M orders, against hand-written DuckDB SQL for its headline numbers, same run.

1. Data: a folder built by bench/traits.py or bench/segments.py (--data-dir), or generated and
   loaded here the same way (the demo generator, about 10 orders per customer). Traits are
   recomputed if there are none; the analytical copy is refreshed.
2. The overview service for the last 30 days of data (KPIs against the 30 days before, revenue
   decomposition, new customers by source, retention cohorts, LTV/CAC by source, RFM,
   lifecycle and CLV bands): median of 5 runs with the cache cleared before each, then
   median of 5 with the copy unchanged (the cached aggregates; the answer must be the same).
3. The page itself: GET /dashboard as a logged-in analyst, in process (server time, rendering
   and the AARRR funnel included), median of 5 runs uncached and 5 cached; target < 1.5 s.
4. Baseline: the period's buyers, orders, revenue and repeat buyers, and new customers by
   source, for both periods, written by hand as DuckDB SQL on the same copy (median of 5); the
   numbers must agree with the overview's.

Usage: python bench/dashboard.py --data-dir DIR [--customers 1000000] [--orders-per-customer 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Asia/Shanghai")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--orders-per-customer", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    work = args.data_dir or Path(tempfile.mkdtemp(prefix="siyu-bench-dashboard-"))
    os.environ.update(
        SIYU_DATA_DIR=str(work / "var"),
        SIYU_SECRET_KEY="bench-secret-key-not-for-production-use",
        SIYU_MODE="production",
        SIYU_DATABASE_URL=f"sqlite:///{work / 'var' / 'siyu.db'}",
    )
    sys.path.insert(0, str(Path(__file__).parent))
    from siyu.config import get_settings
    from siyu.db import get_engine
    from siyu.migrations.runner import upgrade

    settings = get_settings()
    upgrade(settings.resolved_database_url)
    engine = get_engine()
    if not (work / "loaded.ok").exists():
        from traits import load  # the same generator and loader as bench/traits.py

        load(work, args.customers, args.seed, args.orders_per_customer)
        (work / "loaded.ok").write_text("ok")
    last = prepare(engine, settings)
    start, end = last - timedelta(days=29), last
    print(f"period {start} – {end} (the last 30 days of the data)", flush=True)

    from siyu.metrics.cache import clear
    from siyu.metrics.service import overview

    def cold() -> Any:
        clear(settings)  # every run works the aggregates out again
        return overview(settings, start, end)

    ours_s, data = timed(cold)
    cached_s, again = timed(lambda: overview(settings, start, end))
    page_s, status = timed(lambda: (clear(settings), page(start, end))[1])
    page(start, end)
    page_cached_s, status_cached = timed(lambda: page(start, end))
    store = busiest_store(engine)
    store_s, _ = timed(lambda: (clear(settings), page(start, end, store))[1])
    page(start, end, store)
    store_cached_s, _ = timed(lambda: page(start, end, store))
    sql_s, sql = timed(lambda: hand_sql(settings, start, end))
    k = data["kpis"]
    mine = {
        "buyers": (k["buyers"]["value"], k["buyers"]["previous"]),
        "orders": (k["orders"]["value"], k["orders"]["previous"]),
        "revenue": (k["revenue"]["value"], k["revenue"]["previous"]),
        "new": (k["new_customers"]["value"], k["new_customers"]["previous"]),
        "by_source": {r["source"]: r["customers"] for r in data["new_by_source"]},
    }
    agree = mine == sql and again["cached"] and _same(again, data)
    print(
        f"overview service : {ours_s:.3f}s uncached (median of 5; {k['buyers']['value']:,} "
        f"buyers, {k['orders']['value']:,} orders, revenue ¥{k['revenue']['value'] / 100:,.0f})",
        flush=True,
    )
    print(f"overview cached  : {cached_s:.3f}s (median of 5, the copy unchanged)", flush=True)
    print(f"dashboard page   : {page_s:.3f}s server time uncached, HTTP {status}")
    print(
        f"dashboard page   : {page_cached_s:.3f}s server time cached, HTTP {status_cached} "
        "(target < 1.5 s)"
    )
    print(
        f"one store's page : {store_s:.3f}s uncached, {store_cached_s:.3f}s cached "
        f"(store {store}, the one with most home customers)"
    )
    print(
        f"hand-written SQL : {sql_s:.3f}s for the headline numbers only → the overview takes "
        f"{ours_s / sql_s:.2f}× uncached, {cached_s / sql_s:.2f}× cached (it also computes "
        f"retention, LTV/CAC, gaps and traits); numbers "
        f"{'agree' if agree else 'DISAGREE: ' + repr((mine, sql))}",
        flush=True,
    )


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """The cached answer equals the one worked out (apart from when and whether cached)."""
    skip = {"computed_at", "cached", "fresh_as_of"}
    return {k: v for k, v in a.items() if k not in skip} == {
        k: v for k, v in b.items() if k not in skip
    }


def prepare(engine: Any, settings: Any) -> date:
    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    from siyu.analytics.service import refresh_copy
    from siyu.orders.models import Order
    from siyu.traits.models import CustomerTrait
    from siyu.traits.service import recompute

    with Session(engine) as s:
        newest = s.scalar(sa.select(sa.func.max(Order.paid_at)))
        has_traits = s.scalar(sa.select(CustomerTrait.id).limit(1)) is not None
    last = newest.replace(tzinfo=UTC).astimezone(TZ).date()
    t0 = time.perf_counter()
    report = refresh_copy(settings)
    print(f"copy refreshed in {time.perf_counter() - t0:.1f}s  rows {report.rows}", flush=True)
    if not has_traits:
        t0 = time.perf_counter()
        recompute(engine, settings, reference_date=last, actor="bench")
        print(f"traits recomputed in {time.perf_counter() - t0:.0f}s", flush=True)
    return last


def busiest_store(engine: Any) -> int | None:
    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    from siyu.customers.models import Customer

    with Session(engine) as s:
        return s.scalar(
            sa.select(Customer.store_id)
            .where(Customer.store_id.is_not(None))
            .group_by(Customer.store_id)
            .order_by(sa.func.count().desc())
            .limit(1)
        )


def page(start: date, end: date, store: int | None = None) -> int:
    from fastapi.testclient import TestClient

    global _client
    if _client is None:
        from siyu.accounts.service import create_user
        from siyu.app import create_app
        from siyu.config import get_settings
        from siyu.db import session_scope

        with session_scope() as s:
            from siyu.accounts.models import User

            if s.query(User).filter_by(username="bench-analyst").first() is None:
                create_user(s, get_settings(), "bench-analyst", "bench-password-2026", "analyst")
        _client = TestClient(create_app())
        _client.__enter__()
        r = _client.post(
            "/login", data={"username": "bench-analyst", "password": "bench-password-2026"}
        )
        assert r.status_code == 200, r.text[:300]
    also = f"&store={store}" if store else ""
    r = _client.get(f"/dashboard?start={start}&end={end}{also}")
    assert "kpi-revenue" in r.text, r.text[:500]
    return r.status_code


_client: Any = None


def hand_sql(settings: Any, start: date, end: date) -> dict[str, Any]:
    """Buyers, orders, revenue and new customers for the period and the one before, and new
    customers by source, as one would write them in DuckDB SQL."""
    import duckdb

    def utc(day: date) -> datetime:
        return datetime.combine(day, dtime(0), TZ).astimezone(UTC).replace(tzinfo=None)

    days = (end - start).days + 1
    before = start - timedelta(days=days)
    bounds = [utc(before), utc(start), utc(end + timedelta(days=1))]
    with duckdb.connect(str(settings.resolved_analytics_path), read_only=True) as duck:
        totals = duck.execute(
            """
            SELECT paid_at >= $2 AS now, count(DISTINCT customer_id), count(*),
                   sum(paid_fen - refund_fen)
            FROM "order"
            WHERE status IN ('paid', 'shipped', 'completed', 'partially_refunded')
              AND customer_id IS NOT NULL AND paid_at >= $1 AND paid_at < $3
            GROUP BY 1
            """,
            bounds,
        ).fetchall()
        new = duck.execute(
            """
            SELECT coalesce(first_seen_at, created_at) >= $2 AS now, coalesce(source, ''),
                   count(*)
            FROM customer
            WHERE status = 'active' AND coalesce(first_seen_at, created_at) >= $1
              AND coalesce(first_seen_at, created_at) < $3
            GROUP BY 1, 2
            """,
            bounds,
        ).fetchall()
    t = {bool(now): (int(b), int(o), int(r)) for now, b, o, r in totals}
    zero = (0, 0, 0)
    now_t, then_t = t.get(True, zero), t.get(False, zero)
    return {
        "buyers": (now_t[0], then_t[0]),
        "orders": (now_t[1], then_t[1]),
        "revenue": (now_t[2], then_t[2]),
        "new": (
            sum(int(n) for is_now, _s, n in new if is_now),
            sum(int(n) for is_now, _s, n in new if not is_now),
        ),
        "by_source": {s: int(n) for is_now, s, n in new if is_now},
    }


def timed(fn: Any, runs: int = 5) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


if __name__ == "__main__":
    main()
