"""Points moves (DESIGN §12): earn, spend, manual adjustments, expiry and erasure under a
tombstone (refunds are in ``refunds``). Each move locks the member first (``ledger.locked``), writes
entries and the balance summary in the caller's transaction, and is idempotent on its source:
the same order, event or adjustment again finds its entries and changes nothing."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.loyalty.ledger import (
    POINTS_MAX,
    LedgerTotals,
    LoyaltyError,
    Moved,
    NoSuchMember,
    NotEnoughPoints,
    SourceConflict,
    add_months,
    can_spend,
    check_points,
    entries_of,
    ledger_totals,
    locked,
    moved,
    open_lots,
    remaining,
    repay,
    source_key,
    write,
)
from siyu.loyalty.models import (
    EntryKind,
    Member,
    PointsBalance,
    PointsEntry,
    PointsLot,
    Programme,
)
from siyu.loyalty.refunds import give_back, take_back
from siyu.loyalty.tiers import join_entry_tier
from siyu.privacy.service import ErasureContext

__all__ = [  # the moves, and the refusals and figures callers name through this module
    "POINTS_MAX",
    "LedgerTotals",
    "LoyaltyError",
    "Moved",
    "NoSuchMember",
    "NotEnoughPoints",
    "SourceConflict",
    "create_programme",
    "deduct",
    "earn",
    "enrol",
    "erase_members",
    "expire_due",
    "give_back",
    "ledger_totals",
    "spend",
    "spendable",
    "take_back",
]


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
    evidence: str = "",
) -> Member:
    """The customer's membership of the programme (the existing one when enrolled before).
    ``evidence`` says how the customer agreed to join (kept with the membership)."""
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
                consent_evidence=evidence[:300],
            )
            session.add(member)
            session.flush()
            session.add(PointsBalance(member_id=member.id, updated_at=clock.now()))
            join_entry_tier(session, member)
            session.flush()
    except sa.exc.IntegrityError:
        return enrol(
            session, programme, customer_id, channel=channel, store_id=store_id, evidence=evidence
        )
    return member


def earn(
    session: Session,
    member_id: int,
    source: tuple[str, str],
    points: int,
    *,
    available_at: datetime | None = None,
    expires_at: datetime | None = None,
    reason: str = "",
    basis_fen: int | None = None,
) -> Moved:
    """A new lot of ``points`` for ``source`` (an order, an event, an adjustment, an opening
    balance): spendable after the programme's refund window unless ``available_at`` says
    otherwise, expiring after its months unless ``expires_at`` does. Points the member owes
    after an earlier refund are repaid from it first."""
    source_key(source)
    check_points(points)
    held = locked(session, member_id)
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
                source=source_key(source),
                earned=lot.points,
            )
        return moved(entries_of(session, member_id, [EntryKind.earn], source), again=True)
    now = clock.now()
    start = available_at or now + timedelta(days=held.programme.pending_days)
    months = held.programme.lot_months
    ends = expires_at or (add_months(start, months) if months else None)
    lot = PointsLot(
        member_id=member_id,
        source_kind=source[0],
        source_id=source[1],
        points=points,
        basis_fen=basis_fen,
        available_at=start,
        expires_at=ends,
        created_at=now,
    )
    session.add(lot)
    session.flush()
    made = write(session, member_id, EntryKind.earn, source, [(lot.id, points)], reason)
    held.balance.earned += points
    held.balance.remaining += points
    repay(session, held, source, [(lot.id, points)])
    return moved(made, again=False)


def spendable(session: Session, member_id: int, now: datetime | None = None) -> int:
    """Points the member can spend now: available, unexpired lots (less any debt, under the
    ``negative`` rule; under ``deduct_later`` the debt waits for later earnings)."""
    now = now or clock.now()
    left = remaining(session, member_id)
    lots = open_lots(session, member_id, now, left)
    debt, rule = session.execute(
        sa.select(PointsBalance.debt, Programme.refund_rule)
        .join(Member, Member.id == PointsBalance.member_id)
        .join(Programme, Programme.id == Member.programme_id)
        .where(PointsBalance.member_id == member_id)
    ).one()
    return can_spend(left, lots, int(debt or 0), rule)


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
    source_key(source)
    check_points(points)
    held = locked(session, member_id)
    done = entries_of(session, member_id, [kind], source)
    if done:
        if -sum(e.points for e in done) != points:
            raise SourceConflict("{source} already used other points", source=source_key(source))
        return moved(done, again=True)
    left = remaining(session, member_id)
    lots = open_lots(session, member_id, clock.now(), left)
    can = can_spend(left, lots, held.balance.debt, held.programme.refund_rule)
    if points > can:
        raise NotEnoughPoints(
            "not enough points: {wanted} asked, {can} can be spent now", wanted=points, can=can
        )
    moves, need = [], points
    for lot in lots:
        take = min(need, left[lot.id])
        moves.append((lot.id, -take))
        need -= take
        if not need:
            break
    made = write(session, member_id, kind, source, moves, reason)
    held.balance.remaining -= points
    held.balance.spent += points
    return moved(made, again=False)


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
    held = locked(session, member_id, moving=False)
    left = remaining(session, member_id)
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
        write(
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
    lots stay (amounts, dates and order ids), the operators' free-text reasons are blanked.
    (Their unused coupons are void first: ``coupons.service.erase_coupons``.)"""
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
