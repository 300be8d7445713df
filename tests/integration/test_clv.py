"""CLV: parameters are recovered through the whole pipeline, and degenerate data is refused."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
import sqlalchemy as sa

from siyu.brands.models import Brand
from siyu.customers.models import Customer
from siyu.db import table_of, utcnow
from siyu.orders.models import Order
from siyu.traits import clv_model
from siyu.traits.clv import clv_report, summary_arrays
from siyu.traits.queries import latest_clv_model, recent_runs
from siyu.traits.service import TraitsError
from siyu.traits.units import stored_params
from tests import shop

CAL_END = date(2026, 6, 30)
TRUE_BG = {"r": 2.0, "alpha": 60.0, "a": 0.5, "b": 3.0}
TRUE_GG = {"p": 6.0, "q": 4.0, "v": 1500.0}  # fen: mean spend p·v/(q-1) = 3,000 fen


def simulate(engine, n: int, seed: int) -> None:  # type: ignore[no-untyped-def]
    """Customers who buy as BG/NBD says (first purchase on a random day, then Poisson purchases
    until they drop out) and spend as Gamma-Gamma says; written as orders, 20:00 local time."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(TRUE_BG["r"], 1 / TRUE_BG["alpha"], n)
    drop = rng.beta(TRUE_BG["a"], TRUE_BG["b"], n)
    nu = rng.gamma(TRUE_GG["q"], 1 / TRUE_GG["v"], n)
    age = rng.integers(200, 700, n)  # days from the first purchase to the calibration end
    now = utcnow()
    orders = []
    for i in range(n):
        first = CAL_END - timedelta(days=int(age[i]))
        days, t = [first], 0.0
        while True:
            t += rng.exponential(1 / lam[i])
            if t > age[i]:
                break
            days.append(first + timedelta(days=int(t)))
            if rng.random() < drop[i]:
                break
        for d in days:
            fen = max(1, round(rng.gamma(TRUE_GG["p"], 1 / nu[i])))
            paid = datetime(d.year, d.month, d.day, 12, tzinfo=UTC)  # 20:00 in Shanghai
            orders.append((i + 1, paid, fen))
    with engine.begin() as conn:
        conn.execute(table_of(Brand).insert().values(id=1, code="sim", name="SIM", created_at=now))
        conn.execute(
            table_of(Customer).insert(),
            [
                {
                    "id": i + 1,
                    "status": "active",
                    "suppressed": False,
                    "do_not_disturb": False,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(n)
            ],
        )
        if conn.dialect.name == "postgresql":  # ids were given: move the sequences past them
            for name in ("brand", "customer"):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))"
                )
        conn.execute(
            table_of(Order).insert(),
            [
                {
                    "brand_id": 1,
                    "platform": "csv",
                    "shop": "",
                    "platform_order_id": f"S{k}",
                    "customer_id": cid,
                    "status": "completed",
                    "total_fen": fen,
                    "paid_fen": fen,
                    "refund_fen": 0,
                    "ordered_at": paid,
                    "paid_at": paid,
                    "digest": "x",
                    "created_at": now,
                    "updated_at": now,
                }
                for k, (cid, paid, fen) in enumerate(orders)
            ],
        )


@pytest.mark.slow
def test_parameters_are_recovered_through_the_pipeline(engine, settings):
    if engine.dialect.name != "sqlite":
        # The fit reads the analytical copy either way (PostgreSQL → copy is covered by the
        # copy and traits tests); here the 20k-customer set-up and the per-test clean-up cost
        # minutes on PostgreSQL (row-by-row foreign-key checks), so it runs on SQLite only.
        pytest.skip("runs on the SQLite pass of the suite")
    simulate(engine, 20_000, seed=3)
    report = clv_report(
        settings, calibration_end=CAL_END, reference_date=CAL_END + timedelta(days=1)
    )
    for name, true in TRUE_BG.items():
        assert report.bgnbd[name] == pytest.approx(true, rel=0.10), (name, report.bgnbd)
    assert report.gamma_gamma is not None
    reported = {**TRUE_GG, "v": TRUE_GG["v"] / 100}  # v is reported in yuan
    for name, true in reported.items():
        assert report.gamma_gamma[name] == pytest.approx(true, rel=0.10), (name, report.gamma_gamma)
    assert report.units == {"alpha": "day", "v": "yuan"}
    assert report.customers == 20_000
    assert np.isfinite(report.log_likelihood)


def test_holdout_table_and_week_unit(engine, settings, session):
    simulate(engine, 2_000, seed=5)
    cal = CAL_END - timedelta(days=90)
    report = clv_report(settings, calibration_end=cal, unit="week", reference_date=CAL_END)
    assert [row["frequency"] for row in report.holdout] == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert sum(row["customers"] for row in report.holdout) == report.customers
    seen = [r for r in report.holdout if r["customers"]]
    assert all(r["predicted"] >= 0 and r["actual"] >= 0 for r in seen)
    # people who came back more often during calibration are expected to come back more
    assert seen[-1]["predicted"] > seen[0]["predicted"]
    days = summary_arrays(settings, CAL_END, cal, "day")
    weeks = summary_arrays(settings, CAL_END, cal, "week")
    by_day = days["T"][np.argsort(days["customer_id"])]
    by_week = weeks["T"][np.argsort(weeks["customer_id"])]
    assert np.allclose(by_day / 7, by_week)


def test_same_day_purchases_are_one_transaction(engine, settings, session):
    b = shop.brand(session, "b1")
    c = shop.customer(session)
    for _ in range(3):
        shop.order(session, b, c, date(2026, 3, 1), 100)
    shop.order(session, b, c, date(2026, 3, 11), 40)
    shop.order(session, b, c, date(2026, 3, 11), 60)
    session.commit()
    from siyu.analytics.service import refresh_copy

    refresh_copy(settings)
    s = summary_arrays(settings, date(2026, 6, 30), date(2026, 4, 1), "day")
    assert (s["frequency"][0], s["recency"][0], s["T"][0]) == (1.0, 10.0, 31.0)
    assert s["monetary"][0] == 100 * 100  # the repeat day's spend: 40 + 60 yuan


def test_degenerate_data_is_refused_with_a_reason(engine, settings, session):
    with pytest.raises(TraitsError, match="no buyers"):
        clv_report(settings, calibration_end=CAL_END, reference_date=CAL_END + timedelta(days=30))
    b = shop.brand(session, "b1")
    for k in range(30):  # everyone bought once
        shop.order(session, b, shop.customer(session), CAL_END - timedelta(days=k + 1), 100)
    session.commit()
    with pytest.raises(TraitsError, match="more than one day"):
        clv_report(settings, calibration_end=CAL_END, reference_date=CAL_END + timedelta(days=30))
    with pytest.raises(TraitsError, match="before the reference date"):
        clv_report(settings, calibration_end=CAL_END, reference_date=CAL_END)
    with pytest.raises(TraitsError, match="unit"):
        clv_report(settings, calibration_end=CAL_END, unit="month")
    assert clv_model.MIN_REPEAT_BUYERS > 1
    assert session.scalar(sa.select(sa.func.count()).select_from(Order)) == 30


def test_recompute_stores_clv_for_every_buyer(engine, settings, session, monkeypatch):
    from siyu.traits.models import CustomerTrait, TraitSnapshot
    from siyu.traits.service import recompute

    simulate(engine, 2_000, seed=7)
    monkeypatch.setattr(settings, "clv_margin", 0.4)
    result = recompute(engine, settings, reference_date=CAL_END + timedelta(days=1))
    assert set(result.clv["bgnbd"]) == {"r", "alpha", "a", "b"}
    # stored with v in yuan (the simulation's 1,500 fen) and the units named
    assert result.clv["units"] == {"alpha": "day", "v": "yuan"}
    assert result.clv["gamma_gamma"]["v"] == pytest.approx(15.0, rel=0.25)
    assert latest_clv_model(session) == result.clv
    rows = session.scalars(sa.select(CustomerTrait).where(CustomerTrait.scope == 0)).all()
    assert len(rows) == 2_000
    for t in rows:
        assert t.p_alive is not None and 0 <= t.p_alive <= 1
        assert 0 <= t.purchases_30d <= t.purchases_90d <= t.purchases_365d  # type: ignore[operator]
        assert t.clv_fen is not None and t.clv_fen >= 0 and t.expected_spend_fen > 0  # type: ignore[operator]
    brand_rows = session.scalars(sa.select(CustomerTrait).where(CustomerTrait.scope == 1)).all()
    assert all(t.clv_fen is None and t.p_alive is None for t in brand_rows)
    snap = session.scalars(sa.select(TraitSnapshot).where(TraitSnapshot.scope == 0)).one()
    q = snap.clv_quantiles
    assert (
        list(q) == ["p10", "p25", "p50", "p75", "p90", "p99"] and q["p10"] <= q["p50"] <= q["p99"]
    )


def test_recompute_falls_back_to_a_stated_rule_when_clv_cannot_be_fitted(
    engine, settings, session, monkeypatch
):
    from siyu.traits.models import CustomerTrait
    from siyu.traits.service import recompute

    monkeypatch.setattr(settings, "clv_margin", 0.5)
    b = shop.brand(session, "b1")
    for k in range(20):  # everyone bought once
        shop.order(session, b, shop.customer(session), CAL_END - timedelta(days=k + 1), 100 + k)
    session.commit()
    result = recompute(engine, settings, reference_date=CAL_END)
    assert any("CLV not fitted" in m and "× margin" in m for m in result.messages)
    rows = session.scalars(sa.select(CustomerTrait).where(CustomerTrait.scope == 0)).all()
    assert {t.clv_fen for t in rows} == {round(t.monetary_fen * 0.5) for t in rows}  # type: ignore[operator]
    assert all(t.p_alive is None for t in rows)


def _cdnow_sample() -> list[tuple[int, date, int]]:
    """The CDNOW sample Fader, Hardie and Lee fit (2,357 customers' CD purchases from
    1997-01-01 to 1998-06-30, shipped with lifetimes): (customer, day, spend in cents)."""
    import importlib.resources

    text = (importlib.resources.files("lifetimes.datasets") / "CDNOW_sample.txt").read_text()
    rows = []
    for line in text.splitlines():
        _master, cid, day, _cds, dollars = line.split()
        rows.append(
            (int(cid), datetime.strptime(day, "%Y%m%d").date(), round(float(dollars) * 100))
        )
    return rows


def load_cdnow(engine) -> None:  # type: ignore[no-untyped-def]
    """The sample as orders, its dollars taken as yuan (cents as fen), paid at 20:00 local."""
    rows = _cdnow_sample()
    now = utcnow()
    people = sorted({cid for cid, _d, _f in rows})
    with engine.begin() as conn:
        conn.execute(table_of(Brand).insert().values(id=1, code="cd", name="CDNOW", created_at=now))
        conn.execute(
            table_of(Customer).insert(),
            [
                {
                    "id": cid,
                    "status": "active",
                    "suppressed": False,
                    "do_not_disturb": False,
                    "created_at": now,
                    "updated_at": now,
                }
                for cid in people
            ],
        )
        if conn.dialect.name == "postgresql":
            for name in ("brand", "customer"):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))"
                )
        conn.execute(
            table_of(Order).insert(),
            [
                {
                    "brand_id": 1,
                    "platform": "csv",
                    "shop": "",
                    "platform_order_id": f"CD{k}",
                    "customer_id": cid,
                    "status": "completed",
                    "total_fen": fen,
                    "paid_fen": fen,
                    "refund_fen": 0,
                    "ordered_at": datetime(d.year, d.month, d.day, 12, tzinfo=UTC),
                    "paid_at": datetime(d.year, d.month, d.day, 12, tzinfo=UTC),
                    "digest": "x",
                    "created_at": now,
                    "updated_at": now,
                }
                for k, (cid, d, fen) in enumerate(rows)
            ],
        )


def test_cdnow_reproduces_the_papers_parameters_in_its_own_units(engine, settings):
    """Fader, Hardie & Lee (2005) fit the CDNOW sample on its first 39 weeks: BG/NBD r 0.243,
    α 4.414 weeks, a 0.793, b 2.426; Gamma-Gamma p 6.25, q 3.74, v 15.44 dollars. Imported
    with dollars as yuan, Siyu must report the same numbers in the same units — v in yuan, not
    the 1,544 fen the model fits on."""
    load_cdnow(engine)
    report = clv_report(
        settings,
        calibration_end=date(1997, 9, 30),
        unit="week",
        reference_date=date(1998, 6, 30),
    )
    assert report.customers == 2_357
    paper_bg = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    for name, value in paper_bg.items():
        assert report.bgnbd[name] == pytest.approx(value, rel=0.01), (name, report.bgnbd)
    assert report.gamma_gamma is not None
    paper_gg = {"p": 6.25, "q": 3.74, "v": 15.44}
    for name, value in paper_gg.items():
        assert report.gamma_gamma[name] == pytest.approx(value, rel=0.01), (
            name,
            report.gamma_gamma,
        )
    assert report.units == {"alpha": "week", "v": "yuan"}


def test_runs_stored_before_units_were_named_read_in_yuan(engine, session):
    """A run recorded with v in fen and no units reads as every newer one: v in yuan."""
    from siyu.traits.models import TraitRun

    legacy = {
        "bgnbd": {"r": 0.24, "alpha": 4.41, "a": 0.79, "b": 2.43},
        "gamma_gamma": {"p": 6.25, "q": 3.74, "v": 1544.0},
        "unit": "week",
    }
    assert stored_params(legacy) == {
        "bgnbd": legacy["bgnbd"],
        "gamma_gamma": {"p": 6.25, "q": 3.74, "v": 15.44},
        "unit": "week",
        "units": {"alpha": "week", "v": "yuan"},
    }
    current = stored_params(legacy)
    assert stored_params(current) == current  # already in yuan: left alone
    assert stored_params({"fallback": "rule"}) == {"fallback": "rule"}
    session.add(
        TraitRun(
            status="done",
            engine="duckdb",
            reference_date=date(2026, 1, 1),
            window_days=365,
            customers=1,
            stage_changes=0,
            actor="t",
            started_at=utcnow(),
            finished_at=utcnow(),
            details={"clv": legacy},
        )
    )
    session.commit()
    assert latest_clv_model(session) == current
    assert recent_runs(session, 1)[0]["details"]["clv"] == current
