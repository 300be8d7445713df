"""Reading events for other capabilities, which use these instead of the event table."""

from __future__ import annotations

from collections.abc import Collection
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
