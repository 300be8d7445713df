"""Loyalty at scale on the embedded default (issue 25), each figure against its baseline in the
same run (DESIGN §6). Each part runs on a fresh SQLite database at head (or --database-url: an
empty database at head, one part at a time; the expiry and the redeem parts run on PostgreSQL
too) with M customers, each a member of one programme, put there with plain SQL, untimed.

Backfill (the default part): points for the members' order history.
1. N orders per member (paid, 1–500 yuan, a few partially refunded, some in a store with its own
   rule).
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

Expiry (--expiry): the nightly expiry over every member.
1. Three lots a member: one that ended months ago (its expiry written then), one that ends
   before now for --due-share of the members (a year later for the others), one a year away;
   a third of the members spent half of the second one.
2. Baseline: one `INSERT INTO entry_copy SELECT …` of the same expiry entries (each due lot's
   remainder summed from its entries, the same source and reason), into a copy of points_entry;
   no ranges, no locks, no conflict clause, no balance summary.
3. Siyu: `loyalty.expiry.expire_all` (ranges of members, the entries, the balance summaries).
4. Turns and medians as for the backfill, the tables put back between runs.
Target: under 60 s at 1M members.

Redeem (--redeem): `POST /api/v1/coupons/{code}/redeem` under concurrent tills.
1. --coupons coupons of one template, issued to the members (plain SQL); an API key with
   coupons:redeem; `siyu serve --workers W` started on the database.
2. Baseline: as many `GET /healthz` requests, from the same client at the same concurrency.
3. Siyu: each coupon redeemed once by its own order, --concurrency requests at a time, from a
   light HTTP/1.1 client on asyncio streams in this process (as bench/ingest.py).
Target: ≥ 500 redeems/s, p99 < 100 ms.

Usage: python bench/loyalty.py [--members 1000000] [--orders-per-member 10] [--rounds 1]
       python bench/loyalty.py --expiry [--members 1000000] [--due-share 0.3]
       python bench/loyalty.py --redeem [--members 1000000] [--coupons 20000] [--concurrency 8]
              [--workers 1]
A small run of any part: --members 20000 (under a minute).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

NOW = "2026-11-01 00:00:00.000000"
NOW_AT = datetime(2026, 11, 1, tzinfo=UTC)
PORT = 8793


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--members", type=int, default=1_000_000)
    ap.add_argument("--orders-per-member", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=1, help="Alternating timed rounds (median).")
    ap.add_argument("--page-members", type=int, default=1000)
    ap.add_argument("--backfill", action="store_true", help="The backfill (the default part).")
    ap.add_argument("--expiry", action="store_true", help="The nightly expiry.")
    ap.add_argument("--due-share", type=float, default=0.3, help="Expiry: members with points due.")
    ap.add_argument("--chunk", type=int, default=None, help="Expiry: members per transaction.")
    ap.add_argument("--redeem", action="store_true", help="The coupon redeem API.")
    ap.add_argument(
        "--coupons", type=int, default=None, help="Redeem: requests (default min(20k, members/4))."
    )
    ap.add_argument("--concurrency", type=int, default=8, help="Redeem: requests at a time.")
    ap.add_argument("--workers", type=int, default=1, help="Redeem: server processes.")
    ap.add_argument("--database-url", default=None, help="Default: a fresh SQLite file a part.")
    args = ap.parse_args()
    args.coupons = args.coupons or min(20_000, max(1, args.members // 4))
    parts = [p for p in ("backfill", "expiry", "redeem") if getattr(args, p)] or ["backfill"]
    if args.database_url and len(parts) > 1:
        raise SystemExit("--database-url: one part at a time (each part fills the database)")
    work = Path(tempfile.mkdtemp(prefix="siyu-loyalty-"))
    os.environ.update(
        {
            "SIYU_DATA_DIR": str(work),
            "SIYU_SECRET_KEY": "bench-secret-key-not-for-production-use",
            "SIYU_MODE": "production",
        }
    )
    run: dict[str, Callable[[Any, argparse.Namespace], None]] = {
        "backfill": _backfill_part,
        "expiry": _expiry_part,
        "redeem": _redeem_part,
    }
    try:
        for part in parts:
            url = args.database_url or f"sqlite:///{work / (part + '.db')}"
            run[part](_database(url), args)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _database(url: str) -> Any:
    """The database at head, and the engine this process uses for it."""
    from siyu import runtime

    os.environ["SIYU_DATABASE_URL"] = url
    siyu = str(Path(sys.executable).parent / "siyu")
    subprocess.run([siyu, "db", "upgrade"], check=True, capture_output=True)
    runtime.reset()  # settings and engines of the part before
    from siyu.db import get_engine

    return get_engine()


def _backfill_part(engine: Any, args: argparse.Namespace) -> None:
    from siyu import clock

    t0 = time.perf_counter()
    orders = _history(engine, args.members, args.orders_per_member)
    print(
        f"{args.members:,} members, {orders:,} orders in {time.perf_counter() - t0:.1f}s",
        flush=True,
    )
    _copies(engine, ("points_lot", "lot_copy"), ("points_entry", "entry_copy"))
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


def _members(engine: Any, members: int) -> int:
    """A brand with two stores, customers, one programme (a spend rule and a store's rule),
    every customer a member with an empty balance; returns the programme's id."""
    import sqlalchemy as sa

    from siyu.bulk import db_time
    from siyu.db import new_session
    from siyu.loyalty.models import Programme
    from siyu.loyalty.rules import set_spend_rule

    with engine.begin() as conn:
        now = db_time(conn, NOW_AT)
        conn.execute(
            sa.text("INSERT INTO brand (id, code, name, created_at) VALUES (1, 'b', '品牌', :now)"),
            {"now": now},
        )
        conn.execute(
            sa.text(
                "INSERT INTO store (id, brand_id, code, name, created_at)"
                " VALUES (1, 1, 'S1', '旗舰店', :now), (2, 1, 'S2', '社区店', :now)"
            ),
            {"now": now},
        )
        conn.execute(
            sa.text(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :n)"
                " INSERT INTO customer (id, status, suppressed, do_not_disturb, created_at,"
                " updated_at) SELECT i, 'active', FALSE, FALSE, :now, :now FROM n"
            ),
            {"n": members, "now": now},
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
        now = db_time(conn, NOW_AT)
        conn.execute(
            sa.text(
                "INSERT INTO loyalty_member (id, programme_id, customer_id, status, join_channel,"
                " joined_at) SELECT id, :p, id, 'active', 'import', :now FROM customer"
            ),
            {"p": programme_id, "now": now},
        )
        conn.execute(
            sa.text(
                "INSERT INTO points_balance (member_id, remaining, debt, earned, spent, expired,"
                " taken_back, updated_at) SELECT id, 0, 0, 0, 0, 0, 0, :now FROM loyalty_member"
            ),
            {"now": now},
        )
        if conn.dialect.name != "sqlite":  # the ids above were given, not drawn
            for table in ("brand", "store", "customer", "loyalty_member"):
                conn.execute(
                    sa.text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                        f" (SELECT max(id) FROM {table}))"
                    )
                )
    return programme_id


def _history(engine: Any, members: int, per_member: int) -> int:
    """The members (``_members``) and their orders (plain SQL, untimed)."""
    import sqlalchemy as sa

    _members(engine, members)
    n_orders = members * per_member
    with engine.begin() as conn:
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


def _copies(engine: Any, *tables: tuple[str, str]) -> None:
    """Copies of ledger tables (table, copy) as the database defines them: columns, keys,
    indexes (and on SQLite foreign keys; each copy's to another copied table renamed)."""
    import sqlalchemy as sa

    with engine.begin() as conn:
        for table, copy in tables:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {copy}"))
            if conn.dialect.name != "sqlite":
                conn.execute(sa.text(f"CREATE TABLE {copy} (LIKE {table} INCLUDING ALL)"))
                continue
            ddl = conn.execute(
                sa.text(
                    "SELECT sql FROM sqlite_master WHERE tbl_name = :t AND sql IS NOT NULL"
                    " ORDER BY type DESC"
                ),
                {"t": table},
            ).scalars()
            for statement in list(ddl):
                for name, renamed in tables:
                    statement = statement.replace(name, renamed)
                conn.execute(sa.text(statement))


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


def _expiry_part(engine: Any, args: argparse.Namespace) -> None:
    import sqlalchemy as sa

    t0 = time.perf_counter()
    _members(engine, args.members)
    _lots(engine, args.members, args.due_share)
    with engine.connect() as conn:
        lots, entries = conn.execute(
            sa.text("SELECT (SELECT count(*) FROM points_lot), (SELECT max(id) FROM points_entry)")
        ).one()
    print(
        f"{args.members:,} members, {lots:,} lots, {entries:,} entries"
        f" in {time.perf_counter() - t0:.1f}s",
        flush=True,
    )
    _copies(engine, ("points_entry", "entry_copy"))
    base_runs: list[float] = []
    siyu_runs: list[float] = []
    wrote: set[int] = set()  # lots each run ended: the same every time, both ways
    for round_no in range(args.rounds):
        for first in (round_no % 2, 1 - round_no % 2):
            _put_back(engine, entries)  # each run starts from the ledger as generated
            if first:
                took, done = _expire(engine, args.chunk)
                siyu_runs.append(took)
                wrote.add(done.lots)
            else:
                took, made = _expiry_baseline(engine)
                base_runs.append(took)
                wrote.add(made)
        assert len(wrote) == 1, wrote
        print(
            f"round {round_no + 1}: baseline {base_runs[-1]:.2f}s,"
            f" expiry {siyu_runs[-1]:.2f}s ({siyu_runs[-1] / base_runs[-1]:.2f}×)",
            flush=True,
        )
    baseline, expiry_s = statistics.median(base_runs), statistics.median(siyu_runs)
    ratio = statistics.median(s / b for s, b in zip(siyu_runs, base_runs, strict=True))
    print(
        f"baseline  : INSERT … SELECT of the {done.lots:,} expiry entries into a copy"
        f" in {baseline:.2f}s"
    )
    print(
        f"expiry    : {args.members:,} members ({done.members:,} with points due),"
        f" {done.lots:,} lots, {done.points:,} points in {expiry_s:.2f}s"
        f" = {args.members / expiry_s:,.0f} members/s"
    )
    print(f"ratio     : {ratio:.2f}× the baseline (target: under 60 s at 1M members)")


def _lots(engine: Any, members: int, due_share: float) -> None:
    """Three lots a member and their entries, the balances summed from them (plain SQL,
    untimed): one that ended in March (its expiry written then), one that ends in October for
    ``due_share`` of the members (a year later for the others; every third member spent half
    of it), one that ends next September."""
    import sqlalchemy as sa

    from siyu.bulk import db_time

    def at(text: str) -> datetime:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)

    with engine.begin() as conn:
        params = {
            "n": members,
            "due": round(due_share * 1000),
            **{
                name: db_time(conn, at(day))
                for name, day in (
                    ("a1", "2025-03-01"),
                    ("e1", "2026-03-01"),
                    ("a2", "2025-10-10"),
                    ("e2", "2026-10-10"),
                    ("e2late", "2027-10-10"),
                    ("a3", "2026-09-01"),
                    ("e3", "2027-09-01"),
                )
            },
        }
        conn.execute(
            sa.text(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :n),"
                " k(k) AS (SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3)"
                " INSERT INTO points_lot (id, member_id, source_kind, source_id, points,"
                " available_at, expires_at, created_at)"
                " SELECT 3 * (i - 1) + k, i, 'order', 'L' || CAST(3 * (i - 1) + k AS VARCHAR(20)),"
                " 100 + (i * 37 + k * 11) % 400,"
                " CASE k WHEN 1 THEN :a1 WHEN 2 THEN :a2 ELSE :a3 END,"
                " CASE k WHEN 1 THEN :e1 WHEN 2 THEN CASE WHEN (i % 1000) * 7919 % 1000 < :due"
                " THEN :e2 ELSE :e2late END ELSE :e3 END,"
                " CASE k WHEN 1 THEN :a1 WHEN 2 THEN :a2 ELSE :a3 END"
                " FROM n CROSS JOIN k ORDER BY 1"
            ),
            params,
        )
        entry = (
            "INSERT INTO points_entry (member_id, lot_id, lot_key, kind, points, source_kind,"
            " source_id, linked, covers, reason, created_at) SELECT member_id, id, id, {kind},"
            " {points}, {source}, '', 0, {reason}, created_at FROM points_lot {where} ORDER BY id"
        )
        for kind, points, source, reason, where in (
            ("'earn'", "points", "source_kind, source_id", "''", ""),
            (
                "'spend'",
                "-(points / 2)",
                "'redeem', 'C' || CAST(id AS VARCHAR(20))",
                "''",
                "WHERE id % 3 = 2 AND member_id % 3 = 0",
            ),
            (
                "'expire'",
                "-points",
                "'expiry', CAST(id AS VARCHAR(20)) || ':' || '1'",
                "'expired'",
                "WHERE id % 3 = 1",
            ),
        ):
            conn.execute(
                sa.text(
                    entry.format(
                        kind=kind, points=points, source=source, reason=reason, where=where
                    )
                )
            )
        conn.execute(
            sa.text(
                "UPDATE points_balance SET remaining = s.r, earned = s.e, spent = s.s,"
                " expired = s.x FROM (SELECT member_id, sum(points) AS r,"
                " sum(CASE WHEN kind = 'earn' THEN points ELSE 0 END) AS e,"
                " -sum(CASE WHEN kind = 'spend' THEN points ELSE 0 END) AS s,"
                " -sum(CASE WHEN kind = 'expire' THEN points ELSE 0 END) AS x"
                " FROM points_entry GROUP BY member_id) AS s"
                " WHERE points_balance.member_id = s.member_id"
            )
        )
        conn.execute(sa.text("DROP TABLE IF EXISTS balance_kept"))
        conn.execute(
            sa.text(
                "CREATE TABLE balance_kept AS"
                " SELECT member_id, remaining, expired, updated_at FROM points_balance"
            )
        )
        if conn.dialect.name != "sqlite":
            conn.execute(
                sa.text("SELECT setval('points_lot_id_seq', (SELECT max(id) FROM points_lot))")
            )
    if engine.dialect.name != "sqlite":  # the statistics autovacuum keeps on a live database
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("ANALYZE"))


def _expiry_baseline(engine: Any) -> tuple[float, int]:
    """The same expiry entries by one plain INSERT … SELECT into a copy of points_entry."""
    import sqlalchemy as sa

    from siyu.bulk import db_time

    t0 = time.perf_counter()
    with engine.begin() as conn:
        made = conn.execute(
            sa.text(
                "INSERT INTO entry_copy (member_id, lot_id, lot_key, kind, points, source_kind,"
                " source_id, linked, covers, reason, created_at)"
                " SELECT l.member_id, l.id, l.id, 'expire', -sum(e.points), 'expiry',"
                " CAST(l.id AS VARCHAR(20)) || ':'"
                " || CAST(sum(CASE WHEN e.kind = 'expire' THEN 1 ELSE 0 END) + 1 AS VARCHAR(20)),"
                " '', 0, 'expired', :now FROM points_lot l JOIN points_entry e ON e.lot_id = l.id"
                " WHERE l.expires_at <= :now GROUP BY l.id HAVING sum(e.points) > 0"
            ),
            {"now": db_time(conn, NOW_AT)},
        ).rowcount
    return time.perf_counter() - t0, made


def _expire(engine: Any, chunk: int | None) -> tuple[float, Any]:
    from siyu.loyalty.expiry import CHUNK, expire_all

    t0 = time.perf_counter()
    done = expire_all(engine, NOW_AT, chunk=chunk or CHUNK)
    return time.perf_counter() - t0, done


def _put_back(engine: Any, entries: int) -> None:
    """The ledger as generated: the run's entries and the copy's gone, the balances restored."""
    import sqlalchemy as sa

    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM entry_copy"))
        conn.execute(sa.text("DELETE FROM points_entry WHERE id > :e"), {"e": entries})
        conn.execute(
            sa.text(
                "UPDATE points_balance SET remaining = k.remaining, expired = k.expired,"
                " updated_at = k.updated_at FROM balance_kept k"
                " WHERE points_balance.member_id = k.member_id AND points_balance.expired <> k.expired"
            )
        )


def _redeem_part(engine: Any, args: argparse.Namespace) -> None:
    import httpx

    t0 = time.perf_counter()
    programme_id = _members(engine, args.members)
    warm = 100
    codes = _coupons(engine, programme_id, args.members, args.coupons + warm)
    print(
        f"{args.members:,} members, {len(codes):,} coupons in {time.perf_counter() - t0:.1f}s",
        flush=True,
    )
    bin_dir = Path(sys.executable).parent
    key = subprocess.run(
        [bin_dir / "siyu", "apikey", "create", "bench", "--scope", "coupons:redeem"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    server = subprocess.Popen(
        [bin_dir / "siyu", "serve", "--port", str(PORT), "--workers", str(args.workers)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                if httpx.get(f"http://127.0.0.1:{PORT}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise SystemExit("the server did not start")
        n, c = args.coupons, args.concurrency
        asyncio.run(_drive(key, [None] * warm + codes[:warm], c))  # imports, pools, caches
        health_s, health = asyncio.run(_drive(key, [None] * n, c))
        redeem_s, redeem = asyncio.run(_drive(key, codes[warm:], c))
    finally:
        server.terminate()
        server.wait(10)
    for label, seconds, lat in (("healthz", health_s, health), ("redeem", redeem_s, redeem)):
        lat.sort()
        p50, p99 = lat[len(lat) // 2] * 1000, lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
        print(
            f"{label:<10}: {n:,} requests, {c} at a time, in {seconds:.1f}s"
            f" = {n / seconds:,.0f}/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms"
        )
    print(
        f"ratio     : redeems at {health_s / redeem_s:.2f}× the rate of /healthz"
        " (target ≥ 500 redeems/s, p99 < 100 ms)"
    )


def _coupons(engine: Any, programme_id: int, members: int, n: int) -> list[str]:
    """``n`` coupons of one amount-off template, valid now, one to each member in turn."""
    import sqlalchemy as sa

    from siyu.db import new_session
    from siyu.loyalty.coupons.models import Coupon
    from siyu.loyalty.coupons.service import CODE_ALPHABET, CODE_LENGTH, create_template
    from siyu.loyalty.models import Programme

    with new_session() as session:
        programme = session.get(Programme, programme_id)
        assert programme is not None
        template = create_template(
            session,
            programme,
            "C20",
            "满100减20",
            "amount_off",
            amount_fen=2000,
            threshold_fen=10000,
            valid_days=30,
        )
        session.commit()
        template_id = template.id
    rng = random.Random(11)
    codes: set[str] = set()
    while len(codes) < n:
        codes.add("".join(rng.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH)))
    ordered = sorted(codes, key=lambda _c: rng.random())
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(Coupon.__table__),
            [
                {
                    "code": code,
                    "template_id": template_id,
                    "member_id": k % members + 1,
                    "status": "issued",
                    "source_kind": "campaign",
                    "source_id": str(k),
                    "valid_from": now - timedelta(days=1),
                    "valid_until": now + timedelta(days=30),
                    "issued_at": now - timedelta(days=1),
                }
                for k, code in enumerate(ordered)
            ],
        )
    return ordered


async def _drive(key: str, codes: list[str | None], concurrency: int) -> tuple[float, list[float]]:
    """Each item a request, ``concurrency`` at a time over keep-alive connections: a redeem of
    the coupon by an order of its own, or (None) a GET /healthz. Any answer but 200 stops it.
    A light HTTP/1.1 client on asyncio streams (as bench/ingest.py): the load shares the
    machine's two cores with the server, and an httpx client took 2–3 times its CPU."""
    latencies: list[float] = []
    queue = iter(enumerate(codes))

    def request(k: int, code: str | None) -> bytes:
        if code is None:
            return b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        body = json.dumps(
            {"order_id": f"B{k}-{code}", "store_code": "S1", "order_amount_fen": 15000}
        ).encode()
        return (
            f"POST /api/v1/coupons/{code}/redeem HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body

    async def till() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
        try:
            for k, code in queue:
                start = time.perf_counter()
                writer.write(request(k, code))
                await writer.drain()
                status = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                answer = await reader.readexactly(length)
                latencies.append(time.perf_counter() - start)
                if b" 200 " not in status:
                    raise SystemExit(f"{status!r}: {answer[:200]!r}")
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(till() for _ in range(concurrency)))
    return time.perf_counter() - t0, latencies


if __name__ == "__main__":
    main()
