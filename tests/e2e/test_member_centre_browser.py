"""The member centre in a real browser on a 375 px phone: sign in with the SMS code the
simulated gateway delivered, see the tier and the points, claim a coupon, change consent and
download my data; no page wider than the phone, no script error or CSP violation, and the first
page small."""

from __future__ import annotations

from typing import Any

import pytest

from tests.centre_world import code_for
from tests.e2e.browsing import NEEDS_BROWSER, browser_context, serving, watched

pytestmark = NEEDS_BROWSER
PHONE_SIZE = {"width": 375, "height": 740}
NUMBER = "13912340077"


def _fits(page: Any, what: str) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{what} is {overflow}px wider than a 375 px phone"


def _count(response: Any, base: str, sizes: list[int]) -> None:
    """The bytes of what Siyu served (the shared vendored libraries aside)."""
    if not response.url.startswith(base) or "/vendor/" in response.url or response.status >= 300:
        return
    try:
        sizes.append(len(response.body()))
    except Exception:
        sizes.append(int(response.headers.get("content-length", "0")))


def _no_trouble(page: Any, trouble: list[str]) -> None:
    assert not trouble, trouble
    assert page.evaluate("window.__csp") == [], page.evaluate("window.__csp")


def _earn(points: int) -> None:
    import sqlalchemy as sa

    from siyu.db import session_scope
    from siyu.loyalty.models import Member
    from siyu.loyalty.service import earn

    with session_scope() as s:
        member = s.scalars(sa.select(Member)).one()
        earn(s, member.id, ("adjustment", "welcome"), points, reason="welcome")


def test_a_customer_on_a_phone(centre: dict[str, Any], tmp_path: Any) -> None:
    with (
        serving() as base,
        browser_context(base, viewport=PHONE_SIZE, accept_downloads=True) as ctx,
    ):
        page = ctx.new_page()
        trouble = watched(page)
        sizes: list[int] = []
        page.on(
            "response",
            lambda r: (
                sizes.append(len(r.body()))
                if r.url.startswith(base) and "/vendor/" not in r.url and r.request.method == "GET"
                else None
            ),
        )
        page.goto("/m/")
        page.wait_for_url("**/m/login")
        assert sum(sizes) < 100_000, f"the first page took {sum(sizes)} bytes"
        _fits(page, "the sign-in page")
        page.fill("input[name=phone]", NUMBER)
        page.click("button[type=submit]")
        page.wait_for_selector("input[name=code]")
        page.fill("input[name=code]", code_for(centre["gateway"], NUMBER))
        page.check("input[name=agree]")
        page.click("form[action='/m/login'] button[type=submit]")
        page.wait_for_url("**/m/")
        _earn(120)
        page.reload()
        card = page.locator("section.card")
        assert "银卡" in card.inner_text()
        assert "120" in card.inner_text()
        assert page.locator("#member-code").evaluate("img => img.naturalWidth") > 0
        _fits(page, "the card")
        _no_trouble(page, trouble)

        page.click("nav.tabs >> text=积分")
        page.wait_for_url("**/m/points")
        assert "120" in page.inner_text("main")
        _fits(page, "the points page")

        page.click("nav.tabs >> text=优惠券")
        page.wait_for_url("**/m/coupons")
        with page.expect_navigation():
            page.click("button:has-text('领取')")
        assert "可使用" in page.inner_text("main")
        _fits(page, "the coupons page")

        page.click("nav.tabs >> text=我的")
        page.wait_for_url("**/m/profile")
        page.check("input[name^=consent_]")
        with page.expect_navigation(url="**/m/profile?saved=1"):
            page.click("form[action='/m/profile'] button[type=submit]")
        assert page.is_checked("input[name^=consent_]")
        _fits(page, "the preferences page")

        page.click("text=我的数据与账号")
        page.wait_for_url("**/m/privacy")
        with page.expect_download() as got:
            page.click("text=下载我的数据")
        saved = tmp_path / "mine.json"
        got.value.save_as(saved)
        assert "+86" + NUMBER in saved.read_text(encoding="utf-8")
        _fits(page, "the data page")
        _no_trouble(page, trouble)


@pytest.mark.parametrize("width", [375])
def test_the_sign_in_page_refuses_a_bad_number_in_words(centre: dict[str, Any], width: int) -> None:
    with serving() as base, browser_context(base, viewport={"width": width, "height": 740}) as ctx:
        page = ctx.new_page()
        page.goto("/m/login")
        page.fill("input[name=phone]", "<script>alert(1)</script>")
        page.click("button[type=submit]")
        assert "11 位手机号" in page.inner_text("p.error")
        assert page.evaluate("document.body.dataset.pwned") is None
