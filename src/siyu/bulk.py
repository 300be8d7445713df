"""Bulk writes for the hot paths (imports, fan-out): driver-level executemany, ids allocated ahead.

The ORM is right for everything else; a million-row import is not everything else.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session


def insert_sql(conn: Connection, table: sa.Table, columns: Sequence[str]) -> str:
    quote = conn.dialect.identifier_preparer.quote
    marks = ", ".join(["?" if conn.dialect.paramstyle == "qmark" else "%s"] * len(columns))
    cols = ", ".join(quote(c) for c in columns)
    return f"INSERT INTO {quote(table.name)} ({cols}) VALUES ({marks})"  # noqa: S608 - names are ours


def insert_rows(
    conn: Connection, table: sa.Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """executemany straight to the driver; values must already be in database form."""
    if rows:
        conn.exec_driver_sql(insert_sql(conn, table, columns), list(rows))


def allocate_ids(conn: Connection, table: sa.Table, n: int) -> list[int]:
    """Reserve n primary keys before inserting, so dependent rows can be written in one pass.

    PostgreSQL draws them from the table's sequence. SQLite has one writer at a time: the caller
    must already hold the write lock (have written in this transaction), then max(id)+1… is safe;
    for a table declared ``sqlite_autoincrement`` the ids start past the highest ever used (the
    rows written with them move SQLite's own mark on).
    """
    if n <= 0:
        return []
    if conn.dialect.name == "postgresql":
        rows = conn.execute(
            sa.text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
            {"t": table.name, "n": n},
        )
        return [r[0] for r in rows]
    start = conn.execute(sa.select(sa.func.coalesce(sa.func.max(table.c.id), 0))).scalar_one()
    if table.dialect_options["sqlite"].get("autoincrement"):  # past any id ever given out
        seq = conn.execute(
            sa.text("SELECT seq FROM sqlite_sequence WHERE name = :t"), {"t": table.name}
        ).scalar()
        start = max(start, seq or 0)
    return list(range(start + 1, start + 1 + n))


def db_time(conn: Connection, value: datetime | None) -> Any:
    """A timezone-aware datetime in the form the driver stores it (naive UTC text on SQLite)."""
    if value is None:
        return None
    return utc_text(value) if conn.dialect.name == "sqlite" else value


def utc_text(value: datetime | None) -> str | None:
    """An aware datetime as SQLite stores it: naive UTC text, as SQLAlchemy writes it. Imports
    carry times in this form from the parser to the database (see ``stored_time``)."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    text = value.replace(tzinfo=None).isoformat(" ")
    return text if value.microsecond else text + ".000000"


def stored_time(conn: Connection, text: str | None) -> Any:
    """A ``utc_text`` value in the form the driver stores it (as is on SQLite)."""
    if text is None or conn.dialect.name == "sqlite":
        return text
    return from_utc_text(text)


def from_utc_text(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text).replace(tzinfo=UTC) if text is not None else None


def from_db_time(value: Any) -> datetime | None:
    """A time as the driver reads it back (naive UTC text on SQLite), timezone-aware UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)  # from_utc_text, inlined
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def session_reads(session: Session) -> Connection:
    """The session's connection for driver-level reads (``rows_where_in``), after the flush
    its own queries would have made first (autoflush): they see what the session holds."""
    if session.autoflush:
        session.flush()
    return session.connection()


def db_date(conn: Connection, value: date | None) -> Any:
    """A date in the form the driver stores it (ISO text on SQLite, as SQLAlchemy writes it)."""
    if value is None:
        return None
    return value.isoformat() if conn.dialect.name == "sqlite" else value


def chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def rows_where_in(
    conn: Connection,
    sql: str,
    params: Sequence[Any],
    values: Sequence[Any],
    chunk: int = 5000,
) -> Iterable[Sequence[Any]]:
    """Rows of a driver-level query whose ``{in}`` is replaced by a placeholder list for each
    chunk of ``values``; ``?`` in ``sql`` marks the fixed parameters. The SQL text is ours, never
    built from values (they are all bound parameters)."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    base = sql.replace("?", mark)
    for part in chunks(values, chunk):
        text = base.replace("{in}", ", ".join([mark] * len(part)))
        yield from conn.exec_driver_sql(text, (*params, *part)).all()


_paused = 0
_paused_lock = threading.Lock()


@contextmanager
def collector_paused(collect: bool = True) -> Iterator[None]:
    """Python's cycle collector off for a bulk job (nested and concurrent uses are counted).

    A million-row import makes tens of millions of short-lived objects (cells, tuples, rows)
    that reference counting frees at once; the cycle collector would scan the growing heap over
    and over for cycles that are not there — about a sixth of an import's time. It runs again,
    with one full collection, when the last bulk job ends. A short job called over and over (a
    batch of a few thousand rows) passes ``collect=False``: a full collection each time would
    cost more than the scans it saves; what the job left is in the youngest generation, which
    the collector looks at again at its next allocations."""
    global _paused
    with _paused_lock:
        _paused += 1
        if _paused == 1:
            gc.disable()
    try:
        yield
    finally:
        with _paused_lock:
            _paused -= 1
            if _paused == 0:
                gc.enable()
                if collect:
                    gc.collect()
