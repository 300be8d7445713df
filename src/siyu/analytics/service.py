"""The analytical copy: the system of record's tables in a DuckDB file, refreshed incrementally.

Each table remembers when its last refresh started reading. The next refresh re-reads rows
whose ``updated_at`` is at or after that moment minus a safety overlap (transactions still
open then, clocks a little apart) and replaces them by id, so it is idempotent: running it
twice, or after a crash half-way, gives the same copy. (Following the newest ``updated_at``
copied instead would re-read, on every refresh, every row that shares it — a bulk load writes
a million rows with one time.) Small tables
are copied whole. Erasure removes a person from the copy and rebuilds the file
(``analytics.erasure``); a rebuild an erasure left pending is done by the next refresh.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa

from siyu import clock
from siyu.analytics.engines import open_duckdb
from siyu.analytics.source import Source, utc_naive
from siyu.analytics.tables import DUCK_TYPES, CopiedTable, by_name, copied_tables, quote
from siyu.config import Settings

STATE = "_siyu_copy_state"
Progress = Callable[[str, int], None]


@dataclass
class TableStatus:
    table: str
    rows: int
    watermark: datetime | None
    refreshed_at: datetime | None
    full_at: datetime | None


@dataclass
class RefreshReport:
    full: bool
    seconds: float = 0.0
    read: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    erasure: dict[str, Any] | None = None  # a rebuild an erasure had left pending, done now


def refresh_copy(
    settings: Settings,
    *,
    full: bool = False,
    only: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> RefreshReport:
    """Bring the copy up to date with the system of record (everything, if ``full``).

    ``only`` copies just the named tables, whole (an owner's job after it rewrote its table)."""
    started = clock.now()
    report = RefreshReport(full=full or only is not None)
    overlap = timedelta(seconds=settings.analytics_overlap_seconds)
    unknown = [n for n in only or () if n not in by_name()]
    if unknown:
        raise ValueError(f"the analytical copy has no table {', '.join(unknown)}")
    tables = copied_tables() if only is None else tuple(by_name()[n] for n in only)
    with (
        Source(settings.resolved_database_url) as source,
        open_duckdb(settings.resolved_analytics_path) as duck,
    ):
        _ensure_state(duck)
        since_of: dict[str, datetime | None] = {}
        changed_ids: dict[str, pa.Array] = {}
        for table in tables:
            if table.on_request and not full and only is None and _exists(duck, table.name):
                continue  # rewritten by its owner's job
            since = _since(duck, table, full or only is not None, overlap, since_of)
            since_of[table.name] = since
            data = source.read(table, since)
            _apply(duck, source, table, data, since, changed_ids, utc_naive(started))
            report.read[table.name] = data.num_rows
            report.rows[table.name] = _count(duck, table.name)
            if progress:
                progress(table.name, data.num_rows)
    from siyu.analytics.erasure import finish_pending

    rebuilt = finish_pending(settings)
    report.erasure = rebuilt.as_dict() if rebuilt else None
    report.seconds = (clock.now() - started).total_seconds()
    return report


def _since(
    duck: duckdb.DuckDBPyConnection,
    table: CopiedTable,
    full: bool,
    overlap: timedelta,
    since_of: dict[str, datetime | None],
) -> datetime | None:
    """Where an incremental read starts, or None to copy the table whole."""
    if full or not _exists(duck, table.name) or _columns(duck, table.name) != table.column_names:
        return None  # first copy, or a newer version copies other columns: rebuild it
    if table.follows:
        return since_of.get(table.follows[0])
    if table.changed_at is None:
        return None
    mark = _scalar(
        duck,
        f"SELECT COALESCE(read_from, watermark) FROM {STATE} WHERE table_name = ?",
        [table.name],
    )
    return None if mark is None else mark - overlap


def _apply(
    duck: duckdb.DuckDBPyConnection,
    source: Source,
    table: CopiedTable,
    data: pa.Table,
    since: datetime | None,
    changed_ids: dict[str, pa.Array],
    started: datetime,
) -> None:
    name = quote(table.name)
    select = ", ".join(f"{source.duck_expression(c, k)} AS {quote(c)}" for c, k in table.columns)
    duck.register("staged", data)
    duck.execute("BEGIN")
    try:
        if since is None:
            duck.execute(f"DROP TABLE IF EXISTS {name}")
            columns = ", ".join(f"{quote(c)} {DUCK_TYPES[k]}" for c, k in table.columns)
            duck.execute(f"CREATE TABLE {name} ({columns})")
            duck.execute(f"INSERT INTO {name} SELECT {select} FROM staged")
        else:
            if table.follows:
                parent, key = table.follows[:2]
                duck.register("changed_parent", pa.table({"id": changed_ids[parent]}))
                duck.execute(
                    f"DELETE FROM {name} WHERE {quote(key)} IN "
                    f"(SELECT id FROM changed_parent UNION SELECT {quote(key)} FROM staged)"
                )
                duck.unregister("changed_parent")
            else:
                duck.execute(f"DELETE FROM {name} WHERE id IN (SELECT id FROM staged)")
            duck.execute(f"INSERT INTO {name} SELECT {select} FROM staged")
        changed_ids[table.name] = data.column("id") if "id" in data.column_names else pa.array([])
        watermark: Any = None
        if table.changed_at:
            watermark = _scalar(duck, f"SELECT max({quote(table.changed_at)}) FROM {name}")
        now = utc_naive(clock.now())
        duck.execute(
            f"INSERT INTO {STATE} (table_name, watermark, refreshed_at, full_at, read_from) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (table_name) DO UPDATE SET "
            "watermark = excluded.watermark, refreshed_at = excluded.refreshed_at, "
            f"full_at = COALESCE(excluded.full_at, {STATE}.full_at), "
            "read_from = excluded.read_from",
            [table.name, watermark, now, now if since is None else None, started],
        )
        duck.execute("COMMIT")
    except Exception:
        duck.execute("ROLLBACK")
        raise
    finally:
        duck.unregister("staged")


def copy_status(settings: Settings) -> list[TableStatus]:
    """Rows, watermark and last refresh of each copied table (empty before the first refresh)."""
    path = settings.resolved_analytics_path
    if not path.exists():
        return []
    with open_duckdb(path, read_only=True) as duck:
        if not _exists(duck, STATE):
            return []
        state = {
            r[0]: r[1:]
            for r in duck.execute(
                f"SELECT table_name, watermark, refreshed_at, full_at FROM {STATE}"
            ).fetchall()
        }
        out = []
        for table in copied_tables():
            if table.name not in state or not _exists(duck, table.name):
                continue
            watermark, refreshed, full_at = state[table.name]
            out.append(
                TableStatus(table.name, _count(duck, table.name), watermark, refreshed, full_at)
            )
        return out


def refreshed_at(
    settings: Settings, tables: Sequence[str], duck: duckdb.DuckDBPyConnection | None = None
) -> datetime | None:
    """When the oldest of these tables was last refreshed (naive UTC), from the copy's own
    state row; None if any of them has never been copied. ``duck``: a connection to the copy
    already open (saves opening another)."""
    if duck is None:
        return _on_copy(settings, lambda opened: refreshed_at(settings, tables, opened))
    if not _exists(duck, STATE):
        return None
    rows = dict(duck.execute(f"SELECT table_name, refreshed_at FROM {STATE}").fetchall())
    times = [rows.get(t) for t in tables]
    return None if any(t is None for t in times) else min(times)  # type: ignore[type-var]


def _on_copy(settings: Settings, read: Callable[[duckdb.DuckDBPyConnection], Any]) -> Any:
    """``read`` on the copy opened read-only; None when there is no copy yet."""
    path = settings.resolved_analytics_path
    if not path.exists():
        return None
    with open_duckdb(path, read_only=True) as opened:
        return read(opened)


def copy_state(settings: Settings, tables: Sequence[str]) -> tuple[str | None, datetime | None]:
    """``content_version`` and ``refreshed_at`` of these tables, from one look at the copy."""
    got = _on_copy(
        settings,
        lambda d: (content_version(settings, tables, d), refreshed_at(settings, tables, d)),
    )
    return got if got is not None else (None, None)


def content_version(
    settings: Settings, tables: Sequence[str], duck: duckdb.DuckDBPyConnection | None = None
) -> str | None:
    """What these tables of the copy hold, as a short fingerprint: rows, newest change and last
    whole copy of each. A refresh that found nothing new leaves it as it was (so aggregates
    cached on it stay valid); an added, changed or erased row, or a rewritten table, changes
    it. None if any table has never been copied."""
    if duck is None:
        return _on_copy(settings, lambda opened: content_version(settings, tables, opened))
    if not _exists(duck, STATE):
        return None
    state = {
        r[0]: r[1:]
        for r in duck.execute(f"SELECT table_name, watermark, full_at FROM {STATE}").fetchall()
    }
    parts = []
    for name in tables:
        if name not in state or not _exists(duck, name):
            return None
        watermark, full_at = state[name]
        parts.append(f"{name}:{_count(duck, name)}:{watermark}:{full_at}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:20]


def erase_customers(settings: Settings, customer_ids: list[int]) -> int:
    """Remove people from the copy (PIPL erasure, the step inside the erasure's transaction;
    ``analytics.erasure`` rebuilds the file after it); returns rows removed. A copy not yet
    built holds nobody, so there is nothing to do."""
    from siyu.analytics.erasure import forget

    return sum(forget(settings, customer_ids).values())


def _ensure_state(duck: duckdb.DuckDBPyConnection) -> None:
    duck.execute(
        f"CREATE TABLE IF NOT EXISTS {STATE} (table_name VARCHAR PRIMARY KEY, "
        "watermark TIMESTAMP, refreshed_at TIMESTAMP, full_at TIMESTAMP, read_from TIMESTAMP)"
    )
    duck.execute(f"ALTER TABLE {STATE} ADD COLUMN IF NOT EXISTS read_from TIMESTAMP")


def _scalar(duck: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> Any:
    """The first value of a query's first row (fetching every row, as DuckDB wants results
    finished before the connection does anything else)."""
    rows = duck.execute(sql, params or []).fetchall()
    return rows[0][0] if rows else None


def _exists(duck: duckdb.DuckDBPyConnection, name: str) -> bool:
    sql = "SELECT count(*) FROM information_schema.tables WHERE table_name = ?"
    return bool(_scalar(duck, sql, [name]))


def _columns(duck: duckdb.DuckDBPyConnection, name: str) -> list[str]:
    rows = duck.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
        "ORDER BY ordinal_position",
        [name],
    ).fetchall()
    return [r[0] for r in rows]


def _count(duck: duckdb.DuckDBPyConnection, name: str) -> int:
    return int(_scalar(duck, f"SELECT count(*) FROM {quote(name)}") or 0)
