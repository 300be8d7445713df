"""Engine, sessions and shared column types for the system of record.

SQLite (WAL, one file) is the embedded default; PostgreSQL is production. Both run the same
models and the same Alembic migrations.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from siyu import clock, runtime
from siyu.config import get_settings

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware UTC in, timezone-aware UTC out, on every engine (SQLite has no tz)."""

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        return dialect.type_descriptor(sa.DateTime(timezone=dialect.name != "sqlite"))

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; Siyu stores timezone-aware UTC only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    """Now, from ``siyu.clock``: the column default of every ``created_at``/``updated_at``."""
    return clock.now()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA cache_size=-65536")
    cur.execute("PRAGMA temp_store=MEMORY")
    # Deleted rows are overwritten with zeros, so erased personal data is not left in free pages.
    cur.execute("PRAGMA secure_delete=ON")
    cur.close()


def _sqlite_begin(conn: sa.Connection) -> None:
    """Writers that allocate ids ahead take the write lock at BEGIN (see ``writer``); everything
    else keeps the driver's own behaviour (reads outside a transaction, BEGIN at the first write),
    which never has to upgrade a stale read snapshot."""
    if conn.get_execution_options().get("sqlite_begin") == "IMMEDIATE":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


# One writer at a time per process on SQLite, queued on this lock rather than in SQLite's busy
# handler, which sleeps in growing steps (up to 100 ms) and so starves a writer that competes with
# a busy one: the callback inbox pump beside a flood of stored callbacks waited seconds that way.
# write_transaction takes it for its whole transaction; any other connection takes it at its
# first write statement and gives it back when its transaction ends. A plain Lock, not an RLock:
# FastAPI may run a request's writes and its commit on different threads. A writer that cannot
# get it within the busy timeout goes on without it (SQLite's own locking still holds).
_SQLITE_WRITER = threading.Lock()
_WRITE_VERBS = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER")
_LOCK_WAIT = 30.0
_log = logging.getLogger("siyu.db")


def _queue_for_write(conn: sa.Connection, _cursor: Any, statement: str, *_args: Any) -> None:
    info = conn.info
    if info.get("siyu_writer") or info.get("siyu_writer_outer"):
        return
    if not statement.lstrip()[:8].upper().startswith(_WRITE_VERBS):
        return
    if _SQLITE_WRITER.acquire(timeout=_LOCK_WAIT):
        info["siyu_writer"] = True
    else:
        _log.warning("waited %.0f s for the in-process write lock; writing without it", _LOCK_WAIT)


def _release_info(info: dict[Any, Any]) -> None:
    if info.pop("siyu_writer", False):
        _SQLITE_WRITER.release()


def _release_writer(conn: sa.Connection, *_args: Any) -> None:
    _release_info(conn.info)


def _on_reset(_dbapi_conn: Any, record: Any, _reset_state: Any) -> None:
    _release_info(record.info)


def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
    if record is not None:
        _release_info(record.info)


def _on_invalidate(_dbapi_conn: Any, record: Any, _exception: Any) -> None:
    _release_info(record.info)


@contextmanager
def write_transaction(engine: Engine) -> Iterator[sa.Connection]:
    """A transaction for writers that read then write (ids allocated ahead, identity look-ups
    before inserts). On SQLite it takes the write lock at BEGIN, and threads of one process queue
    on a lock first rather than in SQLite's sleeping busy handler; on PostgreSQL it is a plain
    transaction (sequences and unique keys do the work)."""
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            yield conn
        return
    held = _SQLITE_WRITER.acquire(timeout=_LOCK_WAIT)
    try:
        with engine.execution_options(sqlite_begin="IMMEDIATE").begin() as conn:
            conn.info["siyu_writer_outer"] = True
            try:
                yield conn
            finally:
                conn.info.pop("siyu_writer_outer", None)
    finally:
        if held:
            _SQLITE_WRITER.release()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        event.listen(engine, "before_cursor_execute", _queue_for_write)
        for name in ("commit", "rollback"):
            event.listen(engine, name, _release_writer)
        event.listen(engine, "reset", _on_reset)
        event.listen(engine, "checkin", _on_checkin)
        event.listen(engine, "close", _on_checkin)
        event.listen(engine, "invalidate", _on_invalidate)
        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


_ENGINES: dict[str, Engine] = {}
_FACTORIES: dict[str, sessionmaker[Session]] = {}


def _engine_for(url: str) -> Engine:
    if url not in _ENGINES:
        _ENGINES[url] = make_engine(url)
    return _ENGINES[url]


def get_engine() -> Engine:
    return _engine_for(get_settings().resolved_database_url)


def reset_engines() -> None:
    """Dispose every engine (tests switch databases; forked workers must not share pools)."""
    for engine in _ENGINES.values():
        engine.dispose()
    _ENGINES.clear()
    _FACTORIES.clear()


runtime.forgets("db.engines", reset_engines)


def _factory(url: str) -> sessionmaker[Session]:
    if url not in _FACTORIES:
        from siyu.capabilities import import_models

        import_models()  # every table must be known before the first flush

        _FACTORIES[url] = sessionmaker(bind=_engine_for(url), expire_on_commit=False)
    return _FACTORIES[url]


def new_session() -> Session:
    return _factory(get_settings().resolved_database_url)()


@contextmanager
def session_scope() -> Iterator[Session]:
    """A unit of work: commit on success, roll back on error, always close."""
    session = new_session()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def is_sqlite(session_or_engine: Session | Engine) -> bool:
    bind = (
        session_or_engine.get_bind()
        if isinstance(session_or_engine, Session)
        else session_or_engine
    )
    return bind.dialect.name == "sqlite"


def rowcount(result: Any) -> int:
    """Rows an UPDATE/DELETE touched (typed access to the driver's count)."""
    return int(getattr(result, "rowcount", 0) or 0)


def table_of(model: Any) -> sa.Table:
    """The Core table of a mapped class (typed, for the bulk paths that use Core)."""
    return cast(sa.Table, model.__table__)


def plain_value(value: Any) -> Any:
    """A column value as JSON can hold it (dates and times as ISO 8601 text)."""
    return value.isoformat() if hasattr(value, "isoformat") else value
