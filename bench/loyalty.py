"""Loyalty at scale on the embedded default (issue 25): the backfill of a programme over its
members' order history against a plain INSERT … SELECT of the same lots and entries in the same
run, and one member's balance and history page.

1. A fresh SQLite database at head; M customers, each a member of the programme, with N orders
   each (paid, 1–500 yuan, a few partially refunded, some in a store with its own rule), with
   plain SQL, untimed.
2. Baseline: `INSERT INTO lot_copy SELECT …` of one lot per paid order of a member (the rate
   applied inline), then `INSERT INTO entry_copy SELECT …` of one earn entry per lot, where the
   copies are points_lot and points_entry as the database defines them (columns, unique keys,
   indexes); no conflict clause, no balance summary, no rules.
3. Siyu: `loyalty.backfill.backfill` of the programme (the rules read once, the lots with their
   dates, the entries, the balance summaries).
4. Steps 2 and 3 take turns at going first over --rounds rounds, on emptied tables; figures are
   medians.
5. The balance page: `loyalty.queries.member_points` for --page-members random members (their
   lots and last 50 moves), p50 and p99.

Targets: backfill ≥ 50k orders/s and ≤ 2× the baseline; a member's page under 50 ms.
Usage: python bench/loyalty.py [--members 1000000] [--orders-per-member 10] [--rounds 1]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

NOW = "2026-11-01 00:00:00.000000"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--members", type=int, default=1_000_000)
    ap.add_argument("--orders-per-member", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=1, help="Alternating timed rounds (median).")
    ap.add_argument("--page-members", type=int, default=1000)
    ap.add_argument("--database-url", default=None, help="Default: a fresh SQLite file.")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="siyu-loyalty-"))
    url = args.database_url or f"sqlite:///{work / 'loyalty.db'}"
    os.environ.update(
        {
            "SIYU_DATA_DIR": str(work),
            "SIYU_SECRET_KEY": "bench-secret-key-not-for-production-use",
            "SIYU_MODE": "production",
            "SIYU_DATABASE_URL": url,
        }
    )
    siyu = str(Path(sys.executable).parent / "siyu")
    try:
        subprocess.run([siyu, "db", "upgrade"], check=True, capture_output=True)
        from siyu import clock
        from siyu.db import get_engine

        engine = get_engine()
        t0 = time.perf_counter()
        orders = _history(engine, args.members, args.orders_per_member)
        print(
            f"{args.members:,} members, {orders:,} orders in {time.perf_counter() - t0:.1f}s",
            flush=True,
        )
        _copies(engine)
        base_runs: list[float] = []
        siyu_runs: list[float] = []
        with clock.frozen(clock.now()):
            for round_no in range(args.rounds):
                _empty(engine)
                if round_no % 2:
                    siyu_runs.append(_backfill(engine))
                    base_runs.append(_baseline(engine))
                else:
                    base_runs.append(_baseline(engine))
                    siyu_runs.append(_backfill(engine))
                print(
                    f"round {round_no + 1}: baseline {base_runs[-1]:.1f}s,"
                    f" backfill {siyu_runs[-1]:.1f}s ({siyu_runs[-1] / base_runs[-1]:.2f}×)",
                    flush=True,
                )
        baseline, backfill_s = statistics.median(base_runs), statistics.median(siyu_runs)
        print(
            f"baseline  : INSERT … SELECT of the lots and entries of {orders:,} orders in"
            f" {baseline:.1f}s = {orders / baseline:,.0f} orders/s"
        )
        print(
            f"backfill  : {orders:,} orders in {backfill_s:.1f}s = {orders / backfill_s:,.0f} orders/s"
        )
        ratio = statistics.median(s / b for s, b in zip(siyu_runs, base_runs, strict=True))
        print(f"ratio     : {ratio:.2f}× the baseline (target ≤ 2×; ≥ 50k orders/s)")
        _page(args.members, args.page_members)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _history(engine: Any, members: int, per_member: int) -> int:
    """Customers, one programme with a spend rule and a store rule, every customer a member,
    and their orders (plain SQL, untimed)."""
    import sqlalchemy as sa

    from siyu.db import new_session
    from siyu.loyalty.models import Programme
    from siyu.loyalty.rules import set_spend_rule

    n_orders = members * per_member
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO brand (id, code, name, created_at) VALUES (1, 'b', '品牌', :now)"),
            {"now": NOW},
        )
        conn.execute(
            sa.text(
                "INSERT INTO store (id, brand_id, code, name, created_at)"
                " VALUES (1, 1, 'S1', '旗舰店', :now), (2, 1, 'S2', '社区店', :now)"
            ),
            {"now": NOW},
        )
        conn.execute(
            sa.text(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :n)"
                " INSERT INTO customer (id, status, suppressed, do_not_disturb, created_at,"
                " updated_at) SELECT i, 'active', 0, 0, :now, :now FROM n"
            ),
            {"n": members, "now": NOW},
        )
    with new_session() as session:
        programme = Programme(
            code="vip", name="会员计划", pending_days=7, lot_months=12, refund_rule="negative"
        )
        session.add(programme)
        session.flush()
        set_spend_rule(session, programme, 100)
        set_spend_rule(session, programme, 200, store_id=1)
        session.commit()
        programme_id = programme.id
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO loyalty_member (id, programme_id, customer_id, status, join_channel,"
                " joined_at) SELECT id, :p, id, 'active', 'import', :now FROM customer"
            ),
            {"p": programme_id, "now": NOW},
        )
        conn.execute(
            sa.text(
                "INSERT INTO points_balance (member_id, remaining, debt, earned, spent, expired,"
                " taken_back, updated_at) SELECT id, 0, 0, 0, 0, 0, 0, :now FROM loyalty_member"
            ),
            {"now": NOW},
        )
        # orders spread over the last ten months; every 7th partly refunded, a third in S1
        conn.execute(
            sa.text(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :n)"
                ' INSERT INTO "order" (id, brand_id, platform, shop, platform_order_id,'
                " customer_id, store_id, status, total_fen, paid_fen, refund_fen, ordered_at,"
                " paid_at, digest, created_at, updated_at)"
                " SELECT i, 1, 'pos', '', 'O' || i, (i % :m) + 1,"
                " CASE i % 3 WHEN 0 THEN 1 WHEN 1 THEN 2 ELSE NULL END,"
                " CASE WHEN i % 7 = 0 THEN 'partially_refunded' ELSE 'completed' END,"
                " 100 + (i * 7919) % 50000, 100 + (i * 7919) % 50000,"
                " CASE WHEN i % 7 = 0 THEN 50 ELSE 0 END, t, t, '', :now, :now"
                " FROM (SELECT i, strftime('%Y-%m-%d %H:%M:%S', '2026-01-01',"
                " '+' || (i % 25000000) || ' seconds') || '.000000' AS t FROM n)"
            ),
            {"n": n_orders, "m": members, "now": NOW},
        )
    return n_orders


def _copies(engine: Any) -> None:
    """lot_copy and entry_copy: points_lot and points_entry as the database defines them."""
    import sqlalchemy as sa

    with engine.begin() as conn:
        for table, copy in (("points_lot", "lot_copy"), ("points_entry", "entry_copy")):
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {copy}"))
            ddl = conn.execute(
                sa.text(
                    "SELECT sql FROM sqlite_master WHERE tbl_name = :t AND sql IS NOT NULL"
                    " ORDER BY type DESC"
                ),
                {"t": table},
            ).scalars()
            for statement in list(ddl):
                renamed = statement.replace("points_lot", "lot_copy")  # its foreign key too
                conn.execute(sa.text(renamed.replace("points_entry", "entry_copy")))


def _empty(engine: Any) -> None:
    import sqlalchemy as sa

    with engine.begin() as conn:
        for table in ("entry_copy", "lot_copy", "points_entry", "points_lot"):
            conn.execute(sa.text(f"DELETE FROM {table}"))
        conn.execute(sa.text("UPDATE points_balance SET remaining = 0, earned = 0"))


def _baseline(engine: Any) -> float:
    """The same lots and entries, by two plain INSERT … SELECT statements."""
    import sqlalchemy as sa

    t0 = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO lot_copy (member_id, source_kind, source_id, points, basis_fen,"
                " available_at, expires_at, created_at)"
                " SELECT m.id, 'order', CAST(o.id AS VARCHAR(20)),"
                " (o.paid_fen - o.refund_fen) * 100 * 100 / 1000000, o.paid_fen - o.refund_fen,"
                " o.paid_at, o.paid_at, :now"
                ' FROM "order" o JOIN loyalty_member m ON m.customer_id = o.customer_id'
                " WHERE (o.paid_fen - o.refund_fen) * 100 * 100 / 1000000 > 0"
            ),
            {"now": NOW},
        )
        conn.execute(
            sa.text(
                "INSERT INTO entry_copy (member_id, lot_id, lot_key, kind, points, source_kind,"
                " source_id, linked, covers, reason, created_at)"
                " SELECT member_id, id, id, 'earn', points, source_kind, source_id, '', 0, '',"
                " created_at FROM lot_copy"
            )
        )
    return time.perf_counter() - t0


def _backfill(engine: Any) -> float:
    from datetime import UTC, datetime

    from siyu.loyalty.backfill import backfill

    t0 = time.perf_counter()
    done = backfill(engine, "vip", since=datetime(2025, 1, 1, tzinfo=UTC))
    took = time.perf_counter() - t0
    assert done.earned > 0, done
    return took


def _page(members: int, n: int) -> None:
    from siyu.db import new_session
    from siyu.loyalty.queries import member_points

    rng = random.Random(7)
    times = []
    with new_session() as session:
        member_points(session, 1)  # warm the statement cache
        for _ in range(n):
            member = rng.randint(1, members)
            t0 = time.perf_counter()
            found = member_points(session, member)
            times.append((time.perf_counter() - t0) * 1000)
            assert found is not None and found.lots
    times.sort()
    p50, p99 = times[len(times) // 2], times[min(len(times) - 1, int(len(times) * 0.99))]
    print(f"balance page: p50 {p50:.1f} ms, p99 {p99:.1f} ms over {n:,} members (target < 50 ms)")


if __name__ == "__main__":
    main()
