"""Segments: bad rules refused with the path and reason, counts on the copy, membership with
enter/exit events, incremental refresh, static lists, erasure, export."""

from __future__ import annotations

import csv
from datetime import date

import pytest
import sqlalchemy as sa

from siyu.accounts.models import AuditLog
from siyu.accounts.service import cli_principal
from siyu.analytics.service import refresh_copy
from siyu.events.models import Event
from siyu.privacy.service import erase_person
from siyu.segments.membership import refresh_segments
from siyu.segments.models import Segment, SegmentMember, SegmentSize
from siyu.segments.queries import export_members
from siyu.segments.rules import RuleError
from siyu.segments.service import (
    SegmentError,
    count_rule,
    create_segment,
    create_static_segment,
    delete_segment,
    update_segment,
)
from siyu.tags.service import add_group, add_tag, assign
from tests import shop

DAY = date(2026, 6, 20)


def _shop(session):  # type: ignore[no-untyped-def]
    b = shop.brand(session, "b1")
    sh, hz, bj = (
        shop.customer(session),
        shop.customer(session, "杭州"),
        shop.customer(session, "北京"),
    )
    shop.phone(session, sh, "+8613800000101")
    shop.phone(session, hz, "+8613800000102")
    shop.order(session, b, sh, DAY, 300, category="防晒")
    shop.order(session, b, hz, DAY, 80, category="彩妆")
    add_group(session, "兴趣", single=False, actor="t")
    add_tag(session, "兴趣/防晒", actor="t")
    session.commit()
    return b, sh, hz, bj


@pytest.mark.parametrize(
    ("rule", "path", "reason"),
    [
        ("cty = 上海", "field", "unknown field 'cty'"),
        ('{"all": [{"field": "city", "op": ">", "value": "上海"}]}', "all[0].op", "does not apply"),
        ('{"all": [{"field": "rfm.r", "op": "=", "value": "高"}]}', "all[0].value", "a number"),
        (
            '{"any": [{"field": "orders.count", "op": ">=", "value": 1, '
            '"window": {"last_days": 0}}]}',
            "any[0].window.last_days",
            "whole days",
        ),
        (
            '{"all": [{"field": "tag", "op": "has_any", "value": ["兴趣/无"]}]}',
            "all[0].value",
            "no tag",
        ),
        ('{"all": [', "rule", "not valid JSON"),
        ("city in [上海", "text", "expected"),
        ("city = 上海 and", "text", "expected a condition"),
        ("segment = 99", "value", "no segment 99"),
    ],
)
def test_bad_rules_name_the_path_and_reason(session, rule, path, reason):
    _shop(session)
    with pytest.raises(RuleError) as info:
        create_segment(session, "s", rule=rule, actor="t")
    assert info.value.path == path, str(info.value)
    assert reason in info.value.reason


def test_limits_depth_lists_and_injection(settings, session):
    _shop(session)
    deep: dict = {"field": "city", "op": "=", "value": "上海"}
    for _ in range(50):
        deep = {"not": deep}
    with pytest.raises(RuleError, match="deeper than 20"):
        create_segment(session, "deep", rule=deep, actor="t")
    with pytest.raises(RuleError, match="deeper than 20"):
        create_segment(session, "deep", rule="not " * 50 + "city = 上海", actor="t")
    many = [f"城市{i}" for i in range(9_999)]
    seg = create_segment(
        session, "big", rule={"field": "city", "op": "in", "value": [*many, "上海"]}, actor="t"
    )
    with pytest.raises(RuleError, match="at most 10,000"):
        create_segment(
            session,
            "too big",
            rule={"field": "city", "op": "in", "value": [*many, "x", "y"]},
            actor="t",
        )
    sneaky = create_segment(
        session, "sneaky", rule='city = "上海\'; DROP TABLE customer; --"', actor="t"
    )
    session.commit()
    refresh_copy(settings)
    assert count_rule(settings, session, seg.rule).count == 1
    assert count_rule(settings, session, sneaky.rule).count == 0
    assert session.scalar(sa.select(sa.func.count()).select_from(Segment)) == 2  # still there


def test_count_states_freshness_and_brand_scope(settings, session):
    _shop(session)
    other = shop.brand(session, "b2")
    extra = shop.customer(session, "上海")
    shop.order(session, other, extra, DAY, 50)
    session.commit()
    refresh_copy(settings)
    everyone = count_rule(settings, session, "orders.count >= 1", today=DAY)
    assert everyone.count == 3 and everyone.data_as_of is not None
    assert count_rule(settings, session, "orders.count >= 1", brand="b1", today=DAY).count == 2
    with pytest.raises(SegmentError, match="no brand"):
        count_rule(settings, session, "orders.count >= 1", brand="nope")


def test_membership_enter_exit_events_and_incremental(engine, settings, session, monkeypatch):
    monkeypatch.setattr(settings, "analytics_overlap_seconds", 0)
    _b, sh, _hz, bj = _shop(session)
    fans = create_segment(
        session, "防晒粉", rule="tag:兴趣/防晒 or orders(category=防晒).count >= 1", actor="t"
    )
    session.commit()
    refresh_copy(settings)
    first = refresh_segments(engine, settings, today=DAY)
    assert first.outcomes[0].baseline and first.outcomes[0].size == 1
    assert _events(session) == []  # a baseline writes no events

    assign(session, add_tag_lookup(session), [bj], actor="t")  # bj gets the tag: enters
    session.commit()
    refresh_copy(settings)
    run = refresh_segments(engine, settings, incremental=True, today=DAY)
    assert run.changed_customers == 1, run
    out = run.outcomes[0]
    assert (out.entered, out.exited, out.size, out.checked) == (1, 0, 2, 1)
    assert _members(session, fans.id) == {sh, bj}
    assert _events(session) == [("segment_entered", bj, fans.id)]

    update_segment(session, fans.id, rule="tag:兴趣/防晒", actor="t")  # sh leaves
    session.commit()
    again = refresh_segments(engine, settings, today=DAY)
    assert (again.outcomes[0].entered, again.outcomes[0].exited) == (0, 1)
    assert ("segment_exited", sh, fans.id) in _events(session)
    sizes = session.scalars(
        sa.select(SegmentSize.size)
        .where(SegmentSize.segment_id == fans.id)
        .order_by(SegmentSize.id)
    ).all()
    assert sizes == [1, 2, 1]


def add_tag_lookup(session):  # type: ignore[no-untyped-def]
    from siyu.tags.service import find_tag

    return find_tag(session, "兴趣/防晒")


def _members(session, segment_id: int) -> set[int]:  # type: ignore[no-untyped-def]
    session.expire_all()
    return set(
        session.scalars(
            sa.select(SegmentMember.customer_id).where(SegmentMember.segment_id == segment_id)
        )
    )


def _events(session) -> list[tuple]:  # type: ignore[no-untyped-def]
    session.expire_all()
    rows = session.scalars(
        sa.select(Event)
        .where(Event.name.in_(["segment_entered", "segment_exited"]))
        .order_by(Event.id)
    )
    return [(e.name, e.customer_id, e.properties["segment_id"]) for e in rows]


def test_static_lists_rules_on_them_erasure_and_export(engine, settings, session, tmp_path):
    _b, sh, hz, _bj = _shop(session)
    vip, missing = create_static_segment(
        session,
        "VIP名单",
        phones=["138 0000 0101", "13800000102", "13900009999", "乱码"],
        actor="t",
    )
    assert vip.size == 2 and missing == ["13900009999", "乱码"]
    both = create_segment(
        session, "VIP且杭州", rule=f"segment = {vip.id} and city = 杭州", actor="t"
    )
    session.commit()
    refresh_copy(settings)
    refresh_segments(engine, settings, today=DAY)
    assert _members(session, both.id) == {hz}
    with pytest.raises(SegmentError, match="used by segment"):
        delete_segment(session, vip.id, actor="t")

    principal = cli_principal(session, "tester", None)
    out = tmp_path / "vip.csv"
    assert export_members(session, principal, vip.id, out) == 2
    rows = list(csv.DictReader(out.open(encoding="utf-8-sig")))
    assert {r["phone"] for r in rows} == {"138****0101", "138****0102"}
    session.commit()

    erase_person(session, settings, "13800000102", actor="t")
    session.commit()
    assert _members(session, vip.id) == {sh}
    assert _members(session, both.id) == set()
    logged = session.scalars(sa.select(AuditLog).where(AuditLog.action == "segment.export")).one()
    assert logged.details == {"rows": 2, "unmasked": False, "file": "vip.csv"}
    assert logged.target_id == str(vip.id)


def test_a_copy_of_an_older_layout_is_refused_until_refreshed(settings, session):
    import duckdb

    from siyu.analytics.engines import EngineUnavailable

    _shop(session)
    refresh_copy(settings)
    with duckdb.connect(str(settings.resolved_analytics_path)) as duck:
        duck.execute("ALTER TABLE customer DROP COLUMN suppressed")  # as an older version wrote
    with pytest.raises(EngineUnavailable, match="older layout of customer"):
        count_rule(settings, session, "city = 上海")
    refresh_copy(settings)  # the next refresh rebuilds the table
    assert count_rule(settings, session, "city = 上海").count == 1
