"""The send ledger's moves (DESIGN §5): fan a campaign out into rows, claim due rows under a
lease, record what the provider answered.

- ``fan_out`` writes one row per audience member in one ``INSERT … SELECT`` (the unique key
  makes it idempotent: starting a campaign twice adds nothing), with the holdout drawn in the
  same statement from a hash of (seed, customer), so it is reproducible and decided before any
  policy check.
- ``claim`` first ends what can no longer be sent (past ``send_by`` → skipped ``expired``) and
  what a dead worker left (lease over without an answer → ``ambiguous``: the provider may have
  the message; it is reconciled, never resent blindly), then takes due rows: with
  ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, where many workers claim at once; on SQLite only the
  worker holding the dispatch lease claims (``jobs.service.hold_dispatch_lease``).
- ``record`` writes an outcome only for a row the worker still holds; a worker whose lease ran
  out learns it from the False it gets back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from siyu import clock
from siyu.bulk import chunks
from siyu.db import UTCDateTime, is_sqlite, rowcount
from siyu.reach.models import Campaign, CampaignStatus, SendOrigin, SendRow, SendState
from siyu.refusals import Conflict, NotFound, Refusal
from siyu.segments.models import SegmentMember

OPEN = (SendState.pending, SendState.deferred)
TERMINAL = (SendState.sent, SendState.failed, SendState.skipped, SendState.held_out)
OUTCOMES = (
    SendState.sent,
    SendState.failed,
    SendState.skipped,
    SendState.deferred,
    SendState.ambiguous,
    SendState.submitted,
)
# outcomes after which the message counts against caps (it went, or may have)
COUNTED_OUTCOMES = (SendState.sent, SendState.ambiguous, SendState.submitted)
KEY = ["origin", "origin_id", "step", "customer_id", "channel"]  # the ledger's unique key
HASH_MULTIPLIER = 2654435761  # Knuth's multiplicative hash; customer ids stay below 2^31
HASH_PRIME = 1000003
VARIANT_MULTIPLIER = 2246822519  # the A/B draw uses another hash than the holdout draw


class LedgerError(Refusal):
    """A campaign or ledger move that cannot be made; the message says why."""


class NotInLedger(LedgerError, NotFound):
    """What a campaign move names does not exist: the campaign, its segment, a message."""


class WrongState(LedgerError, Conflict):
    """The campaign's or the message's state does not allow the move."""


def campaign_rows(campaign_id: int) -> sa.ColumnElement[bool]:
    """A campaign's rows, found through the unique key's first columns (``campaign_id`` holds
    the same id, but has no index of its own)."""
    return sa.and_(SendRow.origin == SendOrigin.campaign, SendRow.origin_id == campaign_id)


def in_holdout(customer_id: int, seed: int, pct: int) -> bool:
    """The same draw as the SQL in ``fan_out``, for checks and analysis in Python."""
    return ((customer_id * HASH_MULTIPLIER + seed) % HASH_PRIME) % 100 < pct


def variant_of(customer_id: int, seed: int, variants: list[tuple[str, int]]) -> str:
    """The same A/B draw as the SQL in ``fan_out`` (independent of the holdout draw)."""
    bucket = ((customer_id * VARIANT_MULTIPLIER + seed) % HASH_PRIME) % 100
    edge = 0
    for key, weight in variants:
        edge += weight
        if bucket < edge:
            return key
    return variants[-1][0] if variants else ""


def fan_out(
    session: Session, campaign: Campaign, now: datetime | None = None, step: int = 0
) -> dict[str, int]:
    """Write the campaign's rows for step ``step`` (a recurring campaign's run) for its
    segment's current members (a snapshot at send time); returns how many rows were added,
    held out and already there. The holdout and the A/B variant are drawn in the statement."""
    if campaign.segment_id is None:
        raise LedgerError("the campaign has no audience segment")
    if not 0 <= campaign.holdout_pct <= 50:
        raise LedgerError("holdout: 0–50 per cent")
    now = now or clock.now()
    member = SegmentMember.customer_id
    big = sa.cast(member, sa.BigInteger) * sa.literal(HASH_MULTIPLIER, sa.BigInteger)
    held = ((big + campaign.holdout_seed) % HASH_PRIME) % 100 < campaign.holdout_pct
    when = sa.literal(now, UTCDateTime)
    channels = campaign.channels or [campaign.channel]
    rows = sa.select(
        sa.literal(SendOrigin.campaign.value),
        sa.literal(campaign.id, sa.BigInteger),
        sa.literal(campaign.id),
        sa.literal(step),
        member,
        sa.literal(channels[0]),
        _variant_sql(member, campaign),
        sa.case((held, SendState.held_out.value), else_=SendState.pending.value),
        sa.case((held, "holdout"), else_=None),
        sa.literal(0),
        when,
        sa.literal(now + timedelta(hours=campaign.send_by_hours), UTCDateTime),
        when,
    ).where(SegmentMember.segment_id == campaign.segment_id)
    insert = sqlite_insert if is_sqlite(session) else pg_insert
    plain = insert(SendRow).from_select(
        [
            "origin",
            "origin_id",
            "campaign_id",
            "step",
            "customer_id",
            "channel",
            "variant",
            "state",
            "reason",
            "attempts",
            "due_at",
            "send_by",
            "created_at",
        ],
        rows,
    )
    stmt = plain.on_conflict_do_nothing(index_elements=KEY)

    def written() -> tuple[int, int]:
        total, held_out = session.execute(
            sa.select(
                sa.func.count(), sa.func.count().filter(SendRow.state == SendState.held_out)
            ).where(campaign_rows(campaign.id), SendRow.step == step)
        ).one()
        return int(total), int(held_out)

    def audience() -> tuple[int, int]:
        size, drawn = session.execute(
            sa.select(sa.func.count(), sa.func.count().filter(held)).where(
                SegmentMember.segment_id == campaign.segment_id
            )
        ).one()
        return int(size), int(drawn)

    started = session.scalar(
        sa.select(SendRow.id).where(campaign_rows(campaign.id), SendRow.step == step).limit(1)
    )
    if started is None:
        # the step's first write: without the conflict clause (PostgreSQL's speculative
        # insertion costs a third of the time); the unique key still refuses a second writer,
        # whose rows then go in through the conflict clause
        try:
            with session.begin_nested():
                # (INSERT … SELECT reports its count only when asked to keep it)
                result = session.execute(plain, execution_options={"preserve_rowcount": True})
        except sa.exc.IntegrityError:
            before = written()[0]
            session.execute(stmt)
        else:
            # every member went in, so the segment says how many were held out, without
            # reading back the rows just written; a driver that does not count (-1), or a
            # refresh of the segment between the two statements (PostgreSQL, READ COMMITTED),
            # shows as a mismatch, and the rows are counted below
            size, drawn = audience()
            if size == rowcount(result):
                campaign.audience_size = size
                return {"added": size, "held_out": drawn, "already": 0}
            before = 0
    else:
        before = written()[0]
        session.execute(stmt)  # (the driver's rowcount for INSERT … ON CONFLICT is not used)
    total, held_out = written()
    added = total - before
    size = audience()[0]
    campaign.audience_size = size
    return {"added": added, "held_out": held_out, "already": size - added}


def _variant_sql(member: Any, campaign: Campaign) -> Any:
    weights = [(str(v["key"]), int(v["weight"])) for v in campaign.variants or ()]
    if not weights:
        return sa.literal("")
    big = sa.cast(member, sa.BigInteger) * sa.literal(VARIANT_MULTIPLIER, sa.BigInteger)
    bucket = ((big + campaign.holdout_seed) % HASH_PRIME) % 100
    whens, edge = [], 0
    for key, weight in weights[:-1]:
        edge += weight
        whens.append((bucket < edge, key))
    return sa.case(*whens, else_=weights[-1][0]) if whens else sa.literal(weights[-1][0])


@dataclass(frozen=True)
class Claimed:
    id: int
    campaign_id: int | None  # None: not a campaign's row (``origin`` says whose)
    customer_id: int
    channel: str
    attempts: int
    variant: str = ""
    step: int = 0
    origin: str = SendOrigin.campaign
    # The latest moment to start the provider call: half the lease, so the call and its record
    # fit before the claim lapses and another worker may settle (and resend) the row.
    send_until: datetime | None = None


def end_stale(
    session: Session, now: datetime | None = None, origin: SendOrigin | None = None
) -> dict[str, int]:
    """Rows past their send-by time are skipped as expired; claims whose lease ran out become
    ambiguous (the worker died between the provider call and the record). ``origin``: only
    that origin's rows."""
    now = now or clock.now()
    scope = (
        sa.true()
        if origin is None
        else SendRow.origin == sa.literal(origin.value, literal_execute=True)
    )
    expired = rowcount(
        session.execute(
            sa.update(SendRow)
            .where(SendRow.state.in_(OPEN), SendRow.send_by < now, scope)
            .values(state=SendState.skipped, reason="expired", finished_at=now)
        )
    )
    ambiguous = rowcount(
        session.execute(
            sa.update(SendRow)
            .where(SendRow.state == SendState.claimed, SendRow.lease_until < now, scope)
            .values(state=SendState.ambiguous, reason="lease_expired")
        )
    )
    return {"expired": expired, "ambiguous": ambiguous}


def claim(
    session: Session,
    worker: str,
    limit: int = 500,
    lease_seconds: int = 60,
    channels: tuple[str, ...] | None = None,
    origin: SendOrigin = SendOrigin.campaign,
) -> list[Claimed]:
    """Take up to ``limit`` due rows of ``origin`` for ``worker`` (committed before it
    returns), only of ``channels`` when given (a channel that is not configured leaves its rows
    waiting). Each origin has its own sender: a sign-in code never waits behind a campaign."""
    now = clock.now()
    # the campaign sender ends stale rows of every origin; the transactional sender, which runs
    # in the same worker round, ends only its own few rows (through their partial index)
    # rather than scanning every open campaign row a second time
    end_stale(session, now, None if origin == SendOrigin.campaign else origin)
    lease = now + timedelta(seconds=lease_seconds)
    # the origin written into the statement, not bound: PostgreSQL matches a partial index's
    # predicate (``ix_send_ledger_transactional_due``) only against a value it can see
    mine = SendRow.origin == sa.literal(origin.value, literal_execute=True)
    pick = sa.select(SendRow.id).where(SendRow.state.in_(OPEN), SendRow.due_at <= now, mine)
    if channels is not None:
        pick = pick.where(SendRow.channel.in_(channels))
    pick = pick.order_by(SendRow.due_at, SendRow.id).limit(limit)
    if not is_sqlite(session):
        pick = pick.with_for_update(skip_locked=True)
    taken = rowcount(
        session.execute(
            sa.update(SendRow)
            .where(SendRow.id.in_(pick.scalar_subquery()), SendRow.state.in_(OPEN))
            .values(
                state=SendState.claimed,
                claimed_by=worker,
                lease_until=lease,
                attempts=SendRow.attempts + 1,
                checked_at=None,  # counted against caps again only once policy says yes
            )
            .execution_options(synchronize_session=False)
        )
    )
    session.commit()
    if not taken:
        return []
    rows = session.execute(
        sa.select(
            SendRow.id,
            SendRow.campaign_id,
            SendRow.customer_id,
            SendRow.channel,
            SendRow.attempts,
            SendRow.variant,
            SendRow.step,
            SendRow.origin,
        )
        .where(
            SendRow.state == SendState.claimed,
            SendRow.claimed_by == worker,
            SendRow.lease_until == lease,
        )
        .order_by(SendRow.id)
    ).all()
    send_until = now + timedelta(seconds=lease_seconds / 2)
    return [Claimed(*r, send_until=send_until) for r in rows]


def record(
    session: Session,
    row_id: int,
    worker: str,
    state: str,
    *,
    reason: str | None = None,
    provider_ref: str | None = None,
    error: str | None = None,
    due_at: datetime | None = None,
) -> bool:
    """Record an outcome for a row ``worker`` holds: sent, failed, skipped (with a reason),
    deferred (with ``due_at``) or ambiguous. False if the worker no longer holds the row."""
    if state not in OUTCOMES:
        raise LedgerError("not an outcome: {state}", state=state)
    if state == SendState.deferred and due_at is None:
        raise LedgerError("a deferred row needs the time it is due again")
    now = clock.now()
    values: dict[str, object] = {
        "state": state,
        "reason": reason,
        "provider_ref": provider_ref,
        "error": (error or "")[:300] or None,
        "claimed_by": None,
        "lease_until": None,
    }
    if state == SendState.deferred:
        values["due_at"] = due_at
    elif state != SendState.submitted:  # a submitted message waits for WeCom's report
        values["finished_at"] = now
    if state not in COUNTED_OUTCOMES:
        values["checked_at"] = None  # it did not go, so it counts against no cap
    else:  # a message that was not marked before the call counts from now
        values["checked_at"] = sa.func.coalesce(SendRow.checked_at, now)
    done = rowcount(
        session.execute(
            sa.update(SendRow)
            .where(
                SendRow.id == row_id,
                SendRow.state == SendState.claimed,
                SendRow.claimed_by == worker,
                SendRow.lease_until >= now,
            )
            .values(**values)
        )
    )
    return bool(done)


def record_many(
    session: Session,
    row_ids: list[int],
    worker: str,
    state: str,
    *,
    reason: str | None = None,
    error: str | None = None,
    due_at: datetime | None = None,
    provider_ref: str | None = None,
) -> int:
    """``record`` for many rows at once (a WeCom task's customers); returns rows recorded."""
    now = clock.now()
    values: dict[str, object] = {
        "state": state,
        "reason": reason,
        "error": (error or "")[:300] or None,
        "claimed_by": None,
        "lease_until": None,
    }
    if provider_ref is not None:
        values["provider_ref"] = provider_ref
    if state == SendState.deferred:
        values["due_at"] = due_at
    elif state != SendState.submitted:
        values["finished_at"] = now
    if state not in COUNTED_OUTCOMES:
        values["checked_at"] = None
    else:
        values["checked_at"] = sa.func.coalesce(SendRow.checked_at, now)
    done = 0
    for part in chunks(row_ids, 1000):
        done += rowcount(
            session.execute(
                sa.update(SendRow)
                .where(
                    SendRow.id.in_(list(part)),
                    SendRow.state == SendState.claimed,
                    SendRow.claimed_by == worker,
                    SendRow.lease_until >= now,
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )
        )
    return done


def cancel_open(session: Session, campaign_id: int) -> int:
    """A cancelled campaign's rows not yet sent end as skipped ``cancelled`` (claimed rows are
    left to their worker, which skips them when it sees the campaign cancelled)."""
    now = clock.now()
    return rowcount(
        session.execute(
            sa.update(SendRow)
            .where(campaign_rows(campaign_id), SendRow.state.in_(OPEN))
            .values(state=SendState.skipped, reason="cancelled", finished_at=now)
        )
    )


def finish_if_done(session: Session, campaign: Campaign) -> None:
    """A sending campaign with nothing left to send (or to settle) is done."""
    if campaign.status != CampaignStatus.sending:
        return
    left = session.scalar(
        sa.select(SendRow.id)
        .where(
            campaign_rows(campaign.id),
            SendRow.state.in_((*OPEN, SendState.claimed, SendState.ambiguous, SendState.submitted)),
        )
        .limit(1)
    )
    if left is None and campaign.next_run_at is not None:
        campaign.status = CampaignStatus.scheduled  # a recurring campaign waits for its next run
    elif left is None:
        campaign.status, campaign.finished_at = CampaignStatus.done, clock.now()


def counts(session: Session, campaign_id: int) -> dict[str, int]:
    rows = session.execute(
        sa.select(SendRow.state, sa.func.count())
        .where(campaign_rows(campaign_id))
        .group_by(SendRow.state)
    )
    return {state: int(n) for state, n in rows}
