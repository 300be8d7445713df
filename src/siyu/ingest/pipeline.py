"""Parsing on the second core: a child process reads and parses the export while the parent
resolves identities and writes, so an import uses both cores of a small server.

Batches cross the process boundary as plain tuples (pickling dataclasses costs more than the
parsing saved). Small files are parsed inline: a child process is not worth starting for them.
The queue holds two batches at most, so memory stays flat however large the file.
"""

from __future__ import annotations

import csv
import multiprocessing as mp
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from siyu.ingest.formats import get_format
from siyu.ingest.parse import OrderParser, ParsedOrder, Reject
from siyu.ingest.reader import open_export

INLINE_BELOW_BYTES = 8 * 1024 * 1024


@dataclass
class ParseJob:
    path: Path
    source: str
    mapping: dict[str, str]
    brand_code: str
    shop: str
    tz: str
    batch_rows: int


@dataclass
class Batch:
    orders: list[ParsedOrder]
    rejects: list[Reject]
    bytes_read: int
    rows_read: int


class ParseFailed(Exception):
    """The file could not be read past some point (bad bytes, broken CSV)."""

    def __init__(self, message: str, rows_read: int) -> None:
        super().__init__(message)
        self.rows_read = rows_read


def batches(job: ParseJob) -> Iterator[Batch]:
    """Parsed batches in file order; raises ParseFailed where the file cannot be read on."""
    if job.path.stat().st_size < INLINE_BELOW_BYTES:
        for packed in _parse(job):
            yield _unpack(packed)
        return
    ctx = mp.get_context("spawn")  # safe beside the server's threads, unlike fork
    queue: Any = ctx.Queue(maxsize=2)
    child = ctx.Process(target=_child, args=(job, queue), daemon=True)
    child.start()
    try:
        while True:
            message = queue.get()
            if message[0] == "end":
                return
            yield _unpack(message)
    finally:
        child.kill()
        child.join()


def _child(job: ParseJob, queue: Any) -> None:
    try:
        for packed in _parse(job):
            queue.put(packed)
    except BaseException as exc:  # report, never hang the parent
        queue.put(("failed", f"{exc}", 0))
    queue.put(("end",))


def _parse(job: ParseJob) -> Iterator[tuple[Any, ...]]:
    fmt = get_format("orders", job.source)
    opened = open_export(job.path, fmt, job.mapping)
    raw = opened.stream.buffer  # type: ignore[attr-defined]
    parser = OrderParser(fmt, opened, brand_code=job.brand_code, shop=job.shop, tz=ZoneInfo(job.tz))
    orders: list[tuple[Any, ...]] = []
    rejects: list[tuple[str, list[tuple[int, list[str]]]]] = []
    try:
        for item in parser:
            if isinstance(item, Reject):
                rejects.append((item.reason, item.rows))
                continue
            orders.append(_pack_order(item))
            if len(orders) >= job.batch_rows:
                yield ("batch", orders, rejects, raw.tell(), parser.rows_read)
                orders, rejects = [], []
        yield ("batch", orders, rejects, job.path.stat().st_size, parser.rows_read)
    except (UnicodeDecodeError, csv.Error) as exc:
        yield ("batch", orders, rejects, raw.tell(), parser.rows_read)
        yield ("failed", str(exc), parser.rows_read)
    finally:
        opened.close()


def _ts(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def _dt(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def _pack_order(o: ParsedOrder) -> tuple[Any, ...]:
    return (
        o.line_no,
        o.order_id,
        o.keys,
        o.profile,
        o.status,
        o.total_fen,
        o.paid_fen,
        o.refund_fen,
        _ts(o.ordered_at),
        _ts(o.paid_at),
        o.store,
        o.lines,
        o.digest,
    )


def _unpack(message: tuple[Any, ...]) -> Batch:
    if message[0] == "failed":
        raise ParseFailed(message[1], message[2])
    _tag, orders, rejects, bytes_read, rows_read = message
    return Batch(
        [
            ParsedOrder(
                n, oid, keys, prof, st, tot, paid, ref, _dt(oat), _dt(pat), store, lines, dig
            )
            for n, oid, keys, prof, st, tot, paid, ref, oat, pat, store, lines, dig in orders
        ],
        [Reject(reason, rows) for reason, rows in rejects],
        bytes_read,
        rows_read,
    )
