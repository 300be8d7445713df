"""Reactions between capabilities: published inside the change's transaction, delivered by the
worker after commit to the subscribers manifests declare, at least once."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa

from siyu import clock
from siyu.capability import Capability
from siyu.jobs import service as jobs
from siyu.jobs.models import Job
from siyu.reactions import JOB_KIND, Topic, publish, publish_parts

told: list[dict[str, Any]] = []


def _record(session: Any, data: dict[str, Any]) -> None:
    told.append(data)


PROBE = Capability(
    name="probe",
    package=__name__,
    subscribers=((Topic.order_changed, ":".join((__name__, "_record"))),),
)


@pytest.fixture()
def probe(monkeypatch: pytest.MonkeyPatch) -> None:
    from siyu import capabilities

    told.clear()
    # the probe alone hears orders here (loyalty, which follows them, is told nothing)
    quiet = tuple(replace(c, subscribers=()) for c in capabilities.CAPABILITIES)
    monkeypatch.setattr(capabilities, "CAPABILITIES", (*quiet, PROBE))


def _reactions(session: Any) -> list[Job]:
    session.expire_all()
    return list(session.scalars(sa.select(Job).where(Job.kind == JOB_KIND).order_by(Job.id)))


def test_nothing_is_told_of_a_change_that_was_rolled_back(session: Any, probe: None) -> None:
    assert publish(session, Topic.order_changed, {"orders": [1], "customers": [2]}) == 1
    session.rollback()
    assert _reactions(session) == []
    jobs.run_once("w1")
    assert told == []


def test_a_committed_change_is_delivered_after_commit(session: Any, probe: None) -> None:
    publish(session, Topic.order_changed, {"orders": [7], "customers": [3]})
    assert told == []  # nothing is called inside the publisher's transaction
    session.commit()
    jobs.run_once("w1")
    assert told == [{"orders": [7], "customers": [3]}]
    (job,) = _reactions(session)
    assert job.status == "done"
    assert job.payload["capability"] == "probe" and job.payload["topic"] == "order.changed"


def test_topics_nobody_subscribes_to_cost_nothing(session: Any, probe: None) -> None:
    assert publish(session, Topic.segment_entered, {"segment": 1, "customers": [1]}) == 0
    session.commit()
    assert _reactions(session) == []


def test_many_customers_travel_in_parts(session: Any, probe: None) -> None:
    ids = list(range(1, 2501))
    assert publish_parts(session, Topic.order_changed, "customers", ids, orders=[]) == 3
    session.commit()
    parts = [job.payload["data"]["customers"] for job in _reactions(session)]
    assert [len(p) for p in parts] == [1000, 1000, 500]
    assert [c for p in parts for c in p] == ids


def test_a_delivery_is_taken_up_again_after_a_worker_died(session: Any, probe: None) -> None:
    """At least once: a delivery whose worker died mid-run runs again, so subscribers must be
    idempotent (the subscriber here just records each call)."""
    publish(session, Topic.order_changed, {"orders": [9], "customers": [4]})
    session.commit()
    jobs.run_once("w1")
    (job,) = _reactions(session)
    job.status, job.lease_until = "running", clock.now() - jobs.LEASE  # as a dead worker left it
    session.commit()
    jobs.run_once("w1")  # on SQLite one dispatcher: the same name, restarted
    assert told == [{"orders": [9], "customers": [4]}] * 2


def test_a_subscriber_taken_out_of_its_manifest_is_not_called(
    session: Any, probe: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from siyu import capabilities

    publish(session, Topic.order_changed, {"orders": [1], "customers": [1]})
    session.commit()
    gone = Capability(name="probe", package=__name__)
    monkeypatch.setattr(capabilities, "CAPABILITIES", (*capabilities.CAPABILITIES[:-1], gone))
    jobs.run_once("w1")
    assert told == []
    (job,) = _reactions(session)
    assert "no longer subscribes" in (job.last_error or "")


def test_tagging_tells_wecom_through_a_reaction(session: Any) -> None:
    """The first real subscriber: Siyu's tagging reaches WeCom's tag sync as a reaction, and the
    tags capability does not know who listens."""
    from siyu.customers.models import Customer
    from siyu.tags.service import add_group, add_tag, assign

    group = add_group(session, "等级", single=False, actor="t")
    tag = add_tag(session, f"{group.name}/VIP", actor="t")
    customer = Customer()
    session.add(customer)
    session.flush()
    assign(session, tag, [customer.id], actor="op")
    session.commit()
    (job,) = _reactions(session)
    assert job.payload["topic"] == "tag.changed" and job.payload["capability"] == "wecom"
    assert job.payload["data"] == {
        "tag": tag.id,
        "customers": [customer.id],
        "added": True,
        "actor": "op",
        "source": "manual",
    }
    jobs.run_once("w1")
    assert _reactions(session)[0].status == "done"  # no corp paired: nothing to push


EVERYTHING = Capability(
    name="probe",
    package=__name__,
    subscribers=tuple((topic, ":".join((__name__, "_record"))) for topic in Topic),
)


@pytest.fixture()
def hears_all(monkeypatch: pytest.MonkeyPatch) -> None:
    from siyu import capabilities

    told.clear()
    monkeypatch.setattr(capabilities, "CAPABILITIES", (*capabilities.CAPABILITIES, EVERYTHING))


def _told(session: Any, topic: Topic) -> list[dict[str, Any]]:
    return [
        j.payload["data"]
        for j in _reactions(session)
        if j.payload["topic"] == topic and j.payload["capability"] == "probe"
    ]


def test_an_import_tells_of_the_orders_it_wrote_and_changed(
    engine: Any, settings: Any, session: Any, hears_all: None, tmp_path: Any
) -> None:
    from siyu.ingest.orders import import_orders
    from siyu.orders.models import Order
    from tests import platform_files as pf

    rows = [pf.taobao_row(str(7000 + i), f"n{i}", "", "10.00") for i in range(3)]
    import_orders(engine, settings, pf.taobao(tmp_path / "a.csv", rows), "taobao", actor="t")
    ids = sorted(session.scalars(sa.select(Order.id)))
    assert [sorted(d["orders"]) for d in _told(session, Topic.order_changed)] == [ids]
    again = [pf.taobao_row("7000", "n0", "", "10.00", status="交易关闭", refund="10.00")]
    import_orders(engine, settings, pf.taobao(tmp_path / "b.csv", again), "taobao", actor="t")
    import_orders(engine, settings, pf.taobao(tmp_path / "b.csv", again), "taobao", actor="t")
    changed = session.scalar(sa.select(Order.id).where(Order.platform_order_id == "7000"))
    # the change is told once; the unchanged re-import tells nothing
    assert _told(session, Topic.order_changed)[1:] == [{"orders": [changed]}]


def test_an_erasure_tells_who_was_erased(session: Any, settings: Any, hears_all: None) -> None:
    from siyu.customers.models import Customer
    from siyu.privacy.service import erase_customer

    customer = Customer(name="张三")
    session.add(customer)
    session.flush()
    erase_customer(session, settings, customer, actor="t")
    session.commit()
    assert _told(session, Topic.customer_erased) == [{"customers": [customer.id]}]


def test_a_refresh_tells_who_entered_a_segment(
    engine: Any, settings: Any, session: Any, hears_all: None
) -> None:
    from siyu.analytics.service import refresh_copy
    from siyu.segments.membership import refresh_segments
    from siyu.segments.service import create_segment
    from tests import shop

    brand = shop.brand(session, "b1")
    first = shop.customer(session, "上海")
    shop.order(session, brand, first, date(2026, 6, 1), 50)
    seg = create_segment(session, "买过", rule="orders.count >= 1", actor="t")
    session.commit()
    refresh_copy(settings)
    refresh_segments(engine, settings)
    assert _told(session, Topic.segment_entered) == []  # a first refresh is a baseline
    second = shop.customer(session, "北京")
    shop.order(session, brand, second, date(2026, 6, 2), 80)
    session.commit()
    refresh_copy(settings)
    refresh_segments(engine, settings)
    assert _told(session, Topic.segment_entered) == [{"segment": seg.id, "customers": [second]}]
