"""Campaign fan-out on the embedded default (DESIGN §6, issue 7): writing the send ledger for a
campaign to N customers, against a plain INSERT … SELECT of the same rows, in the same run.

1. A fresh SQLite database at head; N customers and a segment holding all of them (written
   with plain SQL, untimed).
2. Baseline: `INSERT INTO ledger_copy SELECT …` of the same columns from the segment, where
   ledger_copy is copied from send_ledger's definition in the database (its columns, unique
   key, indexes and foreign keys), with no holdout, no conflict clause and no counts.
3. Siyu: `reach.sending.ledger.fan_out` for a campaign with a 10 % holdout (the hash draw, the
   CASE, the unique key's check, and the counts it returns).
4. Steps 2 and 3 run in --rounds rounds, each on emptied tables and a new campaign, taking
   turns at going first; the figures are medians (one round's commit can stall on a noisy
   machine).

Prints recipients/s for both and the ratio (target: ≥ 100k recipients/s, ≤ 2× the baseline).
Usage: python bench/fanout.py [--customers 1000000] [--rounds 3] [--database-url URL]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--database-url", default=None, help="Default: a fresh SQLite file.")
    ap.add_argument("--rounds", type=int, default=3, help="Alternating timed rounds (median).")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="siyu-fanout-"))
    url = args.database_url or f"sqlite:///{work / 'fanout.db'}"
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
        import sqlalchemy as sa

        from siyu.db import get_engine, new_session

        engine = get_engine()
        t0 = time.perf_counter()
        segment_id = _audience(engine, args.customers)
        print(
            f"{args.customers:,} customers and a segment of them in {time.perf_counter() - t0:.1f}s"
        )
        _ledger_copy(engine)
        base_runs: list[float] = []
        siyu_runs: list[float] = []
        for round_no in range(args.rounds):
            with engine.begin() as conn:  # both tables start each round empty (untimed)
                conn.execute(sa.text("DELETE FROM ledger_copy"))
                conn.execute(sa.text("DELETE FROM send_ledger"))
            campaign_id = _campaign(new_session, segment_id, round_no)
            if round_no % 2:  # alternate which goes first
                siyu_runs.append(_fan_out(new_session, campaign_id))
                base_runs.append(_baseline(engine, segment_id, campaign_id))
            else:
                base_runs.append(_baseline(engine, segment_id, campaign_id))
                siyu_runs.append(_fan_out(new_session, campaign_id))
            print(
                f"round {round_no + 1}: baseline {base_runs[-1]:.2f}s, fan-out {siyu_runs[-1]:.2f}s"
                f" ({siyu_runs[-1] / base_runs[-1]:.2f}×)",
                flush=True,
            )
        n = args.customers
        baseline, siyu_s = statistics.median(base_runs), statistics.median(siyu_runs)
        print(
            f"baseline  : INSERT … SELECT of {n:,} rows in {baseline:.2f}s = {n / baseline:,.0f}"
            f" rows/s (median of {args.rounds})"
        )
        print(f"fan-out   : {n:,} recipients in {siyu_s:.2f}s = {n / siyu_s:,.0f} recipients/s")
        ratio = statistics.median(s / b for s, b in zip(siyu_runs, base_runs, strict=True))
        print(
            f"ratio     : {ratio:.2f}× the baseline (median of the rounds' ratios;"
            " target ≤ 2×; ≥ 100k recipients/s)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _ledger_copy(engine: Any) -> None:
    """ledger_copy: send_ledger's shape as the database holds it (columns, unique key, indexes,
    foreign keys), so the baseline follows the ledger whatever its shape."""
    import sqlalchemy as sa

    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS ledger_copy"))
        if engine.dialect.name == "sqlite":
            ddl = conn.execute(
                sa.text(
                    "SELECT sql FROM sqlite_master WHERE tbl_name = 'send_ledger'"
                    " AND sql IS NOT NULL ORDER BY type DESC"  # the table, then its indexes
                )
            ).scalars()
            for statement in list(ddl):
                conn.execute(sa.text(statement.replace("send_ledger", "ledger_copy")))
        else:
            conn.execute(sa.text("CREATE TABLE ledger_copy (LIKE send_ledger INCLUDING ALL)"))
            for fk in conn.execute(
                sa.text(
                    "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
                    " WHERE conrelid = 'send_ledger'::regclass AND contype = 'f'"
                )
            ).scalars():
                conn.execute(sa.text(f"ALTER TABLE ledger_copy ADD {fk}"))


def _baseline(engine: Any, segment_id: int, campaign: int) -> float:
    """The same rows as the fan-out writes, by a plain INSERT … SELECT (no holdout draw, no
    conflict clause, no counts)."""
    import sqlalchemy as sa

    columns = {c["name"] for c in sa.inspect(engine).get_columns("send_ledger")}
    keyed = "origin" in columns  # the ledger keyed by origin (campaign, journey, …)
    now = "2026-12-01 00:00:00.000000"
    t0 = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO ledger_copy ("
                + ("origin, origin_id, " if keyed else "")
                + "campaign_id, step, customer_id, channel, variant, state, reason, attempts,"
                " due_at, send_by, created_at) SELECT "
                + ("'campaign', :campaign, " if keyed else "")
                + ":campaign, 0, customer_id, 'sms', '', 'pending', NULL, 0, :now, :now, :now"
                " FROM segment_member WHERE segment_id = :seg"
            ),
            {"now": now, "seg": segment_id, "campaign": campaign},
        )
    return time.perf_counter() - t0


def _campaign(new_session: Callable[[], Any], segment_id: int, round_no: int) -> int:
    """A new campaign to all of the segment, with a 10 % holdout (untimed)."""
    from siyu.reach.models import Campaign

    with new_session() as session:
        campaign = Campaign(
            name=f"bench {round_no}",
            segment_id=segment_id,
            channel="sms",
            holdout_pct=10,
            holdout_seed=7,
            created_by="bench",
        )
        session.add(campaign)
        session.commit()
        return int(campaign.id)


def _fan_out(new_session: Callable[[], Any], campaign_id: int) -> float:
    """Siyu's fan-out of the campaign, committed; seconds taken."""
    from siyu.reach.models import Campaign

    try:
        from siyu.reach.sending.ledger import fan_out
    except ImportError:  # before the reach capability was split into sub-features
        from siyu.reach.ledger import fan_out  # type: ignore[no-redef]
    with new_session() as session:
        campaign = session.get(Campaign, campaign_id)
        t0 = time.perf_counter()
        out = fan_out(session, campaign)
        session.commit()
        took = time.perf_counter() - t0
    assert out["added"] > 0, out
    return took


def _audience(engine: object, n: int) -> int:
    import sqlalchemy as sa

    assert isinstance(engine, sa.Engine)
    now = "2026-11-01 00:00:00.000000"
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(
                sa.text(
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :n)"
                    " INSERT INTO customer (id, status, suppressed, do_not_disturb, created_at,"
                    " updated_at) SELECT i, 'active', 0, 0, :now, :now FROM n"
                ),
                {"n": n, "now": now},
            )
        else:
            conn.execute(
                sa.text(
                    "INSERT INTO customer (id, status, suppressed, do_not_disturb, created_at,"
                    " updated_at) SELECT i, 'active', false, false, now(), now()"
                    " FROM generate_series(1, :n) AS i"
                ),
                {"n": n},
            )
        seg = conn.execute(
            sa.text(
                "INSERT INTO segment (name, description, dynamic, rule_text, size, created_by,"
                " created_at, updated_at) VALUES ('bench', '', :f, '', :n, 'bench', :now, :now)"
                " RETURNING id"
            ),
            {"n": n, "now": now, "f": False},
        ).scalar_one()
        conn.execute(
            sa.text(
                "INSERT INTO segment_member (segment_id, customer_id, entered_at)"
                " SELECT :seg, id, created_at FROM customer"
            ),
            {"seg": seg},
        )
    return int(seg)


if __name__ == "__main__":
    main()
