"""Event ingest: validate, resolve the person, store once per messageId.

Replays are harmless: a messageId already stored is answered as a duplicate and changes
nothing. An event must identify someone (userId or traits.phone/email/unionid); the product
is a customer pool, not web analytics of anonymous visitors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from siyu.brands.service import resolve_brand
from siyu.customers import identifiers as ids
from siyu.customers.resolution import Resolver
from siyu.db import table_of, utcnow
from siyu.events.models import Event
from siyu.events.schemas import EventIn

EVENT = table_of(Event)
FUTURE_SLACK = timedelta(hours=1)


class EventRejected(ValueError):
    """A 422 for one event of a request; ``index`` says which."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index


@dataclass
class Stored:
    message_id: str
    status: str
    customer_id: int | None


def _keys(e: EventIn, index: int, brand_code: str) -> list[tuple[str, str, str]]:
    keys: list[tuple[str, str, str]] = []
    problems: list[str] = []
    candidates: list[tuple[ids.Kind, str, Any]] = []
    if e.user_id:
        candidates.append((ids.Kind.member_id, brand_code, e.user_id))
    traits = e.traits or _context_traits(e)
    if traits is not None:
        candidates += [
            (ids.Kind.phone, "", traits.phone),
            (ids.Kind.email, "", traits.email),
            (ids.Kind.unionid, "wechat", traits.unionid),
        ]
    for kind, ns, raw in candidates:
        if raw is None:
            continue
        try:
            keys.append((kind.value, ns, ids.normalise(kind, raw)))
        except ids.Rejected as exc:
            problems.append(f"{kind.value}: {exc}")
    if not keys:
        why = "; ".join(problems) or "give userId or traits.phone / traits.email / traits.unionid"
        raise EventRejected(index, f"event does not identify a person ({why})")
    return keys


def _context_traits(e: EventIn) -> Any:
    from siyu.events.schemas import Traits

    raw = e.context.get("traits") if isinstance(e.context, dict) else None
    return Traits.model_validate(raw) if isinstance(raw, dict) else None


def ingest(
    conn: Connection, events: Sequence[EventIn], *, source: str, secret: bytes
) -> list[Stored]:
    """Store a batch in the caller's transaction; raises EventRejected before writing anything."""
    now = utcnow()
    brand = events[0].context.get("brand") if events else None
    _brand_id, brand_code = resolve_brand(conn, brand if isinstance(brand, str) else None)
    prepared = []
    for i, e in enumerate(events):
        if e.type == "track" and not e.event:
            raise EventRejected(i, "a track event needs an event name")
        occurred = (e.timestamp or now).astimezone(UTC)
        if occurred > now + FUTURE_SLACK:
            raise EventRejected(i, "timestamp is in the future")
        prepared.append((e, _keys(e, i, brand_code), occurred))
    seen_in_request: set[str] = set()
    for i, e in enumerate(events):
        if e.message_id in seen_in_request:
            raise EventRejected(i, f"messageId {e.message_id!r} appears twice in this batch")
        seen_in_request.add(e.message_id)
    existing = _existing(conn, [e.message_id for e in events])
    resolver = Resolver(conn, f"api:{source}"[:32], secret, actor=f"api:{source}")
    todo = [p for p in prepared if p[0].message_id not in existing]
    resolver.prefetch(k for _e, keys, _t in todo for k in keys)
    rows = []
    results: dict[str, Stored] = {}
    for e, keys, occurred in todo:
        profile = _profile(e)
        res = resolver.resolve(keys, profile, occurred)
        rows.append((e, res.customer_id, res.primary_identity(), occurred))
    resolver.flush()
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
                for e, cid, ident, occurred in rows
            ],
        )
        for e, cid, _ident, _t in rows:
            results[e.message_id] = Stored(e.message_id, "accepted", resolver.customer_for(cid))
    return [
        results.get(e.message_id) or Stored(e.message_id, "duplicate", existing.get(e.message_id))
        for e in events
    ]


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
    for k in ("phone", "email", "unionid", "name"):
        data.pop(k, None)
    return data
