"""Group commit: concurrent requests share one transaction.

Each request is validated on its own, then handed to a single writer thread per process and
per purpose (the event API, the WeCom callback inbox), which takes everything waiting (up to a
limit) and stores it in one transaction. The request is answered only after that transaction
commits, so what was accepted is durable; throughput grows with concurrency instead of queueing
on SQLite's single write lock.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Generic, TypeVar

from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, OperationalError

from siyu.db import get_engine, write_transaction

T = TypeVar("T")
R = TypeVar("R")


class GroupWriter(Generic[T, R]):
    """``write(conn, items)`` stores a group of items and returns one result per item."""

    def __init__(
        self,
        name: str,
        write: Callable[[Connection, list[T]], list[R]],
        *,
        size: Callable[[T], int] = lambda _item: 1,
        limit: int = 500,
    ) -> None:
        self.name, self.write, self.size, self.limit = name, write, size, limit
        self._queue: queue.Queue[tuple[T, Future[R]]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def submit(self, item: T) -> Future[R]:
        future: Future[R] = Future()
        self._ensure_thread()
        self._queue.put((item, future))
        return future

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            group = [self._queue.get()]
            size = self.size(group[0][0])
            while size < self.limit:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                group.append(item)
                size += self.size(item[0])
            self._store(group)

    def _store(self, group: list[tuple[T, Future[R]]]) -> None:
        try:
            with write_transaction(get_engine()) as conn:
                results = self.write(conn, [item for item, _f in group])
        except (IntegrityError, OperationalError) as exc:
            if len(group) == 1:
                group[0][1].set_exception(exc)
                return
            for one in group:  # one request's conflict must not fail the others
                self._store([one])
            return
        except Exception as exc:  # answer every waiting request; never kill the writer
            for _item, future in group:
                future.set_exception(exc)
            return
        for (_item, future), result in zip(group, results, strict=True):
            future.set_result(result)
