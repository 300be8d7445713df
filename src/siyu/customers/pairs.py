"""Pairs of profiles the resolver found linked but could not merge (``identity_conflict``).

A pair stays open until an operator merges it or keeps it apart. A pair kept apart is two
people on the operator's word: the resolver records it no more and never merges it by itself.
These helpers work on a Core connection, inside the resolver's or a service's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from siyu import clock
from siyu.customers.models import IdentityConflict
from siyu.db import table_of

CONFLICT = table_of(IdentityConflict)
KEPT_APART = "kept_apart"
MERGED = "merged"


def _pair(a: int, b: int) -> sa.ColumnElement[bool]:
    c = CONFLICT.c
    return sa.or_(
        sa.and_(c.customer_id == a, c.other_customer_id == b),
        sa.and_(c.customer_id == b, c.other_customer_id == a),
    )


def kept_apart_pairs(
    conn: Connection | Session, customer_ids: Iterable[int]
) -> set[frozenset[int]]:
    """The pairs among ``customer_ids`` an operator kept apart."""
    ids = sorted(set(customer_ids))
    if len(ids) < 2:
        return set()
    c = CONFLICT.c
    rows = conn.execute(
        sa.select(c.customer_id, c.other_customer_id).where(
            c.resolution == KEPT_APART, c.customer_id.in_(ids), c.other_customer_id.in_(ids)
        )
    )
    return {frozenset((a, b)) for a, b in rows}


def conflict_on_record(conn: Connection | Session, a: int, b: int) -> bool:
    """Whether the pair is already open for review, or was kept apart."""
    c = CONFLICT.c
    found = conn.execute(
        sa.select(c.id)
        .where(_pair(a, b), sa.or_(c.resolved_at.is_(None), c.resolution == KEPT_APART))
        .limit(1)
    ).first()
    return found is not None


def resolve_pair(conn: Connection | Session, a: int, b: int, resolution: str, actor: str) -> int:
    """Close every open conflict between ``a`` and ``b``; returns how many."""
    c = CONFLICT.c
    result = conn.execute(
        CONFLICT.update()
        .where(_pair(a, b), c.resolved_at.is_(None))
        .values(resolved_at=clock.now(), resolution=resolution, resolved_by=actor)
    )
    return int(getattr(result, "rowcount", 0) or 0)
