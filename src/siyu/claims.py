"""Claiming due rows of a work table (the WeCom and official-account callback inboxes): one
UPDATE marks up to ``limit`` rows as this worker's, atomic on SQLite, ``SKIP LOCKED`` on
PostgreSQL so many workers share the table; a claim older than the lease belongs to a worker
that died and is taken again.

The table has ``status`` (queued / working / …), ``due_at``, ``processed_at`` (when claimed),
``claimed_by`` and ``attempts`` columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.db import is_sqlite, rowcount

T = TypeVar("T")


def claim_due(
    session: Session,
    model: type[T],
    name: str,
    *,
    limit: int,
    lease: timedelta,
    order_by: Sequence[Any],
) -> list[T]:
    """Up to ``limit`` due rows of ``model``, in ``order_by``, now claimed by ``name`` (the
    claim is committed)."""
    table: Any = model
    now = clock.now()
    due = sa.or_(
        sa.and_(table.status == "queued", table.due_at <= now),
        sa.and_(table.status == "working", table.processed_at < now - lease),
    )
    pick = sa.select(table.id).where(due).order_by(*order_by).limit(limit)
    if not is_sqlite(session):
        pick = pick.with_for_update(skip_locked=True)
    claimed = rowcount(
        session.execute(
            sa.update(table)
            .where(table.id.in_(pick.scalar_subquery()))
            .values(
                status="working", claimed_by=name, processed_at=now, attempts=table.attempts + 1
            )
            .execution_options(synchronize_session=False)
        )
    )
    session.commit()
    if not claimed:
        return []
    mine = sa.and_(table.status == "working", table.claimed_by == name, table.processed_at == now)
    return list(session.scalars(sa.select(table).where(mine).order_by(*order_by)))
