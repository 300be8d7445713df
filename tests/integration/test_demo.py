"""The demo generator is deterministic and its files go through the real importers."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from siyu.cli import app
from siyu.customers.models import Consent, Customer, Identity
from siyu.demo.generate import BENCH_AS_OF, generate
from siyu.demo.load import load_folder
from siyu.events.models import Event

AS_OF = date(2025, 6, 30)


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    a = generate(120, 5, tmp_path / "a", as_of=AS_OF)
    b = generate(120, 5, tmp_path / "b", as_of=AS_OF)
    for fa, fb in zip(a, b, strict=True):
        assert fa.read_bytes() == fb.read_bytes(), fa.name
    assert (
        (tmp_path / "a" / "taobao_orders.csv").read_bytes().decode("gb18030").startswith("订单编号")
    )
    c = generate(120, 6, tmp_path / "c", as_of=AS_OF)
    assert c[0].read_bytes() != a[0].read_bytes()
    later = generate(120, 5, tmp_path / "d", as_of=AS_OF + timedelta(days=1))
    assert later[0].read_bytes() != a[0].read_bytes()  # the history moves with the date


def _order_times(folder: Path) -> list[datetime]:
    import csv

    with (folder / "youzan_orders.csv").open(encoding="utf-8") as fh:
        return [datetime.fromisoformat(r["订单创建时间"]) for r in csv.DictReader(fh)]


def test_the_generate_command_ends_the_history_the_day_before_as_of(tmp_path: Path) -> None:
    """`siyu demo generate --as-of D --seed S` twice gives the same files; without --as-of the
    history runs up to yesterday (Beijing), with customers arriving to the end."""
    from siyu.demo.generate import today

    runner = CliRunner()
    outs = []
    for name in ("x", "y"):
        args = ["--customers", "400", "--seed", "7", "--out", str(tmp_path / name)]
        got = runner.invoke(app, ["demo", "generate", *args, "--as-of", "2025-06-30"])
        assert got.exit_code == 0, got.output
        outs.append(sorted((tmp_path / name).iterdir()))
    assert [f.name for f in outs[0]] == [f.name for f in outs[1]]
    for fx, fy in zip(*outs, strict=True):
        assert fx.read_bytes() == fy.read_bytes(), fx.name
    times = _order_times(tmp_path / "x")
    assert max(times) < datetime(2025, 6, 30) and max(times) > datetime(2025, 6, 20)
    first = today()
    small = ["demo", "generate", "--customers", "60", "--seed", "7", "--out"]
    plain = runner.invoke(app, [*small, str(tmp_path / "p")])
    dated = runner.invoke(app, [*small, str(tmp_path / "q"), "--as-of", first.isoformat()])
    assert plain.exit_code == dated.exit_code == 0
    if today() == first:  # (not across midnight)
        for fp in (tmp_path / "p").iterdir():
            assert fp.read_bytes() == (tmp_path / "q" / fp.name).read_bytes(), fp.name
    bad = runner.invoke(app, ["demo", "generate", "--as-of", "30/06/2025"])
    assert bad.exit_code != 0 and "YYYY-MM-DD" in bad.output
    for wrong in ("2999-01-01", "1066-10-14"):  # the demo's past cannot lie in the future
        refused = runner.invoke(app, ["demo", "ensure", "--customers", "5", "--as-of", wrong])
        assert refused.exit_code != 0 and "--as-of" in refused.output
    assert not (tmp_path / "var" / "demo").exists()


def test_customers_keep_arriving_up_to_the_end(tmp_path: Path) -> None:
    """Every quarter of the history brings new customers (a growing brand), not only the
    first months, and orders run up to the last day."""
    import csv

    folder = tmp_path / "g"
    generate(2000, 3, folder, as_of=BENCH_AS_OF)
    first: dict[str, datetime] = {}
    with (folder / "taobao_orders.csv").open(encoding="gb18030") as fh:
        for r in csv.DictReader(fh):
            at = datetime.fromisoformat(r["订单创建时间"])
            first[r["买家会员名"]] = min(first.get(r["买家会员名"], at), at)
    end = datetime(2026, 10, 31, 23, 0)
    quarters = [0] * 8
    for at in first.values():
        quarters[min(7, (at - (end - timedelta(days=730))).days // 92)] += 1
    assert all(q > 0 for q in quarters) and quarters[-1] > quarters[0]
    assert max(first.values()) > end - timedelta(days=3)


def test_demo_loads_with_cross_platform_customers(tmp_path: Path, session) -> None:  # type: ignore[no-untyped-def]
    generate(300, 42, tmp_path / "demo", as_of=AS_OF)
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
    30 days the data has (up to yesterday)."""
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


def test_ensure_demo_brings_a_recent_past_to_every_page(session, settings) -> None:  # type: ignore[no-untyped-def]
    """The first run shows a live business: orders up to yesterday, campaigns of the last
    weeks sent through the simulators with their results (receipts, taps, orders, lift),
    WeCom friends in customer groups, a WeCom mass send the guides confirmed, and a default
    dashboard with new and active customers and revenue."""
    from datetime import time

    from siyu.analytics.service import refresh_copy
    from siyu.demo.exports import TZ
    from siyu.demo.load import ensure_demo
    from siyu.metrics.service import default_range, overview
    from siyu.orders.models import Order
    from siyu.reach.campaigns.results import campaign_results
    from siyu.reach.models import Campaign, GroupSend, SendRow, WecomMassBatch
    from siyu.wecom.contacts.models import WecomContact, WecomGroupChat, WecomGroupMember

    as_of = date(2026, 5, 20)
    out = ensure_demo(200, 7, as_of=as_of)
    midnight = datetime.combine(as_of, time(), TZ)
    recent = session.scalar(
        sa.select(sa.func.count())
        .select_from(Order)
        .where(Order.paid_at >= midnight - timedelta(days=30), Order.paid_at < midnight)
    )
    assert recent > 0, out
    campaigns = session.scalars(sa.select(Campaign).order_by(Campaign.id)).all()
    assert len(campaigns) >= 4 and {c.status for c in campaigns} == {"done"}
    assert all(midnight - timedelta(days=30) < c.started_at < midnight for c in campaigns)
    results = {c.channel + c.name: campaign_results(session, c) for c in campaigns}
    funnels = [r["funnel"] for r in results.values() if r["funnel"]]
    assert sum(1 for f in funnels if f["delivered"] > 0) >= 3, out
    assert any(
        r["funnel"]["clicked"] and r["funnel"]["converted"] and r["lift_pp"] is not None
        for r in results.values()
        if r["funnel"]
    ), out
    # the WeCom mass send: one task per guide, confirmed, settled through the reconciliation
    batches = session.scalars(sa.select(WecomMassBatch).where(WecomMassBatch.chat_type == "single"))
    batches = list(batches)
    assert batches and all(b.state == "done" and b.confirmed_at is not None for b in batches)
    wecom_sent = session.scalar(
        sa.select(sa.func.count())
        .select_from(SendRow)
        .where(SendRow.channel == "wecom", SendRow.state == "sent", SendRow.delivered.is_(True))
    )
    assert wecom_sent > 0
    # friends linked to known customers, in customer groups, reached by a group campaign
    linked = session.scalar(
        sa.select(sa.func.count())
        .select_from(WecomContact)
        .where(WecomContact.customer_id.is_not(None))
    )
    assert linked > 0
    assert session.scalar(sa.select(sa.func.count()).select_from(WecomGroupChat)) > 0
    members = session.scalar(
        sa.select(sa.func.count())
        .select_from(WecomGroupMember)
        .where(WecomGroupMember.member_type == 2, WecomGroupMember.customer_id.is_not(None))
    )
    assert members > 0
    groups_sent = session.scalar(
        sa.select(sa.func.count()).select_from(GroupSend).where(GroupSend.state == "sent")
    )
    assert groups_sent > 0
    # the dashboard's default view: the 30 days up to yesterday, alive
    refresh_copy(settings)
    start, end = default_range(settings)
    assert end == as_of - timedelta(days=1)
    kpis = overview(settings, start, end)["kpis"]
    for key in ("new_customers", "active_customers", "revenue"):
        assert kpis[key]["value"] > 0 and kpis[key]["previous"] > 0, key
    assert kpis["revenue"]["delta"] > -0.5  # not the −100 % of a history that stopped months ago


def test_the_replay_never_reaches_a_configured_provider(monkeypatch, session) -> None:  # type: ignore[no-untyped-def]
    """A deployment with its own SMS gateway and mail relay configured: the demo's past
    campaigns go to the replay's simulators only, and the settings are put back after, also
    when the replay fails half-way."""
    from siyu.config import get_settings, reset_settings
    from siyu.demo.load import ensure_demo
    from siyu.demo.reach import replay_providers
    from siyu.simulators.sms.gateway import Gateway, create_app
    from siyu.simulators.smtp import SmtpServer
    from siyu.simulators.threaded import ThreadedServer

    real_gateway = Gateway()
    sms = ThreadedServer(create_app(real_gateway))
    relay = SmtpServer()
    try:
        monkeypatch.setenv("SIYU_SMS_ENDPOINT", sms.base)
        monkeypatch.setenv("SIYU_SMS_ACCESS_KEY_ID", real_gateway.access_key_id)
        monkeypatch.setenv("SIYU_SMS_ACCESS_KEY_SECRET", real_gateway.access_key_secret)
        monkeypatch.setenv("SIYU_SMTP_HOST", relay.host)
        monkeypatch.setenv("SIYU_SMTP_PORT", str(relay.port))
        monkeypatch.setenv("SIYU_EMAIL_FROM", "悦颜 <news@yueyan.example>")
        monkeypatch.setenv("SIYU_PUBLIC_URL", "https://crm.yueyan.example")
        reset_settings()
        before = get_settings().model_dump()
        ensure_demo(120, 5, as_of=AS_OF)
        from siyu.reach.models import SendRow

        reached = dict(
            session.execute(
                sa.select(SendRow.channel, sa.func.count())
                .where(SendRow.state == "sent")
                .group_by(SendRow.channel)
            ).all()
        )
        assert reached.get("sms", 0) > 0 and reached.get("email", 0) > 0  # … by the simulators
        assert real_gateway.attempts == [] and relay.mailbox.attempts == 0
        assert get_settings().model_dump() == before

        with pytest.raises(RuntimeError), replay_providers():
            assert get_settings().sms_endpoint != sms.base
            raise RuntimeError("the replay stopped half-way")
        assert get_settings().model_dump() == before
    finally:
        sms.stop()
        relay.stop()
