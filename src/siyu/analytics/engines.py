"""Connections to the analytical engines: the DuckDB copy (default) and local Spark (scale-out).

DuckDB lets one process write a file, or many read it. Connections here are short-lived and
retry while another process, or a thread of this one (a worker's refresh), holds the file,
instead of failing at once.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from siyu.analytics import gate
from siyu.refusals import Unavailable

LOCK_WAIT_SECONDS = 30.0
# Every DuckDB connection Siyu opens: never download or load an extension on its own (what the
# copy needs — ICU, JSON, Parquet — is built into the wheel; a server should not fetch code
# from the internet because a query named a function). Every connection to one file in a
# process must be opened with the same options, so they live here, once.
DUCKDB_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


class EngineUnavailable(Unavailable):
    """The chosen engine cannot run here (a missing package or Java, a locked file), or the
    analytical copy is not built yet: the API answers 503."""


@contextmanager
def open_duckdb(
    path: Path, *, read_only: bool = False, wait: float = LOCK_WAIT_SECONDS
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the copy, held open through the gate (``analytics.gate``) so an
    erasure never swaps the file under it; waits up to ``wait`` seconds while it is busy."""
    with copy_in_use(path, wait), _connect(path, read_only, wait) as conn:
        yield conn


@contextmanager
def copy_in_use(path: Path, wait: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
    """Hold the copy open (shared) for a while: what a connection does, and ``ibis_tables``
    over the engine's whole use of it."""
    try:
        with gate.shared(path, wait):
            yield
    except gate.GateBusy as exc:
        raise EngineUnavailable("the analytical copy is busy: {what}", what=str(exc)) from exc


@contextmanager
def _connect(path: Path, read_only: bool, wait: float) -> Iterator[duckdb.DuckDBPyConnection]:
    if read_only and not path.exists():
        raise EngineUnavailable(
            "the analytical copy has not been built yet (siyu analytics refresh)"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait
    while True:
        try:
            conn = duckdb.connect(str(path), read_only=read_only, config=dict(DUCKDB_CONFIG))
            break
        except (duckdb.IOException, duckdb.ConnectionException, duckdb.BinderException) as exc:
            # another process holds the file (its lock), or a thread of this one has it open
            # the other way (read-only vs read-write: DuckDB refuses a second configuration,
            # or, while the first is being set up, a second handle on the file): wait
            text = str(exc).lower()
            busy = any(
                words in text
                for words in ("lock", "different configuration", "unique file handle conflict")
            )
            if not busy or time.monotonic() > deadline:
                raise EngineUnavailable(
                    "the analytical copy is busy: {what}", what=str(exc)
                ) from exc
            time.sleep(0.2)
    try:
        conn.execute("SET TimeZone = 'UTC'")
        yield conn
    finally:
        conn.close()


_SPARK: Any = None


def spark_session() -> Any:
    """A local-mode Spark session (started once per process; start-up takes seconds)."""
    global _SPARK
    if _SPARK is not None:
        return _SPARK
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise EngineUnavailable(
            "the spark engine needs PySpark: pip install 'siyu[spark]' (and Java 17)"
        ) from exc
    if shutil.which("java") is None:
        raise EngineUnavailable("the spark engine needs Java 17 (e.g. openjdk-17-jre-headless)")
    # Spark's Python workers (some Ibis operations run as Python UDFs, e.g. reading JSON
    # properties) must use this interpreter, which has pandas and pyarrow; not the system one.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    _SPARK = (
        SparkSession.builder.master("local[2]")
        .appName("siyu-traits")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.driver.memory", "2g")
        .config("spark.sql.ansi.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    _SPARK.sparkContext.setLogLevel("ERROR")
    return _SPARK


ENGINES = ("duckdb", "spark")


def _check_layout(duck: duckdb.DuckDBPyConnection, names: list[str]) -> None:
    """Refuse, with the way out, a copy written by an older version (a table missing, or other
    columns): queries would fail half-way with a confusing error. The next refresh fixes it."""
    from siyu.analytics.tables import by_name

    rows = duck.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "ORDER BY table_name, ordinal_position"
    ).fetchall()
    found: dict[str, list[str]] = {}
    for table, column in rows:
        found.setdefault(table, []).append(column)
    copied = by_name()
    stale = [n for n in names if n in copied and found.get(n) != copied[n].column_names]
    if stale:
        raise EngineUnavailable(
            "the analytical copy is missing or has an older layout of {tables}; "
            "refresh it (siyu analytics refresh) — the worker also does so on its schedule",
            tables=", ".join(stale),
        )


def duckdb_of(tables: Any) -> duckdb.DuckDBPyConnection | None:
    """The open DuckDB connection behind tables from ``ibis_tables`` (None on Spark)."""
    con = getattr(tables, "con", None)
    return getattr(con, "con", None)


class _LazyTables(dict[str, Any]):
    """Ibis tables looked up on first use: each lookup asks DuckDB for the table's schema, and
    a segment count that reads three tables should not pay for eleven."""

    def __init__(self, con: Any, names: list[str]) -> None:
        super().__init__()
        self.con, self.names = con, set(names)

    def __missing__(self, name: str) -> Any:
        if name not in self.names:
            raise KeyError(name)
        self[name] = table = self.con.table(name)
        return table


@contextmanager
def ibis_tables(path: Path, engine: str, names: list[str]) -> Iterator[dict[str, Any]]:
    """The copy's tables as Ibis tables on the chosen engine.

    DuckDB reads the copy in place. Spark reads Parquet exports of the same tables, written
    next to the copy (the scale-out path of DESIGN §2: the same expressions, another engine).
    """
    if engine not in ENGINES:
        raise EngineUnavailable(
            "unknown engine {engine!r}; choose one of {engines}",
            engine=engine,
            engines=", ".join(ENGINES),
        )
    with copy_in_use(path):  # the copy (and its Parquet exports) stay as they are meanwhile
        yield from _ibis_tables(path, engine, names)


def _ibis_tables(path: Path, engine: str, names: list[str]) -> Iterator[dict[str, Any]]:
    import ibis

    with open_duckdb(path, read_only=True) as duck:  # exports read; they never write the copy
        _check_layout(duck, names)
        if engine == "duckdb":
            yield _LazyTables(ibis.duckdb.from_connection(duck), names)
            return
        folder = path.parent / "parquet"
        folder.mkdir(parents=True, exist_ok=True)
        for n in names:
            target = str(folder / f"{n}.parquet").replace("'", "''")
            duck.execute(f"COPY \"{n}\" TO '{target}' (FORMAT parquet)")
    spark = spark_session()
    con = ibis.pyspark.connect(spark)
    tables = {}
    for n in names:
        spark.read.parquet(str(folder / f"{n}.parquet")).createOrReplaceTempView(f"siyu_{n}")
        tables[n] = con.table(f"siyu_{n}")
    yield tables
