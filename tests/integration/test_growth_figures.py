"""Referral's figures on the analytical copy, against a cohort worked out by hand (SQLite and
PostgreSQL feed the same copy): K-factor with i and c per monthly cohort (Beijing months), the
cycle time's median, referral revenue net of refunds after arrival, and the fraud rate."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from siyu import clock
from tests import growth_world as w


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _arrive(session: Any, ref: Any, at: str, number: str, *, before: bool = False) -> Any:
    """A new customer (or, ``before``, one known since February) arrives through WeCom."""
    from siyu.growth.attribution import attribute
    from siyu.growth.fraud import Arrival

    with clock.frozen(_utc("2026-02-01T00:00:00") if before else _utc(at)):
        invitee = w.customer(session, number, "新客")
    with clock.frozen(_utc(at)):
        found = attribute(session, ref, Arrival(invitee_id=invitee, channel="wecom", at=_utc(at)))
        session.commit()
    return found


def _visit(session: Any, ref: Any, at: str, device: str) -> None:
    from siyu.growth.service import record_visit

    with clock.frozen(_utc(at)):
        record_visit(session, ref, device, "10.0.0.1")
        session.commit()


def _pay(number: str, at: str, fen: int, refund: int = 0) -> None:
    with clock.frozen(_utc(at)):
        w.push_order(
            number,
            paid_fen=fen,
            refund_fen=refund,
            status="partially_refunded" if refund else "paid",
        )


def test_k_factor_cycle_time_revenue_and_fraud_rate_by_hand(session: Any, settings: Any) -> None:
    from siyu.analytics.engines import ibis_tables
    from siyu.analytics.service import refresh_copy
    from siyu.growth.figures import TABLES, local_range, referral_figures

    programme = w.programme(session)
    # March's cohort (Beijing): A, B, and C (31 March 20:00 Beijing); D joins at 01:00 on
    # 1 April Beijing (17:00 UTC the day before): April's, with E
    a = w.referrer(session, programme, "甲", at=_utc("2026-03-02T02:00:00"))
    b = w.referrer(session, programme, "乙", at=_utc("2026-03-15T02:00:00"))
    w.referrer(session, programme, "丙", at=_utc("2026-03-31T12:00:00"))
    d = w.referrer(session, programme, "丁", at=_utc("2026-03-31T17:00:00"))
    w.referrer(session, programme, "戊", at=_utc("2026-04-10T02:00:00"))
    # visits within 30 days of joining: A three (a fourth after its 30 days), B one, D two
    for at, device in (
        ("2026-03-03T02:00:00", "v1"),
        ("2026-03-05T02:00:00", "v2"),
        ("2026-03-20T02:00:00", "v3"),
        ("2026-04-05T02:00:00", "v4"),
    ):
        _visit(session, a, at, device)
    _visit(session, b, "2026-03-16T02:00:00", "v5")
    _visit(session, d, "2026-04-02T02:00:00", "v6")
    _visit(session, d, "2026-04-02T03:00:00", "v7")
    n1, n2, n3, n4, n5 = (w.phone() for _ in range(5))
    assert _arrive(session, a, "2026-03-04T02:00:00", n1).status == "attributed"  # 2 days
    assert _arrive(session, a, "2026-03-21T02:00:00", n2).status == "attributed"  # 19 days
    assert _arrive(session, a, "2026-04-03T02:00:00", n3).status == "attributed"  # 32: late
    assert _arrive(session, b, "2026-03-17T02:00:00", n4, before=True).status == "void"
    assert _arrive(session, d, "2026-04-02T17:00:00", n5).status == "attributed"  # 2 days
    _pay(n1, "2026-03-10T02:00:00", 10000, refund=2000)  # 8000 net
    _pay(n1, "2026-05-05T02:00:00", 50000)  # after the period
    _pay(n4, "2026-03-20T02:00:00", 20000)  # a void referral's invitee: not referral revenue
    _pay(n5, "2026-04-05T02:00:00", 3000)
    # n5's profile is folded into a profile made later (their orders move to it), which is
    # itself folded into another: the revenue follows the orders
    from siyu.customers.service import merge

    five = w.customer(session, n5, "新客")  # the profile holding n5
    later, last = w.customer(session, w.phone(), "合并"), w.customer(session, w.phone(), "合并")
    merge(session, later, five, "test", force=True)
    merge(session, last, later, "test", force=True)
    session.commit()
    refresh_copy(settings, full=True)
    lo, hi = local_range(date(2026, 3, 1), date(2026, 4, 30), settings.tz)
    with ibis_tables(settings.resolved_analytics_path, "duckdb", TABLES) as copy:
        got = referral_figures(copy, lo, hi)
    assert got["cohorts"] == [
        # 3 members; visits 3 + 1; A's two in time
        {
            "month": "2026-03",
            "members": 3,
            "visits": 4,
            "attributed": 2,
            "i": 1.3333,
            "c": 0.5,
            "k_factor": 0.6667,
        },
        # D and E; D's two visits and one invitee
        {
            "month": "2026-04",
            "members": 2,
            "visits": 2,
            "attributed": 1,
            "i": 1.0,
            "c": 0.5,
            "k_factor": 0.5,
        },
    ]
    assert got["cycle_days"] == 10.5  # median of 2, 2, 19, 32
    assert (got["referrals"], got["flagged"], got["fraud_rate"]) == (5, 1, 0.2)
    assert got["revenue_fen"] == 8000 + 3000
    # a period starting mid-March: March is not a cohort (a part of it is not one)
    mid, _end = local_range(date(2026, 3, 10), date(2026, 4, 30), settings.tz)
    with ibis_tables(settings.resolved_analytics_path, "duckdb", TABLES) as copy:
        late = referral_figures(copy, mid, hi)
    assert [c["month"] for c in late["cohorts"]] == ["2026-04"]
    assert late["cohorts"][0] == got["cohorts"][1]
    # another brand's figures: the programme serves every brand, but none of these orders is
    # that brand's
    with ibis_tables(settings.resolved_analytics_path, "duckdb", TABLES) as copy:
        other = referral_figures(copy, lo, hi, brand_id=10**6)
    assert other["cohorts"] == got["cohorts"] and other["revenue_fen"] == 0
    # the dashboard's overview carries the same figures (and none for one store's view)
    from siyu.metrics.service import overview

    shown = overview(settings, date(2026, 3, 1), date(2026, 4, 30))["referral"]
    assert shown["cohorts"] == got["cohorts"] and shown["cycle_days"] == 10.5
    assert "k_factor" not in overview(settings, date(2026, 3, 1), date(2026, 4, 30))["pending"]


def test_two_invitees_merged_into_one_person_count_their_orders_once(
    session: Any, settings: Any
) -> None:
    """Two referrers' invitees later found to be one person: the orders, now under one profile,
    are referral revenue once, not once per referral."""
    from siyu.analytics.engines import ibis_tables
    from siyu.analytics.service import refresh_copy
    from siyu.customers.service import merge
    from siyu.growth.figures import TABLES, local_range, referral_figures

    programme = w.programme(session)
    a = w.referrer(session, programme, "甲", at=_utc("2026-03-02T02:00:00"))
    b = w.referrer(session, programme, "乙", at=_utc("2026-03-03T02:00:00"))
    n1, n2 = w.phone(), w.phone()
    assert _arrive(session, a, "2026-03-04T02:00:00", n1).status == "attributed"
    assert _arrive(session, b, "2026-03-05T02:00:00", n2).status == "attributed"
    _pay(n1, "2026-03-10T02:00:00", 10000)
    _pay(n2, "2026-03-11T02:00:00", 5000)
    merge(
        session, w.customer(session, n1, "新客"), w.customer(session, n2, "新客"), "t", force=True
    )
    session.commit()
    refresh_copy(settings, full=True)
    lo, hi = local_range(date(2026, 3, 1), date(2026, 4, 30), settings.tz)
    with ibis_tables(settings.resolved_analytics_path, "duckdb", TABLES) as copy:
        got = referral_figures(copy, lo, hi)
    assert got["revenue_fen"] == 10000 + 5000
