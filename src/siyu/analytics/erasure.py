"""Erasure (PIPL) in the analytical copy: the person's rows, and every byte of them.

DuckDB keeps a deleted row's bytes in the file's free blocks (``CHECKPOINT`` and ``VACUUM`` do
not overwrite them), so deleting is not enough. An erasure works in two steps:

1. ``forget``, inside the erasure's transaction: the person's rows leave the copy (reports stop
   counting them at once) and a marker beside the copy (``<copy>.erasing``, customer ids only)
   records that the file still needs rebuilding.
2. ``purge``, after the commit: with the copy closed to everyone (``gate.exclusive``) the rows
   are deleted again (a refresh may have copied them back before the commit), every table —
   the copy's own state included — is copied into a new file, the new file replaces the old
   one atomically, the old file's bytes are overwritten with zeros, and the Spark engine's
   Parquet exports and DuckDB's spill files are removed. Then the new file is searched for the
   person's values: in every text column of every table (DuckDB compresses strings, so a byte
   search alone proves nothing) and in its raw bytes.

If the copy stays in use longer than ``SIYU_ANALYTICS_ERASE_WAIT_SECONDS``, or the process
dies after the commit, the marker stays and the next refresh of the copy (the worker refreshes
it on its schedule) rebuilds the file. The rebuild costs about as much as copying the file
once: this is the price of an erasure that leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from siyu.analytics import gate
from siyu.analytics.engines import LOCK_WAIT_SECONDS, EngineUnavailable, open_duckdb
from siyu.analytics.tables import copied_tables, quote
from siyu.config import Settings

PENDING = ".erasing"
FORGET_WAIT_SECONDS = 2.0  # inside the erasure's transaction: do not hold it long
REBUILD = ".rebuild"
_CHUNK = 8 * 1024 * 1024


@dataclass
class CopyErasure:
    """What an erasure did to the analytical copy (the erasure report's ``analytical_copy``).

    ``state``: ``no copy`` (none built yet: nothing to do), ``rebuilt`` (the file was rewritten
    without the person and checked), ``pending`` (the rows are gone but the file is rebuilt by
    the next refresh; ``note`` says why)."""

    state: str = "no copy"
    rows_removed: dict[str, int] = field(default_factory=dict)
    bytes_before: int = 0
    bytes_after: int = 0
    seconds: float = 0.0
    forms_searched: int = 0
    found_in: list[str] = field(default_factory=list)
    files_removed: list[str] = field(default_factory=list)
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def forget(settings: Settings, customer_ids: Sequence[int]) -> dict[str, int]:
    """Step 1, inside the erasure's transaction: the rows leave the copy and the rebuild is
    marked pending. Returns rows removed per table (none when there is no copy yet)."""
    path = settings.resolved_analytics_path
    if not customer_ids or not path.exists():
        return {}
    try:
        with open_duckdb(path, wait=FORGET_WAIT_SECONDS) as duck:
            _mark_pending(path, customer_ids)
            return _delete(duck, customer_ids)
    except EngineUnavailable:
        # a refresh or a report has it open (DuckDB lets one writer in, and no writer beside
        # readers): the purge after the commit, or the next refresh, deletes them
        _mark_pending(path, customer_ids)
        return {}


def purge(
    settings: Settings,
    customer_ids: Sequence[int],
    values: Iterable[str],
    *,
    wait: float | None = None,
) -> CopyErasure:
    """Step 2, after the commit: rebuild the copy without the people (and those of any erasure
    still pending), remove the files beside it that may hold their rows, and search the new
    file for ``values`` (the person's phone, ids, names… in the forms they are stored in)."""
    path = settings.resolved_analytics_path
    out = CopyErasure()
    started = time.monotonic()
    wait = settings.analytics_erase_wait_seconds if wait is None else wait
    try:
        with gate.exclusive(path, wait):
            pending = _pending(path)
            ids = sorted(set(customer_ids) | set(pending))
            out.files_removed = _remove_side_files(path)
            if path.exists():
                out.bytes_before = path.stat().st_size
                out.rows_removed = _rebuild(path, ids)
                out.bytes_after = path.stat().st_size
                out.state = "rebuilt"
            _clear_pending(path, ids)
            if path.exists():
                forms = _forms(values)
                out.forms_searched = len(forms)
                out.found_in = _search(path, forms)
                if not forms:
                    out.note = "the erased values are no longer known here: not searched"
    except gate.GateBusy as exc:
        out.state = "pending"
        out.note = f"{exc}; the next refresh of the copy deletes the rows left and rebuilds it"
    except (duckdb.Error, OSError, EngineUnavailable) as exc:
        if out.state == "rebuilt":  # the search failed: say so, never "clean"
            out.found_in.append(f"not searched ({exc})")
        else:
            out.state = "pending"
            out.note = f"the rebuild failed ({exc}); the next refresh tries again"
    out.seconds = round(time.monotonic() - started, 3)
    return out


def finish_pending(settings: Settings) -> CopyErasure | None:
    """A rebuild an erasure left pending (the copy was busy, or the process died after the
    commit): done now, by whoever refreshes the copy. None when nothing is pending or this
    thread has the copy open (it stays pending for the next refresh)."""
    path = settings.resolved_analytics_path
    if not path.with_name(path.name + PENDING).exists() or gate.held_here(path):
        return None
    return purge(settings, [], (), wait=LOCK_WAIT_SECONDS)


# -- the steps --------------------------------------------------------------------------------
def _delete(duck: duckdb.DuckDBPyConnection, customer_ids: Sequence[int]) -> dict[str, int]:
    """Delete the people's rows from every table that holds customers (one transaction)."""
    existing = {r[0] for r in duck.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    steps = [
        (
            "order_line",
            'order_id IN (SELECT id FROM "order" WHERE customer_id IN (SELECT id FROM erased))',
        )
    ]
    steps += [
        (t.name, f"{quote(t.customer_key)} IN (SELECT id FROM erased)")
        for t in copied_tables()
        if t.customer_key and t.name != "customer"
    ]
    steps.append(
        ("customer", "id IN (SELECT id FROM erased) OR merged_into_id IN (SELECT id FROM erased)")
    )
    removed: dict[str, int] = {}
    duck.register("erased", pa.table({"id": pa.array(list(customer_ids), pa.int64())}))
    duck.execute("BEGIN")
    try:
        for name, where in steps:
            if name in existing:
                rows = duck.execute(f"DELETE FROM {quote(name)} WHERE {where}").fetchall()
                if rows and rows[0][0]:
                    removed[name] = int(rows[0][0])
        duck.execute("COMMIT")
    except Exception:
        duck.execute("ROLLBACK")
        raise
    finally:
        duck.unregister("erased")
    return removed


def _rebuild(path: Path, customer_ids: Sequence[int]) -> dict[str, int]:
    """Delete, copy every table into a new file, swap it in, zero the old file's bytes."""
    fresh = path.with_name(path.name + REBUILD)
    for leftover in (fresh, fresh.with_name(fresh.name + ".wal")):
        leftover.unlink(missing_ok=True)
    with open_duckdb(path) as duck:  # this thread holds the gate: nobody else has the copy
        removed = _delete(duck, customer_ids) if customer_ids else {}
        duck.execute("CHECKPOINT")
        name = duck.execute("SELECT current_database()").fetchall()[0][0]
        target = str(fresh).replace("'", "''")
        duck.execute(f"ATTACH '{target}' AS siyu_rebuilt")
        try:
            duck.execute(f"COPY FROM DATABASE {quote(name)} TO siyu_rebuilt")
        finally:
            duck.execute("DETACH siyu_rebuilt")
    wal = path.with_name(path.name + ".wal")
    if wal.exists() or fresh.with_name(fresh.name + ".wal").exists():
        fresh.unlink(missing_ok=True)
        raise OSError("a write-ahead log was left beside the copy; not swapped")
    _fsync(fresh)
    old = os.open(path, os.O_RDWR)
    try:
        os.replace(fresh, path)
        _fsync(path.parent)
        _zero(old)
    finally:
        os.close(old)
    return removed


def _zero(fd: int) -> None:
    """Overwrite a (replaced, still open) file's bytes with zeros, so the blocks the filesystem
    frees hold nothing readable (on copy-on-write filesystems and SSDs the device may still
    keep old blocks; that is below what an application can reach)."""
    size = os.fstat(fd).st_size
    block = bytes(_CHUNK)
    os.lseek(fd, 0, os.SEEK_SET)
    done = 0
    while done < size:
        done += os.write(fd, block[: min(_CHUNK, size - done)])
    os.fsync(fd)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_side_files(path: Path) -> list[str]:
    """The Spark engine's Parquet exports (written again at its next use) and DuckDB's spill
    folder: copies of the copy's rows. Names relative to the copy's folder."""
    removed = []
    exports = path.parent / "parquet"
    if exports.is_dir():
        for f in sorted(exports.rglob("*")):
            if f.is_file():
                removed.append(f.relative_to(path.parent).as_posix())
        shutil.rmtree(exports)
    spill = path.with_name(path.name + ".tmp")
    if spill.is_dir():
        removed.append(spill.name + "/")
        shutil.rmtree(spill)
    return removed


# -- the check ----------------------------------------------------------------------------------
def _forms(values: Iterable[str]) -> list[str]:
    """The values as text may hold them: as given, and as JSON writes them (event properties
    keep Chinese as ``\\uXXXX`` escapes)."""
    forms: set[str] = set()
    for value in values:
        if len(value) < 2:
            continue
        forms.add(value)
        forms.add(json.dumps(value)[1:-1])
    return sorted(forms)


def _search(path: Path, forms: Sequence[str]) -> list[str]:
    """Where the new file still holds any of ``forms``: ``table.column`` for text columns,
    ``file bytes`` for the raw file."""
    if not forms:
        return []
    found = []
    with open_duckdb(path, read_only=True) as duck:
        columns = duck.execute(
            "SELECT table_name, column_name FROM duckdb_columns() WHERE NOT internal "
            "AND database_name = current_database() AND data_type = 'VARCHAR' "
            "ORDER BY table_name, column_index"
        ).fetchall()
        by_table: dict[str, list[str]] = {}
        for table, column in columns:
            by_table.setdefault(table, []).append(column)
        for table, cols in by_table.items():
            hits = " , ".join(
                "count(*) FILTER (WHERE "
                + " OR ".join(f"contains({quote(c)}, ?)" for _ in forms)
                + ")"
                for c in cols
            )
            params = [f for _c in cols for f in forms]
            counts = duck.execute(f"SELECT {hits} FROM {quote(table)}", params).fetchall()[0]
            found += [f"{table}.{c}" for c, n in zip(cols, counts, strict=True) if n]
    if _bytes_hold(path, forms):
        found.append("file bytes")
    return found


def _bytes_hold(path: Path, forms: Sequence[str]) -> bool:
    needles = sorted({f.encode("utf-8") for f in forms}, key=len, reverse=True)
    pattern = re.compile(b"|".join(re.escape(n) for n in needles))
    overlap = max(len(n) for n in needles) - 1
    tail = b""
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            if pattern.search(tail + chunk):
                return True
            tail = chunk[-overlap:] if overlap else b""
    return False


# -- the marker -----------------------------------------------------------------------------
def _marker(path: Path) -> Path:
    return path.with_name(path.name + PENDING)


def _pending(path: Path) -> list[int]:
    try:
        data = json.loads(_marker(path).read_text(encoding="utf-8"))
        return [int(i) for i in data.get("customers", [])]
    except (OSError, ValueError, TypeError, AttributeError):
        return []


def _mark_pending(path: Path, customer_ids: Iterable[int]) -> None:
    _write_marker(path, set(_pending(path)) | {int(i) for i in customer_ids})


def _clear_pending(path: Path, handled: Iterable[int]) -> None:
    """Drop the marker, keeping ids another erasure added meanwhile (it writes the marker
    without the gate when the copy is busy)."""
    left = set(_pending(path)) - set(handled)
    if left:
        _write_marker(path, left)
    else:
        _marker(path).unlink(missing_ok=True)


def _write_marker(path: Path, ids: Iterable[int]) -> None:
    tmp = path.with_name(path.name + PENDING + ".new")
    tmp.write_text(json.dumps({"customers": sorted(ids)}), encoding="utf-8")
    os.replace(tmp, _marker(path))
