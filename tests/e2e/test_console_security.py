"""The console against stored markup, in a real browser: names someone typed (a funnel step,
a customer's source, a store) shown in chart tooltips stay text, and the Content-Security-Policy
stops what a slip would let in — while the charts still draw, htmx still swaps, the funnel
picker still submits and the API docs still work, with nothing fetched from elsewhere."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.browsing import (
    NEEDS_BROWSER,
    browser_context,
    fresh_trade,
    log_in,
    serving,
    watched,
)

pytestmark = NEEDS_BROWSER

STEP = "<img src=x onerror=window.__xss=1>"
SOURCE = "<img src=x onerror=__xss=2>"  # a source is at most 32 characters
STORE = "<script>window.__xss=3</script>"
CHARTS = ["sources", "retention", "rfm", "lifecycle", "clv", "funnel", "flow"]

# Every item of every chart on the page shown in its tooltip, as a visitor's hover would;
# returns what the tooltips said.
SHOW_EVERY_TOOLTIP = """async (ids) => {
  const said = [];
  for (const id of ids) {
    const host = document.getElementById(id + "-chart");
    const chart = host && echarts.getInstanceByDom(host);
    if (!chart) continue;
    const option = chart.getOption();
    for (const series of option.series) {
      const items = series.type === "sankey" ? series.links.length : series.data.length;
      for (let i = 0; i < items; i++) {
        chart.dispatchAction({ type: "showTip", seriesIndex: 0, dataIndex: i,
                               dataType: series.type === "sankey" ? "edge" : undefined });
        await new Promise((r) => setTimeout(r, 30));
        const tip = [...host.querySelectorAll("div")].find((d) => d.style.zIndex === "9999999");
        if (tip) said.push(tip.innerText);
      }
    }
  }
  return said;
}"""


@pytest.fixture()
def marked_up(session: Any) -> Iterator[dict[str, Any]]:
    """Twenty customers, the first twelve new this fortnight with orders; some of them from a
    source and a store whose names are markup, and a saved funnel whose steps are."""
    import sqlalchemy as sa

    from siyu.brands.models import Store
    from siyu.customers.models import Customer
    from siyu.metrics.funnels.service import save_funnel
    from tests import shop
    from tests.e2e.conftest import make_user

    brand = shop.brand(session, "yy")
    store = Store(brand_id=brand, code="s1", name=STORE)
    session.add(store)
    session.flush()
    ids = [shop.customer(session) for _ in range(20)]
    for n, cid in enumerate(ids[:12]):
        session.get(Customer, cid).source = SOURCE if n % 2 else "taobao"
        session.get(Customer, cid).store_id = store.id if n % 3 == 0 else None
    funnel = save_funnel(
        session,
        "标记",
        [
            {"label": STEP, "kind": "first_seen"},
            {"label": STEP + " 2", "kind": "order", "from_day": 0, "to_day": 30},
        ],
        actor="fenxi",
    )
    session.commit()
    assert session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 20
    fresh_trade(12)
    fresh_trade(12)  # a second recompute, so the lifecycle flow has a chart too
    make_user("guanli", "admin")
    with serving() as base:
        yield {"base": base, "funnel": funnel.id}


def test_names_with_markup_stay_text_in_chart_tooltips(marked_up: dict[str, Any]) -> None:
    with browser_context(marked_up["base"]) as context:
        page = context.new_page()
        trouble = watched(page)
        log_in(page, "guanli")
        page.goto(f"/dashboard?funnel={marked_up['funnel']}")
        for chart in ("sources", "funnel", "rfm", "retention"):
            page.locator(f"#{chart}-chart[data-drawn] canvas").wait_for()
        said = page.evaluate(SHOW_EVERY_TOOLTIP, CHARTS)
        # a visitor's mouse over the funnel and the source bars, too
        for chart in ("funnel", "sources"):
            box = page.locator(f"#{chart}-chart").bounding_box()
            for y in range(40, int(box["height"]) - 10, 20):
                page.mouse.move(box["x"] + box["width"] / 2, box["y"] + y)
                page.wait_for_timeout(20)
        page.wait_for_timeout(300)
        assert page.evaluate("window.__xss") is None
        assert page.locator("img[src=x]").count() == 0
        shown = "\n".join(said)
        assert len(said) > 20 and STEP in shown and SOURCE in shown, shown[:500]
        assert page.evaluate("window.__csp") == []  # nothing even tried to run
        assert STORE in page.locator("[data-testid=new-by-store]").inner_text()
        assert not trouble, trouble


def test_the_policy_stops_markup_that_slips_through(marked_up: dict[str, Any]) -> None:
    """As if a template forgot to escape: an injected handler, a javascript: link and an
    inline script do not run; the browser reports each to the page's policy listener."""
    with browser_context(marked_up["base"]) as context:
        page = context.new_page()
        log_in(page, "guanli")
        page.evaluate(
            """() => {
            const main = document.querySelector("main");
            main.insertAdjacentHTML("beforeend",
              '<img src=x onerror="window.__pwned=1"><a id=js href="javascript:window.__pwned=2">x</a>');
            const s = document.createElement("script");
            s.textContent = "window.__pwned = 3";
            main.appendChild(s);
        }"""
        )
        page.click("#js")
        page.wait_for_timeout(300)
        assert page.evaluate("window.__pwned") is None
        blocked = " ".join(page.evaluate("window.__csp"))
        assert "script-src-attr" in blocked and "script-src-elem" in blocked, blocked


def test_charts_htmx_and_the_funnel_picker_work_under_the_policy(
    marked_up: dict[str, Any],
) -> None:
    from siyu.db import session_scope
    from siyu.metrics.funnels.service import save_funnel

    with session_scope() as s:
        other = save_funnel(
            s,
            "第二个",
            [{"label": "获客", "kind": "first_seen"}, {"label": "下单", "kind": "order"}],
            actor="fenxi",
        ).id
    with browser_context(marked_up["base"]) as context:
        page = context.new_page()
        trouble = watched(page)
        log_in(page, "guanli")
        # htmx: typing in the search swaps the rows in place (no page load)
        page.evaluate("window.__same_page = true")
        with page.expect_response(lambda r: r.request.headers.get("hx-request") == "true"):
            page.fill("input[name=q]", "没有这个人")
        page.wait_for_url("**/customers?*q=*")
        assert page.evaluate("window.__same_page") is True
        assert page.evaluate("document.querySelectorAll('style').length") == 0  # none injected
        # the funnel picker submits on change, from siyu.js (no inline handler)
        page.goto(f"/dashboard?funnel={marked_up['funnel']}")
        page.locator("#funnel-chart[data-drawn] canvas").wait_for()
        page.select_option("select[name=funnel]", str(other))
        page.wait_for_url(f"**funnel={other}**")
        page.locator("#funnel-chart[data-drawn] canvas").wait_for()
        assert "第二个" in page.locator("[data-testid=funnel] h2").inner_text()
        for path in ("/insight", "/segments/new"):
            page.goto(path)
            page.wait_for_load_state("networkidle")
        assert page.evaluate("window.__csp") == []
        assert not trouble, trouble


def test_the_api_docs_work_under_the_policy_from_siyus_own_files(
    marked_up: dict[str, Any],
) -> None:
    from siyu.accounts.service import create_api_key
    from siyu.db import session_scope

    with session_scope() as s:
        _k, secret = create_api_key(s, "docs", ["customers:read"])
    base = marked_up["base"]
    with browser_context(base) as context:
        page = context.new_page()
        trouble = watched(page)
        elsewhere: list[str] = []
        page.on(
            "request",
            lambda r: (
                elsewhere.append(r.url)
                if urlsplit(r.url).netloc not in (urlsplit(base).netloc, "")
                and not r.url.startswith("data:")
                else None
            ),
        )
        page.goto("/api/docs")
        page.locator(".opblock").first.wait_for()
        assert page.locator(".opblock").count() > 40
        page.click("button.authorize")
        assert "APIKey" in page.locator(".modal-ux").inner_text()
        page.fill(".modal-ux input", secret)
        page.click(".modal-ux .auth-btn-wrapper button.authorize")
        page.click(".modal-ux button.close-modal")
        listing = page.locator("#operations-customers-get_customers_api_v1_customers_get")
        listing.locator(".opblock-summary").click()
        listing.locator("button.try-out__btn").click()
        with page.expect_response("**/api/v1/customers*") as answer:
            listing.locator("button.execute").click()
        assert answer.value.status == 200
        assert answer.value.request.headers["authorization"] == f"Bearer {secret}"
        assert json.loads(answer.value.text())["total"] == 20
        assert page.evaluate("window.__csp") == []
        assert not elsewhere, elsewhere
        assert not trouble, trouble
