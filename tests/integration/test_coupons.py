"""Coupons: issued once per source within their limits, bought with points once per request,
redeemed once by one order (a replay gets the same answer, two tills at once: one wins), given
back when the redeeming order is refunded. SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from siyu import clock
from tests.integration.test_loyalty_orders import _deliver, _enrol, _programme, _push

T0 = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)


def _setup(session: Any, **terms: Any) -> tuple[Any, Any, int, int]:
    """A programme of brand a, a member, a store S1 of brand a and a coupon template."""
    from siyu.brands.service import add_brand
    from siyu.loyalty.coupons.service import create_template

    a = add_brand(session, "a", "甲")
    session.commit()
    first = _push(brand="a", paid_fen=100, store_code="S1")
    _deliver()
    programme = _programme(session, rate=100, pending_days=0, brand_id=a.id)
    member = _enrol(session, programme, first.customer_id)
    template = create_template(
        session,
        programme,
        terms.pop("code", "c20"),
        "满100减20",
        terms.pop("kind", "amount_off"),
        **{"amount_fen": 2000, "threshold_fen": 10000, **terms},
    )
    session.commit()
    store = session.execute(sa.text("SELECT id FROM store WHERE code = 'S1'")).scalar_one()
    return programme, template, member, store


def test_issue_is_once_per_source_and_within_the_limits(session: Any) -> None:
    from siyu.loyalty.coupons.service import CouponLimit, issue

    with clock.frozen(T0):
        _p, template, member, _s = _setup(session, per_member=2, total=3)
        one = issue(session, template, member, ("campaign", "7"))
        assert issue(session, template, member, ("campaign", "7")).id == one.id
        two = issue(session, template, member, ("campaign", "8"))
        assert one.code != two.code and len(one.code) == 12
        with pytest.raises(CouponLimit, match="may hold 2"):
            issue(session, template, member, ("campaign", "9"))
        session.commit()
        assert one.valid_until == T0 + timedelta(days=30)


def test_points_buy_a_coupon_once_per_request_and_nothing_is_half_written(session: Any) -> None:
    from siyu.loyalty.coupons.models import Coupon
    from siyu.loyalty.coupons.service import create_template, exchange
    from siyu.loyalty.service import NotEnoughPoints, earn, spendable

    with clock.frozen(T0):
        programme, _t, member, _s = _setup(session)
        shop = create_template(
            session,
            programme,
            "c5",
            "5元券",
            "amount_off",
            amount_fen=500,
            points_price=300,
            per_member=0,
        )
        earn(session, member, ("event", "gift"), 500, available_at=T0)
        session.commit()
        got = exchange(session, member, shop, "req-1")
        assert exchange(session, member, shop, "req-1").id == got.id  # a retry
        session.commit()
        assert spendable(session, member) == 200
        with pytest.raises(NotEnoughPoints):
            exchange(session, member, shop, "req-2")
        session.rollback()
        assert session.scalar(sa.select(sa.func.count()).select_from(Coupon)) == 1
        assert spendable(session, member) == 200


def _redeem(code: str, order: str, amount: int = 15000, store: str = "S1") -> Any:
    from siyu.accounts.service import Principal
    from siyu.loyalty import COUPONS_REDEEM
    from siyu.loyalty.coupons.api import RedeemIn, redeem_at_till

    body = RedeemIn(order_id=order, store_code=store, order_amount_fen=amount)
    return redeem_at_till(body, code, Principal("till", "api", frozenset({COUPONS_REDEEM})))


def test_a_coupon_is_redeemed_once_and_a_replay_gets_the_same_answer(session: Any) -> None:
    from siyu.brands.service import add_brand
    from siyu.loyalty.coupons.service import CouponError, CouponUsed, issue
    from siyu.refusals import Conflict, Forbidden, Gone, NotFound

    with clock.frozen(T0):
        _p, template, member, _s = _setup(session, per_member=0)
        coupon = issue(session, template, member, ("campaign", "1"))
        session.commit()
        with pytest.raises(CouponError, match="at least 10000"):
            _redeem(coupon.code, "T1", amount=9999)
        first = _redeem(coupon.code.lower(), "T1")
        assert (first.discount_fen, first.status) == (2000, "redeemed")
        assert _redeem(coupon.code, "T1") == first  # the till retried
        with pytest.raises(CouponUsed):
            _redeem(coupon.code, "T2")
        with pytest.raises(NotFound):
            _redeem("NOSUCHCODE23", "T1")
        # another brand's store
        add_brand(session, "b", "乙")
        session.commit()
        _push(brand="b", paid_fen=100, store_code="B1")
        other = issue(session, template, member, ("campaign", "2"))
        session.commit()
        with pytest.raises(Forbidden):
            _redeem(other.code, "T3", store="B1")
        clock.advance(timedelta(days=31))
        with pytest.raises(Gone):
            _redeem(other.code, "T3")
        assert issubclass(CouponUsed, Conflict)


def test_two_tills_redeeming_one_coupon_at_once_one_wins(session: Any) -> None:
    from siyu.loyalty.coupons.service import issue
    from siyu.refusals import Refusal

    with clock.frozen(T0):
        _p, template, member, _s = _setup(session)
        code = issue(session, template, member, ("campaign", "1")).code
        session.commit()
        answers: list[str] = []
        start = threading.Barrier(4)

        def till(n: int) -> None:
            start.wait()
            try:
                answers.append(f"ok {_redeem(code, f'T{n}').discount_fen}")
            except Refusal as exc:
                answers.append(type(exc).__name__)

        threads = [threading.Thread(target=till, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(answers) == ["CouponUsed"] * 3 + ["ok 2000"], answers


def test_a_refund_of_the_redeeming_order_gives_the_coupon_back(session: Any) -> None:
    from siyu.loyalty.coupons.models import Coupon
    from siyu.loyalty.coupons.service import issue

    with clock.frozen(T0):
        _p, template, member, _s = _setup(session)
        coupon = issue(session, template, member, ("campaign", "1"))
        session.commit()
        _redeem(coupon.code, "R9")
        _push(order_id="R9", brand="a", store_code="S1", paid_fen=13000)
        _deliver()
        session.expire_all()
        assert session.get(Coupon, coupon.id).status == "redeemed"
        _push(
            order_id="R9",
            brand="a",
            store_code="S1",
            paid_fen=13000,
            status="refunded",
            refund_fen=13000,
        )
        _deliver()
        session.expire_all()
        back = session.get(Coupon, coupon.id)
        assert (back.status, back.redeemed_order) == ("issued", None)
        assert _redeem(coupon.code, "R10").discount_fen == 2000  # usable again


def test_erasure_voids_unused_coupons_and_keeps_redeemed_ones(session: Any) -> None:
    from siyu.config import get_settings
    from siyu.customers.models import Customer
    from siyu.loyalty.coupons.models import Coupon
    from siyu.loyalty.coupons.service import issue
    from siyu.loyalty.models import Member
    from siyu.privacy.service import erase_customer

    with clock.frozen(T0):
        _p, template, member, _s = _setup(session, per_member=0)
        used = issue(session, template, member, ("campaign", "1"))
        unused = issue(session, template, member, ("campaign", "2"))
        session.commit()
        _redeem(used.code, "E1")
        customer = session.get(Member, member).customer_id
        erase_customer(session, get_settings(), session.get(Customer, customer), actor="t")
        session.commit()
        session.expire_all()
        assert session.get(Coupon, used.id).status == "redeemed"
        assert session.get(Coupon, unused.id).status == "void"


def test_a_coupon_comes_back_from_a_non_members_order_and_only_from_its_own(
    session: Any,
) -> None:
    from siyu.loyalty.coupons.models import Coupon
    from siyu.loyalty.coupons.service import issue

    with clock.frozen(T0):
        _p, template, member, _s = _setup(session)
        coupon = issue(session, template, member, ("campaign", "1"))
        session.commit()
        _redeem(coupon.code, "N1")  # a POS order of someone who is not a member
        _push(
            order_id="N1",
            platform="miniprogram",
            brand="a",
            store_code="S1",
            paid_fen=13000,
            status="cancelled",
            buyer={"phone": "13900000009"},
        )
        _deliver()
        session.expire_all()
        assert session.get(Coupon, coupon.id).status == "redeemed"  # another order named N1
        _push(
            order_id="N1",
            brand="a",
            store_code="S1",
            paid_fen=13000,
            status="cancelled",
            buyer={"phone": "13900000009"},
        )
        _deliver()
        session.expire_all()
        assert session.get(Coupon, coupon.id).status == "issued"
