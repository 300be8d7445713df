"""The official account's event pushes: verify, store, answer at once; process in the worker.

WeChat waits 5 s for "success" and retries a push three times, so the HTTP side does only what
must happen before answering: check the signature (before any XML is parsed), the timestamp
window and the replay cache, decrypt in safe mode (``wecom.crypto``, the same AES scheme with the
appid in place of the corp id), read the flat XML with defusedxml, and store the event
(group commit; a retried push has the same digest and is stored once).

In plain mode WeChat's signature covers only (token, timestamp, nonce), not the body, so each
signature is accepted once (the replay cache) and an account with an EncodingAESKey refuses
plain pushes altogether: safe mode signs the body too.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from siyu import clock, runtime
from siyu.claims import claim_due
from siyu.config import Settings, get_settings
from siyu.groupcommit import GroupWriter
from siyu.jobs.service import WAKE
from siyu.oa.client import OaClient, OaError, TokenError
from siyu.oa.followers import FollowerFacts, store_followers
from siyu.oa.models import OaCallback
from siyu.untrusted import same_token, whole_number
from siyu.wecom.connection.crypto import CallbackCrypto, CallbackRejected, xml_fields

log = logging.getLogger("siyu.oa.inbox")
HANDLED = ("subscribe", "unsubscribe", "SCAN")
OPENID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # WeChat's are 28 of these
LATEST = 4_102_444_800  # 2100-01-01: a CreateTime past it is no time WeChat sent
LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 5


class _ReplayCache:
    """(timestamp, nonce, signature) of pushes already taken, for the timestamp window."""

    def __init__(self, size: int = 100_000) -> None:
        self.size = size
        self.seen: OrderedDict[tuple[str, str, str], float] = OrderedDict()
        self.lock = threading.Lock()

    def __contains__(self, key: tuple[str, str, str]) -> bool:
        with self.lock:
            until = self.seen.get(key)
            return until is not None and until > time.monotonic()

    def add(self, key: tuple[str, str, str], ttl: float) -> None:
        now = time.monotonic()
        with self.lock:
            self.seen[key] = now + ttl
            self.seen.move_to_end(key)
            while self.seen and (
                len(self.seen) > self.size or next(iter(self.seen.values())) < now
            ):
                self.seen.popitem(last=False)


REPLAYS = _ReplayCache()


@dataclass(frozen=True)
class Push:
    appid: str
    event: str
    openid: str
    fields: dict[str, str]
    digest: str


def signature(token: str, timestamp: str, nonce: str) -> str:
    """WeChat's plain signature: SHA1 over the sorted (token, timestamp, nonce), hex."""
    return hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()  # noqa: S324 - WeChat's protocol


def check_signature(token: str, query: dict[str, str], settings: Settings) -> tuple[str, str, str]:
    """(timestamp, nonce, signature) once the signature and the timestamp window hold."""
    sig, ts, nonce = (query.get(k, "") for k in ("signature", "timestamp", "nonce"))
    if not (sig and ts and nonce):
        raise CallbackRejected("missing_parameters", "signature, timestamp and nonce are required")
    if not same_token(signature(token, ts, nonce), sig.lower()):
        raise CallbackRejected("bad_signature")
    try:
        stamp = int(ts)
    except ValueError:
        raise CallbackRejected("bad_timestamp", "not a number") from None
    window = settings.wecom_callback_skew_seconds
    if window and abs(clock.timestamp() - stamp) > window:
        raise CallbackRejected("stale_timestamp", f"more than {window} s from now")
    return ts, nonce, sig


def open_push(
    appid: str,
    query: dict[str, str],
    body: bytes,
    settings: Settings,
    signed: tuple[str, str, str],
) -> Push | None:
    """The push to store, or None when there is nothing to store (a retry already taken, a
    message or an event Siyu does not handle); ``signed`` is what ``check_signature`` returned.
    Raises CallbackRejected with the reason."""
    ts, nonce, sig = signed
    if (ts, nonce, sig) in REPLAYS:
        return None
    if settings.oa_aes_key:
        if query.get("encrypt_type") != "aes":
            raise CallbackRejected("plain_refused", "the account is in safe mode")
        crypto = CallbackCrypto(settings.oa_token, settings.oa_aes_key, appid)
        body = crypto.open_post(body, query.get("msg_signature", ""), ts, nonce)
    fields = xml_fields(body)
    event = fields.get("Event", "")
    if fields.get("MsgType") != "event" or event not in HANDLED:
        return None
    openid = fields.get("FromUserName", "")
    created = fields.get("CreateTime", "")
    if not OPENID.fullmatch(openid):
        raise CallbackRejected("bad_event", "FromUserName is not an openid")
    if not whole_number(created, most=LATEST - 1):  # not ASCII digits, 0, or past LATEST
        raise CallbackRejected("bad_event", "CreateTime is not a time")
    kept = {k: v[:200] for k, v in fields.items() if k in KEPT}
    digest = hashlib.sha256(json.dumps([appid, openid, event, created]).encode()).hexdigest()
    return Push(appid, event, openid, kept, digest)


KEPT = ("ToUserName", "FromUserName", "CreateTime", "MsgType", "Event", "EventKey", "Ticket")


def remember(query: dict[str, str], settings: Settings) -> None:
    ttl = settings.wecom_callback_skew_seconds * 2 or 3600
    REPLAYS.add((query["timestamp"], query["nonce"], query["signature"]), ttl)
    WAKE.set()  # an in-process worker (siyu run) takes it now rather than at its next poll


_STATEMENTS: dict[str, Any] = {}
runtime.forgets("oa.inbox.statements", _STATEMENTS.clear)


def _store(conn: Connection, items: list[Push]) -> list[None]:
    """Insert a group of pushes; one already stored (WeChat retrying) is skipped by the unique
    digest in the same statement."""
    stmt = _STATEMENTS.get(conn.dialect.name)
    if stmt is None:
        insert = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
        stmt = _STATEMENTS[conn.dialect.name] = insert(OaCallback).on_conflict_do_nothing(
            index_elements=["digest"]
        )
    now = clock.now()
    conn.execute(
        stmt,
        [
            {
                "appid": p.appid,
                "digest": p.digest,
                "event": p.event,
                "openid": p.openid,
                "payload": p.fields,
                "status": "queued",
                "attempts": 0,
                "received_at": now,
                "due_at": now,
            }
            for p in {p.digest: p for p in items}.values()
        ],
    )
    return [None] * len(items)


_writer: GroupWriter[Push, None] = GroupWriter("oa-inbox", _store)


def store(push: Push) -> Future[None]:
    return _writer.submit(push)


# -- the worker side ----------------------------------------------------------------------------
def claim(session: Session, name: str, limit: int = 50) -> list[OaCallback]:
    """Take up to ``limit`` due pushes in one UPDATE (SKIP LOCKED on PostgreSQL); a claim older
    than the lease belongs to a dead worker and is taken again."""
    return claim_due(session, OaCallback, name, limit=limit, lease=LEASE, order_by=(OaCallback.id,))


def facts_of(row: OaCallback, info: dict[str, Any] | None) -> FollowerFacts:
    """What a push says: subscribe (with the QR code's scene when it came by scanning one),
    unsubscribe, or SCAN (a follower scanned a parametric code: still following). WeChat dates
    a push to the second; it is taken as the end of that second, so a list read by a sync in
    the same second does not override it."""
    created = datetime.fromtimestamp(int(row.payload.get("CreateTime") or 0), UTC)
    at = created + timedelta(milliseconds=999)
    if row.event == "unsubscribe":
        return FollowerFacts(row.openid, False, at)
    key = str(row.payload.get("EventKey") or "")
    unionid = str(info["unionid"]) if info and info.get("unionid") else None
    if row.event == "SCAN":
        return FollowerFacts(row.openid, True, at, unionid=unionid)
    qr = key.removeprefix("qrscene_") if key.startswith("qrscene_") else None
    return FollowerFacts(
        row.openid,
        True,
        at,
        subscribe_time=created,
        unionid=unionid,
        scene="ADD_SCENE_QR_CODE" if qr else None,
        qr_scene=qr[:64] if qr else None,
    )


def _unionids(client: OaClient | None, rows: list[OaCallback]) -> dict[str, dict[str, Any]]:
    """Each new follower's unionid, asked in one batchget; a refusal leaves them without."""
    openids = sorted({r.openid for r in rows if r.event != "unsubscribe"})
    if client is None or not openids:
        return {}
    try:
        return {str(i.get("openid")): i for i in client.user_infos(openids[:100])}
    except OaError as exc:
        if exc.transient:
            raise
        log.warning("oa pushes: user/info/batchget refused: %s", exc)
        return {}


def _client_for(appid: str) -> OaClient | None:
    from siyu.oa.service import client_for

    settings = get_settings()
    if appid != settings.oa_appid or not settings.oa_secret:
        return None
    return client_for(settings)


def pump_once(session: Session, name: str) -> int:
    rows = claim(session, name)
    by_app: dict[str, list[OaCallback]] = {}
    for row in rows:
        by_app.setdefault(row.appid, []).append(row)
    for appid, group in by_app.items():
        try:
            infos = _unionids(_client_for(appid), group)
        except (OaError, TokenError, httpx.HTTPError, ValueError) as exc:
            for row in group:
                _failed(session, row, exc)
            continue
        for row in group:
            process(session, row, infos.get(row.openid))
    return len(rows)


def process(session: Session, row: OaCallback, info: dict[str, Any] | None = None) -> None:
    try:
        store_followers(session, row.appid, [facts_of(row, info)])
        row.status, row.error, row.processed_at = "done", None, clock.now()
        session.commit()
    except Exception as exc:  # one bad push must not stop the inbox; it is retried, then failed
        _failed(session, row, exc)


def _failed(session: Session, row: OaCallback, exc: Exception) -> None:
    session.rollback()
    row = session.merge(row)
    row.error = f"{type(exc).__name__}: {exc}"[:2000]
    if row.attempts >= MAX_ATTEMPTS:
        row.status = "failed"
    else:
        row.status = "queued"
        wait = getattr(exc, "retry_after", None) or 2**row.attempts
        row.due_at = clock.now() + timedelta(seconds=max(1.0, float(wait)))
    row.processed_at = clock.now()
    session.commit()
    log.warning("oa push %s (%s) failed: %s", row.id, row.event, exc)
