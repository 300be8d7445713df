"""The demo generator is deterministic and its files go through the real importers."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from siyu.customers.models import Consent, Customer, Identity
from siyu.demo.generate import generate
from siyu.demo.load import load_folder
from siyu.events.models import Event


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    a = generate(120, 5, tmp_path / "a")
    b = generate(120, 5, tmp_path / "b")
    for fa, fb in zip(a, b, strict=True):
        assert fa.read_bytes() == fb.read_bytes(), fa.name
    assert (
        (tmp_path / "a" / "taobao_orders.csv").read_bytes().decode("gb18030").startswith("订单编号")
    )
    c = generate(120, 6, tmp_path / "c")
    assert c[0].read_bytes() != a[0].read_bytes()


def test_demo_loads_with_cross_platform_customers(tmp_path: Path, session) -> None:  # type: ignore[no-untyped-def]
    generate(300, 42, tmp_path / "demo")
    lines = list(load_folder(tmp_path / "demo"))
    assert any("taobao_orders.csv" in line for line in lines)
    assert all("rejected 0" in line for line in lines if ".csv" in line)
    customers = session.scalar(
        sa.select(sa.func.count()).select_from(Customer).where(Customer.status == "active")
    )
    phones = session.scalar(
        sa.select(sa.func.count()).select_from(Identity).where(Identity.kind == "phone")
    )
    assert 0 < customers <= phones + 300
    # someone is known on more than one platform
    multi = session.execute(
        sa.select(Identity.customer_id)
        .where(Identity.kind.in_(["buyer_id", "member_id"]))
        .group_by(Identity.customer_id)
        .having(sa.func.count(sa.distinct(Identity.namespace)) > 1)
    ).first()
    assert multi is not None
    assert session.scalar(sa.select(sa.func.count()).select_from(Consent)) > 0
    assert session.scalar(sa.select(sa.func.count()).select_from(Event)) > 0


def test_demo_ensure_computes_traits_so_pages_show_insight(session) -> None:  # type: ignore[no-untyped-def]
    from siyu.demo.load import ensure_demo
    from siyu.traits.models import CustomerTrait

    out = ensure_demo(60, 3)
    assert "buyers scored" in out
    assert session.scalar(sa.select(sa.func.count()).select_from(CustomerTrait)) > 0
    from siyu.tags.models import CustomerTag

    assert session.scalar(sa.select(sa.func.count()).select_from(CustomerTag)) > 0
    assert "already has customers" in ensure_demo(60, 3)


def test_the_demo_answers_which_source_has_the_best_ltv_cac(session, settings) -> None:  # type: ignore[no-untyped-def]
    """What the README promises: the demo's dashboard ranks sources by LTV/CAC, on the last
    30 days the data has (it stops before today)."""
    from datetime import timedelta

    from siyu.analytics.service import refresh_copy
    from siyu.demo.load import DEMO_CAC_YUAN, ensure_demo
    from siyu.metrics.models import AcquisitionSpend
    from siyu.metrics.service import latest_day, overview

    out = ensure_demo(400, 5)
    assert "source-months entered" in out
    spend = session.scalars(sa.select(AcquisitionSpend)).all()
    assert spend and {s.source for s in spend} <= set(DEMO_CAC_YUAN)
    refresh_copy(settings, full=True)
    last = latest_day(settings)
    assert last is not None
    by_source = overview(settings, last - timedelta(days=89), last)["by_source"]
    ranked = [r for r in by_source if r["ltv_cac"] is not None]
    assert len(ranked) >= 2
    assert [r["ltv_cac"] for r in ranked] == sorted((r["ltv_cac"] for r in ranked), reverse=True)
