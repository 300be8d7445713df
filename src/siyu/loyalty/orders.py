"""Loyalty follows orders (DESIGN §12): an order paid earns, a refund takes back its share, a
refund of an order paid with points gives them back, each once.

Nobody calls this from the importer or the orders API: they publish ``order.changed`` in their
own transaction and the worker delivers it to ``tasks.follow``, at least once. Settling an order
is therefore idempotent: it compares what the order's state asks for with what the ledger
already holds for it, and writes only the difference, under source keys that make a second
delivery find its entries. A refund's key is the points moved back in all once it is written
(``_refund_id``), so the same state told twice is the same refund. Raising an order's amount
after it earned earns nothing more: an order earns once, on the first paid state it is told.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.config import get_settings
from siyu.loyalty.coupons.till import return_coupons
from siyu.loyalty.ledger import LoyaltyError, locked
from siyu.loyalty.models import EntryKind, Member, PointsEntry, PointsLot, Programme, Tier
from siyu.loyalty.refunds import give_back, take_back
from siyu.loyalty.rules import SpendRates, spend_rates
from siyu.loyalty.service import earn
from siyu.loyalty.tiers import review
from siyu.orders.queries import PAID_STATUSES, line_amounts, order_states

WHOLLY_REFUNDED = ("refunded", "cancelled")
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OrderState:
    """What loyalty needs of an order."""

    id: int
    brand_id: int
    store_id: int | None
    customer_id: int | None
    status: str
    paid_fen: int
    refund_fen: int
    paid_at: datetime | None
    ordered_at: datetime | None
    order_no: str = ""  # the platform's order id (a till's coupon redeem names it)
    platform: str = ""

    @property
    def refunded(self) -> int:
        """Money refunded so far (all of it once the order is refunded or cancelled)."""
        if self.status in WHOLLY_REFUNDED:
            return max(self.paid_fen, 0)
        return min(max(self.refund_fen, 0), max(self.paid_fen, 0))

    @property
    def net(self) -> int:
        return max(self.paid_fen, 0) - self.refunded

    @property
    def source(self) -> tuple[str, str]:
        return ("order", str(self.id))


def settle_orders(
    session: Session,
    order_ids: list[int],
    *,
    history: bool = False,
    rates: dict[int, SpendRates] | None = None,
    programme_id: int | None = None,
) -> int:
    """Bring the ledger in line with these orders' states; returns the moves written.
    ``history``: orders paid before the member joined earn too (the backfill's choice);
    ``rates``: the rules per programme as a backfill read them (else read now);
    ``programme_id``: only that programme (a backfill's).

    An order that earned or was paid with points is settled with the member who holds those
    entries, even after its customer was merged into another: the refund takes back from the
    lot it earned, never earns a second time. One order that cannot be settled (its points
    beyond any lot) is logged and left, never holding up the others told with it."""
    orders = [OrderState(*row) for row in order_states(session, order_ids)]
    moves = 0
    for order in orders:
        if order.status in WHOLLY_REFUNDED and programme_id is None:
            # whoever used a coupon on it, member or not, gets it back
            moves += return_coupons(session, order.platform, order.order_no, order.store_id)
    if not orders:
        return moves
    members = _members(session, {o.customer_id for o in orders if o.customer_id is not None})
    holders = _holders(session, [o.id for o in orders])
    lines = line_amounts(session, [o.id for o in orders])
    rates = dict(rates or {})
    touched: dict[int, tuple[Member, Programme]] = {}
    for order in orders:
        mine = {p.id: (m, p, x) for m, p, x in members.get(order.customer_id or 0, [])}
        mine.update(holders.get(order.id, {}))
        for member, programme, multiplier in mine.values():
            if programme.brand_id not in (None, order.brand_id):
                continue
            if programme_id is not None and programme.id != programme_id:
                continue
            if programme.id not in rates:
                rates[programme.id] = spend_rates(session, programme.id)
            try:
                with session.begin_nested():
                    moves += settle(
                        session,
                        member,
                        programme,
                        order,
                        rates[programme.id],
                        lines,
                        multiplier,
                        history=history,
                    )
            except LoyaltyError as exc:
                log.warning("order %s not settled for member %s: %s", order.id, member.id, exc)
                continue
            touched[member.id] = (member, programme)
    for member, programme in touched.values():
        review(session, member, programme)  # a tier reached is reached at once
    return moves


def _holders(
    session: Session, order_ids: list[int]
) -> dict[int, dict[int, tuple[Member, Programme, int]]]:
    """Per order, per programme: the member whose ledger holds what the order earned or paid."""
    rows = session.execute(
        sa.select(
            PointsEntry.source_id, Member, Programme, sa.func.coalesce(Tier.multiplier_pct, 100)
        )
        .join(Member, Member.id == PointsEntry.member_id)
        .join(Programme, Programme.id == Member.programme_id)
        .outerjoin(Tier, Tier.id == Member.tier_id)
        .where(
            PointsEntry.source_kind == "order",
            PointsEntry.source_id.in_([str(i) for i in order_ids]),
            PointsEntry.kind.in_([EntryKind.earn, EntryKind.spend]),
            Member.status == "active",
        )
    )
    found: dict[int, dict[int, tuple[Member, Programme, int]]] = defaultdict(dict)
    for source_id, member, programme, multiplier in rows:
        found[int(source_id)][programme.id] = (member, programme, int(multiplier))
    return found


def _members(
    session: Session, customer_ids: set[int]
) -> dict[int, list[tuple[Member, Programme, int]]]:
    rows = session.execute(
        sa.select(Member, Programme, sa.func.coalesce(Tier.multiplier_pct, 100))
        .join(Programme, Programme.id == Member.programme_id)
        .outerjoin(Tier, Tier.id == Member.tier_id)
        .where(Member.customer_id.in_(customer_ids), Member.status == "active")
        .order_by(Member.id)
    )
    found: dict[int, list[tuple[Member, Programme, int]]] = defaultdict(list)
    for member, programme, multiplier in rows:
        found[int(member.customer_id or 0)].append((member, programme, int(multiplier)))
    return found


def settle(
    session: Session,
    member: Member,
    programme: Programme,
    order: OrderState,
    rates: SpendRates,
    lines: dict[int, list[tuple[str | None, int]]],
    multiplier_pct: int = 100,
    *,
    history: bool = False,
) -> int:
    """One order for one member: earn once paid, take back the refunded share of what it
    earned, give back the refunded share of the points it was paid with. Returns the moves."""
    moves = 0
    locked(session, member.id)  # what was taken and given is read under the member's lock
    lot = session.scalar(
        sa.select(PointsLot).where(
            PointsLot.member_id == member.id,
            PointsLot.source_kind == order.source[0],
            PointsLot.source_id == order.source[1],
        )
    )
    if lot is None:
        paid = order.paid_at or order.ordered_at or clock.now()
        if paid.year >= 2100:
            return moves  # a typo of a date: nothing to count from it
        if (
            order.status in PAID_STATUSES
            and order.net > 0
            and (history or _since_joining(member, paid))
        ):
            points = rates.points(
                order.net, order.brand_id, order.store_id, lines.get(order.id, []), multiplier_pct
            )
            if points > 0:
                earn(
                    session,
                    member.id,
                    order.source,
                    points,
                    available_at=paid + timedelta(days=programme.pending_days),
                    basis_fen=order.net,
                )
                moves += 1
    elif lot.basis_fen:
        # the lot was earned on ``basis_fen``; refunds beyond what was refunded then take back
        # their share, all of it when the order is wholly refunded
        before = order.paid_fen - lot.basis_fen
        should = lot.points * max(order.refunded - before, 0) // lot.basis_fen
        taken = _refunded(session, member.id, order.source, _TAKEN)
        if should > taken:
            take_back(
                session, member.id, order.source, _refund_id(order, "take", should), should - taken
            )
            moves += 1
    spent = -int(
        session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(PointsEntry.points), 0)).where(
                PointsEntry.member_id == member.id,
                PointsEntry.kind == EntryKind.spend,
                PointsEntry.source_kind == order.source[0],
                PointsEntry.source_id == order.source[1],
            )
        )
        or 0
    )
    if spent > 0 and (order.refunded > 0 or order.status in WHOLLY_REFUNDED):
        # an order paid wholly with points has no money to refund: cancelled, all come back
        money = max(order.paid_fen, 0)
        wholly = order.status in WHOLLY_REFUNDED or order.refunded >= money
        should = spent if wholly else spent * order.refunded // money
        given = _refunded(session, member.id, order.source, (EntryKind.give_back,))
        if should > given:
            give_back(
                session, member.id, order.source, _refund_id(order, "give", should), should - given
            )
            moves += 1
    return moves


def _since_joining(member: Member, paid: datetime) -> bool:
    """Orders paid from the day the customer joined earn as they arrive (a customer who signs
    up at the till just after paying earns for that purchase); older ones only through the
    backfill, which a programme runs on purpose."""
    tz = ZoneInfo(get_settings().timezone)
    return paid.astimezone(tz).date() >= member.joined_at.astimezone(tz).date()


_TAKEN = (EntryKind.take_back, EntryKind.debt, EntryKind.forgive)


def _refund_id(order: OrderState, move: str, target: int) -> str:
    """A refund's key: the order and the points moved back in all once it is written, which
    only grows, so a state told again (or an older one told late) finds its key or writes
    nothing, whatever amounts the order is pushed with later."""
    return f"order:{order.id}:{move}:{target}"


def _refunded(
    session: Session, member_id: int, source: tuple[str, str], kinds: tuple[EntryKind, ...]
) -> int:
    """Points already moved back for refunds of ``source`` (a forgive counts what it covers)."""
    link = f"{source[0]}:{source[1]}"
    total = session.scalar(
        sa.select(
            sa.func.coalesce(sa.func.sum(sa.func.abs(PointsEntry.points) + PointsEntry.covers), 0)
        ).where(
            PointsEntry.member_id == member_id,
            PointsEntry.kind.in_(kinds),
            PointsEntry.linked == link,
        )
    )
    return int(total or 0)
