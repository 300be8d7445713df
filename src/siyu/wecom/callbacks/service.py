"""The callback inbox: verify, store, answer at once; process in the worker.

WeCom waits 5 s for an answer and retries three times, and a welcome_code lives 20 s, so the
HTTP side does only what must happen before answering: check the signature, the timestamp
window and the replay cache, decrypt, and store the event in the inbox (group commit, see
``siyu.groupcommit``). Events with a welcome_code get priority 0 and the worker's inbox pump
takes them first, woken at once when it runs in the same process.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from siyu import clock, runtime
from siyu.claims import claim_due
from siyu.config import Settings
from siyu.groupcommit import GroupWriter
from siyu.jobs.service import WAKE
from siyu.wecom.callbacks.models import WecomCallback
from siyu.wecom.connection.crypto import CallbackRejected, xml_fields
from siyu.wecom.connection.models import WecomCorp
from siyu.wecom.connection.service import CorpKeys

log = logging.getLogger("siyu.wecom.callbacks.service")
WELCOME_PRIORITY, NORMAL_PRIORITY = 0, 5
# events whose handler reads the current state from WeCom, so handling them twice is harmless
REREAD_EVENTS = (
    "change_external_contact/edit_external_contact",
    "change_external_chat/update",
    "change_external_tag/create",
    "change_external_tag/update",
    "change_external_tag/delete",
    "kf_msg_or_event",
)
LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 5


# -- the HTTP side ------------------------------------------------------------------------------------
class _ReplayCache:
    """(timestamp, nonce, signature) of callbacks already stored, remembered for the timestamp
    window: the same triple again is a replay. Per process; the inbox digest is the durable guard."""

    def __init__(self, size: int = 200_000) -> None:
        self.size, self.seen, self.lock = (
            size,
            OrderedDict[tuple[str, str, str], float](),
            threading.Lock(),
        )

    def __contains__(self, key: tuple[str, str, str]) -> bool:
        with self.lock:
            return key in self.seen

    def add(self, key: tuple[str, str, str], ttl: float) -> None:
        now = time.monotonic()
        with self.lock:
            self.seen[key] = now + ttl
            while self.seen and (
                len(self.seen) > self.size or next(iter(self.seen.values())) < now
            ):
                self.seen.popitem(last=False)


REPLAYS = _ReplayCache()


@dataclass(frozen=True)
class Incoming:
    corp_pk: int
    event: str
    fields: dict[str, str]
    digest: str
    priority: int


def check_time(timestamp: str, settings: Settings) -> None:
    window = settings.wecom_callback_skew_seconds
    try:
        ts = int(timestamp)
    except ValueError:
        raise CallbackRejected("bad_timestamp", "not a number") from None
    if window and abs(clock.timestamp() - ts) > window:
        raise CallbackRejected("stale_timestamp", f"more than {window} s from now")


def event_name(fields: dict[str, str]) -> str:
    """``change_external_contact/add_external_contact``, ``text``, ``kf_msg_or_event`` …"""
    if fields.get("MsgType") == "event":
        event = fields.get("Event", "")
        change = fields.get("ChangeType", "")
        return f"{event}/{change}" if change else event
    return fields.get("MsgType", "") or "unknown"


def open_callback(
    keys: CorpKeys, query: dict[str, str], body: bytes, settings: Settings
) -> Incoming:
    """Verify and decrypt a POSTed callback; raise CallbackRejected with the reason."""
    sig, ts, nonce = (query.get(k, "") for k in ("msg_signature", "timestamp", "nonce"))
    if not (sig and ts and nonce):
        raise CallbackRejected(
            "missing_parameters", "msg_signature, timestamp and nonce are required"
        )
    check_time(ts, settings)
    if (ts, nonce, sig) in REPLAYS:
        raise CallbackRejected("replayed")
    plain = keys.crypto.open_post(body, sig, ts, nonce)
    fields = xml_fields(plain)
    canonical = json.dumps([keys.corp_id, sorted(fields.items())], ensure_ascii=False)
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    priority = WELCOME_PRIORITY if fields.get("WelcomeCode") else NORMAL_PRIORITY
    return Incoming(keys.pk, event_name(fields), fields, digest, priority)


def _statements(dialect: str) -> tuple[Any, Any]:
    """(insert skipping a known digest, insert re-queueing a handled re-read event), built once
    per dialect: the callback hot path should not rebuild them for every group."""
    cached = _STATEMENTS.get(dialect)
    if cached is None:
        insert = sqlite_insert if dialect == "sqlite" else pg_insert
        skip = insert(WecomCallback).on_conflict_do_nothing(index_elements=["digest"])
        stmt = insert(WecomCallback)
        requeue = stmt.on_conflict_do_update(
            index_elements=["digest"],
            set_={"status": "queued", "due_at": stmt.excluded.due_at, "attempts": 0},
            # ORs, not IN: an IN list is an "expanding" parameter, which executemany refuses
            where=sa.or_(WecomCallback.status == "done", WecomCallback.status == "ignored"),
        )
        cached = _STATEMENTS[dialect] = (skip, requeue)
    return cached


_STATEMENTS: dict[str, tuple[Any, Any]] = {}
runtime.forgets("wecom.inbox.statements", _STATEMENTS.clear)


def _store(conn: Connection, items: list[Incoming]) -> list[None]:
    """Insert a group of callbacks; one already stored (WeCom retrying) is skipped by the unique
    digest in the same statement, so a flood of retries costs no extra query. A duplicate of an
    event that only says "read this again" (an edit: WeCom's events carry no id, so two edits
    within one second look alike) is queued once more if the first was already handled:
    reading again is harmless, missing the second edit is not."""
    now = clock.now()
    rows: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
    for i in {i.digest: i for i in items}.values():  # a digest once per statement
        rows[i.event in REREAD_EVENTS].append(
            {
                "corp_id": i.corp_pk,
                "digest": i.digest,
                "event": i.event[:80],
                "payload": i.fields,
                "priority": i.priority,
                "status": "queued",
                "attempts": 0,
                "received_at": now,
                "due_at": now,
            }
        )
    skip, requeue = _statements(conn.dialect.name)
    for reread, group in rows.items():
        if group:
            conn.execute(requeue if reread else skip, group)
    return [None] * len(items)


_writer: GroupWriter[Incoming, None] = GroupWriter("wecom-inbox", _store)


def store(item: Incoming) -> Future[None]:
    return _writer.submit(item)


def remember(query: dict[str, str], settings: Settings) -> None:
    ttl = settings.wecom_callback_skew_seconds * 2 or 3600
    REPLAYS.add((query["timestamp"], query["nonce"], query["msg_signature"]), ttl)
    WAKE.set()  # an in-process worker (siyu run) takes it now rather than at its next poll


# -- the worker side ----------------------------------------------------------------------------------
Handler = Callable[[Session, WecomCallback], str | None]
HANDLERS: dict[str, Handler] = {}


def on(*events: str) -> Callable[[Handler], Handler]:
    """Register a handler for inbox events; it returns None (done) or a reason it ignored the
    event. Capabilities add theirs (welcome messages, keyword replies, handover)."""

    def add(fn: Handler) -> Handler:
        for e in events:
            HANDLERS[e] = fn
        return fn

    return add


def corp_of(session: Session, row: WecomCallback) -> WecomCorp:
    """The corp a callback came for (the foreign key guarantees one)."""
    corp = session.get(WecomCorp, row.corp_id)
    assert corp is not None
    return corp


def claim(session: Session, name: str, limit: int = 50) -> list[WecomCallback]:
    """Take up to ``limit`` due callbacks, welcome codes first, in one UPDATE (atomic on SQLite;
    SKIP LOCKED lets many workers share the inbox on PostgreSQL). A claim older than the lease
    belongs to a dead worker and is taken again."""
    return claim_due(
        session,
        WecomCallback,
        name,
        limit=limit,
        lease=LEASE,
        order_by=(WecomCallback.priority, WecomCallback.id),
    )


def process(session: Session, row: WecomCallback) -> None:
    handler = HANDLERS.get(row.event)
    try:
        if handler is None:
            note: str | None = f"no handler for {row.event}"
        else:
            note = handler(session, row)
        row.status = "ignored" if note else "done"
        row.error, row.processed_at = note, clock.now()
        session.commit()
    except Exception as exc:  # one bad event must not stop the inbox; it is retried, then failed
        session.rollback()
        row = session.merge(row)
        transient = getattr(exc, "transient", True)
        row.error = f"{type(exc).__name__}: {exc}"[:2000]
        if not transient or row.attempts >= MAX_ATTEMPTS:
            row.status = "failed"
        else:
            row.status = "queued"
            retry_at = getattr(exc, "retry_at", None)  # a rate limit says when (monotonic)
            wait = retry_at - time.monotonic() if retry_at else 2**row.attempts
            row.due_at = clock.now() + timedelta(seconds=max(1.0, wait))
        row.processed_at = clock.now()
        session.commit()
        log.warning("wecom callback %s (%s) failed: %s", row.id, row.event, exc)


def pump_once(session: Session, name: str) -> int:
    rows = claim(session, name)
    for row in rows:
        process(session, row)
    return len(rows)
