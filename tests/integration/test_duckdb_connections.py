"""Every DuckDB connection Siyu opens: no extension is downloaded or loaded behind the
operator's back, and a reader in the server waits out a refresh by the worker thread of the
same process (``siyu run``) instead of failing the page."""

from __future__ import annotations

import threading
import time
from typing import Any

from siyu.analytics.engines import duckdb_of, ibis_tables, open_duckdb
from siyu.analytics.service import refresh_copy
from tests import shop

SETTINGS = ("autoinstall_known_extensions", "autoload_known_extensions")


def _settings_of(conn: Any) -> dict[str, Any]:
    return {
        name: conn.execute(f"SELECT current_setting('{name}')").fetchone()[0] for name in SETTINGS
    }


def test_no_extension_is_installed_or_loaded_on_its_own(settings: Any, session: Any) -> None:
    shop.customer(session, city="杭州")
    session.commit()
    refresh_copy(settings)
    path = settings.resolved_analytics_path
    with open_duckdb(path) as writer:
        assert _settings_of(writer) == dict.fromkeys(SETTINGS, False)
    with open_duckdb(path, read_only=True) as reader:
        assert _settings_of(reader) == dict.fromkeys(SETTINGS, False)
    with ibis_tables(path, "duckdb", ["customer"]) as tables:
        conn = duckdb_of(tables)
        assert conn is not None and _settings_of(conn) == dict.fromkeys(SETTINGS, False)
        assert tables["customer"].count().execute() == 1


def test_a_reader_waits_for_a_writer_in_the_same_process(settings: Any, session: Any) -> None:
    """DuckDB refuses a read-only connection to a file this process has open for writing ("a
    different configuration"); the page would answer 500 while the worker refreshes."""
    shop.customer(session, city="杭州")
    session.commit()
    refresh_copy(settings)
    path = settings.resolved_analytics_path
    opened, release = threading.Event(), threading.Event()

    def refresh() -> None:
        with open_duckdb(path) as duck:
            duck.execute("SELECT 1")
            opened.set()
            release.wait(5)

    worker = threading.Thread(target=refresh)
    worker.start()
    assert opened.wait(5)
    threading.Timer(0.5, release.set).start()
    started = time.monotonic()
    with open_duckdb(path, read_only=True) as reader:
        assert reader.execute("SELECT count(*) FROM customer").fetchone() == (1,)
    assert time.monotonic() - started >= 0.4  # it waited for the writer to finish
    worker.join(5)
