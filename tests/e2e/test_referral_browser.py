"""A referral end to end in a real browser on 375 px phones: member A opens their page and
poster; friend B opens A's link, signs up with the SMS code the simulated gateway delivered; B
orders at a till; after the refund window (the clock moved on) A's reward appears on A's page
and in A's points. No page wider than the phone, no script error or CSP violation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from tests.centre_world import code_for
from tests.e2e.browsing import NEEDS_BROWSER, WATCH_CSP, browser_context, serving, watched
from tests.e2e.test_member_centre_browser import PHONE_SIZE, _fits, _no_trouble

pytestmark = NEEDS_BROWSER
A, B = "13912340081", "13912340082"
CALM = datetime(2026, 12, 7, 2, 0, 30, tzinfo=UTC)


def _work() -> None:
    """What the worker does meanwhile: reactions, and the reward sweep."""
    from siyu.db import session_scope
    from siyu.growth.rewards import grant_due
    from siyu.jobs import service as jobs

    while jobs.run_once("test-worker"):
        pass
    with session_scope() as s:
        grant_due(s)


def _sign_in(page: Any, centre: dict[str, Any], number: str) -> None:
    page.fill("input[name=phone]", number)
    page.click("button[type=submit]")
    page.wait_for_selector("input[name=code]")
    page.fill("input[name=code]", code_for(centre["gateway"], number))
    page.check("input[name=agree]")
    page.click("form[action='/m/login'] button[type=submit]")
    page.wait_for_url("**/m/")


def test_a_friend_brought_by_a_member_earns_the_member_a_reward_after_the_window(
    centre: dict[str, Any], monkeypatch: Any
) -> None:
    from siyu import clock, runtime
    from siyu.db import session_scope
    from siyu.growth.models import Referral
    from siyu.growth.service import set_rules
    from tests.growth_world import push_order

    monkeypatch.setenv("SIYU_GROWTH_SMS_TEMPLATE_CODE", "SMS_100002")  # the reward's notice
    runtime.reset()
    clock.freeze(CALM)
    try:
        with session_scope() as s:
            set_rules(s, "yy", "test", referrer_points=100, invitee_points=50, refund_days=7)
        with serving() as base, browser_context(base, viewport=PHONE_SIZE) as a_ctx:
            a = a_ctx.new_page()
            trouble = watched(a)
            a.goto("/m/login")
            _sign_in(a, centre, A)
            a.goto("/m/referrals")
            code = a.inner_text(".card .number").strip()
            assert len(code) == 8
            assert a.locator("img[alt]").first.evaluate("img => img.naturalWidth") > 0
            poster = a.request.get(f"{base}/m/referrals/poster.png")
            assert poster.status == 200 and poster.headers["content-type"] == "image/png"
            _fits(a, "the referral page")
            _no_trouble(a, trouble)
            # B is another person on another phone: a context of their own (no cookie of A's)
            b_ctx = a_ctx.browser.new_context(base_url=base, locale="zh-CN", viewport=PHONE_SIZE)
            b_ctx.add_init_script(WATCH_CSP)
            try:
                b = b_ctx.new_page()
                b_trouble = watched(b)
                b.goto(f"/r/{code}")
                b.wait_for_url(f"**/m/invite/{code}")
                assert "邀请你加入" in b.inner_text("main")
                _fits(b, "the invitation")
                b.click("a.button")
                b.wait_for_url("**/m/login?via=referral:*")
                _sign_in(b, centre, B)
                _no_trouble(b, b_trouble)
            finally:
                b_ctx.close()
            _work()
            with session_scope() as s:
                referral = s.scalars(sa.select(Referral)).one()
                assert (referral.status, referral.channel) == ("attributed", "centre")
            clock.freeze(CALM + timedelta(hours=2))
            push_order(B, paid_fen=29900)  # B buys at a till
            _work()
            a.goto("/m/referrals")
            assert "待发放" in a.inner_text("main")  # pending until the window has passed
            clock.freeze(CALM + timedelta(days=8))
            _work()
            a.goto("/m/referrals")
            assert "已奖励" in a.inner_text("main")
            a.goto("/m/points")
            assert "100" in a.inner_text("main")
            from tests.centre_world import deliver_codes

            deliver_codes()  # the transactional pump: A's phone gets the notice
            told = centre["gateway"].received("+86" + A) or centre["gateway"].received(A)
            assert any("100 积分已发放" in m.content for m in told), [m.content for m in told]
            _fits(a, "the points page")
            _no_trouble(a, trouble)
    finally:
        clock.thaw()


def test_a_member_answers_the_nps_survey_on_a_phone_and_the_dashboard_shows_it(
    centre: dict[str, Any],
) -> None:
    from siyu import clock
    from siyu.db import session_scope
    from siyu.growth.forms.service import save_form, set_status
    from tests.e2e.browsing import log_in
    from tests.e2e.conftest import make_user

    clock.freeze(CALM)
    try:
        with session_scope() as s:
            survey = save_form(
                s,
                "test",
                slug="nps",
                title="您向朋友推荐悦颜的可能性有多大？",
                fields=[{"kind": "nps", "label": "推荐意愿"}, {"kind": "text", "label": "原因"}],
                kind="survey",
                once="person",
                member_centre=True,
            )
            set_status(s, survey, "live", "test")
        make_user("ops", "operator")
        with serving() as base, browser_context(base, viewport=PHONE_SIZE) as ctx:
            page = ctx.new_page()
            trouble = watched(page)
            page.goto("/m/login")
            _sign_in(page, centre, A)
            page.goto("/m/profile")
            page.click("a[href='/m/surveys']")
            page.wait_for_url("**/m/surveys")
            page.click("text=您向朋友推荐悦颜的可能性有多大？")
            page.wait_for_url("**/f/nps?t=*")
            _fits(page, "the survey")
            page.check("fieldset.nps input[value='9']")
            page.fill("textarea", "<script>alert(1)</script>质地很好")
            page.click("form.box button[type=submit]:not(.link)")
            page.wait_for_url("**/f/nps/thanks*")
            _fits(page, "the thank-you page")
            _no_trouble(page, trouble)
            page.goto("/m/surveys")
            assert "已答" in page.inner_text("main")
            from siyu.analytics.service import refresh_copy
            from siyu.config import get_settings

            refresh_copy(get_settings(), full=True)  # the dashboard reads the copy (and NPS)
            log_in(page, "ops")
            page.goto("/dashboard?start=2026-12-01&end=2026-12-07")
            card = page.locator("[data-testid=nps]")
            assert "+100.0" in card.inner_text()
            assert "2026-12" in page.inner_text("[data-testid=nps-trend]")
            assert page.evaluate("document.body.dataset.pwned") is None
    finally:
        clock.thaw()
