"""Earn rules: how many points an order's money or an event earns (DESIGN §12).

Spend earns on what the order paid in money, net of refunds: points paid and discounts are
never money paid, so they never earn (Odoo #150833 counted a reward's discount line as spend).
An order line with no positive amount (a discount or reward line) is not a product and takes no
share. The same arithmetic is written twice, once here for one order at a time and once as SQL
for the backfill; a test holds the two equal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.loyalty.ledger import LoyaltyError
from siyu.loyalty.models import EarnBasis, EarnRule, Programme

# rate is points per 100 yuan; multiplier in percent; amounts in fen: 100 · 100 · 100
SCALE = 1_000_000
RATE_MAX = 100_000  # 1,000 points per yuan
POINTS_PER_EVENT_MAX = 1_000_000
MULTIPLIER_MAX = 1_000
# what one order may weigh in the arithmetic (10 million yuan), so no product overflows 64 bits
AMOUNT_MAX = 1_000_000_000


@dataclass
class SpendRates:
    """A programme's spend rules as they stood when read: a backfill reads them once, so a
    rule changed while it runs applies to the orders that arrive later, never to half of it."""

    default: int = 0
    by_brand: dict[int, int] = field(default_factory=dict)
    by_store: dict[int, int] = field(default_factory=dict)
    by_category: dict[str, int] = field(default_factory=dict)

    def order_rate(self, brand_id: int | None, store_id: int | None) -> int:
        if store_id is not None and store_id in self.by_store:
            return self.by_store[store_id]
        if brand_id is not None and brand_id in self.by_brand:
            return self.by_brand[brand_id]
        return self.default

    def points(
        self,
        net_fen: int,
        brand_id: int | None,
        store_id: int | None,
        lines: Sequence[tuple[str | None, int]],
        multiplier_pct: int = 100,
    ) -> int:
        """Points for ``net_fen`` of money: the lines of a category with its own rule take their
        share of the money (rounded down per category) at that rate, the rest earns at the
        order's rate; the points are rounded down once."""
        if net_fen <= 0:
            return 0
        rate = self.order_rate(brand_id, store_id)
        total = sum(a for _c, a in lines if a > 0)
        units = net_fen * rate
        if self.by_category and total > 0:
            by_category: dict[str, int] = {}
            for category, amount in lines:
                if amount > 0 and category in self.by_category:
                    by_category[category] = by_category.get(category, 0) + amount
            for category, amount in by_category.items():
                units += net_fen * amount // total * (self.by_category[category] - rate)
        return max(units * multiplier_pct // SCALE, 0)

    @property
    def earns(self) -> bool:
        return bool(
            self.default
            or any(self.by_brand.values())
            or any(self.by_store.values())
            or any(self.by_category.values())
        )


def spend_rates(session: Session, programme_id: int) -> SpendRates:
    rules = session.scalars(
        sa.select(EarnRule).where(
            EarnRule.programme_id == programme_id,
            EarnRule.basis == EarnBasis.spend,
            EarnRule.active.is_(True),
        )
    )
    rates = SpendRates()
    for r in rules:
        if r.category is not None:
            rates.by_category[r.category] = r.rate
        elif r.store_id is not None:
            rates.by_store[r.store_id] = r.rate
        elif r.brand_id is not None:
            rates.by_brand[r.brand_id] = r.rate
        else:
            rates.default = r.rate
    return rates


def event_points(session: Session, programme_id: int, event: str) -> int:
    """What one event of this name earns in the programme (0: the event earns nothing)."""
    found = session.scalar(
        sa.select(EarnRule.points).where(
            EarnRule.programme_id == programme_id,
            EarnRule.basis == EarnBasis.event,
            EarnRule.event == event,
            EarnRule.active.is_(True),
        )
    )
    return int(found or 0)


def set_spend_rule(
    session: Session,
    programme: Programme,
    rate: int,
    *,
    brand_id: int | None = None,
    store_id: int | None = None,
    category: str | None = None,
) -> EarnRule:
    """Points per 100 yuan for the programme, a brand, a store or a category (one at a time);
    setting it again replaces the rate, 0 stops that scope earning."""
    if not 0 <= rate <= RATE_MAX:
        raise LoyaltyError("rate: 0–{most} points per 100 yuan", most=RATE_MAX)
    if sum(x is not None for x in (brand_id, store_id, category)) > 1:
        raise LoyaltyError(
            "a spend rule is for the programme, one brand, one store or one category"
        )
    if category is not None and not 0 < len(category.strip()) <= 100:
        raise LoyaltyError("category: 1–100 characters")
    return _upsert(
        session,
        programme,
        EarnBasis.spend,
        {"brand_id": brand_id, "store_id": store_id, "category": category, "event": None},
        {"rate": rate},
    )


def set_event_rule(session: Session, programme: Programme, event: str, points: int) -> EarnRule:
    """Points each event named ``event`` earns (a sign-in, a first WeCom add, a review …)."""
    if not 0 < len(event.strip()) <= 100:
        raise LoyaltyError("event: 1–100 characters")
    if not 0 <= points <= POINTS_PER_EVENT_MAX:
        raise LoyaltyError("points per event: 0–{most}", most=POINTS_PER_EVENT_MAX)
    return _upsert(
        session,
        programme,
        EarnBasis.event,
        {"brand_id": None, "store_id": None, "category": None, "event": event.strip()},
        {"points": points},
    )


def _upsert(
    session: Session,
    programme: Programme,
    basis: EarnBasis,
    scope: dict[str, object],
    values: dict[str, int],
) -> EarnRule:
    where = [EarnRule.programme_id == programme.id, EarnRule.basis == basis]
    for name, value in scope.items():
        column = getattr(EarnRule, name)
        where.append(column.is_(None) if value is None else column == value)
    rule = session.scalar(sa.select(EarnRule).where(*where))
    if rule is None:
        rule = EarnRule(programme_id=programme.id, basis=basis, **scope)
        session.add(rule)
    for name, value in values.items():
        setattr(rule, name, value)
    rule.active = True
    rule.updated_at = clock.now()
    session.flush()
    return rule
