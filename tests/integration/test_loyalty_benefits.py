"""Tier benefits: for their tier and those above, taken once a period (a double claim is one),
a birthday gift only in the birthday month, a coupon benefit issuing its coupon; and the
activation rate per benefit (members who took it up ÷ members whose tier has it). SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from siyu import clock

T0 = datetime(2026, 5, 10, 4, 0, tzinfo=UTC)


@pytest.fixture()
def programme(session: Any) -> Any:
    from siyu.customers.models import Customer
    from siyu.loyalty.coupons.service import create_template
    from siyu.loyalty.service import create_programme, enrol
    from siyu.loyalty.tiers import move_to, set_tier

    with clock.frozen(T0):
        p = create_programme(session, "vip", "会员")
        silver = set_tier(session, p, "silver", "银卡", rank=0, threshold=0)
        gold = set_tier(session, p, "gold", "金卡", rank=1, threshold=1000)
        create_template(session, p, "ship", "包邮券", "free_shipping", valid_days=30, per_member=0)
        create_template(session, p, "one", "一次券", "free_shipping", valid_days=30)
        members = []
        for i, born in enumerate([date(1990, 5, 3), date(1991, 8, 9), None]):
            c = Customer(
                name=f"顾客{i}", status="active", birthday=born, created_at=T0, updated_at=T0
            )
            session.add(c)
            session.flush()
            m = enrol(session, p, c.id, channel="store")
            if i < 2:
                move_to(session, m, gold, "import")
            members.append(m)
        session.commit()
    return {"programme": p, "members": members, "silver": silver, "gold": gold}


def test_benefits_are_for_their_tier_once_a_period(session: Any, programme: dict[str, Any]) -> None:
    from siyu.loyalty.benefits.models import BenefitClaim
    from siyu.loyalty.benefits.service import (
        NoSuchBenefit,
        NotNow,
        activation,
        benefits_for,
        claim_benefit,
        set_benefit,
    )
    from siyu.loyalty.coupons.models import Coupon
    from siyu.loyalty.ledger import LoyaltyError

    p, (a, b, c) = programme["programme"], programme["members"]
    with clock.frozen(T0):
        ship = set_benefit(
            session, p, "ship", "每月包邮", "coupon", "gold", period="month", coupon_code="ship"
        )
        bday = set_benefit(session, p, "bday", "生日礼", "birthday_gift", "silver")
        with pytest.raises(LoyaltyError):
            set_benefit(session, p, "x", "无券", "coupon", "gold")
        with pytest.raises(LoyaltyError):
            set_benefit(session, p, "y", "无等级", "free_delivery", "platinum")
        with pytest.raises(LoyaltyError, match="per member"):
            set_benefit(
                session, p, "z", "月券", "coupon", "gold", period="month", coupon_code="one"
            )
        session.commit()
        first = claim_benefit(session, a, ship.id)
        again = claim_benefit(session, a, ship.id)
        assert first.id == again.id and first.coupon_id is not None
        assert session.scalar(sa.select(sa.func.count()).select_from(Coupon)) == 1
        with pytest.raises(NotNow):
            claim_benefit(session, c, ship.id)  # silver: the benefit is gold's
        claim_benefit(session, a, bday.id)  # born in May: it is May
        with pytest.raises(NotNow):
            claim_benefit(session, b, bday.id)  # born in August
        with pytest.raises(NotNow):
            claim_benefit(session, c, bday.id)  # no birthday known
        with pytest.raises(NoSuchBenefit):
            claim_benefit(session, a, 999999)
        session.commit()
        shown = {v.code: v for v in benefits_for(session, c)}
        assert shown["ship"].why_not == "tier" and shown["bday"].why_not == "birthday"
        assert {v.code: v.taken for v in benefits_for(session, a)} == {"bday": True, "ship": True}
        rates = {
            r.code: r
            for r in activation(session, [p.id], T0 - timedelta(days=1), T0 + timedelta(days=1))
        }
        assert (rates["ship"].taken, rates["ship"].eligible, rates["ship"].rate) == (1, 2, 0.5)
        assert (rates["bday"].taken, rates["bday"].eligible) == (1, 3)
    with clock.frozen(T0 + timedelta(days=31)):  # June: the monthly benefit is there again
        claim_benefit(session, a, ship.id)
        session.commit()
    assert session.scalar(sa.select(sa.func.count()).select_from(BenefitClaim)) == 3
