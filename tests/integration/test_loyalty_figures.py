"""Loyalty's figures on the dashboard: members, active members (a paid order in the period),
the points liability, points and coupon redemption, members per tier and the moves between
tiers, each worked out here from what the test did. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from siyu import clock
from tests.integration.test_loyalty_orders import T0, _deliver, _enrol, _programme, _push
from tests.integration.test_loyalty_tiers import _tiers


def test_the_figures_follow_what_members_did(session: Any) -> None:
    from siyu.loyalty.coupons.service import create_template, issue
    from siyu.loyalty.coupons.till import redeem
    from siyu.loyalty.figures import summary
    from siyu.loyalty.models import Member
    from siyu.loyalty.service import spend

    with clock.frozen(T0):
        first = _push(paid_fen=100, buyer={"phone": "13800000001"})
        quiet = _push(paid_fen=100, buyer={"phone": "13800000002"})
        _deliver()
        programme = _programme(session, rate=100, pending_days=0)
        programme.point_value_fen = 2
        _tiers(session, programme, measure="points", window="rolling", months=12)
        a = _enrol(session, programme, first.customer_id)
        b = _enrol(session, programme, quiet.customer_id)
    lo = T0 + timedelta(days=1)
    with clock.frozen(lo + timedelta(hours=1)):
        at = (lo + timedelta(hours=1)).isoformat()
        _push(paid_fen=150000, paid_at=at, ordered_at=at, buyer={"phone": "13800000001"})
        _deliver()
        spend(session, a, ("exchange", "r1"), 300, reason="c10")
        template = create_template(
            session, programme, "c10", "10元券", "amount_off", amount_fen=1000, per_member=0
        )
        used = issue(session, template, a, ("campaign", "1"))
        issue(session, template, b, ("campaign", "1"))
        session.commit()
        redeem(session, used.code, "pos:X1", None, None, 5000)
        session.commit()
    hi = lo + timedelta(days=7)
    got = summary(session, lo, hi)
    assert got is not None
    assert got["members"] == 2
    assert got["active_members"] == 1  # only the first bought in the period
    assert got["points_earned"] == 1500 and got["points_spent"] == 300
    assert got["redemption_rate"] == round(300 / 1500, 4)
    assert got["points_liability"] == (1500 - 300) * 2  # both held 0 before: 1 point from ¥1 each
    assert (got["coupons_issued"], got["coupons_used"]) == (2, 1)
    assert got["coupon_redemption_rate"] == 0.5
    assert {r["tier"]: r["members"] for r in got["tiers"]} == {"普通会员": 1, "银卡": 1}
    assert got["tier_flow"] == [{"from": "普通会员", "to": "银卡", "members": 1}]
    assert summary(session, hi, hi + timedelta(days=1))["tier_flow"] == []
    # an erased member leaves the counts
    session.execute(sa.update(Member).where(Member.id == b).values(status="erased"))
    assert summary(session, lo, hi)["members"] == 1
