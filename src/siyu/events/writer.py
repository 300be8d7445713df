"""Group commit for the event API: concurrent requests share one transaction.

Each request is validated on its own, then handed to a single writer thread per process, which
takes everything waiting (up to a limit) and stores it in one transaction. The request is
answered only after that transaction commits, so an accepted event is durable; throughput grows
with concurrency instead of queueing on SQLite's single write lock.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future

from sqlalchemy.exc import IntegrityError, OperationalError

from siyu.config import get_settings
from siyu.db import get_engine, write_transaction
from siyu.events.schemas import EventIn
from siyu.events.service import Key, Stored, ingest_many

MAX_EVENTS_PER_COMMIT = 500

_Item = tuple[Sequence[EventIn], str, list[list[Key]], "Future[list[Stored]]"]


class EventWriter:
    def __init__(self) -> None:
        self._queue: queue.Queue[_Item] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def submit(
        self, events: Sequence[EventIn], source: str, keys: list[list[Key]]
    ) -> Future[list[Stored]]:
        future: Future[list[Stored]] = Future()
        self._ensure_thread()
        self._queue.put((events, source, keys, future))
        return future

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="event-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            group = [self._queue.get()]
            size = len(group[0][0])
            while size < MAX_EVENTS_PER_COMMIT:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                group.append(item)
                size += len(item[0])
            self._write(group)

    def _write(self, group: list[_Item]) -> None:
        secret = get_settings().secret_key_bytes()
        try:
            with write_transaction(get_engine()) as conn:
                results = ingest_many(conn, [(e, s, k) for e, s, k, _f in group], secret=secret)
        except (IntegrityError, OperationalError) as exc:
            if len(group) == 1:
                group[0][3].set_exception(exc)
                return
            for item in group:  # one request's conflict must not fail the others
                self._write([item])
            return
        except Exception as exc:  # answer every waiting request; never kill the writer
            for *_request, future in group:
                future.set_exception(exc)
            return
        for (*_request, future), stored in zip(group, results, strict=True):
            future.set_result(stored)


_writer = EventWriter()


def submit(events: Sequence[EventIn], source: str, keys: list[list[Key]]) -> Future[list[Stored]]:
    return _writer.submit(events, source, keys)
