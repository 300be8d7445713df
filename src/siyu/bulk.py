"""Bulk writes for the hot paths (imports, fan-out): driver-level executemany, ids allocated ahead.

The ORM is right for everything else; a million-row import is not everything else.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection


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
    must already hold the write lock (have written in this transaction), then max(id)+1… is safe.
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
    return list(range(start + 1, start + 1 + n))


def db_time(conn: Connection, value: datetime | None) -> Any:
    """A timezone-aware datetime in the form the driver stores it (naive UTC text on SQLite)."""
    if value is None:
        return None
    if conn.dialect.name == "sqlite":
        if value.tzinfo is not UTC:
            value = value.astimezone(UTC)
        text = value.replace(tzinfo=None).isoformat(" ")
        return text if value.microsecond else text + ".000000"  # SQLAlchemy's stored form
    return value


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
