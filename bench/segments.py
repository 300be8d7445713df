"""Segment benchmarks (DESIGN §6), each against a baseline in the same run.

1. Data: a folder built by bench/traits.py (--data-dir; 1M customers / ~10M orders by default),
   or generated and loaded here the same way. Traits are recomputed if there are none, a tag
   rule (bought 防晒 in the last year) is applied, and the analytical copy is refreshed.
2. Count: the three-condition rule
       tag:兴趣/防晒 and rfm.class = 重要挽留客户 and orders(last 60d).count = 0
   end to end as the API runs it (parse, check against the database, compile to Ibis, run on
   DuckDB), against the equivalent hand-written SQL on the same DuckDB file. Median of 5 runs
   each; target ≤ 1 s and ≤ 1.5× the SQL. The two counts must agree. The preview (count,
   reach per channel, 20 masked samples) of it and of a broad rule, target < 1 s.
3. Ten dynamic segments: a full refresh (the first is the baseline that writes every member;
   the second is the steady state), target ≤ 10 s.
4. Incremental: 1,000 customers change (a hand-set 兴趣/防晒 tag each, which two of the ten
   rules read); the copy's incremental refresh
   and the segments' incremental refresh are timed, target ≤ 1 s.

Usage: python bench/segments.py --data-dir DIR [--customers 1000000] [--orders-per-customer 10]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from zoneinfo import ZoneInfo

TODAY = date(2026, 6, 30)
RULE = "tag:兴趣/防晒 and rfm.class = 重要挽留客户 and orders(last 60d).count = 0"
SEGMENTS = {
    "防晒老客未复购": RULE,
    "沪杭高价值": "city in [上海, 杭州] and rfm.class in [重要价值客户, 重要保持客户]",
    "近90天下单": "orders(last 90d).count >= 1",
    "年消费千元": "orders(last 365d).sum >= 1000",
    "流失预警": "lifecycle in [at_risk, lapsed]",
    "双11买过彩妆": "orders(category=彩妆, 2025-11-01..2025-11-11).count >= 1",
    "高CLV": "clv >= 500 and p_alive >= 0.5",
    "京东或有赞": "orders(platform=[jd, youzan]).count >= 2",
    "活跃且有手机号": "lifecycle = active and identity has phone",
    "非防晒兴趣女性": "gender = female and not tag:兴趣/防晒 and orders.count >= 3",
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--orders-per-customer", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    work = args.data_dir or Path(tempfile.mkdtemp(prefix="siyu-bench-segments-"))
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
    t0 = time.perf_counter()
    upgrade(settings.resolved_database_url)
    print(f"database at head in {time.perf_counter() - t0:.0f}s", flush=True)
    engine = get_engine()
    if not (work / "loaded.ok").exists():
        from traits import load  # the same generator and loader as bench/traits.py

        load(work, args.customers, args.seed, args.orders_per_customer)
        (work / "loaded.ok").write_text("ok")
    prepare(engine, settings)
    count_figures(settings)
    segment_figures(engine, settings)


def prepare(engine, settings) -> None:  # type: ignore[no-untyped-def]
    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    from siyu.analytics.service import refresh_copy
    from siyu.tags.models import TagRule
    from siyu.tags.service import add_group, add_rule, add_tag, apply_rules, find_tag
    from siyu.traits.models import CustomerTrait
    from siyu.traits.service import recompute

    t0 = time.perf_counter()
    report = refresh_copy(settings)
    print(f"copy refreshed in {time.perf_counter() - t0:.1f}s  rows {report.rows}", flush=True)
    with Session(engine) as s:
        has_traits = s.scalar(sa.select(CustomerTrait.id).limit(1)) is not None
        has_rule = s.scalar(sa.select(TagRule.id).limit(1)) is not None
    if not has_traits:
        t0 = time.perf_counter()
        recompute(engine, settings, reference_date=TODAY, refresh=False, actor="bench")
        print(f"traits recomputed in {time.perf_counter() - t0:.0f}s", flush=True)
    else:
        refresh_copy(settings, only=["customer_trait"])
    if not has_rule:
        with Session(engine) as s:
            add_group(s, "兴趣", single=False, actor="bench")
            add_tag(s, "兴趣/防晒", actor="bench")
            s.commit()
            condition = {"kind": "bought_category", "category": "防晒", "days": 365}
            add_rule(s, find_tag(s, "兴趣/防晒"), condition, actor="bench")
            s.commit()
        t0 = time.perf_counter()
        today = datetime.combine(TODAY, dtime(12), ZoneInfo("Asia/Shanghai"))
        outcomes = apply_rules(engine, settings, today=today)
        print(f"tag rule applied in {time.perf_counter() - t0:.0f}s: {outcomes}", flush=True)
    t0 = time.perf_counter()
    report = refresh_copy(settings)
    print(f"copy refreshed in {time.perf_counter() - t0:.1f}s (read {report.read})", flush=True)


def hand_sql(settings) -> int:  # type: ignore[no-untyped-def]
    """The three conditions as one would write them by hand in DuckDB SQL."""
    import duckdb

    tz = ZoneInfo("Asia/Shanghai")
    start = datetime.combine(TODAY - timedelta(days=59), dtime(0), tz).astimezone(UTC)
    end = datetime.combine(TODAY + timedelta(days=1), dtime(0), tz).astimezone(UTC)
    with duckdb.connect(str(settings.resolved_analytics_path), read_only=True) as duck:
        tag_id = duck.execute(
            "SELECT t.id FROM tag t JOIN tag_group g ON g.id = t.group_id "
            "WHERE g.name = '兴趣' AND t.name = '防晒'"
        ).fetchone()[0]  # type: ignore[index]
        return int(
            duck.execute(
                """
                SELECT count(*) FROM customer c
                WHERE c.status = 'active'
                  AND c.id IN (SELECT customer_id FROM customer_tag WHERE tag_id = $1)
                  AND c.id IN (SELECT customer_id FROM customer_trait
                               WHERE scope = 0 AND rfm_class = 'important_retain')
                  AND c.id NOT IN (SELECT customer_id FROM "order"
                                   WHERE status IN ('paid', 'shipped', 'completed',
                                                    'partially_refunded')
                                     AND paid_at >= $2 AND paid_at < $3
                                     AND customer_id IS NOT NULL)
                """,
                [tag_id, start.replace(tzinfo=None), end.replace(tzinfo=None)],
            ).fetchone()[0]  # type: ignore[index]
        )


def timed(fn, runs: int = 5):  # type: ignore[no-untyped-def]
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def count_figures(settings) -> None:  # type: ignore[no-untyped-def]
    from siyu.accounts.service import cli_principal
    from siyu.db import new_session
    from siyu.segments.service import count_rule, preview_rule

    with new_session() as session:
        ours_s, ours = timed(lambda: count_rule(settings, session, RULE, today=TODAY).count)
        principal = cli_principal(session, "bench", None)
        for rule in (RULE, "orders(last 365d).count >= 1"):
            pv_s, pv = timed(
                lambda r=rule: preview_rule(settings, session, principal, r, today=TODAY)
            )
            print(
                f"preview ({rule}): {pv_s:.3f}s — {pv.count:,} customers, reach {pv.reach}, "
                f"{len(pv.sample)} masked samples (target < 1 s)",
                flush=True,
            )
    sql_s, sql = timed(lambda: hand_sql(settings))
    print(
        f"count (3 conditions): Siyu {ours_s:.3f}s vs hand-written DuckDB SQL {sql_s:.3f}s "
        f"→ {ours_s / sql_s:.2f}× (target ≤ 1 s and ≤ 1.5×); {ours:,} customers, "
        f"SQL says {sql:,}: {'agree' if ours == sql else 'DISAGREE'}",
        flush=True,
    )


def segment_figures(engine, settings) -> None:  # type: ignore[no-untyped-def]
    import sqlalchemy as sa

    from siyu.analytics.service import refresh_copy
    from siyu.customers.models import Customer
    from siyu.db import new_session
    from siyu.segments.membership import refresh_segments
    from siyu.segments.models import Segment
    from siyu.segments.service import create_segment, delete_segment
    from siyu.tags.service import assign, find_tag

    with new_session() as s:  # new segments each run, so the first refresh is a baseline
        for old in s.scalars(sa.select(Segment).where(Segment.name.in_(list(SEGMENTS)))):
            delete_segment(s, old.id, actor="bench")
        s.commit()
        for name, rule in SEGMENTS.items():
            create_segment(s, name, rule=rule, actor="bench")
        s.commit()
        ids = sorted(s.scalars(sa.select(Segment.id).where(Segment.name.in_(list(SEGMENTS)))))
    for label in ("first (baseline)", "steady state"):
        run = refresh_segments(engine, settings, segment_ids=ids, today=TODAY)
        sizes = ", ".join(f"{o.name} {o.size:,}" for o in run.outcomes)
        errors = [o.error for o in run.outcomes if o.error]
        print(
            f"refresh 10 segments, {label}: {run.seconds:.2f}s (target ≤ 10 s){' ERRORS ' if errors else ''}"
            f"{errors or ''}\n  sizes: {sizes}",
            flush=True,
        )
    settings.analytics_overlap_seconds = 0  # count exactly the customers changed below
    with new_session() as s:  # a hand-set 兴趣/防晒 tag: two of the ten rules read it
        tag = find_tag(s, "兴趣/防晒")
        everyone = s.scalars(sa.select(Customer.id).where(Customer.status == "active")).all()
        chosen = random.Random(time.time_ns()).sample(list(everyone), 1000)
        s.commit()
        mark = datetime.now(UTC)
        assign(s, tag, chosen, actor="bench")
        s.commit()
    t0 = time.perf_counter()
    copy = refresh_copy(settings)
    copy_s = time.perf_counter() - t0
    run = refresh_segments(
        engine, settings, segment_ids=ids, incremental=True, since=mark, today=TODAY
    )
    moved = sum(o.entered + o.exited for o in run.outcomes)
    print(
        f"incremental after 1,000 changed customers: segments {run.seconds:.2f}s "
        f"(re-checked {run.changed_customers:,} customers in 10 segments, {moved} moved; "
        f"target ≤ 1 s) + copy refresh {copy_s:.2f}s (read {copy.read['customer']:,} customers)",
        flush=True,
    )


if __name__ == "__main__":
    main()
