"""The one clock: every "now" Siyu acts on is read here.

Services, queries, jobs and column defaults call ``now()`` (or take ``now`` from a caller that
did), never ``datetime.now`` of their own, so a test or a replay sets the time in one place and
every part of Siyu sees it. Timing (leases in seconds, timeouts, benchmarks) keeps to
``time.monotonic``: it measures durations and is not the clock. The simulators stand for the
outside world and keep their own time.

Two ways to set it:

- ``frozen(at)`` (or ``freeze``/``advance``/``thaw``) holds the time for the whole process, every
  thread included: a test's worker and server threads see the moment the test chose;
- ``replaying_at(at)`` holds it for the current thread (context) only, over whatever the process
  clock says: the demo replays its past campaigns through the real services while the server
  beside it keeps the present.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime, timedelta, tzinfo

from siyu import runtime

_REPLAYED: ContextVar[datetime | None] = ContextVar("siyu_replayed_now", default=None)
_frozen: datetime | None = None
_lock = threading.Lock()


def now() -> datetime:
    """Now, timezone-aware UTC: the moment being replayed in this context, else the frozen
    moment, else the system's."""
    return _REPLAYED.get() or _frozen or datetime.now(UTC)


def today(tz: tzinfo) -> date:
    """Today's date in the time zone ``tz`` (calendars are local: Asia/Shanghai by default)."""
    return now().astimezone(tz).date()


def timestamp() -> float:
    """Now as seconds since the epoch, for the places that speak Unix time (signatures, WeCom's
    ``create_time``)."""
    return now().timestamp()


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime given; Siyu stores timezone-aware UTC only")
    return moment.astimezone(UTC)


def freeze(at: datetime) -> None:
    """Hold the process's clock at ``at`` until ``thaw``."""
    global _frozen
    with _lock:
        _frozen = _aware(at)


def advance(by: timedelta) -> datetime:
    """Move the frozen clock on by ``by`` (frozen at the present first if it was not)."""
    global _frozen
    with _lock:
        _frozen = (_frozen or datetime.now(UTC)) + by
        return _frozen


def thaw() -> None:
    """Let the process's clock follow the system's again."""
    global _frozen
    with _lock:
        _frozen = None


def is_frozen() -> bool:
    return _frozen is not None


runtime.forgets("clock.frozen", thaw)  # a test that froze the clock leaves the present behind


@contextmanager
def frozen(at: datetime) -> Iterator[None]:
    """Hold the process's clock at ``at`` (every thread) for the block; the time it had
    before comes back after it (frozen blocks nest)."""
    global _frozen
    before = _frozen
    freeze(at)
    try:
        yield
    finally:
        with _lock:
            _frozen = before


@contextmanager
def replaying_at(moment: datetime) -> Iterator[None]:
    """Run services as if it were ``moment`` (in this thread only): the demo replays its past
    campaigns through the real ledger, so their rows carry the times they would have had."""
    token = _REPLAYED.set(_aware(moment))
    try:
        yield
    finally:
        _REPLAYED.reset(token)
