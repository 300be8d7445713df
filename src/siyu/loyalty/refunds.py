"""Refunds as compensating entries (DESIGN §12): a refund takes back what its order earned
and gives back what its order paid with points, once per refund id, never more than the order
earned or spent in all."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.loyalty.ledger import (
    LoyaltyError,
    Moved,
    NoSuchMember,
    SourceConflict,
    entries_of,
    locked,
    moved,
    open_lots,
    remaining,
    repay,
    source_key,
    write,
)
from siyu.loyalty.models import EntryKind, PointsEntry, PointsLot, RefundRule


def _same_refund(
    done: list[PointsEntry], link: str, points: int | None, source: tuple[str, str]
) -> Moved:
    """A refund id seen before: the same refund again gets the same answer; the id used for
    another order or another amount is refused."""
    total = sum(abs(e.points) + e.covers for e in done if e.lot_key or e.kind != EntryKind.repay)
    if any(e.linked != link for e in done if e.kind != EntryKind.repay) or (
        points is not None and points != total
    ):
        raise SourceConflict(
            "{source} was already used for another refund", source=source_key(source)
        )
    return moved([e for e in done if e.kind != EntryKind.repay], again=True)


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
    link = source_key(spend_source)
    source = ("refund", refund)
    source_key(source)
    held = locked(session, member_id)
    done = entries_of(session, member_id, [EntryKind.give_back], source)
    if done:
        return _same_refund(done, link, points, source)
    spent = entries_of(session, member_id, [EntryKind.spend], spend_source)
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
    made = write(session, member_id, EntryKind.give_back, source, moves, linked=link)
    held.balance.remaining += want
    held.balance.spent -= want
    if held.programme.refund_rule == RefundRule.negative:
        repay(session, held, source, [(lot, pts) for lot, pts in moves if lot])
    return moved(made, again=False)


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
    link = source_key(earn_source)
    source = ("refund", refund)
    source_key(source)
    held = locked(session, member_id)
    kinds = [EntryKind.take_back, EntryKind.debt, EntryKind.forgive]
    done = entries_of(session, member_id, kinds, source)
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
    lot_left = sum(int(v) for v in on_lot.values())
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
    used = lot.points - lot_left - expired - own  # spent, deducted, repaid, charged
    from_lot = min(want, max(lot_left, 0))
    chargeable = min(want - from_lot, max(0, used - charged))
    forgive = want - from_lot - chargeable
    made = []
    if from_lot:
        made += write(
            session, member_id, EntryKind.take_back, source, [(lot.id, -from_lot)], linked=link
        )
    from_others = 0
    if chargeable and held.programme.refund_rule == RefundRule.negative:
        left = remaining(session, member_id)
        moves, need = [], chargeable
        for other in open_lots(session, member_id, clock.now(), left, every=True):
            take = min(need, left[other.id])
            moves.append((other.id, -take))
            need -= take
            if not need:
                break
        if moves:
            made += write(session, member_id, EntryKind.take_back, source, moves, linked=link)
        from_others = chargeable - need
    owed = chargeable - from_others
    if owed:
        made += write(session, member_id, EntryKind.debt, source, [(None, -owed)], linked=link)
    if forgive:
        made += write(
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
    return moved(made, again=False)
