"""Materialised membership: who is in each segment, kept up to date, with enter/exit events.

A full refresh evaluates a dynamic segment's rule for everyone on the analytical copy and
writes the difference to ``segment_member`` in one transaction, with a ``segment_entered`` or
``segment_exited`` event per customer who moved (journeys react to them) and a size row for the
trend chart. The first refresh of a segment is its baseline: members are written, no events
(nobody "entered" a segment that did not exist).

An incremental refresh re-checks only the customers whose data changed since the segments were
last refreshed — their profile, identities, consents or tags (``customer.updated_at``), their
orders or their events — so an import of a thousand orders costs a thousand checks, not a
million. Rules with relative windows ("last 90 days") also change as days pass; the scheduled
full refresh catches those.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import ibis
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from siyu import clock
from siyu.analytics.engines import open_duckdb
from siyu.bulk import chunks, db_time, insert_rows, rows_where_in
from siyu.config import Settings
from siyu.db import table_of, write_transaction
from siyu.events.models import Event
from siyu.reactions import Topic, publish_parts
from siyu.segments.compiler import Context, members
from siyu.segments.models import Segment, SegmentMember, SegmentSize
from siyu.segments.service import checked_rule, copy_as_of, copy_tables, make_context

MEMBER = table_of(SegmentMember)
SEGMENT = table_of(Segment)
EVENT = table_of(Event)
Progress = Callable[[str], None]


@dataclass
class RefreshOutcome:
    segment_id: int
    name: str
    size: int
    entered: int
    exited: int
    checked: int | None = None  # customers re-checked (incremental), None for everyone
    baseline: bool = False
    error: str | None = None


@dataclass
class RefreshRun:
    outcomes: list[RefreshOutcome] = field(default_factory=list)
    changed_customers: int | None = None
    seconds: float = 0.0


def refresh_segments(
    engine: Engine,
    settings: Settings,
    *,
    segment_ids: Sequence[int] | None = None,
    incremental: bool = False,
    since: datetime | None = None,
    compute_engine: str = "duckdb",
    today: date | None = None,
    progress: Progress | None = None,
) -> RefreshRun:
    """Refresh dynamic segments (all, or those named) from the copy as it is now.

    ``incremental`` re-checks only customers changed since ``since`` (default: the oldest
    ``data_as_of`` among the segments, less the copy's overlap); a segment never refreshed
    gets a full refresh either way."""
    started = clock.now()
    run = RefreshRun()
    with Session(engine) as session:
        q = sa.select(Segment).where(Segment.dynamic.is_(True)).order_by(Segment.id)
        if segment_ids is not None:
            q = q.where(Segment.id.in_(list(segment_ids)))
        segments = list(session.scalars(q))
        session.expunge_all()
    as_of = copy_as_of(settings)
    changed: pa.Array | None = None
    if incremental:
        known = [s.data_as_of for s in segments if s.data_as_of is not None]
        mark = since or (min(known) if known else None)
        if mark is not None:
            mark -= timedelta(seconds=settings.analytics_overlap_seconds)
            changed = changed_customers(settings, mark)
            run.changed_customers = len(changed)
    nobody_changed = changed is not None and len(changed) == 0
    changed_ids = (
        None if changed is None else ibis.memtable(pa.table({"id": changed.cast(pa.int64())}))
    )
    with (
        Session(engine) as session,
        copy_tables(settings, compute_engine) as tables,
        ExitStack() as held,
    ):
        narrowed = _Narrowed(tables, changed_ids) if changed_ids is not None else tables
        held.callback(_release, narrowed)
        for seg in segments:
            if progress:
                progress(seg.name)
            if nobody_changed and seg.data_as_of is not None:
                run.outcomes.append(RefreshOutcome(seg.id, seg.name, seg.size, 0, 0, checked=0))
                continue
            only = changed if seg.data_as_of is not None else None
            ctx = make_context(
                narrowed if only is not None else tables,
                settings,
                session,
                brand_id=seg.brand_id,
                today=today,
            )
            if only is not None and changed_ids is not None:
                ctx.restrict(changed_ids, tables_narrowed=True)
            try:
                outcome = _refresh_one(engine, session, ctx, seg, only, as_of)
            except Exception as exc:  # one bad segment must not stop the others
                _record_error(engine, seg.id, str(exc))
                outcome = RefreshOutcome(seg.id, seg.name, seg.size, 0, 0, error=str(exc))
            run.outcomes.append(outcome)
    run.seconds = (clock.now() - started).total_seconds()
    return run


NARROWED = frozenset(
    {"order", "order_line", "event", "customer_tag", "customer_trait", "identity", "consent"}
)


class _Narrowed(dict[str, Any]):
    """The changed customers' rows of the big per-customer tables, each read once (on first
    use) into a temporary table shared by all the segments of this run, rather than one scan
    of ten million orders per segment. Other tables read through to ``base``."""

    def __init__(self, base: dict[str, Any], ids: Any) -> None:
        super().__init__()
        self.base, self.ids = base, ids

    def __missing__(self, name: str) -> Any:
        if name not in NARROWED:
            return self.base[name]
        t = self.base[name]
        if name == "order_line":
            narrowed = t.filter(t.order_id.isin(self["order"].id))
        else:
            narrowed = t.filter(t.customer_id.isin(self.ids.id))
        self[name] = cached = narrowed.cache()
        return cached


def _release(tables: dict[str, Any]) -> None:
    """Drop the temporary tables while the connection is still open."""
    for table in dict.values(tables):
        release = getattr(table, "release", None)
        if release is not None:
            release()


def changed_customers(settings: Settings, mark: datetime) -> pa.Array:
    """Customers whose profile, identities, consents, tags, orders or events changed at or
    after ``mark`` (naive UTC in the copy), merged customers' winners included."""
    naive = mark.astimezone(UTC).replace(tzinfo=None) if mark.tzinfo else mark
    with open_duckdb(settings.resolved_analytics_path, read_only=True) as duck:
        rows = duck.execute(
            "SELECT id FROM customer WHERE updated_at >= $1 "
            'UNION SELECT customer_id FROM "order" WHERE updated_at >= $1 '
            "AND customer_id IS NOT NULL "
            "UNION SELECT customer_id FROM event WHERE updated_at >= $1 "
            "AND customer_id IS NOT NULL",
            [naive],
        ).fetch_arrow_table()
    return rows.column(0).combine_chunks()


def _refresh_one(
    engine: Engine,
    session: Session,
    ctx: Context,
    seg: Segment,
    only: pa.Array | None,
    as_of: datetime | None,
) -> RefreshOutcome:
    node = checked_rule(session, seg.rule, segment_id=seg.id)
    hits = members(node, ctx).to_pyarrow()
    now_in = set(hits.column(0).to_pylist())
    baseline = seg.data_as_of is None and seg.refreshed_at is None
    with write_transaction(engine) as conn:
        scope = only.to_pylist() if only is not None else None
        before = _current(conn, seg.id, scope)
        entered = sorted(now_in - before)
        exited = sorted(before - now_in)
        size = len(now_in) if scope is None else seg.size + len(entered) - len(exited)
        _write(
            conn, seg, entered, exited, size, events=not baseline, as_of=as_of, full=only is None
        )
    return RefreshOutcome(
        seg.id,
        seg.name,
        size,
        len(entered),
        len(exited),
        checked=None if only is None else len(only),
        baseline=baseline,
    )


def _current(conn: Connection, segment_id: int, scope: list[int] | None) -> set[int]:
    if scope is None:
        rows = conn.execute(
            sa.select(MEMBER.c.customer_id).where(MEMBER.c.segment_id == segment_id)
        )
        return {r[0] for r in rows}
    return {
        r[0]
        for r in rows_where_in(
            conn,
            "SELECT customer_id FROM segment_member WHERE segment_id = ? AND customer_id IN ({in})",
            (segment_id,),
            scope,
        )
    }


def _write(
    conn: Connection,
    seg: Segment,
    entered: list[int],
    exited: list[int],
    size: int,
    *,
    events: bool,
    as_of: datetime | None,
    full: bool,
) -> None:
    """Membership changes, events, the segment's size and freshness, and a size row (kept
    when the size moved, or at a full refresh, so the trend has a point per refresh)."""
    now = clock.now()
    for part in chunks(exited, 5000):
        conn.execute(
            MEMBER.delete().where(MEMBER.c.segment_id == seg.id, MEMBER.c.customer_id.in_(part))
        )
    stamp = db_time(conn, now)
    insert_rows(
        conn,
        MEMBER,
        ("segment_id", "customer_id", "entered_at"),
        [(seg.id, c, stamp) for c in entered],
    )
    if events and (entered or exited):
        _events(conn, seg, entered, exited, now)
    if events:
        publish_parts(conn, Topic.segment_entered, "customers", entered, segment=seg.id)
    conn.execute(
        SEGMENT.update()
        .where(SEGMENT.c.id == seg.id)
        .values(size=size, refreshed_at=now, data_as_of=as_of, refresh_error=None)
    )
    if entered or exited or full:
        conn.execute(
            table_of(SegmentSize)
            .insert()
            .values(
                segment_id=seg.id,
                size=size,
                entered=len(entered),
                exited=len(exited),
                taken_at=now,
            )
        )


def _events(
    conn: Connection, seg: Segment, entered: Iterable[int], exited: Iterable[int], now: datetime
) -> None:
    """One event per customer who moved; the message id makes a re-run harmless."""
    stamp = now.strftime("%Y%m%d%H%M%S%f")
    props = {"segment_id": seg.id, "segment": seg.name}
    rows: list[dict[str, Any]] = []
    for name, ids in (("segment_entered", entered), ("segment_exited", exited)):
        rows.extend(
            {
                "message_id": f"segment:{seg.id}:{name[8:]}:{cid}:{stamp}",
                "customer_id": cid,
                "type": "track",
                "name": name,
                "properties": props,
                "occurred_at": now,
                "received_at": now,
                "source": "segments",
            }
            for cid in ids
        )
    for part in chunks(rows, 5000):
        conn.execute(EVENT.insert(), list(part))


def _record_error(engine: Engine, segment_id: int, error: str) -> None:
    with write_transaction(engine) as conn:
        conn.execute(
            SEGMENT.update().where(SEGMENT.c.id == segment_id).values(refresh_error=error[:2000])
        )
