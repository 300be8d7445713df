"""Points moves (DESIGN §12): earn, spend, refunds as compensating entries, expiry, manual
adjustments, erasure under a tombstone. Each move locks the member first (``_locked``), writes
entries and the balance summary in the caller's transaction, and is idempotent on its source:
the same order, event or adjustment again finds its entries and changes nothing."""

from __future__ import annotations

import calendar
import re
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
    RefundRule,
)
from siyu.privacy.service import ErasureContext
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
    try:
        with session.begin_nested():  # two enrolments at once: the second finds the first
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
    except sa.exc.IntegrityError:
        return enrol(session, programme, customer_id, channel=channel, store_id=store_id)
    return member


@dataclass
class _Held:
    """The member locked for a move, with its programme and balance summary."""

    member: Member
    programme: Programme
    balance: PointsBalance


def _locked(session: Session, member_id: int, *, moving: bool = True) -> _Held:
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
    return _Held(member, programme, balance)


def _key(source: tuple[str, str]) -> str:
    """``kind:id`` of a source, refusing what could make two sources one."""
    kind, ident = source
    if not SOURCE_KIND.fullmatch(kind) or not 0 < len(ident) <= 100:
        raise LoyaltyError("a source is a kind (a–z, _) and an id of 1–100 characters")
    return f"{kind}:{ident}"


def _entries(
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


def _moved(entries: list[PointsEntry], again: bool) -> Moved:
    return Moved(
        points=sum(abs(e.points) + e.covers for e in entries),
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


def _repay(
    session: Session, held: _Held, source: tuple[str, str], arriving: list[tuple[int, int]]
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
        _write(session, held.member.id, EntryKind.repay, source, [*moves, (None, paid)])
        held.balance.remaining -= paid
        held.balance.debt -= paid


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
    _key(source)
    _check_points(points)
    held = _locked(session, member_id)
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
                "{source} already earned {earned} points", source=_key(source), earned=lot.points
            )
        return _moved(_entries(session, member_id, [EntryKind.earn], source), again=True)
    now = clock.now()
    start = available_at or now + timedelta(days=held.programme.pending_days)
    months = held.programme.lot_months
    ends = expires_at or (add_months(start, months) if months else None)
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
    held.balance.earned += points
    held.balance.remaining += points
    _repay(session, held, source, [(lot.id, points)])
    return _moved(made, again=False)


def spendable(session: Session, member_id: int, now: datetime | None = None) -> int:
    """Points the member can spend now: available, unexpired lots (less any debt, under the
    ``negative`` rule; under ``deduct_later`` the debt waits for later earnings)."""
    now = now or clock.now()
    left = _remaining(session, member_id)
    lots = _open_lots(session, member_id, now, left)
    debt, rule = session.execute(
        sa.select(PointsBalance.debt, Programme.refund_rule)
        .join(Member, Member.id == PointsBalance.member_id)
        .join(Programme, Programme.id == Member.programme_id)
        .where(PointsBalance.member_id == member_id)
    ).one()
    owed = int(debt or 0) if rule == RefundRule.negative else 0
    return max(0, sum(left[lot.id] for lot in lots) - owed)


def _open_lots(
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
    _key(source)
    _check_points(points)
    held = _locked(session, member_id)
    done = _entries(session, member_id, [kind], source)
    if done:
        if -sum(e.points for e in done) != points:
            raise SourceConflict("{source} already used other points", source=_key(source))
        return _moved(done, again=True)
    can = spendable(session, member_id)
    if points > can:
        raise NotEnoughPoints(
            "not enough points: {wanted} asked, {can} can be spent now", wanted=points, can=can
        )
    left = _remaining(session, member_id)
    moves, need = [], points
    for lot in _open_lots(session, member_id, clock.now(), left):
        take = min(need, left[lot.id])
        moves.append((lot.id, -take))
        need -= take
        if not need:
            break
    made = _write(session, member_id, kind, source, moves, reason)
    held.balance.remaining -= points
    held.balance.spent += points
    return _moved(made, again=False)


def _same_refund(
    done: list[PointsEntry], link: str, points: int | None, source: tuple[str, str]
) -> Moved:
    """A refund id seen before: the same refund again gets the same answer; the id used for
    another order or another amount is refused."""
    total = sum(abs(e.points) + e.covers for e in done if e.lot_key or e.kind != EntryKind.repay)
    if any(e.linked != link for e in done if e.kind != EntryKind.repay) or (
        points is not None and points != total
    ):
        raise SourceConflict("{source} was already used for another refund", source=_key(source))
    return _moved([e for e in done if e.kind != EntryKind.repay], again=True)


def give_back(
    session: Session,
    member_id: int,
    spend_source: tuple[str, str],
    refund: str,
    points: int | None = None,
) -> Moved:
    """A refund of an order paid with points: its points go back to the lots they came from
    (latest expiry first for a partial refund), once per refund and never more than were spent
    in all. Under the ``negative`` rule they pay the member's debt first. A lot that expired
    meanwhile takes them back too, and they expire with it at the next expiry run: they would
    have expired had they never been spent."""
    link = _key(spend_source)
    source = ("refund", refund)
    _key(source)
    held = _locked(session, member_id)
    done = _entries(session, member_id, [EntryKind.give_back], source)
    if done:
        return _same_refund(done, link, points, source)
    spent = _entries(session, member_id, [EntryKind.spend], spend_source)
    if not spent:
        raise NoSuchMember("no spend {source} to refund", source=link)
    before = _given_back(session, member_id, link)
    owed = {e.lot_key: -e.points - before.get(e.lot_key, 0) for e in spent}
    total = sum(owed.values())
    want = total if points is None else points
    if not 0 < want <= total:
        raise LoyaltyError(
            "a refund gives back 1–{left} points of {source}", left=total, source=link
        )
    moves, need = [], want
    for lot_key in reversed([e.lot_key for e in spent]):
        back = min(need, owed[lot_key])
        if back:
            moves.append((lot_key, back))
            need -= back
        if not need:
            break
    made = _write(session, member_id, EntryKind.give_back, source, moves, linked=link)
    held.balance.remaining += want
    held.balance.spent -= want
    if held.programme.refund_rule == RefundRule.negative:
        _repay(session, held, source, [(lot, pts) for lot, pts in moves if lot])
    return _moved(made, again=False)


def _given_back(session: Session, member_id: int, link: str) -> dict[int, int]:
    """Points already given back, per lot, for refunds of the spend ``link``."""
    rows = session.execute(
        sa.select(PointsEntry.lot_key, sa.func.sum(PointsEntry.points))
        .where(
            PointsEntry.member_id == member_id,
            PointsEntry.kind == EntryKind.give_back,
            PointsEntry.linked == link,
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
    """A refund of the order that earned points takes them back, once per refund (``points``
    for a partial refund), never more than the order earned in all. First from its own lot;
    what the lot no longer holds because it was used is owed: under the ``negative`` rule it
    is taken from the member's other points (those that expire first) and only the rest
    becomes a debt, under ``deduct_later`` it all becomes a debt later earnings repay. What the
    lot no longer holds because it expired is gone already and is not taken twice (a
    ``forgive`` entry records it)."""
    link = _key(earn_source)
    source = ("refund", refund)
    _key(source)
    held = _locked(session, member_id)
    kinds = [EntryKind.take_back, EntryKind.debt, EntryKind.forgive]
    done = _entries(session, member_id, kinds, source)
    if done:
        return _same_refund(done, link, points, source)
    lot = session.scalar(
        sa.select(PointsLot).where(
            PointsLot.member_id == member_id,
            PointsLot.source_kind == earn_source[0],
            PointsLot.source_id == earn_source[1],
        )
    )
    if lot is None:
        raise NoSuchMember("no points earned by {source}", source=link)
    on_lot = dict(
        session.execute(
            sa.select(PointsEntry.kind, sa.func.sum(PointsEntry.points))
            .where(PointsEntry.lot_id == lot.id)
            .group_by(PointsEntry.kind)
        ).all()
    )
    remaining = sum(int(v) for v in on_lot.values())
    expired = -int(on_lot.get(EntryKind.expire) or 0)
    refunded = list(
        session.scalars(
            sa.select(PointsEntry).where(
                PointsEntry.member_id == member_id,
                PointsEntry.kind.in_(kinds),
                PointsEntry.linked == link,
            )
        )
    )
    own = -sum(e.points for e in refunded if e.kind == EntryKind.take_back and e.lot_id == lot.id)
    charged = -sum(
        e.points
        for e in refunded
        if e.kind == EntryKind.debt or (e.kind == EntryKind.take_back and e.lot_id != lot.id)
    )
    forgiven = sum(e.covers for e in refunded if e.kind == EntryKind.forgive)
    can = lot.points - own - charged - forgiven
    want = can if points is None else points
    if not 0 < want <= can:
        raise LoyaltyError("a refund takes back 1–{left} points of {source}", left=can, source=link)
    used = lot.points - remaining - expired - own  # spent, deducted, repaid, charged
    from_lot = min(want, max(remaining, 0))
    chargeable = min(want - from_lot, max(0, used - charged))
    forgive = want - from_lot - chargeable
    made = []
    if from_lot:
        made += _write(
            session, member_id, EntryKind.take_back, source, [(lot.id, -from_lot)], linked=link
        )
    from_others = 0
    if chargeable and held.programme.refund_rule == RefundRule.negative:
        left = _remaining(session, member_id)
        moves, need = [], chargeable
        for other in _open_lots(session, member_id, clock.now(), left, every=True):
            take = min(need, left[other.id])
            moves.append((other.id, -take))
            need -= take
            if not need:
                break
        if moves:
            made += _write(session, member_id, EntryKind.take_back, source, moves, linked=link)
        from_others = chargeable - need
    owed = chargeable - from_others
    if owed:
        made += _write(session, member_id, EntryKind.debt, source, [(None, -owed)], linked=link)
    if forgive:
        made += _write(
            session,
            member_id,
            EntryKind.forgive,
            source,
            [(lot.id, 0)],
            linked=link,
            covers=forgive,
        )
    held.balance.remaining -= from_lot + from_others
    held.balance.debt += owed
    held.balance.taken_back += from_lot + chargeable
    return _moved(made, again=False)


def expire_due(session: Session, now: datetime | None = None, member_id: int | None = None) -> int:
    """End every lot past its expiry that still holds points (the remainder, once: a lot
    already ended holds none); returns the points expired. Safe to run again at any time.
    Members are locked in id order (two runs at once never deadlock); the caller commits."""
    now = now or clock.now()
    query = (
        sa.select(PointsLot.member_id)
        .where(PointsLot.expires_at <= now)
        .distinct()
        .order_by(PointsLot.member_id)
    )
    if member_id is not None:
        query = query.where(PointsLot.member_id == member_id)
    total = 0
    for mid in list(session.scalars(query)):
        total += _expire_member(session, int(mid), now, "expired")
    return total


def _expire_member(
    session: Session, member_id: int, now: datetime, reason: str, every: bool = False
) -> int:
    held = _locked(session, member_id, moving=False)
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
    held.balance.remaining -= total
    held.balance.expired += total
    return total


def erase_members(session: Session, ctx: ErasureContext) -> int:
    """Erasure keeps the ledger whole: the person's memberships lose their customer and carry a
    tombstone and take no more moves; their points expire with reason ``erased``; entries and
    lots stay (amounts, dates and order ids), the operators' free-text reasons are blanked."""
    members = list(
        session.scalars(sa.select(Member).where(Member.customer_id.in_(ctx.customer_ids)))
    )
    for member in members:
        _expire_member(session, member.id, clock.now(), "erased", every=True)
        session.execute(
            sa.update(PointsEntry)
            .where(
                PointsEntry.member_id == member.id,
                PointsEntry.kind.in_([EntryKind.earn, EntryKind.adjust]),
            )
            .values(reason="")
            .execution_options(synchronize_session=False)
        )
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
