"""Event ingest: validate, resolve the person, store once per messageId.

Replays are harmless: a messageId already stored is answered as a duplicate and changes
nothing. An event must identify someone (userId or traits.phone/email/unionid/openid); the
product is a customer pool, not web analytics of anonymous visitors. An openid belongs to one
official account: ``traits.openid_appid`` names it, else the configured account's AppID.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from siyu import clock
from siyu.brands.service import BrandError, resolve_brand
from siyu.customers import identifiers as ids
from siyu.customers.resolution import Resolver
from siyu.db import table_of
from siyu.events.models import Event
from siyu.events.schemas import EventIn
from siyu.reactions import Topic, publish_parts
from siyu.refusals import Refusal

EVENT = table_of(Event)
FUTURE_SLACK = timedelta(hours=1)


class EventRejected(Refusal):
    """One event of a request cannot be stored (422); ``index`` says which, and the API names
    it as the field refused (``{"loc": ["body", "batch", index], "msg": …}``)."""

    def __init__(self, index: int, template: str, /, **params: Any) -> None:
        super().__init__(template, **params)
        self.index = index

    def where(self) -> list[str | int]:
        return ["body", "batch", self.index]

    def detail(self, say: Callable[[BaseException], str]) -> Any:
        return [{"loc": self.where(), "msg": say(self)}]


class BrandRejected(EventRejected):
    """The brand an event's context names cannot be used (``context.brand``)."""

    def where(self) -> list[str | int]:
        return ["body", "context", "brand"]


@dataclass
class Stored:
    message_id: str
    status: str
    customer_id: int | None


Key = tuple[str, str, str]


def _keys(e: EventIn, index: int) -> list[Key]:
    """The event's identities, normalised. A member number's namespace (the brand code) is
    filled in when the event is stored, where the brand is known."""
    keys: list[Key] = []
    problems: list[str] = []
    candidates: list[tuple[ids.Kind, str, Any]] = []
    if e.user_id:
        candidates.append((ids.Kind.member_id, "", e.user_id))
    traits = e.traits or _context_traits(e)
    if traits is not None:
        candidates += [
            (ids.Kind.phone, "", traits.phone),
            (ids.Kind.email, "", traits.email),
            (ids.Kind.unionid, "wechat", traits.unionid),
        ]
        if traits.openid is not None:
            try:
                candidates.append((ids.Kind.openid, _appid(traits.openid_appid), traits.openid))
            except ids.Rejected as exc:
                problems.append(f"openid_appid: {exc}")
    for kind, ns, raw in candidates:
        if raw is None:
            continue
        try:
            keys.append((kind.value, ns, ids.normalise(kind, raw)))
        except ids.Rejected as exc:
            problems.append(f"{kind.value}: {exc}")
    if not keys:
        why = "; ".join(problems) or (
            "give userId or traits.phone / traits.email / traits.unionid / traits.openid"
        )
        raise EventRejected(index, "event does not identify a person ({why})", why=why)
    return keys


def _appid(given: str | None) -> str:
    """The namespace of an openid: the AppID the event names, else the configured account's."""
    from siyu.config import get_settings

    return ids.appid(given or get_settings().oa_appid)


def _context_traits(e: EventIn) -> Any:
    from siyu.events.schemas import Traits

    raw = e.context.get("traits") if isinstance(e.context, dict) else None
    return Traits.model_validate(raw) if isinstance(raw, dict) else None


def validate(events: Sequence[EventIn]) -> list[list[Key]]:
    """Everything that can be said about a request without the database; raises EventRejected
    naming the first bad event, so one bad request never fails the others of a group. Returns
    each event's identities, so they are normalised once."""
    now = clock.now()
    seen: set[str] = set()
    keys: list[list[Key]] = []
    for i, e in enumerate(events):
        if e.type == "track" and not e.event:
            raise EventRejected(i, "a track event needs an event name")
        if (e.timestamp or now) > now + FUTURE_SLACK:
            raise EventRejected(i, "timestamp is in the future")
        if e.message_id in seen:
            raise EventRejected(i, "messageId {id!r} appears twice in this batch", id=e.message_id)
        seen.add(e.message_id)
        keys.append(_keys(e, i))
    return keys


def ingest(
    conn: Connection, events: Sequence[EventIn], *, source: str, secret: bytes
) -> list[Stored]:
    """Store one request's events in the caller's transaction; raises EventRejected before
    writing anything."""
    keys = validate(events)
    return ingest_many(conn, [(events, source, keys)], secret=secret)[0]


def ingest_many(
    conn: Connection,
    requests: Sequence[tuple[Sequence[EventIn], str, list[list[Key]]]],
    *,
    secret: bytes,
) -> list[list[Stored]]:
    """Store several validated requests in one transaction (group commit). A messageId sent by
    two requests of the group is stored once; the later one is answered as a duplicate."""
    now = clock.now()
    codes: dict[str | None, str] = {}
    prepared = []
    for r, (events, source, request_keys) in enumerate(requests):
        for e, event_keys in zip(events, request_keys, strict=True):
            brand = e.context.get("brand") if isinstance(e.context.get("brand"), str) else None
            if brand not in codes:
                try:
                    codes[brand] = resolve_brand(conn, brand)[1]
                except BrandError as exc:
                    raise BrandRejected(r, "{reason}", reason=exc) from None
            keys = [(k, codes[brand] if k == "member_id" else ns, v) for k, ns, v in event_keys]
            prepared.append((r, source, e, keys, (e.timestamp or now).astimezone(UTC)))
    existing = _existing(conn, list({p[2].message_id for p in prepared}))
    resolver = Resolver(conn, "api", secret, actor="api")
    todo = []
    claimed: dict[str, int] = {}  # messageId -> the request of the group that stores it
    for p in prepared:
        mid = p[2].message_id
        if mid not in existing and mid not in claimed:
            claimed[mid] = p[0]
            todo.append(p)
    resolver.prefetch(k for p in todo for k in p[3])
    rows = []
    for r, source, e, keys, occurred in todo:
        res = resolver.resolve(keys, _profile(e), occurred)
        rows.append((r, source, e, res.customer_id, res.primary_identity(), occurred))
    resolver.flush()
    accepted: dict[tuple[int, str], int] = {}
    if rows:
        conn.execute(
            EVENT.insert(),
            [
                {
                    "message_id": e.message_id,
                    "customer_id": resolver.customer_for(cid),
                    "identity_id": ident,
                    "type": e.type,
                    "name": e.event if e.type == "track" else "identify",
                    "properties": e.properties if e.type == "track" else _identify_props(e),
                    "occurred_at": occurred,
                    "received_at": now,
                    "source": source[:100],
                }
                for _r, source, e, cid, ident, occurred in rows
            ],
        )
        for r, _source, e, cid, _ident, _t in rows:
            accepted[(r, e.message_id)] = resolver.customer_for(cid)
        tracked = [e.message_id for _r, _s, e, _c, _i, _t in rows if e.type == "track"]
        publish_parts(conn, Topic.event_tracked, "messages", tracked)  # loyalty's event rules
    out: list[list[Stored]] = []
    for r, (events, *_rest) in enumerate(requests):
        out.append(
            [
                Stored(e.message_id, "accepted", accepted[(r, e.message_id)])
                if (r, e.message_id) in accepted
                else Stored(
                    e.message_id,
                    "duplicate",
                    existing.get(
                        e.message_id, accepted.get((claimed.get(e.message_id, -1), e.message_id))
                    ),
                )
                for e in events
            ]
        )
    return out


def _existing(conn: Connection, message_ids: list[str]) -> dict[str, int | None]:
    rows = conn.execute(
        sa.select(EVENT.c.message_id, EVENT.c.customer_id).where(
            EVENT.c.message_id.in_(message_ids)
        )
    )
    return {m: c for m, c in rows}


def _profile(e: EventIn) -> dict[str, Any]:
    t = e.traits
    if t is None:
        return {"source": "api"}
    return {
        "name": t.name,
        "city": t.city,
        "province": t.province,
        "gender": {"male": "male", "female": "female", "男": "male", "女": "female"}.get(
            t.gender or ""
        ),
        "source": "api",
    }


def _identify_props(e: EventIn) -> dict[str, Any]:
    """Identify calls keep only non-identifying traits; identities live in the identity table."""
    if e.traits is None:
        return {}
    data = e.traits.model_dump(exclude_none=True)
    for k in ("phone", "email", "unionid", "openid", "openid_appid", "name"):
        data.pop(k, None)
    return data


def erase_events(session: Session, customer_ids: Collection[int]) -> int:
    """Delete these customers' events (PIPL erasure); returns the rows removed."""
    done = session.execute(sa.delete(Event).where(Event.customer_id.in_(customer_ids)))
    return int(getattr(done, "rowcount", 0) or 0)


def record_track(
    session: Session,
    customer_id: int,
    name: str,
    properties: dict[str, Any],
    *,
    source: str,
    message_id: str,
) -> None:
    """A track event about a customer Siyu already knows (a form answered, a survey taken),
    stored as the API stores one, so segments' event rules and loyalty's event rules see it;
    once per ``message_id`` (a replay changes nothing)."""
    if session.scalar(sa.select(Event.id).where(Event.message_id == message_id)) is not None:
        return
    now = clock.now()
    session.add(
        Event(
            message_id=message_id[:100],
            customer_id=customer_id,
            type="track",
            name=name[:100],
            properties=properties,
            occurred_at=now,
            received_at=now,
            source=source[:100],
        )
    )
    session.flush()
    publish_parts(session, Topic.event_tracked, "messages", [message_id[:100]])
