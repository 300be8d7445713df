"""Campaign fan-out on the embedded default (DESIGN §6, issue 7): writing the send ledger for a
campaign to N customers, against a plain INSERT … SELECT of the same rows, in the same run.

1. A fresh SQLite database at head; N customers and a segment holding all of them (written
   with plain SQL, untimed).
2. Baseline: `INSERT INTO ledger_copy SELECT …` of the same columns from the segment, where
   ledger_copy has send_ledger's shape, indexes and foreign key (its unique key, its due,
   customer and batch indexes), no holdout and no conflict clause.
3. Siyu: `reach.ledger.fan_out` for a campaign with a 10 % holdout (the hash draw, the CASE, the
   unique key with ON CONFLICT DO NOTHING, and the counts it returns).

Prints recipients/s for both and the ratio (target: ≥ 100k recipients/s, ≤ 2× the baseline).
Usage: python bench/fanout.py [--customers 1000000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--database-url", default=None, help="Default: a fresh SQLite file.")
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
        from siyu.reach.models import Campaign
        from siyu.reach.sending.ledger import fan_out

        engine = get_engine()
        t0 = time.perf_counter()
        segment_id = _audience(engine, args.customers)
        print(
            f"{args.customers:,} customers and a segment of them in {time.perf_counter() - t0:.1f}s"
        )
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE IF EXISTS ledger_copy"))
            conn.execute(
                sa.text(
                    "CREATE TABLE ledger_copy (id INTEGER PRIMARY KEY, origin VARCHAR(16) NOT NULL, origin_id BIGINT NOT NULL, campaign_id INTEGER REFERENCES campaign (id),"
                    " step INTEGER NOT NULL, customer_id INTEGER NOT NULL, channel VARCHAR(12) NOT NULL,"
                    " variant VARCHAR(8) NOT NULL, state VARCHAR(10) NOT NULL, reason VARCHAR(40),"
                    " attempts INTEGER NOT NULL, due_at TIMESTAMP NOT NULL, send_by TIMESTAMP NOT NULL,"
                    " created_at TIMESTAMP NOT NULL, checked_at TIMESTAMP, batch_id INTEGER,"
                    " UNIQUE (origin, origin_id, step, customer_id, channel))"
                    if engine.dialect.name == "sqlite"
                    else "CREATE TABLE ledger_copy (id BIGSERIAL PRIMARY KEY, origin VARCHAR(16) NOT NULL, origin_id BIGINT NOT NULL, campaign_id INTEGER REFERENCES campaign (id),"
                    " step INTEGER NOT NULL, customer_id INTEGER NOT NULL, channel VARCHAR(12) NOT NULL,"
                    " variant VARCHAR(8) NOT NULL, state VARCHAR(10) NOT NULL, reason VARCHAR(40),"
                    " attempts INTEGER NOT NULL, due_at TIMESTAMPTZ NOT NULL, send_by TIMESTAMPTZ NOT NULL,"
                    " created_at TIMESTAMPTZ NOT NULL, checked_at TIMESTAMPTZ, batch_id INTEGER,"
                    " UNIQUE (origin, origin_id, step, customer_id, channel))"
                )
            )
            conn.execute(sa.text("CREATE INDEX ix_ledger_copy_due ON ledger_copy (state, due_at)"))
            conn.execute(
                sa.text(
                    "CREATE INDEX ix_ledger_copy_customer ON ledger_copy (customer_id, checked_at)"
                )
            )
            conn.execute(
                sa.text(
                    "CREATE INDEX ix_ledger_copy_batch ON ledger_copy (batch_id)"
                    " WHERE batch_id IS NOT NULL"
                )
            )
            conn.execute(
                sa.text(
                    "CREATE INDEX ix_ledger_copy_transactional ON ledger_copy (state, due_at)"
                    " WHERE origin = 'transactional'"
                )
            )
        with new_session() as session:
            campaign = Campaign(
                name="bench",
                segment_id=segment_id,
                channel="sms",
                holdout_pct=10,
                holdout_seed=7,
                created_by="bench",
            )
            session.add(campaign)
            session.commit()
            campaign_id = campaign.id
        now = "2026-12-01 00:00:00.000000"
        t0 = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO ledger_copy (origin, origin_id, campaign_id, step, customer_id,"
                    " channel, variant, state, reason, attempts, due_at, send_by, created_at)"
                    " SELECT 'campaign', :campaign, :campaign, 0, customer_id, 'sms', '', 'pending',"
                    " NULL, 0, :now, :now, :now"
                    " FROM segment_member WHERE segment_id = :seg"
                ),
                {"now": now, "seg": segment_id, "campaign": campaign_id},
            )
        baseline = time.perf_counter() - t0
        with new_session() as session:
            campaign = session.get(Campaign, campaign_id)
            assert campaign is not None
            t0 = time.perf_counter()
            out = fan_out(session, campaign)
            session.commit()
            siyu_s = time.perf_counter() - t0
        n = args.customers
        print(
            f"baseline  : INSERT … SELECT of {n:,} rows in {baseline:.2f}s = {n / baseline:,.0f} rows/s"
        )
        print(
            f"fan-out   : {out['added']:,} ledger rows ({out['held_out']:,} held out) in "
            f"{siyu_s:.2f}s = {n / siyu_s:,.0f} recipients/s"
        )
        print(
            f"ratio     : {siyu_s / baseline:.2f}× the baseline (target ≤ 2×; ≥ 100k recipients/s)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


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
