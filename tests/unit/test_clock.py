"""The one clock: frozen for the whole process (every thread), replayed for one thread only,
and what services read — so a test sets the time in one place instead of patching modules."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from siyu import clock, runtime
from siyu.config import Settings
from siyu.db import utcnow

pytestmark = pytest.mark.no_database

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _in_a_thread() -> datetime:
    seen: list[datetime] = []
    other = threading.Thread(target=lambda: seen.append(clock.now()))
    other.start()
    other.join()
    return seen[0]


def test_now_is_aware_utc_and_follows_the_system() -> None:
    now = clock.now()
    assert now.tzinfo is UTC
    assert abs(now - datetime.now(UTC)) < timedelta(seconds=5)
    assert not clock.is_frozen()


def test_a_frozen_clock_holds_for_every_thread_and_comes_back() -> None:
    at = datetime(2026, 3, 10, 14, 30, tzinfo=SHANGHAI)
    with clock.frozen(at):
        assert clock.now() == at and clock.now().tzinfo is UTC
        assert utcnow() == at  # the column default reads it too
        assert _in_a_thread() == at  # a worker or server thread beside the test
        assert clock.today(SHANGHAI).isoformat() == "2026-03-10"
        assert clock.timestamp() == at.timestamp()
        with clock.frozen(at + timedelta(days=1)):  # frozen blocks nest
            assert clock.now() == at + timedelta(days=1)
        assert clock.now() == at
        assert clock.advance(timedelta(minutes=5)) == at + timedelta(minutes=5)
        assert _in_a_thread() == at + timedelta(minutes=5)
    assert not clock.is_frozen()
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=5)


def test_freeze_until_thawed_and_reset_thaws() -> None:
    clock.freeze(datetime(2025, 1, 1, tzinfo=UTC))
    assert clock.now().year == 2025
    clock.thaw()
    assert not clock.is_frozen()
    clock.freeze(datetime(2025, 1, 1, tzinfo=UTC))
    runtime.reset()  # what tests call between configurations
    assert not clock.is_frozen()


def test_a_naive_moment_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        clock.freeze(datetime(2026, 3, 10, 12, 0))
    with pytest.raises(ValueError, match="naive"), clock.frozen(datetime(2026, 3, 10)):
        pass
    assert not clock.is_frozen()


def test_replayed_time_is_seen_by_this_thread_only() -> None:
    then = datetime(2025, 6, 1, 2, 30, tzinfo=UTC)
    with clock.replaying_at(then):
        assert clock.now() == utcnow() == then
        with clock.replaying_at(then + timedelta(minutes=25)):  # moments nest
            assert clock.now() == then + timedelta(minutes=25)
        assert clock.now() == then
        seen = _in_a_thread()  # a server thread
    assert seen > then + timedelta(days=300)  # the thread beside it lives in the present
    assert clock.now() - datetime.now(UTC) < timedelta(seconds=5)
    with pytest.raises(ValueError), clock.replaying_at(datetime(2025, 6, 1)):  # naive: refused
        pass


def test_a_replay_wins_over_the_frozen_clock_in_its_own_thread() -> None:
    frozen, replayed = datetime(2026, 3, 10, tzinfo=UTC), datetime(2025, 6, 1, tzinfo=UTC)
    with clock.frozen(frozen), clock.replaying_at(replayed):
        assert clock.now() == replayed
        assert _in_a_thread() == frozen


def test_frozen_time_flows_to_the_send_policy(settings: Settings) -> None:
    """The policy decides quiet hours at the clock's time (default 21:00–08:00 Shanghai)."""
    from siyu.reach.sending.policy import next_allowed

    with clock.frozen(datetime(2026, 3, 10, 22, 30, tzinfo=SHANGHAI)):
        assert next_allowed(clock.now(), settings) == datetime(2026, 3, 11, 8, 0, tzinfo=SHANGHAI)
    with clock.frozen(datetime(2026, 3, 10, 12, 0, tzinfo=SHANGHAI)):
        assert next_allowed(clock.now(), settings) is None


def test_frozen_time_flows_to_what_reads_today() -> None:
    """The demo's default ``as_of`` is the clock's today in Beijing, not the system's."""
    from siyu.demo.generate import today

    with clock.frozen(datetime(2026, 3, 10, 23, 30, tzinfo=UTC)):  # 07:30 on the 11th there
        assert today().isoformat() == "2026-03-11"
