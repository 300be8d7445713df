"""Loyalty follows orders: pushed or imported orders earn under the earn rules, refunds take
back their share, points paid come back once; the backfill earns history in set statements
with the same arithmetic. SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from siyu import clock
from siyu.jobs import service as jobs

T0 = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
_orders = itertools.count(1)


def _principal(store_id: int | None = None) -> Any:
    from siyu.accounts.service import Principal
    from siyu.ingest import ORDERS_WRITE

    return Principal("pos-key", "api", frozenset({ORDERS_WRITE}), store_id=store_id)


def _push(**fields: Any) -> Any:
    from siyu.ingest.api import OrderIn, post_order

    body = {
        "order_id": f"P{next(_orders)}",
        "status": "paid",
        "paid_fen": 10000,
        "ordered_at": T0.isoformat(),
        "paid_at": T0.isoformat(),
        "buyer": {"phone": "13800000001"},
        **fields,
    }
    return post_order(OrderIn.model_validate(body), _principal())


def _programme(session: Any, rate: int = 100, **kw: Any) -> Any:
    from siyu.loyalty.rules import set_spend_rule
    from siyu.loyalty.service import create_programme

    programme = create_programme(session, kw.pop("code", "vip"), "会员计划", **kw)
    set_spend_rule(session, programme, rate)
    session.commit()
    return programme


def _enrol(session: Any, programme: Any, customer_id: int) -> int:
    """The customer (created by a first order) enrolled."""
    from siyu.loyalty.service import enrol

    member = enrol(session, programme, customer_id, channel="store")
    session.commit()
    return int(member.id)


def _deliver() -> None:
    while jobs.run_once("w1"):
        pass


def _balance(session: Any, member_id: int) -> tuple[int, int, int, int]:
    from siyu.loyalty.models import PointsBalance
    from siyu.loyalty.service import ledger_totals

    session.expire_all()
    kept = session.get(PointsBalance, member_id)
    t = ledger_totals(session, member_id)
    assert (kept.remaining, kept.debt, kept.earned, kept.taken_back) == (
        t.remaining,
        t.debt,
        t.earned,
        t.taken_back,
    )
    return kept.remaining, kept.debt, kept.earned, kept.taken_back


def test_an_order_earns_once_and_its_refunds_take_back_their_share(session: Any) -> None:
    """ERPNext #32951, Odoo #257854: a return takes back what the order earned, here through
    order.changed as the POS pushes the order's later states."""
    with clock.frozen(T0):
        first = _push(paid_fen=500)  # the customer exists from here
        _deliver()  # told before the membership: it earns nothing
        programme = _programme(session, rate=200)  # 2 points per yuan
        member = _enrol(session, programme, first.customer_id)
        order = _push(order_id="R1", paid_fen=30000)
        assert order.status == "created"
        _deliver()
        assert _balance(session, member) == (600, 0, 600, 0)
        assert _push(order_id="R1", paid_fen=30000).status == "unchanged"
        _deliver()
        assert _balance(session, member) == (600, 0, 600, 0)
        # a third of the money back: a third of the points back, once however often it is told
        for _ in range(2):
            _push(order_id="R1", paid_fen=30000, refund_fen=10000)
            _deliver()
        assert _balance(session, member) == (400, 0, 600, 200)
        _push(order_id="R1", status="refunded", paid_fen=30000, refund_fen=30000)
        _deliver()
        assert _balance(session, member) == (0, 0, 600, 600)


def test_only_orders_from_the_day_of_joining_earn_as_they_arrive(session: Any) -> None:
    """History earns through the backfill, by decision; an order paid the day the customer
    joined (at the till, before signing up) earns; one paid the day before does not."""
    with clock.frozen(T0):
        first = _push(paid_fen=100)
        _deliver()
        programme = _programme(session, rate=100)
        member = _enrol(session, programme, first.customer_id)
        # 10:00 in Shanghai on the day of joining, and 23:59 the day before
        _push(paid_fen=20000, paid_at="2026-03-10T00:00:00+08:00")
        _push(paid_fen=90000, paid_at="2026-03-09T23:59:00+08:00")
        _deliver()
        assert _balance(session, member)[2] == 200


def test_a_discount_line_is_never_counted_as_spend(session: Any) -> None:
    """Odoo #150833: a reward's discount line was counted as points. Only money paid earns; a
    line with no positive amount takes no share of a category's rate."""
    from siyu.loyalty.rules import set_spend_rule

    with clock.frozen(T0):
        first = _push(paid_fen=100)
        _deliver()
        programme = _programme(session, rate=100)
        set_spend_rule(session, programme, 500, category="护肤")
        session.commit()
        member = _enrol(session, programme, first.customer_id)
        _push(
            order_id="D1",
            total_fen=20000,
            paid_fen=15000,
            lines=[
                {"sku": "A", "category": "护肤", "amount_fen": 10000},
                {"sku": "B", "category": "彩妆", "amount_fen": 10000},
                {"name": "满减券", "category": "护肤", "amount_fen": -5000},
            ],
        )
        _deliver()
        # 150 yuan paid, half of it for 护肤 at 5 a yuan, half at 1: 375 + 75
        assert _balance(session, member)[2] == 450


def test_an_order_paid_with_points_gets_them_back_once_on_refund(session: Any) -> None:
    """Odoo #212922: a refund of an order paid with points deducted twice. Here the points come
    back once, however often the refund is told, and the earned points go once."""
    from siyu.loyalty.service import earn, spend

    with clock.frozen(T0):
        first = _push(paid_fen=100)
        _deliver()
        programme = _programme(session, rate=100, pending_days=0)
        member = _enrol(session, programme, first.customer_id)
        earn(session, member, ("event", "welcome"), 1000, available_at=T0)
        session.commit()
        order = _push(order_id="PP1", status="pending", paid_fen=5000)
        spend(session, member, ("order", str(order.id)), 800)
        session.commit()
        _push(order_id="PP1", status="paid", paid_fen=5000)
        _deliver()
        assert _balance(session, member)[0] == 200 + 50
        for _ in range(3):
            _push(order_id="PP1", status="refunded", paid_fen=5000, refund_fen=5000)
            _deliver()
        remaining, debt, _earned, taken = _balance(session, member)
        assert (remaining, debt, taken) == (1000, 0, 50)


def test_orders_of_another_brand_do_not_earn_in_a_brand_programme(session: Any) -> None:
    from siyu.brands.service import add_brand

    with clock.frozen(T0):
        a, b = add_brand(session, "a", "甲"), add_brand(session, "b", "乙")
        session.commit()
        first = _push(brand="a", paid_fen=100)
        _deliver()
        programme = _programme(session, rate=100, brand_id=a.id)
        member = _enrol(session, programme, first.customer_id)
        _push(brand="b", paid_fen=10000)
        _push(brand="a", paid_fen=20000)
        _deliver()
        assert _balance(session, member)[2] == 200
        assert b.id != a.id


def _history(session: Any, engine: Any, n: int) -> tuple[Any, list[int]]:
    """``n`` customers with orders of every shape, then a programme enrolling most of them."""
    from siyu.brands.service import add_brand
    from siyu.loyalty.models import Tier
    from siyu.loyalty.rules import set_spend_rule

    add_brand(session, "a", "甲")
    session.commit()
    shapes = [
        {"paid_fen": 12345, "store_code": "S1"},
        {"paid_fen": 9999, "store_code": "S2", "status": "partially_refunded", "refund_fen": 999},
        {"paid_fen": 20000, "status": "refunded", "refund_fen": 20000},
        {"paid_fen": 8000, "status": "pending"},
        {
            "paid_fen": 30001,
            "lines": [
                {"sku": "A", "category": "护肤", "amount_fen": 7777},
                {"sku": "B", "category": "彩妆", "amount_fen": 22224},
                {"name": "券", "amount_fen": -3000},
            ],
        },
        {"paid_fen": 4321, "paid_at": "2026-01-28T23:30:00+08:00"},  # available on Jan 31
    ]
    customers = []
    for i in range(n):
        for shape in shapes:
            pushed = _push(buyer={"phone": f"139{i:08d}"}, **shape)
        customers.append(pushed.customer_id)
    programme = _programme(session, rate=100, code="hist", pending_days=3, lot_months=1)
    stores = dict(session.execute(sa.text("SELECT code, id FROM store")).all())
    set_spend_rule(session, programme, 300, store_id=stores["S1"])
    set_spend_rule(session, programme, 700, category="护肤")
    gold = Tier(programme_id=programme.id, code="gold", name="金卡", rank=1, multiplier_pct=150)
    session.add(gold)
    session.commit()
    members = [_enrol(session, programme, c) for i, c in enumerate(customers) if i % 5 != 4]
    from siyu.loyalty.models import Member

    for member_id in members[::2]:
        session.get(Member, member_id).tier_id = gold.id
    session.commit()
    return programme, members


def _lots(session: Any) -> dict[tuple[int, str], tuple[int, int | None, Any, Any]]:
    from siyu.loyalty.models import PointsLot

    session.expire_all()
    return {
        (lot.member_id, lot.source_id): (
            lot.points,
            lot.basis_fen,
            lot.available_at,
            lot.expires_at,
        )
        for lot in session.scalars(sa.select(PointsLot))
    }


def test_the_backfill_earns_what_following_the_orders_would(session: Any, engine: Any) -> None:
    """The set statements of the backfill and the one-order path give the same lots: points
    (store, category, tier multiplier, refunds, a discount line), basis and dates (a month's
    last day included); a second run changes nothing."""
    from siyu.loyalty.backfill import backfill
    from siyu.loyalty.models import Member
    from siyu.loyalty.orders import settle_orders

    with clock.frozen(T0):
        programme, members = _history(session, engine, 10)
        done = backfill(engine, "hist", since=datetime(2025, 1, 1, tzinfo=UTC), chunk=7)
        assert done.earned > 0 and done.one_by_one == 0
        by_backfill = _lots(session)
        for member_id in members:
            _balance(session, member_id)
        again = backfill(engine, "hist", since=datetime(2025, 1, 1, tzinfo=UTC), chunk=5)
        assert again.earned == 0 and _lots(session) == by_backfill
        # the same orders, one at a time, for a second programme with the same rules
        session.execute(sa.text("DELETE FROM points_entry"))
        session.execute(sa.text("DELETE FROM points_lot"))
        session.execute(sa.text("UPDATE points_balance SET remaining = 0, earned = 0"))
        session.commit()
        ids = [int(i) for i in session.scalars(sa.text('SELECT id FROM "order" ORDER BY id'))]
        settle_orders(session, ids, history=True)
        session.commit()
        assert _lots(session) == by_backfill
    counted = {m.id for m in session.scalars(sa.select(Member))}
    assert {member for member, _order in by_backfill} <= counted
    feb = [v for v in by_backfill.values() if v[1] == 4321]
    assert feb and all(v[3] == datetime(2026, 2, 28, 15, 30, tzinfo=UTC) for v in feb)
    assert programme.id


def test_a_rule_changed_while_the_backfill_runs_applies_after_it(session: Any, engine: Any) -> None:
    from siyu.loyalty.backfill import backfill
    from siyu.loyalty.models import Programme
    from siyu.loyalty.rules import set_spend_rule

    with clock.frozen(T0):
        _history(session, engine, 4)

        def change_rule(done: int, total: int) -> None:
            with session.begin_nested():
                p = session.scalar(sa.select(Programme).where(Programme.code == "hist"))
                set_spend_rule(session, p, 10_000)
            session.commit()

        backfill(
            engine, "hist", since=datetime(2025, 1, 1, tzinfo=UTC), chunk=3, progress=change_rule
        )
        points = {v[0] for v in _lots(session).values()}
    assert max(points) < 4321  # at the new rate the smallest order would have earned 4,321


def test_a_backfill_repays_a_members_debt_first(session: Any, engine: Any) -> None:
    from siyu.loyalty.backfill import backfill
    from siyu.loyalty.service import earn, spend, take_back

    with clock.frozen(T0):
        first = _push(paid_fen=100)
        _deliver()
        programme = _programme(session, rate=100, pending_days=0, code="debt")
        member = _enrol(session, programme, first.customer_id)
        earn(session, member, ("event", "e1"), 100, available_at=T0)
        spend(session, member, ("coupon", "c1"), 100)
        take_back(session, member, ("event", "e1"), "r1")
        session.commit()
        assert _balance(session, member)[1] == 100
        _push(paid_fen=50000)
        done = backfill(engine, "debt", since=datetime(2025, 1, 1, tzinfo=UTC))
        assert done.one_by_one == 2
        assert _balance(session, member)[:2] == (401, 0)


def test_pushed_orders_refuse_bad_input_and_keep_what_is_stored(session: Any) -> None:
    from fastapi import HTTPException
    from pydantic import ValidationError

    from siyu.refusals import Refusal

    with clock.frozen(T0):
        good = _push(order_id="G1", paid_fen=100)
        for bad, status in [
            ({"buyer": {}}, 422),
            ({"buyer": {"phone": "12"}}, 422),
            ({"refund_fen": 200, "status": "partially_refunded"}, 422),
        ]:
            with pytest.raises(HTTPException) as caught:
                _push(order_id="G1", paid_fen=100, **bad)
            assert caught.value.status_code == status, bad
        for bad_body in [
            {"paid_fen": 10**12},
            {"order_id": "x\x00y"},
            {"lines": [{"amount_fen": 1}] * 501},
            {"status": "lost"},
            {"extra": "<script>"},
        ]:
            with pytest.raises(ValidationError):
                _push(**bad_body)
        with pytest.raises(Refusal):  # answered 422 by the API's refusal handler
            _push(order_id="G1", paid_fen=100, brand="nope")
        again = _push(order_id="G1", paid_fen=100)
        assert (again.id, again.status) == (good.id, "unchanged")
        count = session.scalar(sa.text('SELECT count(*) FROM "order"'))
        assert count == 1


def test_a_store_key_pushes_only_its_own_stores_orders(session: Any) -> None:
    from fastapi import HTTPException

    from siyu.ingest.api import OrderIn, post_order

    with clock.frozen(T0):
        _push(store_code="S1")
        _push(store_code="S2")
        stores = dict(session.execute(sa.text("SELECT code, id FROM store")).all())
        body = {
            "order_id": "K1",
            "status": "paid",
            "paid_fen": 100,
            "ordered_at": T0.isoformat(),
            "buyer": {"phone": "13800000001"},
        }
        post_order(OrderIn.model_validate({**body, "store_code": "S1"}), _principal(stores["S1"]))
        for other in ({"store_code": "S2"}, {"store_code": "S9"}, {}):
            with pytest.raises(HTTPException) as caught:
                post_order(
                    OrderIn.model_validate({**body, "order_id": "K2", **other}),
                    _principal(stores["S1"]),
                )
            assert caught.value.status_code == 403
        assert session.scalar(sa.text("SELECT count(*) FROM store")) == 2


def test_an_order_paid_wholly_with_points_and_cancelled_gives_them_all_back(
    session: Any,
) -> None:
    from siyu.loyalty.service import earn, spend

    with clock.frozen(T0):
        first = _push(paid_fen=100)
        _deliver()
        programme = _programme(session, rate=100, pending_days=0)
        member = _enrol(session, programme, first.customer_id)
        earn(session, member, ("event", "gift"), 500, available_at=T0)
        session.commit()
        order = _push(order_id="PTS", status="pending", paid_fen=0)
        spend(session, member, ("order", str(order.id)), 300)
        session.commit()
        for _ in range(2):
            _push(order_id="PTS", status="cancelled", paid_fen=0)
            _deliver()
        assert _balance(session, member)[0] == 500
        # a refund told for an order nobody earned on or paid with points moves nothing
        _push(order_id="NEVER", status="refunded", paid_fen=900, refund_fen=900)
        _deliver()
        assert _balance(session, member)[0] == 500


def test_an_order_pushed_with_a_lower_amount_later_still_settles(session: Any) -> None:
    """A refund's key is the points moved back in all: amounts that change between pushes
    never make two refunds share a key (and the job never fails for good)."""
    with clock.frozen(T0):
        first = _push(paid_fen=100)
        _deliver()
        programme = _programme(session, rate=100)
        member = _enrol(session, programme, first.customer_id)
        _push(order_id="L1", paid_fen=10000)
        _deliver()
        _push(order_id="L1", paid_fen=5000, refund_fen=2500, status="partially_refunded")
        _deliver()
        _push(order_id="L1", paid_fen=4000, refund_fen=3000, status="partially_refunded")
        _deliver()
        _push(order_id="L1", paid_fen=4000, refund_fen=4000, status="refunded")
        _deliver()
        assert _balance(session, member) == (0, 0, 100, 100)


def test_after_a_merge_a_refund_takes_back_from_the_lot_it_earned(session: Any) -> None:
    """The order's customer changes at a merge; its points stay where they were earned, and
    a refund takes them back there instead of earning again for the winner."""
    from siyu.customers.service import merge

    with clock.frozen(T0):
        a = _push(paid_fen=100, buyer={"phone": "13800000011"})
        b = _push(paid_fen=100, buyer={"phone": "13800000022"})
        _deliver()
        programme = _programme(session, rate=100)
        ma = _enrol(session, programme, a.customer_id)
        mb = _enrol(session, programme, b.customer_id)
        _push(order_id="M1", paid_fen=10000, buyer={"phone": "13800000011"})
        _deliver()
        merge(session, b.customer_id, a.customer_id, "t", force=True)
        session.commit()
        _push(
            order_id="M1",
            paid_fen=10000,
            refund_fen=5000,
            status="partially_refunded",
            buyer={"phone": "13800000011"},
        )
        _deliver()
        assert _balance(session, ma)[0] == 50 and _balance(session, mb)[2] == 0
        _push(
            order_id="M1",
            paid_fen=10000,
            refund_fen=10000,
            status="refunded",
            buyer={"phone": "13800000011"},
        )
        _deliver()
        assert _balance(session, ma)[0] == 0 and _balance(session, mb)[2] == 0


def test_one_order_that_cannot_settle_holds_up_no_other(session: Any) -> None:
    from siyu.loyalty.rules import set_spend_rule

    with clock.frozen(T0):
        first = _push(paid_fen=100)
        _deliver()
        programme = _programme(session, rate=100)
        set_spend_rule(session, programme, 100_000)  # 1,000 points a yuan
        session.commit()
        member = _enrol(session, programme, first.customer_id)
        _push(order_id="HUGE", paid_fen=900_000_000)  # 9 billion points: beyond any lot
        _push(order_id="SMALL", paid_fen=100)
        _deliver()
        assert _balance(session, member)[2] == 1000


def test_a_store_key_cannot_rewrite_another_stores_order(session: Any) -> None:
    from fastapi import HTTPException

    from siyu.ingest.api import OrderIn, post_order

    with clock.frozen(T0):
        _push(order_id="X1", store_code="S1")
        _push(order_id="X2", store_code="S2")
        s2 = session.execute(sa.text("SELECT id FROM store WHERE code = 'S2'")).scalar_one()
        body = {
            "order_id": "X1",
            "store_code": "S2",
            "status": "refunded",
            "paid_fen": 10000,
            "refund_fen": 10000,
            "ordered_at": T0.isoformat(),
            "buyer": {"phone": "13800000001"},
        }
        with pytest.raises(HTTPException) as caught:
            post_order(OrderIn.model_validate(body), _principal(s2))
        assert caught.value.status_code == 403
        assert (
            session.execute(
                sa.text("SELECT status FROM \"order\" WHERE platform_order_id = 'X1'")
            ).scalar_one()
            == "paid"
        )
