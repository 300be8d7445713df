"""The clock the demo's replay sets: only the thread that set it sees the replayed moment."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from siyu.db import replaying_at, utcnow


def test_replayed_time_is_seen_by_this_thread_only() -> None:
    then = datetime(2025, 6, 1, 2, 30, tzinfo=UTC)
    seen: list[datetime] = []
    with replaying_at(then):
        assert utcnow() == then
        with replaying_at(then + timedelta(minutes=25)):  # moments nest
            assert utcnow() == then + timedelta(minutes=25)
        assert utcnow() == then
        other = threading.Thread(target=lambda: seen.append(utcnow()))  # a server thread
        other.start()
        other.join()
    assert seen[0] > then + timedelta(days=300)  # the thread beside it lives in the present
    assert utcnow() - datetime.now(UTC) < timedelta(seconds=5)
    with pytest.raises(ValueError), replaying_at(datetime(2025, 6, 1)):  # naive: refused
        pass
