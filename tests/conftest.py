"""Test setup: every test runs against a freshly migrated database.

SIYU_TEST_DATABASE_URL picks the engine: ``sqlite`` (a file per test worker) or a PostgreSQL
URL, in which case each worker creates its own schema and drops it at the end, so parallel
runs do not collide.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

pytest_plugins = [
    "tests.wecom_sim",
    "tests.reach_world",
    "tests.oa_sim",
    "tests.centre_world",
]  # simulators; audience

TEST_SECRET = "test-secret-key-for-siyu-tests-only-0123456789"


def _target() -> str:
    return os.environ.get("SIYU_TEST_DATABASE_URL", "sqlite")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`make test` runs the suite twice, on SQLite and on PostgreSQL. A test whose result the
    database cannot change (marked ``once``: the API document's contract, the Spark engine's
    parity on the analytical copy; and every ``no_database`` test) runs in the SQLite pass
    only, so the second pass spends its time on what the database does."""
    if _target() == "sqlite":
        return
    skip = pytest.mark.skip(reason="does not depend on the database: run in the SQLite pass")
    for item in items:
        if item.get_closest_marker("once") or item.get_closest_marker("no_database"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    target = _target()
    if target == "sqlite":
        path = tmp_path_factory.mktemp("db") / "siyu.db"
        url = f"sqlite:///{path}"
        _migrate(url)
        yield url
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(target, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in target else "?"
    url = f"{target}{sep}options=-csearch_path%3D{schema}"
    try:
        _migrate(url)
        yield url
    finally:
        from siyu.db import reset_engines

        reset_engines()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def _migrate(url: str) -> None:
    from siyu.migrations.runner import upgrade

    upgrade(url)


# where a test marked no_database finds its database: nowhere (a path under /dev/null cannot
# be opened, so any query fails at once instead of quietly creating a file)
NO_DATABASE = "sqlite:////dev/null/no-database-in-this-test"


@pytest.fixture(autouse=True)
def siyu_env(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Settings for one test: its own data directory, the shared migrated database (none for a
    test marked ``no_database``: nothing is migrated, created or cleaned for it). Whatever the
    process kept from the test before (settings, engines, clients, a frozen clock) is forgotten
    before and after it."""
    from siyu import runtime

    without = request.node.get_closest_marker("no_database") is not None
    database_url = NO_DATABASE if without else request.getfixturevalue("database_url")
    monkeypatch.setenv("SIYU_DATABASE_URL", database_url)
    monkeypatch.setenv("SIYU_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SIYU_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("SIYU_MODE", "production")
    monkeypatch.delenv("SIYU_CLI_USER", raising=False)
    runtime.reset()
    yield tmp_path
    if not without:
        _clean(database_url)
    runtime.reset()


_MANY_CUSTOMERS = sa.text("SELECT EXISTS (SELECT 1 FROM customer OFFSET 1000)")


def _clean(url: str) -> None:
    from siyu.db import get_engine
    from siyu.models import metadata

    engine = get_engine()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql" and conn.scalar(_MANY_CUSTOMERS):
            # thousands of rows: a DELETE fires every foreign key's check row by row (20k
            # customers took 20 s); TRUNCATE fires none and restarts the sequences too
            names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
            conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
            _seed(conn)
            return
        if conn.dialect.name == "postgresql":
            # one round trip: every DELETE, then the sequences restarted so ids are predictable
            # within a test (a statement each cost ~180 round trips per test)
            conn.exec_driver_sql(_pg_clean_script(metadata))
        else:
            for table in reversed(metadata.sorted_tables):
                conn.execute(table.delete())
            # ids predictable within a test, as PostgreSQL's restarted sequences make them
            # (the customer table's AUTOINCREMENT keeps its mark past deleted rows)
            conn.exec_driver_sql("DELETE FROM sqlite_sequence")
        _seed(conn)  # after the sequences restart, so seeded rows take their ids from them


@functools.cache
def _pg_clean_script(metadata: sa.MetaData) -> str:
    tables = metadata.sorted_tables
    deletes = [f'DELETE FROM "{t.name}";' for t in reversed(tables)]
    restarts = [
        f"SELECT setval(pg_get_serial_sequence('\"{t.name}\"', 'id'), 1, false);"
        for t in tables
        if "id" in t.c and isinstance(t.c.id.type, sa.Integer)
    ]
    return "\n".join(deletes + restarts)


def _seed(conn: sa.Connection) -> None:
    """What the migrations put in an empty database, put back after a test's clean-up."""
    from siyu.db import utcnow
    from siyu.reach.models import SendCap
    from siyu.reach.sending.caps import DEFAULT_CAPS

    conn.execute(
        sa.insert(SendCap),
        [
            {"channel": c, "period": p, "most": n, "updated_by": "system", "updated_at": utcnow()}
            for c, p, n in DEFAULT_CAPS
        ],
    )


@pytest.fixture()
def engine() -> sa.Engine:
    from siyu.db import get_engine

    return get_engine()


@pytest.fixture()
def settings():  # type: ignore[no-untyped-def]
    from siyu.config import get_settings

    return get_settings()


@pytest.fixture()
def session() -> Iterator[sa.orm.Session]:
    from siyu.db import new_session

    s = new_session()
    yield s
    s.rollback()
    s.close()


def write_csv(
    path: Path, header: list[str], rows: list[list[object]], encoding: str = "utf-8"
) -> Path:
    import csv

    with path.open("w", encoding=encoding, newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path
