"""Customer-intelligence benchmarks (DESIGN §6), each against a baseline in the same run.

1. Generate N customers (about 10 orders each) with the demo generator and load them (`siyu demo generate` + `load`);
   or reuse a data directory from an earlier run with --data-dir.
2. Analytical copy: a full build (for the record), then 10k new orders imported and an
   incremental refresh timed (target ≤ 2 s).
3. RFM + lifecycle for all customers on DuckDB through the Ibis expressions (target ≤ 10 s),
   against a straightforward pandas groupby computing the same measures from the same copy,
   loading included on both sides (target: faster than pandas). Results are cross-checked.
4. The write-back into the system of record, timed on its own (reported, no target).
5. CLV: the Ibis summary + BG/NBD and Gamma-Gamma fit + predictions (P(alive), purchases in
   30/90/365 days, 12-month CLV) for everyone (target ≤ 30 s), against lifetimes' own two fits
   on the same summary arrays.

Usage: python bench/traits.py [--customers 1000000] [--orders-per-customer 10] [--seed 7]
       [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from datetime import date
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--orders-per-customer",
        type=float,
        default=10.0,
        help="about this many orders each (10 gives the issue's 1M customers / 10M orders)",
    )
    ap.add_argument("--data-dir", type=Path, default=None, help="reuse (or keep) this data dir")
    args = ap.parse_args()
    work = args.data_dir or Path(tempfile.mkdtemp(prefix="siyu-bench-traits-"))
    os.environ.update(
        SIYU_DATA_DIR=str(work / "var"),
        SIYU_SECRET_KEY="bench-secret-key-not-for-production-use",
        SIYU_MODE="production",
        SIYU_DATABASE_URL=f"sqlite:///{work / 'var' / 'siyu.db'}",
    )
    from siyu.config import get_settings
    from siyu.db import get_engine
    from siyu.migrations.runner import upgrade

    settings = get_settings()
    upgrade(settings.resolved_database_url)
    engine = get_engine()
    loaded = work / "loaded.ok"
    if not loaded.exists():
        load(work, args.customers, args.seed, args.orders_per_customer)
        loaded.write_text("ok")
    ref = date(2026, 6, 30)
    copy_figures(work, settings, engine, args.seed)
    rfm_figures(settings, ref)
    clv_figures(settings, ref)
    print(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")


def load(work: Path, customers: int, seed: int, orders_per_customer: float) -> None:
    from siyu.demo.generate import BENCH_AS_OF, generate
    from siyu.demo.load import load_folder

    t0 = time.perf_counter()
    generate(
        customers, seed, work / "demo", as_of=BENCH_AS_OF, orders_per_customer=orders_per_customer
    )
    print(f"generated {customers:,} customers in {time.perf_counter() - t0:.0f}s", flush=True)
    t0 = time.perf_counter()
    for line in load_folder(work / "demo"):
        print("  " + line, flush=True)
    print(f"loaded in {time.perf_counter() - t0:.0f}s", flush=True)


def copy_figures(work: Path, settings, engine, seed: int) -> None:  # type: ignore[no-untyped-def]
    from siyu.analytics.service import refresh_copy
    from siyu.demo.generate import BENCH_AS_OF, generate_orders_file
    from siyu.ingest.orders import import_orders

    full = refresh_copy(settings, full=True)
    print(f"copy, full build : {full.seconds:6.2f}s  rows {full.rows}", flush=True)
    settings.analytics_overlap_seconds = 0  # the first refresh below starts from the build
    extra = generate_orders_file(
        "taobao", 10_000, seed + 1000 + int(time.time()) % 1000, work / "extra", as_of=BENCH_AS_OF
    )
    shop = f"bench-extra-{int(time.time())}"  # a new shop each run: these orders are new
    summary = import_orders(engine, settings, extra, "taobao", actor="bench", shop=shop)
    incremental = refresh_copy(settings)
    print(
        f"copy, +{summary.inserted:,} orders: {incremental.seconds:6.2f}s incremental "
        f"(read {incremental.read['order']:,} orders, {incremental.read['order_line']:,} lines; "
        f"target ≤ 2 s; full build above {full.seconds:.2f}s)",
        flush=True,
    )


def rfm_figures(settings, ref: date) -> None:  # type: ignore[no-untyped-def]
    from siyu.db import get_engine
    from siyu.traits.service import compute_traits, recompute, trait_params

    params = trait_params(settings, ref, settings.traits_window_days)
    t0 = time.perf_counter()
    table, limits, _future = compute_traits(settings, "duckdb", params)
    ibis_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    frame = pandas_baseline(settings, params)
    pandas_s = time.perf_counter() - t0
    overall = table.filter(table.column("scope").to_numpy() == 0).to_pandas()
    agree = compare(overall, frame)
    print(
        f"RFM + lifecycle  : Ibis/DuckDB {ibis_s:6.2f}s  vs pandas groupby {pandas_s:6.2f}s "
        f"→ {pandas_s / ibis_s:.2f}× faster ({table.num_rows:,} customer×scope rows; "
        f"target ≤ 10 s and faster than pandas; results agree: {agree})",
        flush=True,
    )
    print(f"  thresholds: {limits}")
    result = recompute(get_engine(), settings, reference_date=ref, refresh=False, actor="bench")
    print(f"write-back       : {result.seconds['write']:6.2f}s for {table.num_rows:,} rows")


def clv_figures(settings, ref: date) -> None:  # type: ignore[no-untyped-def]
    import warnings

    from lifetimes import BetaGeoFitter, GammaGammaFitter

    from siyu.traits import clv_model
    from siyu.traits.clv import summary_arrays

    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    s = summary_arrays(settings, ref, ref, "day")
    summary_s = time.perf_counter() - t0
    model = clv_model.fit(s["frequency"], s["recency"], s["T"], s["monetary"])
    args = (s["frequency"], s["recency"], s["T"])
    model.p_alive(*args)
    for days in (30, 90, 365):
        model.expected_purchases(days, *args)
    model.clv(*args, s["monetary"], unit_days=1, margin=0.3, annual_discount=0.1)
    ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    BetaGeoFitter().fit(*args)
    paying = (s["frequency"] > 0) & (s["monetary"] > 0)
    try:  # in yuan: in fen lifetimes' optimiser can stop short (precision loss)
        GammaGammaFitter().fit(s["frequency"][paying], s["monetary"][paying] / 100)
    except Exception as exc:
        print(f"  lifetimes' own Gamma-Gamma fit failed: {str(exc).strip()[:80]}")
    base = time.perf_counter() - t0
    print(
        f"CLV              : summary+fit+predict {ours:6.2f}s (summary {summary_s:.2f}s) vs "
        f"lifetimes' fits alone {base:6.2f}s → {ours / base:.2f}× ({len(s['T']):,} customers; "
        f"target ≤ 30 s)  bgnbd {model.bgnbd}  gamma_gamma {model.gamma_gamma}",
        flush=True,
    )


def pandas_baseline(settings, params):  # type: ignore[no-untyped-def]
    """The same overall (all-brand) RFM and lifecycle, written the obvious pandas way."""
    import duckdb
    import numpy as np
    import pandas as pd

    with duckdb.connect(str(settings.resolved_analytics_path), read_only=True) as conn:
        o = conn.execute(
            'SELECT customer_id, status, paid_fen, refund_fen, paid_at FROM "order"'
        ).df()
    o = o[o.status.isin(["paid", "shipped", "completed", "partially_refunded"])]
    o = o[o.customer_id.notna() & o.paid_at.notna()]
    local = o.paid_at + pd.Timedelta(minutes=params.utc_offset_minutes)
    o = o.assign(
        day=(local.dt.floor("D") - pd.Timestamp("1970-01-01")).dt.days,
        net=o.paid_fen - o.refund_fen,
    )
    o = o[o.day <= params.reference_epoch_day]
    w = o[o.day >= params.reference_epoch_day - params.window_days + 1]
    g = w.groupby("customer_id").agg(
        last=("day", "max"), frequency=("day", "size"), monetary=("net", "sum")
    )
    g["recency"] = params.reference_epoch_day - g["last"]
    n = len(g)
    for col, asc, out in (
        ("recency", False, "r"),
        ("frequency", True, "f"),
        ("monetary", True, "m"),
    ):
        rank = g[col].rank(method="min", ascending=asc) - 1
        g[out] = np.minimum(1 + (rank * 5) // max(n - 1, 1), 5).astype(int) if n > 1 else 3
    days = o[["customer_id", "day"]].drop_duplicates().sort_values(["customer_id", "day"])
    days["gap"] = days.groupby("customer_id")["day"].diff()
    gaps = days.gap.dropna().sort_values().to_numpy()

    def pct(p: int) -> int:
        if len(gaps) < params.min_gaps:
            return (
                params.fallback_at_risk_days
                if p == params.at_risk_percentile
                else params.fallback_lapsed_days
            )
        return int(gaps[int(np.ceil(len(gaps) * p / 100)) - 1])

    risk, lapse = pct(params.at_risk_percentile), pct(params.lapsed_percentile)
    lapse = max(lapse, risk + 1)
    last = days.groupby("customer_id").agg(
        last=("day", "max"), n=("day", "size"), gap=("gap", "last")
    )
    rec = params.reference_epoch_day - last["last"]
    last["stage"] = np.select(
        [rec > lapse, rec > risk, last.n == 1, last.gap > lapse],
        ["lapsed", "at_risk", "new", "won_back"],
        "active",
    )
    return g.join(last[["stage"]], how="right")


def compare(ibis_frame, pandas_frame) -> bool:  # type: ignore[no-untyped-def]
    a = ibis_frame.set_index("customer_id").sort_index()
    b = pandas_frame.sort_index()
    if len(a) != len(b):
        return False
    same_stage = (a.lifecycle_stage == b.stage).all()
    scored = a.r_score.notna()
    same_scores = all(
        (a.loc[scored, x].astype(int) == b.loc[scored, y].astype(int)).all()
        for x, y in (("r_score", "r"), ("f_score", "f"), ("m_score", "m"))
    )
    return bool(same_stage and same_scores)


if __name__ == "__main__":
    sys.exit(main())
