"""The customer page's settings and the identity-conflicts page in a real browser, at desktop
width and on a 375 px phone: do-not-disturb with a reason, consent with evidence and its
withdrawal, a merge previewed, confirmed and undone, a conflict kept apart, an erasure
confirmed by typing 删除. No page is wider than the phone."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.test_browser import CHROMIUM, _login, _shot, page, siyu_url, sync_playwright

if sync_playwright is not None:
    from playwright.sync_api import Page, expect
else:  # pragma: no cover - the dev extra installs it
    Page = Any

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None or sync_playwright is None,
        reason="needs Debian's chromium and the playwright package (make test installs both)",
    ),
]
__all__ = ["page", "siyu_url"]  # the fixtures, shared with the main browser test
PHONE = {"width": 375, "height": 800}
SCRIPT = '<img src=x onerror="document.body.dataset.pwned=1">'


def _fits(page: Page, what: str) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{what} is {overflow}px wider than a 375 px phone"


@pytest.fixture()
def people(engine: Any, settings: Any, session: Any, tmp_path: Any) -> dict[str, int]:
    from tests.e2e.conftest import make_user
    from tests.e2e.test_console import customer_ids, seed
    from tests.integration.test_identity_review import _conflict

    seed(engine, settings, tmp_path)
    a, b = _conflict(engine, settings, tmp_path)
    make_user("yunying", "operator")
    make_user("guanli", "admin")
    return {**customer_ids(session), "a": a, "b": b}


def test_an_operator_sets_do_not_disturb_consent_and_merges(
    page: Page, people: dict[str, int], session: Any, tmp_path: Any
) -> None:
    from siyu.customers.models import Customer

    m1, m2 = people["M1"], people["M2"]
    _login(page, "yunying")
    page.goto(f"/customers/{m1}")
    dnd = page.get_by_test_id("dnd-form")
    dnd.locator("input[name=reason]").fill(SCRIPT)
    dnd.locator("button").click()
    expect(page.get_by_test_id("done")).to_have_text("已开启免打扰。")
    expect(page.get_by_test_id("dnd-state")).to_contain_text("已开启")

    page.locator("summary", has_text="记录授权或撤回").click()
    form = page.get_by_test_id("consent-form")
    form.locator("textarea[name=note]").fill(SCRIPT)
    form.locator("input[name=reference]").fill("SQ-2026-0012")
    form.locator("button").click()
    expect(page.get_by_test_id("done")).to_have_text("已记录营销授权。")
    expect(page.get_by_test_id("consent-row")).to_contain_text("已同意")
    page.locator("button", has_text="显示完整信息").click()
    expect(page.get_by_test_id("consent-evidence")).to_have_text(SCRIPT)  # as text, not markup
    expect(page.get_by_test_id("dnd-reason")).to_have_text(SCRIPT)
    assert page.evaluate("document.body.dataset.pwned") is None
    page.get_by_test_id("consent-withdraw").click()
    expect(page.get_by_test_id("done")).to_have_text("已撤回营销授权，立即生效。")
    _shot(page, tmp_path, "customer-settings")

    page.set_viewport_size(PHONE)
    page.reload()
    _fits(page, "the customer page")
    _shot(page, tmp_path, "customer-settings-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    # merge: find the other by phone, preview, confirm, then undo from the history
    form = page.get_by_test_id("merge-form")
    form.locator("input[name=other]").fill("13812340002")
    form.locator("button").click()
    page.get_by_test_id("candidates").locator("a").first.click()
    expect(page.get_by_test_id("merge-preview")).to_contain_text("个订单")
    expect(page.get_by_test_id("merge-clash")).to_be_visible()
    _shot(page, tmp_path, "merge-preview")
    page.set_viewport_size(PHONE)
    _fits(page, "the merge preview")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_test_id("merge-force").check()
    page.get_by_test_id("merge-confirm").click()
    expect(page.get_by_test_id("done")).to_contain_text("已合并")
    session.expire_all()
    assert session.get(Customer, m2).status == "merged"
    page.locator("[data-testid^=unmerge-]").click()
    expect(page.get_by_test_id("done")).to_contain_text("已撤销合并")
    session.expire_all()
    assert session.get(Customer, m2).status == "active"


def test_identity_conflicts_are_reviewed_and_a_person_erased(
    page: Page, people: dict[str, int], session: Any, tmp_path: Any
) -> None:
    from siyu.customers.models import Customer

    _login(page, "yunying")
    page.get_by_test_id("nav-conflicts").click()
    expect(page.locator("h1")).to_have_text("身份冲突")
    card = page.locator("[data-testid^=conflict-]").first
    expect(card).to_contain_text("138****0001")
    _shot(page, tmp_path, "identity-conflicts")
    page.set_viewport_size(PHONE)
    _fits(page, "the identity-conflicts page")
    _shot(page, tmp_path, "identity-conflicts-phone")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_test_id("conflicts-unmask").click()
    expect(page.locator("main")).to_contain_text("+8613811110001")
    page.get_by_test_id("conflict-keep-apart").click()
    expect(page.get_by_test_id("done")).to_contain_text("两位不同的客户")
    expect(page.get_by_test_id("conflicts-empty")).to_be_visible()

    page.locator("button", has_text="退出").click()
    _login(page, "guanli")
    m1 = people["M1"]
    page.goto(f"/customers/{m1}")
    page.locator("summary", has_text="永久删除个人信息").click()
    erase = page.get_by_test_id("erase-form")
    erase.locator("input[name=confirm]").fill("不删")
    page.get_by_test_id("erase-submit").click()
    expect(page.get_by_test_id("erase-refused")).to_be_visible()
    page.get_by_test_id("erase-form").locator("input[name=confirm]").fill("删除")
    page.get_by_test_id("erase-submit").click()
    expect(page.get_by_test_id("erased")).to_contain_text("个人信息已删除")
    page.set_viewport_size(PHONE)
    _fits(page, "the erasure report")
    session.expire_all()
    assert session.get(Customer, m1) is None
