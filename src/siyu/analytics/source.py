"""Reading the system of record as Arrow tables (ADBC), for the analytical copy.

ADBC moves rows column-wise without a Python object per value: a million orders arrive from
SQLite in well under a second. SQLite's driver guesses a column's type from the first rows, so
text and time columns are read through COALESCE(…, '') and turned back into NULLs in DuckDB.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyarrow as pa
from sqlalchemy.engine import make_url

from siyu.analytics.tables import INT, TEXT, TIME, CopiedTable


class Source:
    """One read connection to the system of record."""

    def __init__(self, database_url: str) -> None:
        url = make_url(database_url)
        self.dialect = url.get_backend_name()
        if self.dialect == "sqlite":
            import adbc_driver_sqlite.dbapi as sqlite

            # A read-only URI: opened by plain file name, the driver was seen to miss rows
            # committed to the WAL by other connections (stale reads); mode=ro reads them.
            path = quote(str(Path(url.database or "").resolve()))
            self._conn: Any = sqlite.connect(f"file:{path}?mode=ro")
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
        sql = f"SELECT {cols} FROM {_q(table.name)} {alias}"
        params: tuple[Any, ...] = ()
        if since is not None:
            if table.follows:
                parent, key = table.follows
                sql += f" JOIN {_q(parent)} p ON p.id = {alias}.{_q(key)}"
                changed = "p.updated_at"
            else:
                changed = f"{alias}.{_q(table.changed_at or 'updated_at')}"
            sql += f" WHERE {changed} >= {self._mark()}"
            params = (self._time_param(since),)
        cur = self._conn.cursor()
        try:
            cur.execute(sql, params) if params else cur.execute(sql)
            return cur.fetch_arrow_table()
        finally:
            cur.close()

    def _column(self, alias: str, name: str, kind: str) -> str:
        ref = f"{alias}.{_q(name)}"
        if self.dialect == "sqlite":
            if kind in (TEXT, TIME):
                return f"COALESCE({ref}, '') AS {_q(name)}"
            if kind == INT:
                return f"CAST({ref} AS INTEGER) AS {_q(name)}"
            return f"{ref} AS {_q(name)}"
        if kind == TIME:
            return f"({ref} AT TIME ZONE 'UTC') AS {_q(name)}"
        if kind == INT:
            return f"CAST({ref} AS BIGINT) AS {_q(name)}"
        return f"{ref} AS {_q(name)}"

    def _mark(self) -> str:
        return "?" if self.dialect == "sqlite" else "CAST($1 AS TIMESTAMPTZ)"

    def _time_param(self, value: datetime) -> str:
        if self.dialect == "sqlite":
            return value.strftime("%Y-%m-%d %H:%M:%S.%f")  # the stored text form
        return value.replace(tzinfo=UTC).isoformat()

    def duck_expression(self, name: str, kind: str) -> str:
        """The DuckDB expression that turns a fetched column into the copy's type."""
        ref = _q(name)
        if self.dialect == "sqlite":
            if kind == TEXT:
                return f"NULLIF({ref}, '')"
            if kind == TIME:
                return f"CAST(NULLIF({ref}, '') AS TIMESTAMP)"
        if kind == TIME:
            return f"CAST({ref} AS TIMESTAMP)"
        if kind == INT:
            return f"CAST({ref} AS BIGINT)"
        if kind == TEXT:
            return f"CAST({ref} AS VARCHAR)"
        return f"CAST({ref} AS BOOLEAN)"


def _q(name: str) -> str:
    return f'"{name}"'


def utc_naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
