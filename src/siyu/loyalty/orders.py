"""Loyalty follows orders (DESIGN §12): an order paid earns, a refund takes back its share, a
refund of an order paid with points gives them back, each once.

Nobody calls this from the importer or the orders API: they publish ``order.changed`` in their
own transaction and the worker delivers it to ``tasks.follow``, at least once. Settling an order
is therefore idempotent: it compares what the order's state asks for with what the ledger
already holds for it, and writes only the difference, under source keys that make a second
delivery find its entries. The refund id is the order's refunded amount so far, so the same
state told twice is the same refund.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.config import get_settings
from siyu.loyalty.coupons.service import return_coupons
from siyu.loyalty.models import EntryKind, Member, PointsEntry, PointsLot, Programme, Tier
from siyu.loyalty.refunds import give_back, take_back
from siyu.loyalty.rules import SpendRates, spend_rates
from siyu.loyalty.service import earn
from siyu.loyalty.tiers import review
from siyu.orders.queries import PAID_STATUSES, line_amounts, order_states

WHOLLY_REFUNDED = ("refunded", "cancelled")


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
    ``programme_id``: only that programme (a backfill's)."""
    orders = [OrderState(*row) for row in order_states(session, order_ids)]
    if not orders:
        return 0
    members = _members(session, {o.customer_id for o in orders if o.customer_id is not None})
    if not members:
        return 0
    lines = line_amounts(session, [o.id for o in orders])
    rates = dict(rates or {})
    moves = 0
    touched: dict[int, tuple[Member, Programme]] = {}
    for order in orders:
        for member, programme, multiplier in members.get(order.customer_id or 0, []):
            if programme.brand_id not in (None, order.brand_id):
                continue
            if programme_id is not None and programme.id != programme_id:
                continue
            if programme.id not in rates:
                rates[programme.id] = spend_rates(session, programme.id)
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
            touched[member.id] = (member, programme)
    for member, programme in touched.values():
        review(session, member, programme)  # a tier reached is reached at once
    return moves


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
    lot = session.scalar(
        sa.select(PointsLot).where(
            PointsLot.member_id == member.id,
            PointsLot.source_kind == order.source[0],
            PointsLot.source_id == order.source[1],
        )
    )
    if lot is None:
        paid = order.paid_at or order.ordered_at or clock.now()
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
            take_back(session, member.id, order.source, _refund_id(order), should - taken)
            moves += 1
    if order.status in WHOLLY_REFUNDED:
        moves += return_coupons(session, order.order_no, order.store_id)
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
            give_back(session, member.id, order.source, _refund_id(order), should - given)
            moves += 1
    return moves


def _since_joining(member: Member, paid: datetime) -> bool:
    """Orders paid from the day the customer joined earn as they arrive (a customer who signs
    up at the till just after paying earns for that purchase); older ones only through the
    backfill, which a programme runs on purpose."""
    tz = ZoneInfo(get_settings().timezone)
    return paid.astimezone(tz).date() >= member.joined_at.astimezone(tz).date()


_TAKEN = (EntryKind.take_back, EntryKind.debt, EntryKind.forgive)


def _refund_id(order: OrderState) -> str:
    return f"order:{order.id}:{order.refunded}"


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
