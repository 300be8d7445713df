"""Points for events (issue 25's event earn rules): a tracked event a programme has a rule for
earns its points once, for members who had joined before it happened, spendable at once; an
event replayed, an event without a rule, a stranger's event and one from before joining earn
nothing. Over HTTP (the events API) and the worker's delivery of ``event.tracked``."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from siyu.jobs import service as jobs


def _deliver() -> None:
    while jobs.run_once("w1"):
        pass


def _event(message: str, name: str, phone: str, at: str) -> dict[str, Any]:
    return {
        "type": "track",
        "messageId": message,
        "event": name,
        "traits": {"phone": phone},
        "timestamp": at,
    }


def test_events_earn_under_the_programmes_rules(client: TestClient, api_key: str) -> None:
    from datetime import UTC, datetime

    from siyu import clock
    from siyu.customers.queries import customers_by_identity
    from siyu.db import session_scope
    from siyu.loyalty.models import PointsLot
    from siyu.loyalty.queries import member_points
    from siyu.loyalty.rules import set_event_rule
    from siyu.loyalty.service import create_programme, enrol

    clock.freeze(datetime(2026, 3, 1, 2, 0, tzinfo=UTC))
    h = {"Authorization": f"Bearer {api_key}"}
    early = _event("e-0", "签到", "13812340001", "2026-02-01T10:00:00+08:00")
    assert client.post("/api/v1/events", json=early, headers=h).status_code == 200
    _deliver()
    with session_scope() as s:
        programme = create_programme(s, "vip", "会员", pending_days=7)
        set_event_rule(s, programme, "签到", 5)
        set_event_rule(s, programme, "评价", 20)
        customer = customers_by_identity(s, "phone", "", ["13812340001"])["13812340001"]
        member = enrol(s, programme, customer).id
    clock.freeze(datetime(2026, 3, 2, 2, 0, tzinfo=UTC))
    batch = {
        "batch": [
            _event("e-1", "签到", "13812340001", "2026-03-02T09:00:00+08:00"),
            _event("e-2", "评价", "13812340001", "2026-03-02T09:05:00+08:00"),
            _event("e-3", "浏览商品", "13812340001", "2026-03-02T09:06:00+08:00"),
            _event("e-4", "签到", "13900000009", "2026-03-02T09:07:00+08:00"),  # not a member
        ]
    }
    assert client.post("/api/v1/events", json=batch, headers=h).status_code == 200
    _deliver()
    assert client.post("/api/v1/events", json=batch, headers=h).status_code == 200  # replayed
    _deliver()
    with session_scope() as s:
        lots = {(lot.source_id, lot.points) for lot in s.scalars(sa.select(PointsLot))}
        assert lots == {("e-1", 5), ("e-2", 20)}  # e-0 happened before joining
        got = member_points(s, member)
        assert got is not None and got.earned == 25
