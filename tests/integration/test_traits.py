"""RFM, lifecycle and the recompute around them (issue: know every customer)."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest
import sqlalchemy as sa

from siyu.events.models import Event
from siyu.traits import service as traits_service
from siyu.traits.models import CustomerTrait, TraitRun, TraitSnapshot
from siyu.traits.service import TraitsError, recompute
from tests import shop

REF = date(2026, 6, 30)


def traits_by_customer(session, scope: int = 0) -> dict[int, CustomerTrait]:  # type: ignore[no-untyped-def]
    session.expire_all()
    rows = session.scalars(sa.select(CustomerTrait).where(CustomerTrait.scope == scope))
    return {t.customer_id: t for t in rows}


def test_rfm_scores_from_percent_ranks_with_ties_and_recent_buyers_high(engine, settings, session):
    b = shop.brand(session, "b1")
    cs = [shop.customer(session) for _ in range(6)]
    # recency 50, 40, 30, 20, 10, 10 days; frequency 1..5 and a tie; spend grows
    for i, c in enumerate(cs):
        last = REF - timedelta(days=max(10, 50 - 10 * i))
        for k in range(min(i + 1, 5)):
            shop.order(session, b, c, last - timedelta(days=k), 100 * (i + 1))
    session.commit()
    result = recompute(engine, settings, reference_date=REF)
    assert result.customers == 6
    t = traits_by_customer(session)
    assert [t[c].recency_days for c in cs] == [50, 40, 30, 20, 10, 10]
    assert [t[c].frequency for c in cs] == [1, 2, 3, 4, 5, 5]
    # percent rank = rank/(n-1): 0, .2, .4, .6, .8(tie→.8) → scores 1,2,3,4,5,5
    assert [t[c].r_score for c in cs] == [1, 2, 3, 4, 5, 5]
    assert [t[c].f_score for c in cs] == [1, 2, 3, 4, 5, 5]
    assert [t[c].m_score for c in cs] == [1, 2, 3, 4, 5, 5]
    assert t[cs[0]].monetary_fen == 100 * 100
    assert t[cs[5]].monetary_fen == 5 * 600 * 100


def test_eight_classes_split_on_the_population_mean(engine, settings, session):
    b = shop.brand(session, "b1")
    value, keep, retain, develop = (shop.customer(session) for _ in range(4))
    for k in range(4):  # recent, frequent, big
        shop.order(session, b, value, REF - timedelta(days=1 + k), 1000)
    for k in range(4):  # frequent and big but long ago
        shop.order(session, b, keep, REF - timedelta(days=200 + k), 1000)
    shop.order(session, b, retain, REF - timedelta(days=250), 3000)  # once, big, long ago
    shop.order(session, b, develop, REF - timedelta(days=2), 20)  # once, small, recent
    session.commit()
    recompute(engine, settings, reference_date=REF)
    t = traits_by_customer(session)
    assert t[value].rfm_class == "important_value"
    assert t[keep].rfm_class == "important_keep"
    assert t[retain].rfm_class == "important_retain"
    assert t[develop].rfm_class == "general_develop"


def test_refunds_cancellations_unpaid_and_future_orders_do_not_count(engine, settings, session):
    b = shop.brand(session, "b1")
    c = shop.customer(session)
    shop.order(session, b, c, REF - timedelta(days=5), 100)
    shop.order(session, b, c, REF - timedelta(days=4), 500, status="refunded")
    shop.order(session, b, c, REF - timedelta(days=3), 500, status="cancelled")
    shop.order(session, b, c, REF - timedelta(days=2), 500, status="pending")
    shop.order(
        session, b, c, REF - timedelta(days=6), 300, status="partially_refunded", refund_yuan=100
    )
    shop.order(session, b, c, REF + timedelta(days=3), 900)
    only_refunds = shop.customer(session)
    shop.order(session, b, only_refunds, REF - timedelta(days=1), 80, status="refunded")
    session.commit()
    result = recompute(engine, settings, reference_date=REF)
    t = traits_by_customer(session)
    assert t[c].frequency == 2
    assert t[c].monetary_fen == (100 + 300 - 100) * 100
    assert t[c].recency_days == 5
    assert only_refunds not in t
    assert any("dated after 2026-06-30" in m for m in result.messages)


def test_local_day_decides_recency(engine, settings, session):
    """00:30 in Shanghai is the previous day in UTC; the brand's calendar day counts."""
    b = shop.brand(session, "b1")
    c = shop.customer(session)
    shop.order(session, b, c, REF, 100, at=time(0, 30))
    session.commit()
    recompute(engine, settings, reference_date=REF)
    assert traits_by_customer(session)[c].recency_days == 0


def test_scopes_per_brand_and_across_brands(engine, settings, session):
    b1, b2 = shop.brand(session, "b1"), shop.brand(session, "b2")
    both, only2 = shop.customer(session), shop.customer(session)
    shop.order(session, b1, both, REF - timedelta(days=30), 100)
    shop.order(session, b2, both, REF - timedelta(days=3), 200)
    shop.order(session, b2, only2, REF - timedelta(days=10), 50)
    session.commit()
    recompute(engine, settings, reference_date=REF)
    overall, in_b1, in_b2 = (traits_by_customer(session, s) for s in (0, b1, b2))
    assert (overall[both].frequency, overall[both].recency_days) == (2, 3)
    assert (in_b1[both].frequency, in_b1[both].recency_days) == (1, 30)
    assert in_b2[both].monetary_fen == 20000
    assert only2 not in in_b1 and only2 in in_b2


def test_lifecycle_stages_and_events_on_change(engine, settings, session, monkeypatch):
    monkeypatch.setattr(settings, "traits_min_gaps", 1)
    monkeypatch.setattr(settings, "traits_fallback_at_risk_days", 30)
    b = shop.brand(session, "b1")
    steady = [shop.customer(session) for _ in range(8)]
    for c in steady:  # buys every 10 days: gaps of 10 make the thresholds small
        for k in range(6):
            shop.order(session, b, c, REF - timedelta(days=10 * k), 100)
    for _ in range(4):  # a few slower buyers: gaps of 40 days set the lapsed threshold
        c = shop.customer(session)
        shop.order(session, b, c, REF - timedelta(days=5), 100)
        shop.order(session, b, c, REF - timedelta(days=45), 100)
    new, slipping, gone, back = (shop.customer(session) for _ in range(4))
    shop.order(session, b, new, REF - timedelta(days=2), 100)
    shop.order(session, b, slipping, REF - timedelta(days=12), 100)
    shop.order(session, b, slipping, REF - timedelta(days=22), 100)
    shop.order(session, b, gone, REF - timedelta(days=300), 100)
    shop.order(session, b, back, REF - timedelta(days=1), 100)
    shop.order(session, b, back, REF - timedelta(days=200), 100)
    session.commit()
    first = recompute(engine, settings, reference_date=REF)
    assert first.thresholds[0]["derived"] is True
    # 46 gaps: 41 of 10 days, 4 of 40, 1 of 199 → 80 % are ≤ 10 days, 95 % are ≤ 40
    assert (first.thresholds[0]["at_risk_days"], first.thresholds[0]["lapsed_days"]) == (10, 40)
    t = traits_by_customer(session)
    assert t[steady[0]].lifecycle_stage == "active"
    assert t[new].lifecycle_stage == "new"
    assert t[slipping].lifecycle_stage == "at_risk"
    assert t[gone].lifecycle_stage == "lapsed"
    assert t[back].lifecycle_stage == "won_back"
    assert first.stage_changes == 0  # the first run sets the baseline
    before = {c: tr.lifecycle_stage for c, tr in t.items()}
    arrival = shop.customer(session)  # first buys between the two recomputes
    shop.order(session, b, arrival, REF + timedelta(days=10), 100)
    session.commit()

    later = REF + timedelta(days=15)
    second = recompute(engine, settings, reference_date=later)
    t = traits_by_customer(session)
    assert t[new].lifecycle_stage == "at_risk"
    assert t[gone].stage_since == REF  # unchanged stage keeps its start
    assert t[new].stage_since == later
    assert second.stage_changes > 0
    events = session.scalars(sa.select(Event).where(Event.name == "lifecycle_changed")).all()
    moved = {(e.customer_id, e.properties["scope"]): e.properties for e in events}
    assert moved[(new, 0)] == {"scope": 0, "from": "new", "to": "at_risk"}
    assert len(events) == second.stage_changes
    snaps = session.scalars(sa.select(TraitSnapshot).where(TraitSnapshot.scope == 0)).all()
    assert [s.reference_date for s in snaps] == [REF, later]
    assert snaps[0].lifecycle["won_back"] == 1

    # the flow between the two: every customer once, under (stage before, stage now)
    flow: dict[str, int] = {}
    for c, tr in t.items():
        key = f"{before.get(c, '')}>{tr.lifecycle_stage}"
        flow[key] = flow.get(key, 0) + 1
    assert flow[f">{t[arrival].lifecycle_stage}"] == 1 and flow["new>at_risk"] >= 1
    assert snaps[0].lifecycle_flow is None and snaps[1].lifecycle_flow == flow
    from siyu.traits.queries import lifecycle_flow

    shown = lifecycle_flow(session, 0)
    assert shown is not None and (shown["since"], shown["until"]) == (str(REF), str(later))
    in_all = sum(1 for e in events if e.properties["scope"] == 0)
    assert shown["moved"] == in_all + 1  # the stage changes of all brands, and the arrival
    assert shown["flows"][0]["from"] != shown["flows"][0]["to"]  # moves before stays
    assert sum(m["customers"] for m in shown["flows"]) == len(t)


def test_thresholds_fall_back_when_few_customers_bought_twice(engine, settings, session):
    b = shop.brand(session, "b1")
    for _ in range(3):
        shop.order(session, b, shop.customer(session), REF - timedelta(days=100), 100)
    session.commit()
    result = recompute(engine, settings, reference_date=REF)
    lim = result.thresholds[0]
    assert (lim["derived"], lim["at_risk_days"], lim["lapsed_days"]) == (False, 90, 180)
    assert any("configured thresholds" in m for m in result.messages)
    assert {t.lifecycle_stage for t in traits_by_customer(session).values()} == {"at_risk"}


def test_no_orders_and_a_single_buyer_say_so(engine, settings, session):
    empty = recompute(engine, settings, reference_date=REF)
    assert empty.customers == 0
    assert any("no paid orders" in m for m in empty.messages)
    b = shop.brand(session, "b1")
    c = shop.customer(session)
    shop.order(session, b, c, REF - timedelta(days=3), 100)
    session.commit()
    one = recompute(engine, settings, reference_date=REF)
    t = traits_by_customer(session)[c]
    assert (t.r_score, t.f_score, t.m_score) == (3, 3, 3)
    assert any("only one buyer" in m for m in one.messages)


def test_failed_recompute_keeps_previous_results(engine, settings, session, monkeypatch):
    b = shop.brand(session, "b1")
    c = shop.customer(session)
    shop.order(session, b, c, REF - timedelta(days=3), 100)
    session.commit()
    good = recompute(engine, settings, reference_date=REF)

    def broken(*_a, **_k):  # type: ignore[no-untyped-def]
        raise RuntimeError("engine fell over")

    monkeypatch.setattr(traits_service, "compute_traits", broken)
    with pytest.raises(RuntimeError):
        recompute(engine, settings, reference_date=REF + timedelta(days=400))
    session.expire_all()
    t = traits_by_customer(session)[c]
    assert t.run_id == good.run_id and t.recency_days == 3
    runs = session.scalars(sa.select(TraitRun).order_by(TraitRun.id)).all()
    assert [r.status for r in runs] == ["done", "failed"]
    assert "engine fell over" in (runs[1].error or "")


def test_bad_requests_are_refused(engine, settings):
    with pytest.raises(TraitsError):
        recompute(engine, settings, compute_engine="excel")
    with pytest.raises(TraitsError):
        recompute(engine, settings, window_days=0)


def test_single_brand_shortcut_gives_what_the_full_computation_gives(engine, settings, session):
    from siyu.analytics.engines import ibis_tables
    from siyu.analytics.service import refresh_copy
    from siyu.traits.expressions import traits
    from siyu.traits.service import compute_traits, trait_params

    b = shop.brand(session, "only")
    for k in range(12):
        c = shop.customer(session)
        for j in range(k % 4 + 1):
            shop.order(session, b, c, REF - timedelta(days=7 * k + 30 * j), 50 + 10 * k)
    session.commit()
    refresh_copy(settings)
    params = trait_params(settings, REF, 365)
    fast, fast_limits, _ = compute_traits(settings, "duckdb", params)
    with ibis_tables(settings.resolved_analytics_path, "duckdb", ["order"]) as t:
        out, limits = traits(t["order"], params)
        full, full_limits = out.to_pyarrow(), limits.to_pyarrow().to_pylist()
    order = [("scope", "ascending"), ("customer_id", "ascending")]
    assert fast.sort_by(order).equals(full.sort_by(order))
    assert sorted(fast_limits, key=lambda r: r["scope"]) == sorted(
        full_limits, key=lambda r: r["scope"]
    )
    assert {r["scope"] for r in fast_limits} == {0, b}
