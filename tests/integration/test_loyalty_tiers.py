"""Tiers: up at once on reaching a threshold, down only at the window's end (one level or by
the measure, after grace), every move in the member's history; the tier multiplies what spend
earns. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from siyu import clock
from tests.integration.test_loyalty_orders import _deliver, _enrol, _programme, _push

T0 = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)


def _tiers(session: Any, programme: Any, **config: Any) -> None:
    from siyu.loyalty.tiers import configure, set_tier

    configure(session, programme, **config)
    set_tier(session, programme, "normal", "普通会员", rank=0, threshold=0)
    set_tier(session, programme, "silver", "银卡", rank=1, threshold=1000)
    set_tier(session, programme, "gold", "金卡", rank=2, threshold=5000, multiplier_pct=150)
    session.commit()


def _history(session: Any, member_id: int) -> list[tuple[str | None, str]]:
    from siyu.loyalty.models import Tier, TierChange

    session.expire_all()
    rows = session.execute(
        sa.select(Tier.code, TierChange.reason)
        .outerjoin(Tier, Tier.id == TierChange.to_tier_id)
        .where(TierChange.member_id == member_id)
        .order_by(TierChange.id)
    )
    return [(code, reason) for code, reason in rows]


def test_a_member_goes_up_at_once_and_down_at_the_windows_end(session: Any) -> None:
    from siyu.loyalty.models import Member
    from siyu.loyalty.tiers import review_all

    with clock.frozen(T0):
        first = _push(paid_fen=100)
        _deliver()
        programme = _programme(session, rate=100, pending_days=0)
        _tiers(session, programme, measure="points", window="rolling", months=12, grace_days=30)
        member = _enrol(session, programme, first.customer_id)
        _push(paid_fen=120000)  # 1,200 points: silver at once
        _deliver()
        assert _history(session, member) == [("normal", "join"), ("silver", "upgrade")]
        _push(paid_fen=400000)  # 4,000 more: gold, and gold earns half as much again
        _deliver()
        _push(paid_fen=100000)
        _deliver()
        assert _history(session, member)[-1] == ("gold", "upgrade")
        assert session.get(Member, member).tier_id is not None
        earned = session.execute(
            sa.text("SELECT max(points) FROM points_lot WHERE basis_fen = 100000")
        ).scalar()
        assert earned == 1500
        # the tier is held for its window (and grace) even with nothing new
        clock.advance(timedelta(days=365))
        assert review_all(session) == {"upgrade": 0, "downgrade": 0}
        clock.advance(timedelta(days=31))
        assert review_all(session) == {"upgrade": 0, "downgrade": 1}
        session.commit()
        assert _history(session, member)[-1] == ("silver", "downgrade")
        assert review_all(session) == {"upgrade": 0, "downgrade": 0}  # idempotent


def test_downgrade_by_measure_and_a_refund_counts_against_the_measure(session: Any) -> None:
    from siyu.loyalty.tiers import review_all, standing

    with clock.frozen(T0):
        first = _push(paid_fen=100)
        _deliver()
        programme = _programme(session, rate=100, pending_days=0)
        _tiers(session, programme, downgrade="by_measure", months=6)
        member = _enrol(session, programme, first.customer_id)
        big = _push(order_id="BIG", paid_fen=600000)
        _deliver()
        assert _history(session, member)[-1] == ("gold", "upgrade")
        _push(order_id="BIG", status="refunded", paid_fen=600000, refund_fen=600000)
        _deliver()
        from siyu.loyalty.models import Member

        m = session.get(Member, member)
        now = standing(session, m, programme)
        assert (now.measure, now.reached.code, now.next.code) == (0, "normal", "silver")
        clock.advance(timedelta(days=200))
        assert review_all(session)["downgrade"] == 1
        session.commit()
        assert _history(session, member)[-1] == ("normal", "downgrade")  # not one level
        assert big.id


def test_tier_rules_refuse_what_makes_no_sense(session: Any) -> None:
    from siyu.loyalty.ledger import LoyaltyError
    from siyu.loyalty.tiers import configure, set_tier

    programme = _programme(session)
    set_tier(session, programme, "normal", "普通", rank=0, threshold=0)
    set_tier(session, programme, "gold", "金卡", rank=2, threshold=5000)
    for bad in [
        {"code": "silver", "rank": 1, "threshold": 9000},  # above the higher tier
        {"code": "x", "rank": 2, "threshold": 6000},  # rank taken
        {"code": "entry", "rank": 0, "threshold": 10},
        {"code": "", "rank": 3, "threshold": 9000},
        {"code": "y", "rank": 3, "threshold": 9000, "multiplier_pct": 5},
    ]:
        code = bad.pop("code")
        with pytest.raises(LoyaltyError):
            set_tier(session, programme, code, "名", **bad)
    for bad_config in [{"measure": "vibes"}, {"months": 0}, {"window": "lunar"}]:
        with pytest.raises(LoyaltyError):
            configure(session, programme, **bad_config)


def test_tiers_without_an_entry_tier_and_history_that_is_not_this_window(
    session: Any, engine: Any
) -> None:
    """No rank-0 tier: the lowest tier stays (no crash, orders still earn); points earned long
    ago (a backfill of history) do not count in this window."""
    from siyu.loyalty.backfill import backfill
    from siyu.loyalty.tiers import review_all, set_tier

    with clock.frozen(T0):
        first = _push(paid_fen=100, paid_at="2024-01-05T10:00:00+08:00")
        _deliver()
        programme = _programme(session, rate=100, pending_days=0)
        set_tier(session, programme, "silver", "银卡", rank=1, threshold=0)
        set_tier(session, programme, "gold", "金卡", rank=2, threshold=500)
        session.commit()
        member = _enrol(session, programme, first.customer_id)
        _push(paid_fen=900000, paid_at="2024-02-01T10:00:00+08:00")  # history: 9,000 points
        backfill(engine, "vip", since=datetime(2020, 1, 1, tzinfo=UTC))
        assert review_all(session) == {"upgrade": 0, "downgrade": 0}
        session.commit()
        assert _history(session, member) == [("silver", "join")]
        clock.advance(timedelta(days=400))
        assert review_all(session) == {"upgrade": 0, "downgrade": 0}
        _push(paid_fen=60000, paid_at=clock.now().isoformat())  # this window: gold
        _deliver()
        assert _history(session, member)[-1] == ("gold", "upgrade")
