"""The growth overview against numbers worked out by hand on a small fixture (November 2026 in
Beijing time, against the 30 days before), through the real analytical copy on DuckDB.

c1 taobao, first seen 11-02: paid 100.00 on 11-02 and 50.00 on 11-05, an event on 11-03.
c2 pos, first seen 11-10: paid 200.00 with 50.00 refunded on 11-10, a cancelled order on
   11-25, an event on 11-20.
c3 taobao, first seen 10-15: paid 80.00 on 10-15 and 120.00 on 11-20.
c4 merged into c1 (first seen 11-12): never counted.
c5 wecom, first seen 11-28 23:30 local: an event at 00:10 on 11-29; paid 30.00 at 00:30 on
   12-01 local (still 11-30 in UTC: not November's).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

CST = timezone(timedelta(hours=8))


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=CST).astimezone(UTC)


@pytest.fixture()
def fixture(session: Any, settings: Any) -> None:
    from siyu.analytics.service import refresh_copy
    from siyu.brands.models import Brand
    from siyu.customers.models import Customer
    from siyu.events.models import Event
    from siyu.orders.models import Order

    brand = Brand(code="yy", name="悦颜")
    session.add(brand)
    session.flush()
    people = {}
    for key, source, seen, status in [
        ("c1", "taobao", "2026-11-02 10:00", "active"),
        ("c2", "pos", "2026-11-10 12:00", "active"),
        ("c3", "taobao", "2026-10-15 09:00", "active"),
        ("c4", "taobao", "2026-11-12 09:00", "merged"),
        ("c5", "wecom", "2026-11-28 23:30", "active"),
    ]:
        c = Customer(name=key, source=source, first_seen_at=_at(seen), status=status)
        session.add(c)
        session.flush()
        people[key] = c.id
    orders = [
        ("c1", "paid", 10000, 0, "2026-11-02 10:05"),
        ("c1", "completed", 5000, 0, "2026-11-05 20:00"),
        ("c2", "partially_refunded", 20000, 5000, "2026-11-10 12:30"),
        ("c2", "cancelled", 9900, 0, "2026-11-25 08:00"),
        ("c3", "completed", 8000, 0, "2026-10-15 09:10"),
        ("c3", "shipped", 12000, 0, "2026-11-20 15:00"),
        ("c5", "paid", 3000, 0, "2026-12-01 00:30"),
    ]
    for n, (key, status, paid, refund, when) in enumerate(orders):
        session.add(
            Order(
                brand_id=brand.id,
                platform="csv",
                platform_order_id=f"o{n}",
                customer_id=people[key],
                status=status,
                total_fen=paid,
                paid_fen=paid,
                refund_fen=refund,
                ordered_at=_at(when),
                paid_at=_at(when),
                digest=f"d{n}",
            )
        )
    for n, (key, when) in enumerate(
        [("c1", "2026-11-03 09:00"), ("c2", "2026-11-20 10:00"), ("c5", "2026-11-29 00:10")]
    ):
        session.add(
            Event(
                message_id=f"m{n}",
                customer_id=people[key],
                type="track",
                name="page_view",
                occurred_at=_at(when),
                source="test",
            )
        )
    session.commit()
    refresh_copy(settings, full=True)


def test_overview_matches_the_hand_computed_figures(fixture: None, settings: Any) -> None:
    from siyu.metrics.service import overview

    got = overview(settings, date(2026, 11, 1), date(2026, 11, 30))
    value = {k: v["value"] for k, v in got["kpis"].items()}
    assert value == {
        "new_customers": 3,  # c1, c2, c5 (c4 is merged)
        "active_customers": 4,  # c1, c2, c3 bought; c5 acted
        "buyers": 3,
        "orders": 4,
        "revenue": 42000,  # 100 + 50 + (200 − 50) + 120 yuan
        "aov": 10500,
        "frequency": 1.3333,
        "repurchase_rate": 0.3333,  # only c1 bought on two days in November
        "days_to_second": 19.5,  # c1 after 3 days, c3 after 36
    }
    before = {k: v["previous"] for k, v in got["kpis"].items()}
    assert (before["buyers"], before["revenue"], before["aov"], before["new_customers"]) == (
        1,
        8000,
        8000,
        1,
    )
    assert got["previous"] == {"start": "2026-10-02", "end": "2026-10-31"}
    change = got["decomposition"]["change"]
    assert change == {"revenue": 4.25, "buyers": 2.0, "aov": 0.3125, "frequency": 0.3333}
    assert got["new_by_source"] == [
        {"source": "pos", "customers": 1},
        {"source": "taobao", "customers": 1},
        {"source": "wecom", "customers": 1},
    ]
    cohorts = {(c["cohort"], c["source"]): c for c in got["retention"]}
    assert cohorts[("2026-11", None)] == {
        "cohort": "2026-11",
        "source": None,
        "customers": 3,
        "d1": 0.6667,  # c1 (event next day) and c5 (event after midnight, local)
        "d7": 0.6667,
        "d30": 1.0,  # c2 came back after 10 days
    }
    assert (cohorts[("2026-11", "pos")]["d7"], cohorts[("2026-11", "pos")]["d30"]) == (0.0, 1.0)
    assert set(got["pending"]) == {"k_factor", "nps"}
    assert got["fresh_as_of"] is not None


def test_an_empty_period_and_bad_periods(fixture: None, settings: Any) -> None:
    from siyu.metrics.service import MetricsError, overview

    empty = overview(settings, date(2020, 1, 1), date(2020, 1, 31))
    assert empty["kpis"]["buyers"] == {"value": 0, "previous": 0, "delta": None}
    assert empty["kpis"]["aov"]["value"] is None and empty["retention"] == []
    with pytest.raises(MetricsError, match="ends before"):
        overview(settings, date(2026, 11, 30), date(2026, 11, 1))
    with pytest.raises(MetricsError, match="at most"):
        overview(settings, date(2020, 1, 1), date(2026, 1, 1))
