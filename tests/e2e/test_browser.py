"""The console in a real browser (Playwright driving Debian's Chromium): an operator logs in,
reads the dashboard, drills down from a chart to the customers behind it, saves them as a
segment with the rule builder, creates a WeCom live code, sends a campaign to the simulated SMS
gateway and switches the console to English. Siyu is served over real HTTP from a thread.

Skipped only where Chromium or Playwright is missing; ``make test`` installs both.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
try:
    from playwright.sync_api import Page, expect, sync_playwright
except ImportError:  # pragma: no cover - the dev extra installs it
    sync_playwright = None

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None or sync_playwright is None,
        reason="needs Debian's chromium and the playwright package (make test installs both)",
    ),
]
PASSWORD = "correct-horse-battery"
if sync_playwright is not None:
    expect.set_options(timeout=15_000)  # a loaded CI machine draws charts slowly


@pytest.fixture()
def siyu_url() -> Iterator[str]:
    from siyu.app import create_app
    from siyu.simulators.threaded import ThreadedServer

    server = ThreadedServer(create_app())
    yield server.base
    server.stop()


@pytest.fixture()
def page(siyu_url: str) -> Iterator[Page]:
    assert sync_playwright is not None and CHROMIUM is not None
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, chromium_sandbox=False
        )
        context = browser.new_context(
            base_url=siyu_url, locale="zh-CN", viewport={"width": 1280, "height": 900}
        )
        context.set_default_timeout(15_000)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        yield page
        context.close()
        browser.close()
        assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture()
def shop(world: dict[str, Any], session: Any, settings: Any) -> dict[str, Any]:
    """The reach audience (30 customers with phones, a segment of them) with a few orders in the
    last days, the analytical copy built and traits computed."""
    import sqlalchemy as sa

    from siyu.analytics.service import refresh_copy
    from siyu.brands.models import Brand
    from siyu.customers.models import Customer
    from siyu.db import get_engine, utcnow
    from siyu.orders.models import Order
    from siyu.traits.service import recompute

    brand = session.scalar(sa.select(Brand).where(Brand.code == "yy"))
    people = list(session.scalars(sa.select(Customer).order_by(Customer.id)))
    now = utcnow()
    for n, c in enumerate(people[:12]):
        c.source = "taobao" if n % 3 else "pos"
        for k in range(1 + n % 3):
            when = now - timedelta(days=2 + 3 * k)
            session.add(
                Order(
                    brand_id=brand.id,
                    platform="csv",
                    platform_order_id=f"b{n}-{k}",
                    customer_id=c.id,
                    status="completed",
                    total_fen=19900,
                    paid_fen=19900,
                    refund_fen=0,
                    ordered_at=when,
                    paid_at=when,
                    digest=f"b{n}-{k}",
                )
            )
    session.commit()
    refresh_copy(settings, full=True)
    recompute(get_engine(), settings)
    return world


def _shot(page: Page, tmp_path: Path, name: str) -> None:
    """A full-page screenshot; with SIYU_SCREENSHOTS=docs/img the docs' pictures are redone."""
    page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
    if target := os.environ.get("SIYU_SCREENSHOTS"):
        page.screenshot(path=str(Path(target) / f"{name}.png"), full_page=True)


def _login(page: Page, username: str) -> None:
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/customers")


def test_an_operator_works_through_the_console(
    page: Page, shop: dict[str, Any], wecom: dict[str, Any], settings: Any, tmp_path: Path
) -> None:
    from tests.e2e.conftest import make_user
    from tests.e2e.test_wecom_console import _sync

    wecom["world"].add_staff("guide001", "导购一")
    _sync(wecom["world"])
    make_user("yunying", "operator")
    _login(page, "yunying")

    # the dashboard: KPI cards, charts drawn, no JavaScript errors
    page.click("text=经营看板")
    expect(page.get_by_test_id("kpi-revenue")).to_contain_text("¥")
    for chart in ("sources", "retention", "rfm", "lifecycle", "clv", "funnel"):
        expect(page.locator(f"#{chart}-chart[data-drawn] canvas")).to_have_count(1)
    _shot(page, tmp_path, "dashboard")
    # on a tablet held upright the page still fits its width (tables scroll inside their cards)
    page.set_viewport_size({"width": 768, "height": 1024})
    page.reload()
    expect(page.locator("#funnel-chart[data-drawn] canvas")).to_have_count(1)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the dashboard is {overflow}px wider than a tablet"
    _shot(page, tmp_path, "dashboard-tablet")
    page.set_viewport_size({"width": 1280, "height": 900})

    # drill down from the source table: the customers behind the number
    link = page.get_by_test_id("drill-source").first
    count = int(link.inner_text())
    link.click()
    expect(page.get_by_test_id("drill-rule")).to_contain_text("first_seen between")
    expect(page.locator("text=共 " + str(count) + " 位客户")).to_be_visible()
    assert page.locator("#rows tbody tr").count() == min(count, 50)
    _shot(page, tmp_path, "drill-down")

    # … saved as a segment through the rule builder, which opens with the rule filled in
    page.get_by_test_id("save-as-segment").click()
    expect(page.get_by_test_id("live-count")).to_have_text(f"{count:,}")
    _shot(page, tmp_path, "segment-builder")
    page.get_by_test_id("segment-name").fill("看板下钻：新客")
    page.get_by_test_id("save-segment").click()
    page.wait_for_url("**/segments/*")
    expect(page.locator("h1")).to_contain_text("看板下钻：新客")
    # saving it twice: the builder says why in the page's language (the API's refusal)
    page.go_back()
    expect(page.get_by_test_id("live-count")).to_have_text(f"{count:,}")
    page.get_by_test_id("segment-name").fill("看板下钻：新客")
    page.get_by_test_id("save-segment").click()
    expect(page.get_by_test_id("rule-error")).to_have_text("已有名为 '看板下钻：新客' 的分群。")

    # a WeCom live code from the form
    page.goto("/wecom/live-codes")
    form = page.get_by_test_id("live-code-form")
    form.locator("input[name=name]").fill("南京西路店柜台")
    form.locator("input[name=staff]").fill("guide001")
    form.locator("button").click()
    page.wait_for_url("**/wecom/live-codes/*")
    expect(page.get_by_test_id("qr")).to_be_visible()

    # a campaign to the reach segment, started, sent to the simulated SMS gateway
    page.goto("/campaigns/new")
    campaign = page.get_by_test_id("campaign-form")
    campaign.locator("input[name=name]").fill("双12回购")
    campaign.locator("select[name=segment_id]").select_option(str(shop["segment"]))
    campaign.locator("select[name=channel]").select_option("sms")
    campaign.locator("input[name=sign_name]").fill("悦颜")
    campaign.locator("input[name=template_code]").fill("SMS_000001")
    campaign.locator("input[name=sms_text]").fill("${name}您好，${offer}，拒收请回复R")
    campaign.locator("textarea[name=params]").fill("name={{ name }}\noffer=满199减30")
    campaign.locator("input[name=holdout]").fill("0")
    page.get_by_test_id("campaign-save").click()
    page.wait_for_url("**/campaigns/*")
    page.get_by_test_id("campaign-start").click()
    expect(page.locator("body")).to_contain_text("发送中")
    from siyu.reach.channels.configured import sms as sms_channel
    from tests.reach_world import drain

    assert drain(settings, sms_channel(settings)) > 0
    page.reload()
    expect(page.get_by_test_id("funnel-sent")).to_have_text("20")
    _shot(page, tmp_path, "campaign")
    assert len(shop["gateway"].received()) == 20  # the 20 who agreed to marketing SMS

    # English, everywhere
    page.goto("/dashboard")
    page.click("a[href^='/lang/en']")
    expect(page.locator("h1")).to_have_text("Dashboard")
    expect(page.get_by_test_id("kpi-revenue")).to_contain_text("Revenue")
    assert "经营看板" not in page.locator("main").inner_text()
    _shot(page, tmp_path, "dashboard-en")


def test_a_guide_is_kept_to_their_store_and_logged_out_on_expiry(
    page: Page, shop: dict[str, Any], session: Any
) -> None:
    import sqlalchemy as sa

    from siyu.accounts.models import LoginSession
    from siyu.customers.models import Customer
    from tests.e2e.conftest import make_user

    make_user("daogou", "store_guide", store_code="s1")
    _login(page, "daogou")
    expect(page.locator("body")).to_contain_text("共 0 位客户")
    other = session.scalar(sa.select(Customer.id).order_by(Customer.id))
    response = page.goto(f"/customers/{other}")
    # another store's customer reads as a missing one: the page does not tell which ids exist
    assert response is not None and response.status == 404
    expect(page.locator("main")).to_contain_text("找不到该客户")
    session.execute(sa.delete(LoginSession))  # the session ends (expired, or logged out)
    session.commit()
    page.goto("/customers")
    page.wait_for_url("**/login**")


def test_the_insight_page_names_the_clv_units_on_a_phone(page: Page, settings: Any) -> None:
    """The fitted model's parameters with their units (α in days, v in yuan), read at 375 px
    without the page scrolling sideways."""
    from siyu.db import get_engine
    from siyu.traits.service import recompute
    from tests.e2e.conftest import make_user
    from tests.integration.test_clv import CAL_END, simulate

    simulate(get_engine(), 400, seed=11)
    recompute(get_engine(), settings, reference_date=CAL_END + timedelta(days=1))
    make_user("fenxi", "analyst")
    _login(page, "fenxi")
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto("/insight")
    expect(page.get_by_test_id("clv-v")).to_contain_text("元")
    expect(page.get_by_test_id("clv-model")).to_contain_text("天")
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= 375, f"the page is {wide} px wide at a 375 px viewport"
