"""The points ledger's mechanics (DESIGN §12): the member's lock, entries written and read,
lots' remainders in expiry order, and the totals summed from the entries alone. The moves that
use them are in ``service`` (earn, spend, expiry, erasure) and ``refunds``."""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

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
    RefundRule,
)
from siyu.refusals import Conflict, NotFound, Refusal

POINTS_MAX = 100_000_000  # one move (a lot's points are 32-bit; the member's totals 64-bit)
SOURCE_KIND = re.compile(r"[a-z_]{1,20}")


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


@dataclass
class Held:
    """The member locked for a move, with its programme and balance summary."""

    member: Member
    programme: Programme
    balance: PointsBalance


def locked(session: Session, member_id: int, *, moving: bool = True) -> Held:
    """Lock the member for this move: an UPDATE of the balance row is the first statement, so
    on PostgreSQL it holds the row until commit and on SQLite the write lock (taken before any
    read of this transaction, so no read is stale); a second move of the same member waits.
    An erased member takes no more moves (``moving``), only the erasure's own."""
    done = session.execute(
        sa.update(PointsBalance)
        .where(PointsBalance.member_id == member_id)
        .values(updated_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    if not getattr(done, "rowcount", 0):
        raise NoSuchMember("no member {id}", id=member_id)
    balance = session.get(PointsBalance, member_id, populate_existing=True)
    member = session.get(Member, member_id, populate_existing=True)
    assert balance is not None and member is not None
    if moving and member.status != "active":
        raise LoyaltyError("member {id} is {status}", id=member_id, status=member.status)
    programme = session.get(Programme, member.programme_id)
    assert programme is not None
    return Held(member, programme, balance)


def source_key(source: tuple[str, str]) -> str:
    """``kind:id`` of a source, refusing what could make two sources one."""
    kind, ident = source
    if not SOURCE_KIND.fullmatch(kind) or not 0 < len(ident) <= 100:
        raise LoyaltyError("a source is a kind (a–z, _) and an id of 1–100 characters")
    return f"{kind}:{ident}"


def entries_of(
    session: Session, member_id: int, kinds: Iterable[str], source: tuple[str, str]
) -> list[PointsEntry]:
    return list(
        session.scalars(
            sa.select(PointsEntry)
            .where(
                PointsEntry.member_id == member_id,
                PointsEntry.kind.in_(list(kinds)),
                PointsEntry.source_kind == source[0],
                PointsEntry.source_id == source[1],
            )
            .order_by(PointsEntry.id)
        )
    )


def moved(entries: list[PointsEntry], again: bool) -> Moved:
    return Moved(
        points=sum(abs(e.points) + e.covers for e in entries),
        lots=tuple((e.lot_key, e.points) for e in entries),
        again=again,
    )


def write(
    session: Session,
    member_id: int,
    kind: str,
    source: tuple[str, str],
    moves: Iterable[tuple[int | None, int]],
    reason: str = "",
    linked: str = "",
    covers: int = 0,
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
            covers=covers,
            reason=reason[:200],
            created_at=now,
        )
        session.add(entry)
        out.append(entry)
    session.flush()
    return out


def remaining(session: Session, member_id: int) -> dict[int, int]:
    """Each lot's points left (lot id → points), over the member's entries."""
    rows = session.execute(
        sa.select(PointsEntry.lot_id, sa.func.sum(PointsEntry.points))
        .where(PointsEntry.member_id == member_id, PointsEntry.lot_id.is_not(None))
        .group_by(PointsEntry.lot_id)
    )
    return {int(lot): int(total) for lot, total in rows if lot is not None}


def check_points(points: int) -> None:
    if not 0 < points <= POINTS_MAX:
        raise LoyaltyError("points: 1–{most}", most=POINTS_MAX)


def repay(
    session: Session, held: Held, source: tuple[str, str], arriving: list[tuple[int, int]]
) -> None:
    """Points arriving on lots (an earning; a refund's give-back under the ``negative`` rule)
    pay the member's debt first: minus on the lot, plus on the debt, one entry each."""
    if not held.balance.debt:
        return
    moves, paid = [], 0
    for lot_id, points in arriving:
        take = min(points, held.balance.debt - paid)
        if take > 0:
            moves.append((lot_id, -take))
            paid += take
    if paid:
        write(session, held.member.id, EntryKind.repay, source, [*moves, (None, paid)])
        held.balance.remaining -= paid
        held.balance.debt -= paid


def can_spend(left: dict[int, int], lots: list[PointsLot], debt: int, rule: str) -> int:
    owed = debt if rule == RefundRule.negative else 0
    return max(0, sum(left[lot.id] for lot in lots) - owed)


def open_lots(
    session: Session, member_id: int, now: datetime, left: dict[int, int], *, every: bool = False
) -> list[PointsLot]:
    """Lots with points left, oldest expiry first (never-expiring last): those that can be
    spent now, or with ``every`` all of them (pending ones too)."""
    query = sa.select(PointsLot).where(PointsLot.member_id == member_id)
    if not every:
        query = query.where(
            PointsLot.available_at <= now,
            sa.or_(PointsLot.expires_at.is_(None), PointsLot.expires_at > now),
        )
    open_ = [lot for lot in session.scalars(query) if left.get(lot.id, 0) > 0]
    return sorted(open_, key=lambda lot: (lot.expires_at is None, lot.expires_at or now, lot.id))


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


def add_months(moment: datetime, months: int) -> datetime:
    """The same day ``months`` later (the month's last day when it has fewer days)."""
    month = moment.month - 1 + months
    year, month = moment.year + month // 12, month % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)
