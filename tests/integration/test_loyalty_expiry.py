"""The periodic expiry's set path (``loyalty.expiry``) against the per-member path
(``service.expire_due(member_id=…)``): twin members put through the same moves, one expired each
way, end with the same entries and balances (debts, pending lots, points given back to an ended
lot, erased members included); a second run writes nothing; a spend in progress is waited for.
SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

T0 = datetime(2026, 1, 10, 2, 0, tzinfo=UTC)
_CODES = itertools.count()


def _twins(session: Any, **programme: Any) -> tuple[int, int]:
    """Two members of one new programme (two customers)."""
    from siyu.customers.models import Customer
    from siyu.loyalty.service import create_programme, enrol

    made = create_programme(session, f"x{next(_CODES)}", "会员计划", **programme)
    members = []
    for _ in range(2):
        customer = Customer(name="会员", status="active")
        session.add(customer)
        session.flush()
        members.append(enrol(session, made, customer.id, channel="store").id)
    session.commit()
    return members[0], members[1]


def _expire_both(session: Any, engine: Any, one: int) -> None:
    """The member ``one`` expired by the per-member path, then every member by the set path in
    ranges of two members (which finds ``one`` done and writes nothing for it)."""
    from siyu.loyalty.expiry import expire_all
    from siyu.loyalty.service import expire_due

    expire_due(session, member_id=one)
    session.commit()
    expire_all(engine, chunk=2)
    session.expire_all()


def _step(session: Any, engine: Any, pair: tuple[int, int], step: tuple[Any, ...]) -> None:
    from siyu import clock
    from siyu.config import get_settings
    from siyu.customers.models import Customer
    from siyu.loyalty import service
    from siyu.loyalty.models import Member
    from siyu.privacy.service import erase_customer

    if isinstance(step[0], int):
        clock.advance(timedelta(days=step[0]))
    elif step[0] == "expire":
        _expire_both(session, engine, pair[0])
    elif step[0] == "erase":
        for m in pair:
            customer = session.get(Customer, session.get(Member, m).customer_id)
            erase_customer(session, get_settings(), customer, actor="t")
    else:  # a move of the service, its keywords last when it has some
        args, kwargs = step[1:], {}
        if args and isinstance(args[-1], dict):
            args, kwargs = args[:-1], args[-1]
        for m in pair:
            getattr(service, step[0])(session, m, *args, **kwargs)
    session.commit()


def _entries(session: Any, member_id: int) -> list[tuple[Any, ...]]:
    """The member's entries with lots named by their source, so twins compare."""
    from siyu.loyalty.models import PointsEntry, PointsLot

    lots = {
        lot.id: f"{lot.source_kind}:{lot.source_id}"
        for lot in session.scalars(sa.select(PointsLot).where(PointsLot.member_id == member_id))
    }
    out = []
    for e in session.scalars(sa.select(PointsEntry).where(PointsEntry.member_id == member_id)):
        source = e.source_id
        if e.source_kind == "expiry":
            lot, _, n = source.partition(":")
            source = f"{lots[int(lot)]}:{n}"
        out.append(
            (
                e.kind,
                e.points,
                e.source_kind,
                source,
                lots.get(e.lot_id) if e.lot_id else None,
                e.linked,
                e.covers,
                e.reason,
                e.created_at,
            )
        )
    return sorted(out, key=repr)


def _balance(session: Any, member_id: int) -> tuple[int, ...]:
    from siyu.loyalty.models import PointsBalance

    b = session.get(PointsBalance, member_id, populate_existing=True)
    return (b.remaining, b.debt, b.earned, b.spent, b.expired, b.taken_back)


def _assert_twins(session: Any, pair: tuple[int, int]) -> None:
    """The set path wrote what the per-member path wrote; the summary equals the ledger; no
    lot went below zero."""
    from siyu.loyalty.models import PointsEntry
    from siyu.loyalty.service import ledger_totals

    session.expire_all()
    a, b = pair
    assert _entries(session, b) == _entries(session, a)
    assert _balance(session, b) == _balance(session, a)
    totals = ledger_totals(session, b)
    assert _balance(session, b) == (
        totals.remaining,
        totals.debt,
        totals.earned,
        totals.spent,
        totals.expired,
        totals.taken_back,
    )
    lows = session.scalars(
        sa.select(sa.func.sum(PointsEntry.points))
        .where(PointsEntry.member_id == b, PointsEntry.lot_id.is_not(None))
        .group_by(PointsEntry.lot_id)
    )
    assert min(lows, default=0) >= 0


def _dates(available: int, expires: int) -> dict[str, datetime]:
    """An earning's own dates, in days from T0."""
    return {
        "available_at": T0 + timedelta(days=available),
        "expires_at": T0 + timedelta(days=expires),
    }


SCENARIOS: dict[str, tuple[dict[str, Any], list[tuple[Any, ...]]]] = {
    "plain": ({"pending_days": 0, "lot_months": 1}, [("earn", ("order", "T1"), 100), (40,)]),
    "spent across lots": (
        {"pending_days": 0, "lot_months": 1},
        [
            ("earn", ("order", "T1"), 100),
            (10,),
            ("earn", ("order", "T2"), 100),
            ("spend", ("redeem", "C1"), 150),
            (25,),  # T1 ends empty
            ("expire",),
            (30,),  # T2 ends with 50
        ],
    ),
    "debt under negative, repaid": (
        {"pending_days": 0, "lot_months": 1},
        [
            ("earn", ("order", "T1"), 100),
            ("spend", ("redeem", "C1"), 100),
            ("take_back", ("order", "T1"), "R1"),  # 100 owed
            ("earn", ("order", "T2"), 50),  # all of it repays
            ("earn", ("order", "T3"), 80),  # 50 repay, 30 left
            (40,),
        ],
    ),
    "debt under deduct_later: a negative balance": (
        {"pending_days": 0, "lot_months": 1, "refund_rule": "deduct_later"},
        [
            ("earn", ("order", "T1"), 100),
            ("earn", ("order", "T2"), 100),
            ("spend", ("redeem", "C1"), 100),
            ("take_back", ("order", "T1"), "R1"),  # 100 owed, T2's 100 untouched
            (40,),  # T2 ends: 0 left, 100 owed
        ],
    ),
    "pending lots": (
        {"pending_days": 7, "lot_months": 12},
        [
            # still pending when its (explicit) date passes: it ends pending
            ("earn", ("order", "T1"), 100, _dates(30, 10)),
            ("earn", ("order", "T2"), 100),  # pending, a year to go: untouched
            (15,),
        ],
    ),
    "due this very moment": (
        {"pending_days": 0, "lot_months": 12},
        [("earn", ("order", "T1"), 100, _dates(0, 5)), (5,)],
    ),
    "given back after it ended": (
        {"pending_days": 0, "lot_months": 1},
        [
            ("earn", ("order", "T1"), 100),
            ("spend", ("redeem", "C1"), 60),
            (40,),
            ("expire",),  # 40 end (expiry T1:1)
            ("give_back", ("redeem", "C1"), "G1"),  # 60 back on the ended lot
            (1,),  # they end at the next run (expiry T1:2)
        ],
    ),
    "refund of expired points": (
        {"pending_days": 0, "lot_months": 1},
        [
            ("earn", ("order", "T1"), 100),
            ("earn", ("order", "T2"), 100, _dates(0, 90)),
            (40,),
            ("expire",),
            ("take_back", ("order", "T1"), "R1"),  # forgiven: nothing taken, nothing owed
            (60,),
        ],
    ),
    "erased": (
        {"pending_days": 0, "lot_months": 1},
        [
            ("earn", ("order", "T1"), 100),
            ("spend", ("redeem", "C1"), 30),
            ("erase",),  # 70 end with reason "erased"
            (40,),
        ],
    ),
    "never expire": ({"pending_days": 0, "lot_months": 0}, [("earn", ("order", "T1"), 100)]),
}


def test_the_set_path_writes_what_the_per_member_path_writes(session: Any, engine: Any) -> None:
    from siyu import clock
    from siyu.loyalty.expiry import expire_all
    from siyu.loyalty.models import PointsBalance, PointsEntry

    with clock.frozen(T0):
        for name, (programme, steps) in SCENARIOS.items():
            clock.freeze(T0)
            pair = _twins(session, **programme)
            for step in [*steps, ("expire",)]:
                _step(session, engine, pair, step)
            _assert_twins(session, pair)
            assert _balance(session, pair[1]) == SCENARIO_ENDS[name], name

        def ledger() -> tuple[Any, ...]:
            session.expire_all()
            return (
                session.scalar(sa.select(sa.func.count()).select_from(PointsEntry)),
                sorted(session.execute(sa.select(PointsBalance.__table__)).all()),
            )

        before = ledger()
        clock.advance(timedelta(minutes=1))  # a stamp of updated_at would show
        again = expire_all(engine)
        assert (again.members, again.lots, again.points) == (0, 0, 0)
        assert ledger() == before


# (remaining, debt, earned, spent, expired, taken_back) at the end of each scenario
SCENARIO_ENDS = {
    "plain": (0, 0, 100, 0, 100, 0),
    "spent across lots": (0, 0, 200, 150, 50, 0),
    "debt under negative, repaid": (0, 0, 230, 100, 30, 100),
    "debt under deduct_later: a negative balance": (0, 100, 200, 100, 100, 100),
    "pending lots": (100, 0, 200, 0, 100, 0),
    "due this very moment": (0, 0, 100, 0, 100, 0),
    "given back after it ended": (0, 0, 100, 0, 100, 0),
    "refund of expired points": (0, 0, 200, 0, 200, 0),
    "erased": (0, 0, 100, 30, 70, 0),
    "never expire": (100, 0, 100, 0, 0, 0),
}


MOVES = st.lists(
    st.tuples(
        st.sampled_from(["earn", "spend", "take_back", "give_back", "expire", "deduct", "wait"]),
        st.integers(min_value=1, max_value=400),
        st.integers(min_value=0, max_value=9),
    ),
    min_size=1,
    max_size=20,
)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(MOVES, st.sampled_from(["negative", "deduct_later"]))
def test_any_sequence_of_moves_expires_the_same_both_ways(
    session: Any, engine: Any, moves: Any, rule: str
) -> None:
    from siyu import clock
    from siyu.loyalty.service import LoyaltyError

    with clock.frozen(T0):
        pair = _twins(session, pending_days=2, lot_months=1, refund_rule=rule)
        for i, (move, points, ref) in enumerate([*moves, ("wait", 39, 0), ("expire", 0, 0)]):
            step: tuple[Any, ...] = {
                "earn": ("earn", ("order", f"T{i}"), points),
                "spend": ("spend", ("redeem", f"C{i}"), points),
                "deduct": ("deduct", f"A{i}", points, {"reason": "客服调整"}),
                "take_back": ("take_back", ("order", f"T{ref}"), f"R{i}", points),
                "give_back": ("give_back", ("redeem", f"C{ref}"), f"G{i}", points),
                "expire": ("expire",),
                "wait": (points % 40,),
            }[move]
            try:
                _step(session, engine, pair, step)
            except LoyaltyError:
                session.rollback()
        _assert_twins(session, pair)


def test_a_spend_in_progress_is_waited_for(session: Any, engine: Any) -> None:
    """A spend holds the member's lock when the run reaches the member: the run waits and
    ends what the spend left, so the lot never goes below zero."""
    from siyu import clock
    from siyu.db import new_session
    from siyu.loyalty.expiry import expire_all
    from siyu.loyalty.service import earn, spend

    with clock.frozen(T0):
        m, _ = _twins(session, pending_days=0, lot_months=1)
        earn(session, m, ("order", "T1"), 100)
        session.commit()
        spending, committing = threading.Event(), threading.Event()

        def till() -> None:
            with new_session() as s:
                spend(s, m, ("redeem", "C1"), 30)
                spending.set()
                time.sleep(0.5)  # the run starts meanwhile and must wait
                committing.set()
                s.commit()

        thread = threading.Thread(target=till)
        thread.start()
        assert spending.wait(10)
        ran = expire_all(engine, now=T0 + timedelta(days=40))
        assert committing.is_set()  # it ended after the spend's commit, not before
        thread.join()
        assert (ran.lots, ran.points) == (1, 70)
        session.expire_all()
        assert _balance(session, m) == (0, 0, 100, 30, 70, 0)


def test_the_task_runs_the_set_path(session: Any) -> None:
    from siyu import clock
    from siyu.loyalty.service import earn
    from siyu.loyalty.tasks import expire

    with clock.frozen(T0):
        m, _ = _twins(session, pending_days=0, lot_months=1)
        earn(session, m, ("order", "T1"), 100)
        session.commit()
        clock.advance(timedelta(days=40))
        expire(session, {})
        session.expire_all()
        assert _balance(session, m) == (0, 0, 100, 0, 100, 0)
