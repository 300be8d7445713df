"""Group commit for the event API (see ``siyu.groupcommit``): one transaction for all the
requests waiting, up to 500 events."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future

from sqlalchemy.engine import Connection

from siyu.config import get_settings
from siyu.events.schemas import EventIn
from siyu.events.service import Key, Stored, ingest_many
from siyu.groupcommit import GroupWriter

MAX_EVENTS_PER_COMMIT = 500

_Request = tuple[Sequence[EventIn], str, list[list[Key]]]


def _write(conn: Connection, requests: list[_Request]) -> list[list[Stored]]:
    return ingest_many(conn, requests, secret=get_settings().secret_key_bytes())


_writer: GroupWriter[_Request, list[Stored]] = GroupWriter(
    "event-writer", _write, size=lambda r: len(r[0]), limit=MAX_EVENTS_PER_COMMIT
)


def submit(events: Sequence[EventIn], source: str, keys: list[list[Key]]) -> Future[list[Stored]]:
    return _writer.submit((events, source, keys))
