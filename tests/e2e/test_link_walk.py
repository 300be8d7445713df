"""The whole console, walked link by link in a real browser at a phone's width, on the demo's
data (a small ``siyu demo ensure``, the demo's WeCom corp, a segment, a campaign, a saved
funnel, a handover and a few customers new this fortnight, so every kind of page has something
to show): no answer of 4xx/5xx, no
JavaScript or console error, no Content-Security-Policy violation, no page wider than 375 px —
in Chinese and in English (tests/e2e/linkwalk.py does the walking).

Every console page must be on the walk: a new page that no link reaches fails here until it
is linked from the navigation or listed in NOT_WALKED with the reason.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa

from tests.e2e.browsing import NEEDS_BROWSER, PASSWORD, fresh_trade, serving

pytestmark = NEEDS_BROWSER

# Console pages the walk does not reach through links, and why.
NOT_WALKED = {
    "/": "a redirect to /customers",
    "/login": "where the walk starts (it logs in)",
    "/lang/{lang}": "the language switch, taken between the two rounds",
    "/u/{token}": "a customer's unsubscribe link, from an email",
    "/l/{token}": "a tracked link, from a message",
    "/healthz": "for load balancers",
    # the member centre is the customers' site, not the console (its own session): walked on a
    # phone in tests/e2e/test_member_centre_browser.py
    "/m/": "the member centre (customers)",
    "/m/login": "the member centre (customers)",
    "/m/wechat": "the member centre (customers): off to WeChat's authorisation",
    "/m/wechat/back": "the member centre (customers): WeChat's callback",
    "/m/code.svg": "the member centre (customers)",
    "/m/points": "the member centre (customers)",
    "/m/coupons": "the member centre (customers)",
    "/m/orders": "the member centre (customers)",
    "/m/profile": "the member centre (customers)",
    "/m/privacy": "the member centre (customers)",
    "/MP_verify_{token}.txt": "fetched by WeChat when the web-authorisation domain is set",
    "/r/{code}": "a referral link, opened by customers from a poster or a message",
    "/m/invite/{code}": "the member centre (customers): a friend's invitation",
    "/m/referrals": "the member centre (customers)",
    "/m/referrals/qr.svg": "the member centre (customers)",
    "/m/referrals/poster.png": "the member centre (customers)",
    "/m/fission": "the member centre (customers)",
    "/m/surveys": "the member centre (customers)",
    "/f/{slug}": "a form or survey, opened by customers from a link or a QR code",
    "/f/{slug}/thanks": "a form's thank-you page, after an answer",
    "/growth/forms/{slug}": "one form's page: the demo has no forms (tests/e2e/test_forms_web.py "
    "opens it)",
    "/growth/forms/{slug}/answers.csv": "a form's answers as a spreadsheet, from its page",
    "/customers/{customer_id}/merge": "the merge search: a form asking which customer to merge "
    "with (tests/e2e/test_browser_customer.py fills it in)",
}


@pytest.fixture()
def demo_console() -> None:
    from siyu.config import get_settings
    from siyu.db import get_engine, session_scope
    from siyu.demo.load import ensure_demo
    from siyu.metrics.funnels.service import AARRR, save_funnel
    from siyu.reach.campaigns.commands import PlanCampaign
    from siyu.reach.campaigns.service import plan_campaign
    from siyu.segments.membership import refresh_segments
    from siyu.segments.service import create_segment
    from siyu.wecom.connection.models import WecomCorp
    from siyu.wecom.handover.service import Selection, plan
    from tests.e2e.conftest import make_user

    ensure_demo(customers=150, seed=42)
    with session_scope() as s:
        segment = create_segment(s, "复购客户", rule="orders.count >= 2", actor="test")
        plan_campaign(
            s,
            PlanCampaign(
                name="双12回购",
                segment_id=segment.id,
                channel="sms",
                template={
                    "sign_name": "悦颜",
                    "template_code": "SMS_000001",
                    "text": "${name}您好，满199减30，拒收请回复R",
                    "params": {"name": "{{ name }}"},
                },
            ),
            actor="test",
        )
        save_funnel(s, "新客转化", AARRR[:4], actor="test")
        plan(
            s,
            s.scalars(sa.select(WecomCorp)).one(),  # the demo's corp, connected by ensure
            kind="onjob",
            handover_userid="guide001",
            takeover_userid="guide002",
            selection=Selection(),
            actor="test",
        )
    fresh_trade()
    _import_with_a_reject()
    _loyalty_programme()
    refresh_segments(get_engine(), get_settings())
    make_user("walker", "admin")


def _loyalty_programme() -> None:
    """A loyalty programme with rules, tiers, a coupon and a few members with points, so its
    pages, the member list and a member's page have something to show (when the demo has set
    none up)."""
    from siyu import clock
    from siyu.customers.models import Customer
    from siyu.db import session_scope
    from siyu.loyalty.coupons.service import create_template, issue
    from siyu.loyalty.models import Programme
    from siyu.loyalty.rules import set_event_rule, set_spend_rule
    from siyu.loyalty.service import create_programme, deduct, earn, enrol
    from siyu.loyalty.tiers import set_tier

    with session_scope() as s:
        if s.scalar(sa.select(Programme.id).limit(1)) is not None:
            return
        programme = create_programme(s, "walk", "悦颜会员")
        set_spend_rule(s, programme, 100)
        set_event_rule(s, programme, "签到", 5)
        set_tier(s, programme, "basic", "普卡", rank=0, threshold=0)
        set_tier(s, programme, "gold", "金卡", rank=1, threshold=2000, multiplier_pct=150)
        coupon = create_template(s, programme, "c20", "满100减20", "amount_off", amount_fen=2000)
        customers = s.scalars(sa.select(Customer.id).order_by(Customer.id).limit(5)).all()
        for n, customer_id in enumerate(customers):
            member = enrol(s, programme, customer_id, channel="store")
            earn(s, member.id, ("opening", f"walk-{n}"), 100 * (n + 1), available_at=clock.now())
            if n == 0:
                deduct(s, member.id, "walk-adjust", 30, reason="演示扣减")
                issue(s, coupon, member.id, ("manual", "walk"))


def _import_with_a_reject() -> None:
    """An order import with a row it refused, so the jobs page links to an import whose page
    offers its rejects file."""
    from siyu.config import get_settings
    from siyu.db import get_engine
    from siyu.ingest.orders import import_orders
    from tests import platform_files as pf

    settings = get_settings()
    path = pf.taobao(
        settings.data_dir / "walk-taobao.csv",
        [
            pf.taobao_row("W3001", "tb_walker", "13812345678", "89.00"),
            pf.taobao_row("W3002", "", "not a phone", "=HYPERLINK(1)"),
        ],
    )
    summary = import_orders(get_engine(), settings, path, "taobao", actor="test")
    assert summary.rejected_total == 1


def test_every_link_in_the_console_works_on_a_phone(demo_console: None) -> None:
    from tests.e2e.linkwalk import walk_console

    with serving() as base:
        walked = walk_console(base, "walker", PASSWORD)
    assert not walked.problems, "\n".join(walked.problems)
    visited = {url.split("?")[0] for urls in walked.visited.values() for url in urls}
    missing = [
        path
        for path in _console_pages()
        if path not in NOT_WALKED
        and not any(re.fullmatch(re.sub(r"\{\w+\}", "[^/]+", path), v) for v in visited)
    ]
    assert not missing, f"console pages no link leads to (link them, or say why): {missing}"


def _console_pages() -> list[str]:
    """Every GET route outside the API schema (the console's pages, exports and the API docs
    page)."""
    from fastapi.routing import APIRoute

    from siyu.app import create_app

    found: list[str] = []

    def walk(routes: list[Any]) -> None:
        for r in routes:
            if hasattr(r, "original_router"):
                walk(r.original_router.routes)
            elif (
                getattr(r, "methods", None)
                and "GET" in r.methods
                and not (isinstance(r, APIRoute) and r.include_in_schema)
                and r.path not in ("/api/openapi.json",)
            ):
                found.append(r.path)

    walk(create_app().routes)
    return sorted(set(found))
