"""Reading events for other capabilities, which use these instead of the event table."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu.db import plain_value, table_of
from siyu.events.models import Event


def events_of(session: Session, customer_ids: Collection[int]) -> list[dict[str, Any]]:
    """Every event of these customers as stored (column: value), in arrival order: what a PIPL
    access export gives the person."""
    columns = [c.key for c in table_of(Event).columns]
    rows = session.scalars(
        sa.select(Event).where(Event.customer_id.in_(customer_ids)).order_by(Event.id)
    )
    return [{k: plain_value(getattr(e, k)) for k in columns} for e in rows]


@dataclass(frozen=True)
class Tracked:
    """A track event as another capability reads it (loyalty's event earn rules)."""

    message_id: str
    customer_id: int | None
    name: str | None
    occurred_at: datetime


def tracked(session: Session, message_ids: Collection[str]) -> list[Tracked]:
    """The track events with these message ids, in arrival order."""
    return [
        Tracked(m, c, n, t)
        for m, c, n, t in session.execute(
            sa.select(Event.message_id, Event.customer_id, Event.name, Event.occurred_at)
            .where(Event.message_id.in_(list(message_ids)), Event.type == "track")
            .order_by(Event.id)
        )
    ]
