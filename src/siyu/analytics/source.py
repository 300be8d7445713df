"""Reading the system of record as Arrow tables, for the analytical copy.

PostgreSQL is read through ADBC, which moves rows column-wise without a Python object per value.
SQLite is read through Python's own sqlite3 module, batch by batch into typed Arrow arrays: ADBC's
SQLite driver carries its own copy of the SQLite library, and two copies of SQLite in one process
corrupt a database that the process also writes (closing a file in one copy drops the POSIX locks
the other holds; seen here as "database disk image is malformed" when the worker refreshed the
copy while the server stored callbacks). Text, time and float columns are read with a stand-in
for NULL ('' or a float no column holds), so every column has one type, and turned back into
NULLs in DuckDB.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote as quote_uri

import pyarrow as pa
from sqlalchemy.engine import make_url

from siyu.analytics.tables import (
    BOOL,
    DATE,
    DUCK_TYPES,
    FLOAT,
    INT,
    JSON,
    TEXT,
    TIME,
    CopiedTable,
    quote,
)

# A float NULL read from SQLite (see the module docstring): a value no column of ours holds.
_NO_FLOAT = "-1.0e308"
# How a column is selected from the source, per dialect and kind ({c} is the column).
_READ = {
    "sqlite": {
        TEXT: "COALESCE({c}, '')",
        JSON: "COALESCE({c}, '')",
        TIME: "COALESCE({c}, '')",
        DATE: "COALESCE({c}, '')",
        INT: "CAST({c} AS INTEGER)",
        BOOL: "CAST({c} AS INTEGER)",
        FLOAT: f"COALESCE(CAST({{c}} AS REAL), {_NO_FLOAT})",
    },
    "postgresql": {
        TIME: "({c} AT TIME ZONE 'UTC')",
        INT: "CAST({c} AS BIGINT)",
        JSON: "CAST({c} AS TEXT)",
        FLOAT: "CAST({c} AS DOUBLE PRECISION)",
    },
}
# The Arrow type each kind arrives as from SQLite (after the stand-ins above).
_ARROW = {
    TEXT: pa.string(),
    JSON: pa.string(),
    TIME: pa.string(),
    DATE: pa.string(),
    INT: pa.int64(),
    BOOL: pa.int64(),
    FLOAT: pa.float64(),
}
_BATCH = 100_000
# SQLite's text, time and float columns arrive with a stand-in for NULL (see above).
_UNBLANK = {
    TEXT: "NULLIF({c}, '')",
    JSON: "NULLIF({c}, '')",
    TIME: "CAST(NULLIF({c}, '') AS TIMESTAMP)",
    DATE: "CAST(NULLIF({c}, '') AS DATE)",
    FLOAT: f"NULLIF({{c}}, {_NO_FLOAT})",
}


class Source:
    """One read connection to the system of record."""

    def __init__(self, database_url: str) -> None:
        url = make_url(database_url)
        self.dialect = url.get_backend_name()
        if self.dialect == "sqlite":
            path = quote_uri(str(Path(url.database or "").resolve()))
            self._conn: Any = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        elif self.dialect == "postgresql":
            import adbc_driver_postgresql.dbapi as postgresql

            plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
            self._conn = postgresql.connect(plain)
        else:
            raise ValueError(f"the analytical copy cannot read from {self.dialect}")

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def read(self, table: CopiedTable, since: datetime | None = None) -> pa.Table:
        """All rows of ``table``, or those changed at or after ``since`` (naive UTC)."""
        alias = "t"
        cols = ", ".join(self._column(alias, c, k) for c, k in table.columns)
        sql = f"SELECT {cols} FROM {quote(table.name)} {alias}"
        params: tuple[Any, ...] = ()
        conditions = [table.where] if table.where else []
        if since is not None:
            if table.follows:
                parent, key, *changed_col = table.follows
                sql += f" JOIN {quote(parent)} p ON p.id = {alias}.{quote(key)}"
                changed = f"p.{quote(changed_col[0] if changed_col else 'updated_at')}"
            else:
                changed = f"{alias}.{quote(table.changed_at or 'updated_at')}"
            conditions.append(f"{changed} >= {self._mark()}")
            params = (self._time_param(since),)
        if conditions:
            sql += " WHERE " + " AND ".join(conditions)
        if self.dialect == "sqlite":
            return self._read_sqlite(sql, params, table)
        cur = self._conn.cursor()
        try:
            cur.execute(sql, params) if params else cur.execute(sql)
            return cur.fetch_arrow_table()
        finally:
            cur.close()

    def _read_sqlite(self, sql: str, params: tuple[Any, ...], table: CopiedTable) -> pa.Table:
        names = [c for c, _k in table.columns]
        types = [_ARROW[k] for _c, k in table.columns]
        batches = []
        cur = self._conn.execute(sql, params)
        try:
            while rows := cur.fetchmany(_BATCH):
                columns = list(zip(*rows, strict=True))
                batches.append(
                    pa.record_batch(
                        [pa.array(col, type=t) for col, t in zip(columns, types, strict=True)],
                        names=names,
                    )
                )
        finally:
            cur.close()
        schema = pa.schema([pa.field(n, t) for n, t in zip(names, types, strict=True)])
        return pa.Table.from_batches(batches, schema=schema)

    def _column(self, alias: str, name: str, kind: str) -> str:
        template = _READ[self.dialect].get(kind, "{c}")
        return f"{template.format(c=f'{alias}.{quote(name)}')} AS {quote(name)}"

    def _mark(self) -> str:
        return "?" if self.dialect == "sqlite" else "CAST($1 AS TIMESTAMPTZ)"

    def _time_param(self, value: datetime) -> str:
        if self.dialect == "sqlite":
            return value.strftime("%Y-%m-%d %H:%M:%S.%f")  # the stored text form
        return value.replace(tzinfo=UTC).isoformat()

    def duck_expression(self, name: str, kind: str) -> str:
        """The DuckDB expression that turns a fetched column into the copy's type."""
        if self.dialect == "sqlite" and kind in _UNBLANK:
            return _UNBLANK[kind].format(c=quote(name))
        return f"CAST({quote(name)} AS {DUCK_TYPES[kind]})"


def utc_naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
