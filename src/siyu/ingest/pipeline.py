"""Parsing on the second core: a child process reads and parses the export while the parent
resolves identities and writes, so an import uses both cores of a small server.

Batches cross the process boundary as columns (``OrderColumns``): a few long lists pickle far
faster than many small objects. Small files are parsed inline: a child process is not worth
starting for them. The queue holds two batches at most, so memory stays flat however large the
file.
"""

from __future__ import annotations

import csv
import multiprocessing as mp
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from siyu.bulk import collector_paused
from siyu.ingest.columns import OrderColumns
from siyu.ingest.fastlane import FastLane
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
    orders: OrderColumns
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
        with collector_paused():
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
    lane = FastLane(parser)
    block: list[tuple[int, list[str]]] = []
    limit = job.batch_rows
    try:
        for record in parser.records():
            block.append(record)
            if len(block) >= limit:
                now, block = lane.ready(block)
                limit = len(block) + job.batch_rows  # an order longer than a block: read on
                if now:
                    yield _packed(lane.orders(now), raw.tell(), parser.rows_read - len(block))
        yield _packed(lane.orders(block), job.path.stat().st_size, parser.rows_read)
    except (UnicodeDecodeError, csv.Error) as exc:  # what was read before the bad point stays
        yield _packed(lane.orders(block), raw.tell(), parser.rows_read)
        yield ("failed", str(exc), parser.rows_read)
    finally:
        opened.close()


def _packed(items: list[ParsedOrder | Reject], bytes_read: int, rows_read: int) -> tuple[Any, ...]:
    orders = OrderColumns.of([item for item in items if isinstance(item, ParsedOrder)])
    rejects = [(item.reason, item.rows) for item in items if isinstance(item, Reject)]
    return ("batch", orders, rejects, bytes_read, rows_read)


def _unpack(message: tuple[Any, ...]) -> Batch:
    if message[0] == "failed":
        raise ParseFailed(message[1], message[2])
    _tag, orders, rejects, bytes_read, rows_read = message
    return Batch(orders, [Reject(reason, rows) for reason, rows in rejects], bytes_read, rows_read)
