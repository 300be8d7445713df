"""The periodic expiry over every member, set-based (DESIGN §6: 1M members in under a minute).

``service.expire_due`` ends one member's due lots at a time: a lock, the lots' remainders, an
entry per lot and the summary, about ten statements a member: some 40 minutes at a million
members (measured at 20k on the expiry benchmark's data). Here members go in id ranges, each
range one transaction of a few set statements that write exactly what the per-member path
writes (a test holds the two equal):

1. the range's members with points to expire are locked as every move locks them
   (``ledger.locked``): on PostgreSQL their balance rows ``FOR UPDATE`` in id order, so a spend
   in progress is waited for, never skipped, and one that comes after waits for the range's
   commit; on SQLite the range's transaction holds the database's write lock from its BEGIN;
2. one ``expire`` entry per due lot that still holds points, its remainder summed from the
   entries after the lock, its source ``expiry:{lot}:{n}`` where n counts the lot's expiries
   so far (points given back to an ended lot end again at the next run), under the entries'
   unique key (``ON CONFLICT DO NOTHING``): a lot that holds nothing gets nothing;
3. the balance summaries of those members, from the entries just written.

A member with nothing to expire is neither locked nor written (the per-member path stamps the
``updated_at`` of every member who has a lot past its date), so a second run writes nothing.
Like ``backfill`` it speaks SQL to the ledger's tables, because one statement per range is what
makes it fast.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from siyu import clock
from siyu.bulk import db_time
from siyu.db import write_transaction

# Members per transaction: on SQLite a range holds the write lock (spends wait) for its length,
# under a tenth of a second for 10k members with a third of them expiring. (The statements below
# are put together from this module's own fixed clauses, S608 silenced on each; every value is
# a bound parameter.)
CHUNK = 10_000


@dataclass
class ExpirySummary:
    members: int = 0  # members whose points expired
    lots: int = 0
    points: int = 0
    seconds: float = 0.0


def expire_all(engine: Engine, now: datetime | None = None, *, chunk: int = CHUNK) -> ExpirySummary:
    """End every lot past its date (at ``now``) that still holds points, every member's, in
    transactions of ``chunk`` members; safe to run again at any time, and beside spends."""
    started = time.perf_counter()
    due = now or clock.now()
    summary = ExpirySummary()
    with engine.connect() as conn:
        low, high = conn.execute(sa.text("SELECT min(id), max(id) FROM loyalty_member")).one()
    if low is None:
        return summary
    for start in range(low, high + 1, chunk):
        with write_transaction(engine) as conn:
            _expire_range(conn, start, min(start + chunk, high + 1), due, summary)
    summary.seconds = time.perf_counter() - started
    return summary


def _due_lots(sqlite: bool, only_locked: bool = False) -> str:
    """The range's lots past their date with points left: member, lot, remainder and how many
    times the lot has ended before, each lot's entries found by ``lot_id``. On SQLite, CROSS
    JOIN and grouping in the index's order keep it so (as a plain join it walks the whole
    ledger; grouped by the lot alone it sorts); PostgreSQL would hash-join a scan of the whole
    ledger for every range, so a LATERAL subquery looks each lot up."""
    where = "l.member_id >= :lo AND l.member_id < :hi AND l.expires_at <= :due"
    if sqlite:
        return (
            "SELECT l.member_id AS member_id, l.id AS lot_id, sum(e.points) AS pts,"  # noqa: S608
            " sum(CASE WHEN e.kind = 'expire' THEN 1 ELSE 0 END) AS ended"
            f" FROM points_lot l CROSS JOIN points_entry e WHERE {where} AND e.lot_id = l.id"
            " GROUP BY l.member_id, l.expires_at, l.id HAVING sum(e.points) > 0"
        )
    if only_locked:
        where += " AND l.member_id = ANY(CAST(:ids AS BIGINT[]))"
    return (
        "SELECT l.member_id AS member_id, l.id AS lot_id, s.pts, s.ended FROM points_lot l"  # noqa: S608
        " CROSS JOIN LATERAL (SELECT sum(e.points) AS pts,"
        " count(*) FILTER (WHERE e.kind = 'expire') AS ended"
        f" FROM points_entry e WHERE e.lot_id = l.id) AS s WHERE {where} AND s.pts > 0"
    )


def _expire_range(
    conn: Connection, low: int, high: int, due: datetime, summary: ExpirySummary
) -> None:
    sqlite = conn.dialect.name == "sqlite"
    stamp = db_time(conn, clock.now())
    params: dict[str, Any] = {"lo": low, "hi": high, "due": db_time(conn, due), "now": stamp}
    mine = ""
    if not sqlite:
        # short statements that JIT compiling (tens of ms each) would only slow down
        conn.execute(sa.text("SET LOCAL jit = off"))
        lock = (
            "SELECT b.member_id FROM points_balance b"  # noqa: S608
            " WHERE b.member_id >= :lo AND b.member_id < :hi AND b.member_id IN"
            f" (SELECT d.member_id FROM ({_due_lots(False)}) AS d)"
            " ORDER BY b.member_id FOR UPDATE OF b"
        )
        params["ids"] = [int(r[0]) for r in conn.execute(sa.text(lock), params)]
        if not params["ids"]:
            return
        mine = " AND member_id = ANY(CAST(:ids AS BIGINT[]))"
    # read after the lock: on PostgreSQL what a move committed before it is below this id,
    # and no move of the locked members can write until the range commits
    params["entry0"] = conn.execute(sa.text("SELECT max(id) FROM points_entry")).scalar() or 0
    insert = (
        "INSERT INTO points_entry (member_id, lot_id, lot_key, kind, points, source_kind,"  # noqa: S608
        " source_id, linked, covers, reason, created_at)"
        " SELECT d.member_id, d.lot_id, d.lot_id, 'expire', -d.pts, 'expiry',"
        " CAST(d.lot_id AS VARCHAR(20)) || ':' || CAST(d.ended + 1 AS VARCHAR(20)),"
        f" '', 0, 'expired', :now FROM ({_due_lots(sqlite, only_locked=True)}) AS d"
        " WHERE true ON CONFLICT DO NOTHING"  # WHERE: SQLite's upsert syntax
    )
    # the points: PostgreSQL returns them; on SQLite RETURNING slows the insert by a third,
    # and a sum of the new rows (found by id) costs little
    done = conn.execute(sa.text(insert + ("" if sqlite else " RETURNING points")), params)
    made = [] if sqlite else [int(p) for p in done.scalars()]
    lots = done.rowcount if sqlite else len(made)
    if not lots:
        return
    new = (
        "SELECT member_id, sum(points) AS p FROM points_entry WHERE id > :entry0"  # noqa: S608
        f" AND kind = 'expire' AND source_kind = 'expiry' AND created_at = :now{mine}"
        # +member_id on SQLite: group the new rows found by id, not the ledger's whole index
        f" GROUP BY {'+member_id' if sqlite else 'member_id'}"
    )
    update = (
        "UPDATE points_balance SET remaining = remaining + s.p, expired = expired - s.p,"  # noqa: S608
        f" updated_at = :now FROM ({new}) AS s"
        " WHERE points_balance.member_id = s.member_id"
    )
    summary.members += conn.execute(sa.text(update), params).rowcount
    summary.lots += lots
    if sqlite:
        total = f"SELECT coalesce(sum(s.p), 0) FROM ({new}) AS s"  # noqa: S608
        made = [int(conn.execute(sa.text(total), params).scalar_one())]
    summary.points -= sum(made)
