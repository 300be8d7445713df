"""Order import throughput on SQLite (DESIGN §6): the real importer vs raw executemany.

1. Generate N Taobao orders (GBK, one row per order) with the demo generator.
2. Import them with `siyu import orders` in a child process (end to end: decode, parse,
   normalise, resolve identities, write), measuring wall time and the child's peak memory.
3. Baseline, same run: read back exactly the rows the import wrote (customers, identities,
   orders, lines) and write them into a fresh database's same tables with raw executemany,
   in batches of the same size, one transaction per batch.

Prints rows/s for both and the ratio (target: ≥ 100k rows/s, ≤ 2× the baseline, < 1 GB).
Usage: python bench/import_orders.py [--orders 1000000] [--seed 7]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TABLES = ["customer", "identity", "order", "order_line"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="siyu-bench-"))
    siyu = str(Path(sys.executable).parent / "siyu")
    env = {
        **os.environ,
        "SIYU_DATA_DIR": str(work / "var"),
        "SIYU_SECRET_KEY": "bench-secret-key-not-for-production-use",
        "SIYU_MODE": "production",
        "SIYU_DATABASE_URL": f"sqlite:///{work / 'import.db'}",
    }
    try:
        from siyu.demo.generate import BENCH_AS_OF, generate_orders_file

        t0 = time.perf_counter()
        path = generate_orders_file(
            "taobao", args.orders, args.seed, work / "data", as_of=BENCH_AS_OF
        )
        print(
            f"generated {args.orders:,} Taobao orders ({path.stat().st_size / 1e6:.0f} MB) "
            f"in {time.perf_counter() - t0:.1f}s"
        )
        subprocess.run([siyu, "db", "upgrade"], env=env, check=True, capture_output=True)

        t0 = time.perf_counter()
        proc = subprocess.run(
            [siyu, "import", "orders", str(path), "--source", "taobao", "--json"],
            env=env,
            capture_output=True,
            text=True,
        )
        import_s = time.perf_counter() - t0
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        if proc.returncode != 0:
            print(proc.stdout, proc.stderr)
            raise SystemExit("import failed")
        import json

        summary = json.loads(proc.stdout)
        rows = summary["read"]

        baseline_s, counts = baseline(work / "import.db", work / "baseline.db", env)
        print(f"rows in the tables: {counts}")
        print(
            f"importer  : {rows:,} order rows in {import_s:.2f}s = {rows / import_s:,.0f} rows/s "
            f"(peak memory {peak_mb:,.0f} MB; inserted {summary['inserted']:,}, "
            f"customers {summary['customers_created']:,}, rejected {summary['rejected_total']:,})"
        )
        print(
            f"baseline  : executemany of the same rows in {baseline_s:.2f}s = "
            f"{rows / baseline_s:,.0f} rows/s"
        )
        print(
            f"ratio     : importer takes {import_s / baseline_s:.2f}× the baseline time "
            f"(target ≤ 2×; ≥ 100k rows/s; < 1 GB)"
        )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def baseline(source_db: Path, target_db: Path, env: dict[str, str]) -> tuple[float, dict[str, int]]:
    subprocess.run(
        [str(Path(sys.executable).parent / "siyu"), "db", "upgrade"],
        env={**env, "SIYU_DATABASE_URL": f"sqlite:///{target_db}"},
        check=True,
        capture_output=True,
    )
    src = sqlite3.connect(source_db)
    data = {t: src.execute(f'SELECT * FROM "{t}" ORDER BY id').fetchall() for t in TABLES}
    cols = {t: [d[1] for d in src.execute(f'PRAGMA table_info("{t}")')] for t in TABLES}
    src.close()
    dst = sqlite3.connect(target_db, isolation_level=None)
    for pragma in (
        "journal_mode=WAL",
        "synchronous=NORMAL",
        "foreign_keys=ON",
        "cache_size=-65536",
        "temp_store=MEMORY",
        "secure_delete=ON",
    ):
        dst.execute(f"PRAGMA {pragma}")
    for t in ("brand", "store", "product", "import_run"):  # reference data, not timed
        rows = src_rows(source_db, t)
        if rows:
            dst.executemany(f'INSERT INTO "{t}" VALUES ({",".join("?" * len(rows[0]))})', rows)
    from siyu.config import Settings

    batch_rows = Settings().import_batch_rows  # the importer's batch size, from the same settings
    plan = plan_batches(data, cols, batch_rows)  # untimed: which rows go in which transaction
    started = time.perf_counter()
    for batch in plan:
        dst.execute("BEGIN")
        for t in TABLES:
            if batch[t]:
                marks = ",".join("?" * len(cols[t]))
                names = ",".join(f'"{c}"' for c in cols[t])
                dst.executemany(f'INSERT INTO "{t}" ({names}) VALUES ({marks})', batch[t])
        dst.execute("COMMIT")
    elapsed = time.perf_counter() - started
    dst.close()
    return elapsed, {t: len(v) for t, v in data.items()}


def plan_batches(
    data: dict[str, list[tuple[object, ...]]], cols: dict[str, list[str]], size: int
) -> list[dict[str, list[tuple[object, ...]]]]:
    """Group the rows as the importer wrote them: per batch of orders, the customers first seen
    in it with their identities, the orders, and their lines."""
    ci = {t: {c: i for i, c in enumerate(cols[t])} for t in TABLES}
    orders = data["order"]
    batches: list[dict[str, list[tuple[object, ...]]]] = []
    customer_batch: dict[object, int] = {}
    order_batch: dict[object, int] = {}
    for n, row in enumerate(orders):
        b = n // size
        order_batch[row[ci["order"]["id"]]] = b
        customer_batch.setdefault(row[ci["order"]["customer_id"]], b)
    last = max(len(orders) - 1, 0) // size
    for _ in range(last + 1):
        batches.append({t: [] for t in TABLES})
    for row in data["customer"]:
        batches[customer_batch.get(row[0], last)]["customer"].append(row)
    for row in data["identity"]:
        batches[customer_batch.get(row[ci["identity"]["customer_id"]], last)]["identity"].append(
            row
        )
    for row in orders:
        batches[order_batch[row[0]]]["order"].append(row)
    for row in data["order_line"]:
        batches[order_batch[row[ci["order_line"]["order_id"]]]]["order_line"].append(row)
    return batches


def src_rows(db: Path, table: str) -> list[tuple[object, ...]]:
    con = sqlite3.connect(db)
    try:
        return con.execute(f'SELECT * FROM "{table}"').fetchall()
    finally:
        con.close()


if __name__ == "__main__":
    main()
