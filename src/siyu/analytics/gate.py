"""Who has the analytical copy open, so that an erasure can swap in a rebuilt file.

DuckDB's own lock keeps two processes from writing the file at once, but within a process
every connection to a file shares one database, and nothing stops a reader from holding the
old file while it is replaced. So every use of the copy (``engines.open_duckdb``,
``engines.ibis_tables``) holds the gate *shared*, and the one step that replaces the file
(``analytics.erasure``) holds it *exclusive*: it waits until nobody, in any process or thread,
has the copy open, and keeps newcomers waiting until the new file is in place.

The gate is two ``flock`` files beside the copy (flock locks belong to an open file, so they
separate threads of one process as they separate processes): ``<copy>.lock``, held shared by
every user and exclusive by the swap, and ``<copy>.turn``, a turnstile the swap holds so that a
stream of readers cannot starve it.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

POLL_SECONDS = 0.05


class GateBusy(RuntimeError):
    """The copy stayed in use (or stayed closed for a swap) longer than the wait allowed.

    Not a refusal: nobody is told this as such. A reader is told ``EngineUnavailable`` (the
    copy is busy, 503) and an erasure records it and tries the copy again later."""


_held = threading.local()  # per thread: how many shared holds on each copy


def _holds(path: Path) -> dict[str, int]:
    counts: dict[str, int] | None = getattr(_held, "counts", None)
    if counts is None:
        counts = _held.counts = {}
    return counts


def held_here(path: Path) -> bool:
    """Whether this thread holds the copy open (a swap now would wait for itself)."""
    return _holds(path).get(str(path), 0) > 0


def _open(path: Path, suffix: str) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path.with_name(path.name + suffix), os.O_RDWR | os.O_CREAT, 0o600)


def _lock(fd: int, kind: int, deadline: float, what: str) -> None:
    while True:
        try:
            fcntl.flock(fd, kind | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise GateBusy(what) from None
            time.sleep(POLL_SECONDS)


@contextmanager
def shared(path: Path, wait: float) -> Iterator[None]:
    """Hold the copy open (many at once); waits while a swap is under way."""
    counts, key = _holds(path), str(path)
    if counts.get(key, 0) > 0:  # this thread holds it already: nested uses share that hold
        counts[key] += 1
        try:
            yield
        finally:
            counts[key] -= 1
        return
    deadline = time.monotonic() + wait
    turn, lock = _open(path, ".turn"), _open(path, ".lock")
    try:
        _lock(turn, fcntl.LOCK_SH, deadline, "the analytical copy is being rebuilt (erasure)")
        try:
            _lock(lock, fcntl.LOCK_SH, deadline, "the analytical copy is being rebuilt (erasure)")
        finally:
            fcntl.flock(turn, fcntl.LOCK_UN)
        counts[key] = 1
        try:
            yield
        finally:
            counts[key] = 0
    finally:
        os.close(turn)
        os.close(lock)  # closing drops the lock


@contextmanager
def exclusive(path: Path, wait: float) -> Iterator[None]:
    """Hold the copy alone: nobody else, in any process or thread, has it open until this
    ends (this thread may: its ``shared`` holds nest in this one)."""
    if held_here(path):
        raise GateBusy("this thread has the analytical copy open")
    deadline = time.monotonic() + wait
    counts, key = _holds(path), str(path)
    turn, lock = _open(path, ".turn"), _open(path, ".lock")
    try:
        _lock(turn, fcntl.LOCK_EX, deadline, "another rebuild of the analytical copy is under way")
        _lock(lock, fcntl.LOCK_EX, deadline, "the analytical copy stayed in use")
        counts[key] = 1  # the holder's own uses of the copy pass (``shared`` nests)
        try:
            yield
        finally:
            counts[key] = 0
    finally:
        os.close(lock)
        os.close(turn)
