"""The points ledger (DESIGN §12) against the peers' bugs, a property test over random moves,
and concurrent spends, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

T0 = datetime(2026, 1, 10, 2, 0, tzinfo=UTC)


def _member(session: Any, *, pending_days: int = 7, lot_months: int = 12, code: str = "p") -> int:
    from siyu.customers.models import Customer
    from siyu.loyalty.service import create_programme, enrol

    customer = Customer(name="会员", status="active")
    session.add(customer)
    session.flush()
    programme = create_programme(
        session, code, "会员计划", pending_days=pending_days, lot_months=lot_months
    )
    member = enrol(session, programme, customer.id, channel="store")
    session.commit()
    return member.id


def _assert_ledger(session: Any, member_id: int) -> None:
    """The summary equals the ledger; no lot below zero or above what it was given."""
    from siyu.loyalty.models import PointsBalance, PointsEntry, PointsLot
    from siyu.loyalty.service import ledger_totals

    session.expire_all()
    kept = session.get(PointsBalance, member_id)
    totals = ledger_totals(session, member_id)
    assert (kept.remaining, kept.debt, kept.earned, kept.spent, kept.expired, kept.taken_back) == (
        totals.remaining,
        totals.debt,
        totals.earned,
        totals.spent,
        totals.expired,
        totals.taken_back,
    )
    for lot in session.scalars(sa.select(PointsLot).where(PointsLot.member_id == member_id)):
        left = session.scalar(
            sa.select(sa.func.sum(PointsEntry.points)).where(PointsEntry.lot_id == lot.id)
        )
        assert 0 <= int(left) <= lot.points, (lot.source_id, left)
    assert totals.debt >= 0


def test_a_refund_takes_back_the_points_the_order_earned(session: Any) -> None:
    """Odoo #257854, #238806: a POS refund did not take back earned points; ERPNext #32951:
    returns did not deduct."""
    from siyu import clock
    from siyu.loyalty.service import earn, spendable, take_back

    with clock.frozen(T0):
        m = _member(session)
        earn(session, m, ("order", "T1"), 300)
        earn(session, m, ("order", "T2"), 100)
        session.commit()
        back = take_back(session, m, ("order", "T1"), "R1")
        assert back.points == 300
        assert take_back(session, m, ("order", "T1"), "R1").again  # the same refund again
        session.commit()
        clock.advance(timedelta(days=8))
        assert spendable(session, m) == 100
        partial = take_back(session, m, ("order", "T2"), "R2", points=40)  # a partial return
        assert partial.points == 40 and spendable(session, m) == 60
        with pytest.raises(Exception, match="takes back 1–60"):
            take_back(session, m, ("order", "T2"), "R3", points=61)
        session.rollback()
    _assert_ledger(session, m)


def test_a_refund_of_an_order_paid_with_points_returns_them_once(session: Any) -> None:
    """Odoo #212922: a refund of a points-paid order deducted twice."""
    from siyu import clock
    from siyu.loyalty.service import earn, give_back, spend, spendable

    with clock.frozen(T0):
        m = _member(session, pending_days=0)
        earn(session, m, ("order", "T1"), 500)
        spend(session, m, ("order", "T9"), 200)
        session.commit()
        assert spendable(session, m) == 300
        first = give_back(session, m, ("order", "T9"), "R9")
        again = give_back(session, m, ("order", "T9"), "R9")
        session.commit()
        assert (first.points, again.again, spendable(session, m)) == (200, True, 500)
        with pytest.raises(Exception, match="gives back"):
            give_back(session, m, ("order", "T9"), "R10")  # nothing left to give back
        session.rollback()
    _assert_ledger(session, m)


def test_points_are_earned_on_what_was_paid_not_on_a_reward_line(session: Any) -> None:
    """Odoo #150833: a reward discount line was counted as points. Earning is on the amount
    the caller says was paid; a discount or a points payment is never a source of its own,
    and the same order earns once whatever is sent again."""
    from siyu import clock
    from siyu.loyalty.service import SourceConflict, earn

    with clock.frozen(T0):
        m = _member(session)
        assert earn(session, m, ("order", "T1"), 88).points == 88
        assert earn(session, m, ("order", "T1"), 88).again
        with pytest.raises(SourceConflict):
            earn(session, m, ("order", "T1"), 100)  # the reward line counted again
        session.rollback()


def test_expiry_takes_each_lot_once_after_spends_matched_to_lots(session: Any) -> None:
    """FloCafe #78: points expired twice because spends were not matched to lots."""
    from siyu import clock
    from siyu.loyalty.service import earn, expire_due, spend, spendable

    with clock.frozen(T0):
        m = _member(session, pending_days=0, lot_months=1)
        earn(session, m, ("order", "old"), 100)
        clock.advance(timedelta(days=20))
        earn(session, m, ("order", "new"), 100)
        spend(session, m, ("redeem", "C1"), 150)  # 100 from the old lot, 50 from the new
        session.commit()
        clock.advance(timedelta(days=15))  # the old lot expires, empty
        assert expire_due(session) == 0
        clock.advance(timedelta(days=30))  # the new one expires with 50 left
        assert expire_due(session) == 50
        assert expire_due(session) == 0  # run again: nothing more
        session.commit()
        assert spendable(session, m) == 0
    _assert_ledger(session, m)


def test_pending_points_wait_for_the_refund_window_and_debt_is_repaid_first(
    session: Any,
) -> None:
    from siyu import clock
    from siyu.loyalty.service import NotEnoughPoints, earn, spend, spendable, take_back

    with clock.frozen(T0):
        m = _member(session, pending_days=7)
        earn(session, m, ("order", "T1"), 100)
        session.commit()
        with pytest.raises(NotEnoughPoints):
            spend(session, m, ("redeem", "C1"), 10)  # still pending
        session.rollback()
        clock.advance(timedelta(days=7))
        spend(session, m, ("redeem", "C1"), 80)
        take_back(session, m, ("order", "T1"), "R1")  # 20 left in the lot, 80 owed
        session.commit()
        earn(session, m, ("order", "T2"), 100, available_at=clock.now())
        session.commit()
        assert spendable(session, m) == 20  # the debt was repaid from the new lot
    _assert_ledger(session, m)


def test_erasure_keeps_the_ledger_under_a_tombstone(session: Any) -> None:
    from siyu import clock
    from siyu.config import get_settings
    from siyu.customers.models import Customer
    from siyu.loyalty.models import Member, PointsEntry
    from siyu.loyalty.service import earn
    from siyu.privacy.service import erase_customer

    with clock.frozen(T0):
        m = _member(session, pending_days=0)
        earn(session, m, ("order", "T1"), 100)
        session.commit()
        customer_id = session.get(Member, m).customer_id
        erase_customer(session, get_settings(), session.get(Customer, customer_id), actor="t")
        session.commit()
    member = session.get(Member, m)
    assert (member.customer_id, member.tombstone, member.status) == (None, f"erased-{m}", "erased")
    kinds = session.scalars(sa.select(PointsEntry.reason).where(PointsEntry.member_id == m))
    assert "erased" in set(kinds)
    _assert_ledger(session, m)


_CODES = itertools.count()  # hypothesis's examples share the database: a code each
MOVES = st.lists(
    st.tuples(
        st.sampled_from(["earn", "spend", "take_back", "give_back", "expire", "deduct", "wait"]),
        st.integers(min_value=1, max_value=400),
        st.integers(min_value=0, max_value=9),
    ),
    min_size=1,
    max_size=25,
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(MOVES, st.sampled_from(["negative", "deduct_later"]))
def test_any_sequence_of_moves_keeps_balance_equal_to_the_ledger(
    session: Any, moves: Any, rule: str
) -> None:
    """Random earn / spend / refund / expire / adjust: the summary equals the ledger, no lot
    goes below zero, and every spend takes from the lots that expire first."""
    from siyu import clock
    from siyu.loyalty.models import Member, PointsBalance, PointsEntry, PointsLot, Programme
    from siyu.loyalty.service import (
        LoyaltyError,
        deduct,
        earn,
        expire_due,
        give_back,
        spend,
        take_back,
    )

    with clock.frozen(T0):
        m = _member(session, pending_days=2, lot_months=1, code=f"p{next(_CODES)}")
        session.execute(
            sa.update(Programme)
            .where(Programme.id == session.get(Member, m).programme_id)
            .values(refund_rule=rule)
        )
        session.commit()
        for i, (move, points, ref) in enumerate(moves):
            try:
                if move == "earn":
                    earn(session, m, ("order", f"T{i}"), points)
                elif move == "spend":
                    spend(session, m, ("redeem", f"C{i}"), points)
                elif move == "deduct":
                    deduct(session, m, f"A{i}", points, reason="客服调整")
                elif move == "take_back":
                    take_back(session, m, ("order", f"T{ref}"), f"R{i}", points=points)
                elif move == "give_back":
                    give_back(session, m, ("redeem", f"C{ref}"), f"G{i}", points=points)
                elif move == "expire":
                    expire_due(session)
                else:
                    clock.advance(timedelta(days=points % 40))
                session.commit()
            except LoyaltyError:
                session.rollback()
        _assert_ledger(session, m)
        kept = session.get(PointsBalance, m)
        if rule == "negative" and kept.debt:  # owed only when nothing is left to pay it with
            assert kept.remaining == 0
        # expiry order: within each spend, lots were taken earliest expiry first
        for source in session.scalars(
            sa.select(PointsEntry.source_id)
            .where(PointsEntry.member_id == m, PointsEntry.kind == "spend")
            .distinct()
        ):
            expiries = (
                session.execute(
                    sa.select(PointsLot.expires_at)
                    .join(PointsEntry, PointsEntry.lot_id == PointsLot.id)
                    .where(
                        PointsEntry.member_id == m,
                        PointsEntry.source_id == source,
                        PointsEntry.kind == "spend",
                    )
                    .order_by(PointsEntry.id)
                )
                .scalars()
                .all()
            )
            assert expiries == sorted(expiries)


def test_two_spends_at_once_never_overdraw(session: Any) -> None:
    """Two workers spend the same points at the same moment: one wins, the other is refused."""
    from siyu import clock
    from siyu.db import new_session
    from siyu.loyalty.service import NotEnoughPoints, earn, spend, spendable

    m = _member(session, pending_days=0)
    earn(session, m, ("order", "T1"), 100, available_at=clock.now() - timedelta(minutes=1))
    session.commit()
    barrier, results = threading.Barrier(2), []

    def go(n: int) -> None:
        with new_session() as s:
            barrier.wait()
            try:
                spend(s, m, ("redeem", f"C{n}"), 80)
                s.commit()
                results.append("spent")
            except NotEnoughPoints:
                s.rollback()
                results.append("refused")

    threads = [threading.Thread(target=go, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["refused", "spent"]
    session.expire_all()
    assert spendable(session, m) == 20
    _assert_ledger(session, m)


def _run(session: Any, steps: list[tuple[Any, ...]], **programme: Any) -> int:
    """A member put through ``steps`` (a function of the service and its arguments, or an
    advance of the clock in days); returns what the member can spend at the end."""
    from siyu import clock
    from siyu.loyalty import service

    m = _member(session, code=f"r{next(_CODES)}", **programme)
    for step in steps:
        if isinstance(step[0], int):
            clock.advance(timedelta(days=step[0]))
        elif step[0] == "expire_due":
            service.expire_due(session, member_id=m)
        else:
            getattr(service, step[0])(session, m, *step[1:])
        session.commit()
    _assert_ledger(session, m)
    return service.spendable(session, m)


def test_a_refund_of_spent_points_never_costs_the_member_twice(session: Any) -> None:
    """Review findings: a debt left open while other points expired, points given back into
    a refunded lot and lost at expiry, and a refund of expired points made a debt of them too;
    the same refunds in any order end the same."""
    from siyu import clock

    rules = {"pending_days": 0, "lot_months": 1}
    with clock.frozen(T0):
        early = [
            ("earn", ("order", "T1"), 100),
            (1,),
            ("earn", ("order", "T2"), 100),
            ("spend", ("redeem", "C1"), 100),
            ("take_back", ("order", "T1"), "R1"),  # T1's 100 were spent: T2's pay for them
            (45,),
            ("expire_due",),
            ("earn", ("order", "T3"), 100),
        ]
        late = [
            ("earn", ("order", "T1"), 100),
            ("spend", ("redeem", "C1"), 100),
            ("take_back", ("order", "T1"), "R1"),
            (1,),
            ("earn", ("order", "T2"), 100),
            (45,),
            ("expire_due",),
            ("earn", ("order", "T3"), 100),
        ]
        assert _run(session, early, **rules) == _run(session, late, **rules) == 100
        both = [
            ("earn", ("order", "T1"), 500),
            ("spend", ("redeem", "C1"), 200),
            ("take_back", ("order", "T1"), "RT"),
            ("give_back", ("redeem", "C1"), "RC"),
            (45,),
            ("expire_due",),
            ("earn", ("order", "T2"), 200),
        ]
        assert _run(session, both, **rules) == 200  # both orders refunded in full
        expired_first = [
            ("earn", ("order", "T1"), 100),
            (40,),
            ("expire_due",),
            ("take_back", ("order", "T1"), "R1"),  # its points had expired: nothing owed
            ("earn", ("order", "T2"), 100),
        ]
        assert _run(session, expired_first, **rules) == 100


def test_under_deduct_later_current_points_stay_spendable(session: Any) -> None:
    """The refund rule: ``negative`` takes what a refund owes from the member's other points
    at once; ``deduct_later`` leaves them spendable and takes it from later earnings."""
    from siyu import clock
    from siyu.loyalty import service
    from siyu.loyalty.models import Member, Programme

    steps = [
        ("earn", ("order", "T1"), 100),
        ("earn", ("order", "T2"), 100),
        ("spend", ("redeem", "C1"), 100),  # from T1
        ("take_back", ("order", "T1"), "R1"),  # 100 owed
    ]
    with clock.frozen(T0):
        assert _run(session, steps, pending_days=0) == 0  # negative: T2's 100 pay at once
        m = _member(session, code=f"d{next(_CODES)}", pending_days=0)
        programme_id = session.get(Member, m).programme_id
        session.execute(
            sa.update(Programme)
            .where(Programme.id == programme_id)
            .values(refund_rule="deduct_later")
        )
        session.commit()
        for step in steps:
            getattr(service, step[0])(session, m, *step[1:])
            session.commit()
        assert service.spendable(session, m) == 100  # T2 untouched, 100 owed
        service.earn(session, m, ("order", "T3"), 150)
        session.commit()
        assert service.spendable(session, m) == 150  # T2's 100 and what T3 left after the debt
        _assert_ledger(session, m)


def test_a_refund_id_is_one_refund_and_an_erased_member_takes_no_moves(session: Any) -> None:
    from siyu import clock
    from siyu.config import get_settings
    from siyu.customers.models import Customer
    from siyu.loyalty.models import Member, PointsEntry
    from siyu.loyalty.service import LoyaltyError, SourceConflict, deduct, earn, take_back
    from siyu.privacy.service import erase_customer

    with clock.frozen(T0):
        m = _member(session, pending_days=0)
        earn(session, m, ("order", "T1"), 100)
        earn(session, m, ("order", "T2"), 100)
        deduct(session, m, "A1", 10, reason="张三 13812345678 投诉补偿")
        take_back(session, m, ("order", "T1"), "R1")
        session.commit()
        with pytest.raises(SourceConflict):
            take_back(session, m, ("order", "T2"), "R1")  # the same refund id, another order
        session.rollback()
        with pytest.raises(LoyaltyError):
            earn(session, m, ("redeem:x", "1"), 5)  # a kind that could make two sources one
        session.rollback()
        customer = session.get(Customer, session.get(Member, m).customer_id)
        erase_customer(session, get_settings(), customer, actor="t")
        session.commit()
        with pytest.raises(LoyaltyError, match="erased"):
            earn(session, m, ("order", "T3"), 100)
        session.rollback()
    reasons = set(session.scalars(sa.select(PointsEntry.reason).where(PointsEntry.member_id == m)))
    assert not any("13812345678" in r for r in reasons)
    _assert_ledger(session, m)
