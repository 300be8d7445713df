"""How the population looked at each recompute, kept per scope as a ``trait_snapshot`` row:
counts per RFM class and lifecycle stage, CLV quantiles, and how many customers moved from
each stage to each since the recompute before (the dashboard's lifecycle flow)."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
from sqlalchemy.engine import Connection

from siyu import clock
from siyu.db import table_of
from siyu.traits.expressions import ALL_BRANDS
from siyu.traits.models import TraitSnapshot

# Per scope, customers per "from>to" stage ("" where a customer had no stage yet); None on the
# first recompute (nothing to compare with).
Flows = dict[int, dict[str, int]] | None


def write_snapshots(
    conn: Connection,
    run_id: int,
    ref: date,
    table: pa.Table,
    clv_fen: list[int | None],
    flows: Flows,
) -> None:
    """One snapshot row per scope: its RFM classes and lifecycle stages, CLV quantiles (all
    brands), and the stage moves since the recompute before."""
    stages = _counts(table, "lifecycle_stage")
    classes = _counts(table, "rfm_class")
    rows = [
        {
            "run_id": run_id,
            "scope": scope,
            "reference_date": ref,
            "customers": sum(stages[scope].values()),
            "rfm_classes": classes.get(scope, {}),
            "lifecycle": stages[scope],
            "clv_quantiles": quantiles(clv_fen) if scope == ALL_BRANDS else {},
            "lifecycle_flow": None if flows is None else flows.get(scope, {}),
            "taken_at": clock.now(),
        }
        for scope in sorted(stages)
    ]
    if rows:
        conn.execute(table_of(TraitSnapshot).insert(), rows)


def _counts(table: pa.Table, column: str) -> dict[int, dict[str, int]]:
    """Customers per value of ``column`` in each scope (nulls left out)."""
    grouped = table.group_by(["scope", column]).aggregate([("customer_id", "count")]).to_pylist()
    out: dict[int, dict[str, int]] = {}
    for row in grouped:
        if row[column] is not None:
            out.setdefault(row["scope"], {})[row[column]] = row["customer_id_count"]
    return out


def quantiles(values: list[int | None]) -> dict[str, int]:
    """p10 … p99 of the known values (nearest rank), for the CLV trend chart."""
    known = sorted(v for v in values if v is not None)
    if not known:
        return {}
    return {
        f"p{q}": known[min(len(known) - 1, len(known) * q // 100)] for q in (10, 25, 50, 75, 90, 99)
    }
