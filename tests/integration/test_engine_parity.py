"""DuckDB and Spark give identical RFM and lifecycle for the same data (DESIGN §2)."""

from __future__ import annotations

import random
import shutil
from datetime import date, time, timedelta

import pytest
import sqlalchemy as sa

from siyu.traits.models import CustomerTrait
from siyu.traits.service import TRAIT_COLUMNS, recompute
from tests import shop

REF = date(2026, 6, 30)
# Everything a recompute stores except what names the run itself.
COLUMNS = [c for c in TRAIT_COLUMNS if c not in ("run_id", "stage_since", "computed_at")]

pytestmark = [
    pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs Java 17"),
    pytest.mark.once,  # two engines over one copy; storing traits is tested on both databases
]


def stored(session) -> list[tuple]:  # type: ignore[no-untyped-def]
    session.expire_all()
    rows = session.execute(
        sa.select(*[getattr(CustomerTrait, c) for c in COLUMNS]).order_by(
            CustomerTrait.scope, CustomerTrait.customer_id
        )
    )
    return [tuple(r) for r in rows]


def test_duckdb_and_spark_agree(engine, settings, session, monkeypatch):
    monkeypatch.setattr(settings, "traits_min_gaps", 20)
    rng = random.Random(11)
    brands = [shop.brand(session, "b1"), shop.brand(session, "b2")]
    statuses = ["completed"] * 8 + ["refunded", "cancelled", "partially_refunded", "pending"]
    for _ in range(160):
        c = shop.customer(session)
        day = REF - timedelta(days=rng.randint(0, 700))
        for _k in range(rng.choice([1, 1, 2, 3, 5, 8])):
            status = rng.choice(statuses)
            shop.order(
                session,
                rng.choice(brands),
                c,
                day,
                rng.choice([39, 99, 99, 199, 520, 1314]),
                status=status,
                refund_yuan=10 if status == "partially_refunded" else 0,
                at=time(rng.choice([0, 7, 12, 23]), 30),  # around midnight: local days matter
            )
            day += timedelta(days=rng.randint(1, 120))
    session.commit()
    on_duckdb = recompute(engine, settings, reference_date=REF, compute_engine="duckdb")
    duck_rows = stored(session)
    on_spark = recompute(
        engine, settings, reference_date=REF, compute_engine="spark", refresh=False
    )
    spark_rows = stored(session)
    assert on_duckdb.customers > 100
    assert duck_rows == spark_rows
    assert on_duckdb.thresholds == on_spark.thresholds
    assert on_duckdb.messages == on_spark.messages
    assert on_spark.stage_changes == 0
