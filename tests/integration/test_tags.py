"""Tags: groups, manual tagging with provenance, rules that set and unset only their own tags."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from siyu.analytics.service import refresh_copy
from siyu.customers.models import Customer
from siyu.customers.queries import customers_by_phones
from siyu.privacy.service import erase_person
from siyu.tags.models import CustomerTag
from siyu.tags.queries import tags_of
from siyu.tags.service import (
    TagError,
    add_group,
    add_rule,
    add_tag,
    apply_rules,
    assign,
    delete_rule,
    find_tag,
    unassign,
)
from siyu.traits.service import recompute
from tests import shop

TODAY = date(2026, 6, 30)


def on(session, path: str) -> set[tuple[int, str]]:  # type: ignore[no-untyped-def]
    """(customer, source) pairs carrying a tag."""
    session.expire_all()
    tag = find_tag(session, path)
    rows = session.execute(
        sa.select(CustomerTag.customer_id, CustomerTag.source).where(CustomerTag.tag_id == tag.id)
    )
    return {(c, s) for c, s in rows}


def apply(engine, settings):  # type: ignore[no-untyped-def]
    refresh_copy(settings)
    from datetime import datetime

    return apply_rules(engine, settings, today=datetime(2026, 6, 30, 12, tzinfo=settings.tz))


def test_groups_and_tags_refuse_duplicates_and_bad_names(session):
    add_group(session, "肤质", single=True, actor="op")
    add_tag(session, "肤质/油性", actor="op")
    with pytest.raises(TagError, match="already exists"):
        add_group(session, "肤质", single=False, actor="op")
    with pytest.raises(TagError, match="already exists"):
        add_tag(session, "肤质/油性", actor="op")
    with pytest.raises(TagError, match="no tag group"):
        add_tag(session, "发质/干性", actor="op")
    with pytest.raises(TagError, match="分组/标签"):
        add_tag(session, "油性", actor="op")
    with pytest.raises(TagError, match="siyu tags add"):
        find_tag(session, "肤质/干性")


def test_manual_tagging_by_id_and_phone_with_single_choice(session):
    add_group(session, "肤质", single=True, actor="op")
    add_group(session, "兴趣", single=False, actor="op")
    for path in ("肤质/油性", "肤质/干性", "兴趣/护肤", "兴趣/彩妆"):
        add_tag(session, path, actor="op")
    a, b = shop.customer(session), shop.customer(session)
    shop.phone(session, b, "+8613812345678")
    found, missing = customers_by_phones(session, ["138 1234 5678", "13900000000", "not-a-phone"])
    assert found == [b] and missing == ["13900000000", "not-a-phone"]
    assert assign(session, find_tag(session, "肤质/油性"), [a, b], actor="op") == 2
    assert assign(session, find_tag(session, "肤质/油性"), [a], actor="op") == 0  # already there
    assign(session, find_tag(session, "肤质/干性"), [a], actor="op")  # replaces 油性 for a
    assign(session, find_tag(session, "兴趣/护肤"), [a], actor="op")
    assign(session, find_tag(session, "兴趣/彩妆"), [a], actor="op")  # multi-choice: both stay
    assert on(session, "肤质/油性") == {(b, "manual")}
    assert on(session, "肤质/干性") == {(a, "manual")}
    assert {t["tag"] for t in tags_of(session, a)} == {"干性", "护肤", "彩妆"}
    assert tags_of(session, a)[0]["by"] == "op"
    with pytest.raises(TagError, match="unknown or merged: 999999"):
        assign(session, find_tag(session, "兴趣/护肤"), [b, 999999], actor="op")
    assert (b, "manual") not in on(session, "兴趣/护肤")  # nothing half-done
    assert unassign(session, find_tag(session, "兴趣/彩妆"), [a], actor="op") == 1


def test_rules_tag_and_untag_only_their_own(engine, settings, session):
    add_group(session, "兴趣", single=False, actor="op")
    add_group(session, "城市", single=False, actor="op")
    for path in ("兴趣/防晒", "兴趣/高消费", "城市/江浙沪", "兴趣/抖音来的"):
        add_tag(session, path, actor="op")
    b = shop.brand(session, "b1")
    sun, big, old_sun = (
        shop.customer(session, city="杭州"),
        shop.customer(session, city="北京"),
        shop.customer(session, city="上海"),
    )
    shop.order(session, b, sun, TODAY - timedelta(days=10), 99, category="防晒")
    shop.order(session, b, big, TODAY - timedelta(days=10), 1200, category="面霜")
    shop.order(session, b, old_sun, TODAY - timedelta(days=200), 99, category="防晒")
    shop.order(session, b, big, TODAY - timedelta(days=5), 300, category="防晒", status="refunded")
    session.get(Customer, big).source = "douyin"  # type: ignore[union-attr]
    assign(session, find_tag(session, "兴趣/防晒"), [old_sun], actor="op")  # by hand as well
    sun_rule = add_rule(
        session,
        find_tag(session, "兴趣/防晒"),
        {"kind": "bought_category", "category": "防晒", "days": 90},
        actor="op",
    )
    add_rule(
        session,
        find_tag(session, "兴趣/高消费"),
        {"kind": "total_spend", "min_yuan": 1000},
        actor="op",
    )
    add_rule(
        session,
        find_tag(session, "城市/江浙沪"),
        {"kind": "city_in", "cities": ["上海", "杭州", "南京"]},
        actor="op",
    )
    add_rule(
        session,
        find_tag(session, "兴趣/抖音来的"),
        {"kind": "source_in", "sources": ["douyin"]},
        actor="op",
    )
    session.commit()
    outcomes = apply(engine, settings)
    assert [(o.matched, o.added, o.removed) for o in outcomes] == [
        (1, 1, 0),
        (1, 1, 0),
        (2, 2, 0),
        (1, 1, 0),
    ]
    assert on(session, "兴趣/防晒") == {(sun, "rule"), (old_sun, "manual")}  # refunds do not count
    assert on(session, "兴趣/高消费") == {(big, "rule")}
    assert on(session, "城市/江浙沪") == {(sun, "rule"), (old_sun, "rule")}
    assert on(session, "兴趣/抖音来的") == {(big, "rule")}
    assert tags_of(session, sun)[-1]["by"].startswith("rule:")
    # a customer who no longer matches loses the rule's tag; nothing else moves
    moved = session.get(Customer, old_sun)
    assert moved is not None
    moved.city = "北京"
    session.commit()
    assert [o.removed for o in apply(engine, settings)] == [0, 0, 1, 0]
    assert on(session, "城市/江浙沪") == {(sun, "rule")}
    # deleting the rule removes only what it set
    assert delete_rule(session, sun_rule.id, actor="op") == 1
    session.commit()
    assert on(session, "兴趣/防晒") == {(old_sun, "manual")}


def test_single_choice_rules_oldest_wins(engine, settings, session):
    add_group(session, "价格敏感度", single=True, actor="op")
    add_tag(session, "价格敏感度/低", actor="op")
    add_tag(session, "价格敏感度/高", actor="op")
    b = shop.brand(session, "b1")
    c = shop.customer(session)
    shop.order(session, b, c, TODAY - timedelta(days=3), 2000)
    add_rule(
        session,
        find_tag(session, "价格敏感度/低"),
        {"kind": "total_spend", "min_yuan": 1000},
        actor="op",
    )
    add_rule(
        session,
        find_tag(session, "价格敏感度/高"),
        {"kind": "total_spend", "min_yuan": 0},
        actor="op",
    )
    session.commit()
    apply(engine, settings)
    assert on(session, "价格敏感度/低") == {(c, "rule")}
    assert on(session, "价格敏感度/高") == set()


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ({"kind": "bought_brand"}, "unknown rule kind 'bought_brand'"),
        ({"kind": "bought_category", "days": 30}, "category: Field required"),
        ({"kind": "total_spend", "min_yuan": -5}, "min_yuan"),
        ({"kind": "city_in", "cities": []}, "cities"),
        ({"kind": "source_in", "sources": ["pos"], "when": "now"}, "when: Extra inputs"),
        ("spend > 100", "unknown rule kind"),
    ],
)
def test_bad_rules_are_refused_clearly(session, condition, message):
    add_group(session, "兴趣", single=False, actor="op")
    tag = add_tag(session, "兴趣/x", actor="op")
    with pytest.raises(TagError, match=message):
        add_rule(session, tag, condition, actor="op")


def test_recompute_applies_rules_and_erasure_removes_tags(engine, settings, session):
    add_group(session, "城市", single=False, actor="op")
    add_tag(session, "城市/上海", actor="op")
    b = shop.brand(session, "b1")
    c = shop.customer(session, city="上海")
    shop.phone(session, c, "+8613957124680")
    shop.order(session, b, c, TODAY - timedelta(days=3), 100)
    add_rule(
        session, find_tag(session, "城市/上海"), {"kind": "city_in", "cities": ["上海"]}, actor="op"
    )
    session.commit()
    result = recompute(engine, settings, reference_date=TODAY)
    assert result.tags[0]["added"] == 1
    erase_person(session, settings, "13957124680", actor="test")
    session.commit()
    assert on(session, "城市/上海") == set()


def test_hand_set_tags_follow_a_merge_and_come_back_on_unmerge(session):
    from siyu.customers.service import merge, unmerge

    add_group(session, "兴趣", single=False, actor="op")
    add_tag(session, "兴趣/护肤", actor="op")
    add_tag(session, "兴趣/彩妆", actor="op")
    a, b = shop.customer(session), shop.customer(session)
    assign(session, find_tag(session, "兴趣/护肤"), [a, b], actor="op")
    assign(session, find_tag(session, "兴趣/彩妆"), [b], actor="op")
    merge_id = merge(session, a, b, actor="op")
    session.commit()
    assert {t["tag"] for t in tags_of(session, a)} == {"护肤", "彩妆"}
    assert len(tags_of(session, a)) == 2  # the shared tag is not doubled
    unmerge(session, merge_id, actor="op")
    session.commit()
    assert {t["tag"] for t in tags_of(session, a)} == {"护肤"}
    assert {t["tag"] for t in tags_of(session, b)} == {"护肤", "彩妆"}


def test_an_import_asks_for_one_rule_run_per_window(engine, settings, session, tmp_path):
    import time
    from datetime import UTC, datetime

    from siyu import clock
    from siyu.ingest.orders import import_orders
    from siyu.jobs.models import Job
    from siyu.jobs.service import HANDLERS
    from tests import platform_files as pf

    add_group(session, "兴趣", single=False, actor="op")
    add_tag(session, "兴趣/大单", actor="op")
    add_rule(
        session, find_tag(session, "兴趣/大单"), {"kind": "total_spend", "min_yuan": 15}, actor="op"
    )
    session.commit()
    start = time.time()
    one_window = datetime.fromtimestamp(60 * (start // 60) + 1, UTC)
    with clock.frozen(one_window):  # both imports ask within one window
        for n in range(2):
            rows = [
                pf.taobao_row(f"80{n}1", "tb_a", "13812348001", "20.00"),
                pf.taobao_row(f"80{n}2", "tb_b", "13812348002", "5.00"),
            ]
            import_orders(
                engine, settings, pf.taobao(tmp_path / f"t{n}.csv", rows), "taobao", actor="test"
            )
    jobs = session.scalars(sa.select(Job).where(Job.kind == "tags.apply")).all()
    assert len(jobs) == 1 and jobs[0].status == "queued"  # two imports in one window: one run
    HANDLERS["tags.apply"](session, {})
    assert len(on(session, "兴趣/大单")) == 1


def test_bulk_tagging_by_the_customer_list_filter(session):
    from siyu.accounts.service import Principal
    from siyu.customers.queries import CustomerFilter, customer_ids

    add_group(session, "渠道", single=False, actor="op")
    tag = add_tag(session, "渠道/门店客", actor="op")
    store_people = [shop.customer(session) for _ in range(3)]
    other = shop.customer(session)
    session.get(Customer, other).source = "douyin"  # type: ignore[union-attr]
    for c in store_people:
        session.get(Customer, c).source = "pos"  # type: ignore[union-attr]
    from siyu.accounts.permissions import PERMISSIONS

    admin = Principal(actor="op", role="admin", permissions=frozenset(PERMISSIONS))
    ids = customer_ids(session, admin, CustomerFilter(source="pos"))
    assert sorted(ids) == sorted(store_people)
    assert assign(session, tag, ids, actor="op") == 3
