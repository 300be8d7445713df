"""Points moves (DESIGN §12): earn, spend, refunds as compensating entries, expiry, manual
adjustments, erasure under a tombstone. Each move locks the member first (``_locked``), writes
entries and the balance summary in the caller's transaction, and is idempotent on its source:
the same order, event or adjustment again finds its entries and changes nothing."""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.loyalty.models import (
    EntryKind,
    Member,
    PointsBalance,
    PointsEntry,
    PointsLot,
    Programme,
)
from siyu.privacy.service import ErasureContext
from siyu.refusals import Conflict, NotFound, Refusal

POINTS_MAX = 100_000_000  # one move; keeps sums far inside 32 bits per member


class LoyaltyError(Refusal):
    """A points move that cannot be made; the message says why."""


class NoSuchMember(LoyaltyError, NotFound):
    """The move names a member (or programme) that does not exist."""


class NotEnoughPoints(LoyaltyError, Conflict):
    """A spend or deduction larger than the points that can be spent now."""


class SourceConflict(LoyaltyError, Conflict):
    """The same source was already used for a different amount."""


@dataclass(frozen=True)
class Moved:
    """What a move did: the points per lot (0: the debt), and whether it was there already."""

    points: int
    lots: tuple[tuple[int, int], ...]
    again: bool = False


def add_months(moment: datetime, months: int) -> datetime:
    """The same day ``months`` later (the month's last day when it has fewer days)."""
    month = moment.month - 1 + months
    year, month = moment.year + month // 12, month % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def create_programme(
    session: Session,
    code: str,
    name: str,
    *,
    brand_id: int | None = None,
    pending_days: int = 7,
    lot_months: int = 12,
    refund_rule: str = "negative",
) -> Programme:
    if not 0 <= pending_days <= 365 or not 0 <= lot_months <= 120:
        raise LoyaltyError("refund window 0–365 days; points last 0–120 months (0: for ever)")
    if refund_rule not in ("negative", "deduct_later"):
        raise LoyaltyError("refund rule: negative or deduct_later")
    programme = Programme(
        code=code,
        name=name,
        brand_id=brand_id,
        pending_days=pending_days,
        lot_months=lot_months,
        refund_rule=refund_rule,
    )
    session.add(programme)
    session.flush()
    return programme


def enrol(
    session: Session,
    programme: Programme,
    customer_id: int,
    *,
    channel: str = "",
    store_id: int | None = None,
) -> Member:
    """The customer's membership of the programme (the existing one when enrolled before)."""
    found = session.scalar(
        sa.select(Member).where(
            Member.programme_id == programme.id, Member.customer_id == customer_id
        )
    )
    if found is not None:
        return found
    member = Member(
        programme_id=programme.id,
        customer_id=customer_id,
        join_channel=channel,
        store_id=store_id,
        joined_at=clock.now(),
    )
    session.add(member)
    session.flush()
    session.add(PointsBalance(member_id=member.id, updated_at=clock.now()))
    session.flush()
    return member


def _locked(session: Session, member_id: int) -> PointsBalance:
    """Lock the member for this move: an UPDATE of the balance row is the first statement, so
    on PostgreSQL it holds the row until commit and on SQLite the write lock (taken before any
    read of this transaction, so no read is stale); a second move of the same member waits."""
    done = session.execute(
        sa.update(PointsBalance)
        .where(PointsBalance.member_id == member_id)
        .values(updated_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    if not getattr(done, "rowcount", 0):
        raise NoSuchMember("no member {id}", id=member_id)
    balance = session.get(PointsBalance, member_id, populate_existing=True)
    assert balance is not None
    return balance


def _entries(
    session: Session, member_id: int, kind: str, source: tuple[str, str]
) -> list[PointsEntry]:
    return list(
        session.scalars(
            sa.select(PointsEntry)
            .where(
                PointsEntry.member_id == member_id,
                PointsEntry.kind == kind,
                PointsEntry.source_kind == source[0],
                PointsEntry.source_id == source[1],
            )
            .order_by(PointsEntry.id)
        )
    )


def _moved(entries: list[PointsEntry], again: bool) -> Moved:
    return Moved(
        points=sum(abs(e.points) for e in entries),
        lots=tuple((e.lot_key, e.points) for e in entries),
        again=again,
    )


def _write(
    session: Session,
    member_id: int,
    kind: str,
    source: tuple[str, str],
    moves: Iterable[tuple[int | None, int]],
    reason: str = "",
    linked: str = "",
) -> list[PointsEntry]:
    now = clock.now()
    out = []
    for lot_id, points in moves:
        entry = PointsEntry(
            member_id=member_id,
            lot_id=lot_id,
            lot_key=lot_id or 0,
            kind=kind,
            points=points,
            source_kind=source[0],
            source_id=source[1],
            linked=linked,
            reason=reason[:200],
            created_at=now,
        )
        session.add(entry)
        out.append(entry)
    session.flush()
    return out


def _remaining(session: Session, member_id: int) -> dict[int, int]:
    """Each lot's points left (lot id → points), over the member's entries."""
    rows = session.execute(
        sa.select(PointsEntry.lot_id, sa.func.sum(PointsEntry.points))
        .where(PointsEntry.member_id == member_id, PointsEntry.lot_id.is_not(None))
        .group_by(PointsEntry.lot_id)
    )
    return {int(lot): int(total) for lot, total in rows if lot is not None}


def _check_points(points: int) -> None:
    if not 0 < points <= POINTS_MAX:
        raise LoyaltyError("points: 1–{most}", most=POINTS_MAX)


def earn(
    session: Session,
    member_id: int,
    source: tuple[str, str],
    points: int,
    *,
    available_at: datetime | None = None,
    expires_at: datetime | None = None,
    reason: str = "",
) -> Moved:
    """A new lot of ``points`` for ``source`` (an order, an event, an adjustment, an opening
    balance): spendable after the programme's refund window unless ``available_at`` says
    otherwise, expiring after its months unless ``expires_at`` does. Points the member owes
    after an earlier refund are repaid from it first."""
    _check_points(points)
    balance = _locked(session, member_id)
    lot = session.scalar(
        sa.select(PointsLot).where(
            PointsLot.member_id == member_id,
            PointsLot.source_kind == source[0],
            PointsLot.source_id == source[1],
        )
    )
    if lot is not None:
        if lot.points != points:
            raise SourceConflict(
                "{source} already earned {earned} points",
                source=":".join(source),
                earned=lot.points,
            )
        return _moved(_entries(session, member_id, EntryKind.earn, source), again=True)
    member = session.get(Member, member_id)
    assert member is not None
    programme = session.get(Programme, member.programme_id)
    assert programme is not None
    now = clock.now()
    start = available_at or now + timedelta(days=programme.pending_days)
    ends = expires_at or (add_months(start, programme.lot_months) if programme.lot_months else None)
    lot = PointsLot(
        member_id=member_id,
        source_kind=source[0],
        source_id=source[1],
        points=points,
        available_at=start,
        expires_at=ends,
        created_at=now,
    )
    session.add(lot)
    session.flush()
    made = _write(session, member_id, EntryKind.earn, source, [(lot.id, points)], reason)
    balance.earned += points
    balance.remaining += points
    if balance.debt:
        repaid = min(balance.debt, points)
        _write(session, member_id, EntryKind.repay, source, [(lot.id, -repaid), (None, repaid)])
        balance.remaining -= repaid
        balance.debt -= repaid
    return _moved(made, again=False)


def spendable(session: Session, member_id: int, now: datetime | None = None) -> int:
    """Points the member can spend now: available, unexpired lots, less any debt."""
    now = now or clock.now()
    left = _remaining(session, member_id)
    lots = _open_lots(session, member_id, now, left)
    debt = session.scalar(sa.select(PointsBalance.debt).where(PointsBalance.member_id == member_id))
    return max(0, sum(left[lot.id] for lot in lots) - int(debt or 0))


def _open_lots(
    session: Session, member_id: int, now: datetime, left: dict[int, int]
) -> list[PointsLot]:
    """Lots with points left that can be spent now, oldest expiry first (never-expiring last)."""
    lots = session.scalars(
        sa.select(PointsLot).where(
            PointsLot.member_id == member_id,
            PointsLot.available_at <= now,
            sa.or_(PointsLot.expires_at.is_(None), PointsLot.expires_at > now),
        )
    )
    open_ = [lot for lot in lots if left.get(lot.id, 0) > 0]
    return sorted(open_, key=lambda lot: (lot.expires_at is None, lot.expires_at or now, lot.id))


def spend(
    session: Session, member_id: int, source: tuple[str, str], points: int, *, reason: str = ""
) -> Moved:
    """Use ``points`` for ``source`` (a redemption, an order paid with points), taken from the
    lots that expire first. The same source again gets the same answer; a different amount for
    it, or more than can be spent now, is refused and nothing is written."""
    return _deduct(session, member_id, source, points, EntryKind.spend, reason)


def deduct(session: Session, member_id: int, adjustment: str, points: int, *, reason: str) -> Moved:
    """A manual deduction (an operator's, with a reason), idempotent on its adjustment id."""
    if not reason.strip():
        raise LoyaltyError("a deduction needs a reason")
    return _deduct(session, member_id, ("adjustment", adjustment), points, EntryKind.adjust, reason)


def _deduct(
    session: Session,
    member_id: int,
    source: tuple[str, str],
    points: int,
    kind: EntryKind,
    reason: str,
) -> Moved:
    _check_points(points)
    balance = _locked(session, member_id)
    done = _entries(session, member_id, kind, source)
    if done:
        if -sum(e.points for e in done) != points:
            raise SourceConflict("{source} already used other points", source=":".join(source))
        return _moved(done, again=True)
    now = clock.now()
    left = _remaining(session, member_id)
    lots = _open_lots(session, member_id, now, left)
    can = sum(left[lot.id] for lot in lots) - balance.debt
    if points > can:
        raise NotEnoughPoints(
            "not enough points: {wanted} asked, {can} can be spent now",
            wanted=points,
            can=max(can, 0),
        )
    moves, need = [], points
    for lot in lots:
        take = min(need, left[lot.id])
        moves.append((lot.id, -take))
        need -= take
        if not need:
            break
    made = _write(session, member_id, kind, source, moves, reason)
    balance.remaining -= points
    balance.spent += points
    return _moved(made, again=False)


def give_back(
    session: Session,
    member_id: int,
    spend_source: tuple[str, str],
    refund: str,
    points: int | None = None,
) -> Moved:
    """A refund of an order paid with points: its points go back to the lots they came from
    (latest expiry first for a partial refund), once per refund and never more than were spent."""
    balance = _locked(session, member_id)
    source = ("refund", refund)
    done = _entries(session, member_id, EntryKind.give_back, source)
    if done:
        return _moved(done, again=True)
    spent = _entries(session, member_id, EntryKind.spend, spend_source)
    if not spent:
        raise NoSuchMember("no spend {source} to refund", source=":".join(spend_source))
    back_already = _given_back(session, member_id, [e.lot_id for e in spent], spend_source)
    owed = {e.lot_key: -e.points - back_already.get(e.lot_key, 0) for e in spent}
    total = sum(owed.values())
    want = total if points is None else points
    if not 0 < want <= total:
        raise LoyaltyError(
            "a refund gives back 1–{left} points of {source}",
            left=total,
            source=":".join(spend_source),
        )
    moves, need = [], want
    for lot_key in reversed([e.lot_key for e in spent]):
        back = min(need, owed[lot_key])
        if back:
            moves.append((lot_key, back))
            need -= back
        if not need:
            break
    made = _write(
        session, member_id, EntryKind.give_back, source, moves, linked=":".join(spend_source)
    )
    balance.remaining += want
    balance.spent -= want
    return _moved(made, again=False)


def _given_back(
    session: Session, member_id: int, lot_ids: list[int | None], spend_source: tuple[str, str]
) -> dict[int, int]:
    """Points already given back to these lots for refunds of ``spend_source``."""
    rows = session.execute(
        sa.select(PointsEntry.lot_key, sa.func.sum(PointsEntry.points))
        .where(
            PointsEntry.member_id == member_id,
            PointsEntry.kind == EntryKind.give_back,
            PointsEntry.linked == ":".join(spend_source),
            PointsEntry.lot_key.in_([i or 0 for i in lot_ids]),
        )
        .group_by(PointsEntry.lot_key)
    )
    return {int(k): int(v) for k, v in rows}


def take_back(
    session: Session,
    member_id: int,
    earn_source: tuple[str, str],
    refund: str,
    points: int | None = None,
) -> Moved:
    """A refund of the order that earned points takes them back from its lot, once per refund
    (``points`` for a partial refund). What the lot no longer holds (spent, expired) becomes a
    debt the member's later earnings repay first."""
    balance = _locked(session, member_id)
    source = ("refund", refund)
    done = _entries(session, member_id, EntryKind.take_back, source) + _entries(
        session, member_id, EntryKind.debt, source
    )
    if done:
        return _moved(done, again=True)
    lot = session.scalar(
        sa.select(PointsLot).where(
            PointsLot.member_id == member_id,
            PointsLot.source_kind == earn_source[0],
            PointsLot.source_id == earn_source[1],
        )
    )
    if lot is None:
        raise NoSuchMember("no points earned by {source}", source=":".join(earn_source))
    taken_before = -sum(
        e.points
        for e in session.scalars(
            sa.select(PointsEntry).where(
                PointsEntry.member_id == member_id,
                PointsEntry.kind.in_([EntryKind.take_back, EntryKind.debt]),
                PointsEntry.linked == ":".join(earn_source),
            )
        )
    )
    can = lot.points - taken_before
    want = can if points is None else points
    if not 0 < want <= can:
        raise LoyaltyError(
            "a refund takes back 1–{left} points of {source}",
            left=can,
            source=":".join(earn_source),
        )
    left = max(0, _remaining(session, member_id).get(lot.id, 0))
    from_lot = min(want, left)
    made = []
    if from_lot:
        made += _write(
            session,
            member_id,
            EntryKind.take_back,
            source,
            [(lot.id, -from_lot)],
            linked=":".join(earn_source),
        )
    if want > from_lot:
        made += _write(
            session,
            member_id,
            EntryKind.debt,
            source,
            [(None, -(want - from_lot))],
            linked=":".join(earn_source),
        )
    balance.remaining -= from_lot
    balance.debt += want - from_lot
    balance.taken_back += want
    return _moved(made, again=False)


def expire_due(session: Session, now: datetime | None = None, member_id: int | None = None) -> int:
    """End every lot past its expiry that still holds points (the remainder, once: a lot
    already ended holds none); returns the points expired. Safe to run again at any time."""
    now = now or clock.now()
    query = sa.select(PointsLot.member_id).where(PointsLot.expires_at <= now).distinct()
    if member_id is not None:
        query = query.where(PointsLot.member_id == member_id)
    total = 0
    for mid in list(session.scalars(query)):
        total += _expire_member(session, int(mid), now, "expired")
    return total


def _expire_member(
    session: Session, member_id: int, now: datetime, reason: str, every: bool = False
) -> int:
    balance = _locked(session, member_id)
    left = _remaining(session, member_id)
    lots = session.scalars(
        sa.select(PointsLot).where(
            PointsLot.member_id == member_id,
            PointsLot.id.in_([lot for lot, pts in left.items() if pts > 0]),
            sa.true() if every else PointsLot.expires_at <= now,
        )
    )
    total = 0
    for lot in lots:
        ended = session.scalar(
            sa.select(sa.func.count())
            .select_from(PointsEntry)
            .where(PointsEntry.lot_id == lot.id, PointsEntry.kind == EntryKind.expire)
        )
        points = left[lot.id]
        _write(
            session,
            member_id,
            EntryKind.expire,
            ("expiry", f"{lot.id}:{int(ended or 0) + 1}"),
            [(lot.id, -points)],
            reason,
        )
        total += points
    balance.remaining -= total
    balance.expired += total
    return total


def erase_members(session: Session, ctx: ErasureContext) -> int:
    """Erasure keeps the ledger whole: the person's memberships lose their customer and carry a
    tombstone; their points expire with reason ``erased``; entries and lots stay (amounts, dates
    and order ids, no personal data)."""
    members = list(
        session.scalars(sa.select(Member).where(Member.customer_id.in_(ctx.customer_ids)))
    )
    for member in members:
        _expire_member(session, member.id, clock.now(), "erased", every=True)
        member.customer_id = None
        member.tombstone = f"erased-{member.id}"
        member.status = "erased"
    session.flush()
    return len(members)


@dataclass(frozen=True)
class LedgerTotals:
    remaining: int
    debt: int
    earned: int
    spent: int
    expired: int
    taken_back: int


def ledger_totals(session: Session, member_id: int) -> LedgerTotals:
    """The member's totals summed from the entries alone (what the summary must equal)."""
    sums = dict(
        session.execute(
            sa.select(PointsEntry.kind, sa.func.sum(PointsEntry.points))
            .where(PointsEntry.member_id == member_id)
            .group_by(PointsEntry.kind)
        ).all()
    )
    on_lots = session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(PointsEntry.points), 0)).where(
            PointsEntry.member_id == member_id, PointsEntry.lot_id.is_not(None)
        )
    )
    on_debt = session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(PointsEntry.points), 0)).where(
            PointsEntry.member_id == member_id, PointsEntry.lot_id.is_(None)
        )
    )

    def s(kind: str) -> int:
        return int(sums.get(kind) or 0)

    return LedgerTotals(
        remaining=int(on_lots or 0),
        debt=-int(on_debt or 0),
        earned=s(EntryKind.earn),
        spent=-(s(EntryKind.spend) + s(EntryKind.adjust)) - s(EntryKind.give_back),
        expired=-s(EntryKind.expire),
        taken_back=-s(EntryKind.take_back) - s(EntryKind.debt),
    )
