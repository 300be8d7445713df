"""The 公众号 section of the WeCom status page in Chromium, at a phone's width."""

from __future__ import annotations

from typing import Any

from tests.e2e.test_browser import (  # noqa: F401  (fixtures and markers shared with the walk)
    CHROMIUM,
    Page,
    _login,
    expect,
    page,
    pytestmark,
    siyu_url,
)


def test_official_account_section_fits_a_phone(
    page: Page,  # noqa: F811  (the browser page fixture, imported above)
    oa_account: Any,
    session: Any,
) -> None:
    from siyu.config import get_settings
    from siyu.oa.service import run_sync
    from tests.e2e.conftest import make_user

    for _ in range(5):
        oa_account.subscribe()
    run_sync(session, get_settings())
    make_user("yunying", "operator")
    page.set_viewport_size({"width": 375, "height": 800})
    _login(page, "yunying")
    page.goto("/wecom")
    section = page.get_by_test_id("oa-status")
    expect(section).to_contain_text("公众号")
    expect(page.get_by_test_id("oa-followers")).to_contain_text("5")
    expect(page.get_by_test_id("oa-sync")).to_contain_text("完成")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than a phone"
    box = section.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 375
