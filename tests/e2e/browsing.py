"""Shared pieces of the browser tests: Siyu served over real HTTP from a thread, Debian's
Chromium driven by Playwright, and a page that records what a visitor's browser would complain
about (JavaScript errors, console errors, Content-Security-Policy violations)."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - the dev extra installs it
    sync_playwright = None

NEEDS_BROWSER = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None or sync_playwright is None,
        reason="needs Debian's chromium and the playwright package (make test installs both)",
    ),
]
PASSWORD = "correct-horse-battery"

# Installed before any page script runs (Playwright's init scripts are not subject to the
# page's CSP): every violation the page's policy reports is kept in window.__csp.
WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + (e.sourceFile || "") + ":" + e.lineNumber);
});
"""


@contextmanager
def serving() -> Iterator[str]:
    """The app on a free local port; yields its base URL."""
    from siyu.app import create_app
    from siyu.simulators.threaded import ThreadedServer

    server = ThreadedServer(create_app())
    try:
        yield server.base
    finally:
        server.stop()


@contextmanager
def browser_context(base: str, **options: Any) -> Iterator[Any]:
    """A fresh Chromium context on ``base`` (zh-CN, desktop size unless told otherwise)."""
    assert sync_playwright is not None and CHROMIUM is not None
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, chromium_sandbox=False
        )
        context = browser.new_context(
            base_url=base,
            locale="zh-CN",
            viewport=options.pop("viewport", {"width": 1280, "height": 900}),
            **options,
        )
        context.set_default_timeout(20_000)
        context.add_init_script(WATCH_CSP)
        try:
            yield context
        finally:
            context.close()
            browser.close()


def watched(page: Any) -> list[str]:
    """What goes wrong on ``page`` from now on: uncaught errors and console errors."""
    trouble: list[str] = []
    page.on("pageerror", lambda exc: trouble.append(f"JavaScript error: {exc}"))
    page.on(
        "console",
        lambda msg: (
            trouble.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None
        ),
    )
    return trouble


def log_in(page: Any, username: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/customers")


def fresh_trade(customers: int = 12) -> list[int]:
    """The first ``customers`` customers made new in the last fortnight, each with an order or
    three in the last days, then the analytical copy refreshed and traits recomputed: the
    dashboard's default period (up to the last day with orders) has new customers by source,
    a funnel, retention cells and a lifecycle flow to draw and drill into. Their ids."""
    from datetime import timedelta

    import sqlalchemy as sa

    from siyu.analytics.service import refresh_copy
    from siyu.brands.models import Brand
    from siyu.config import get_settings
    from siyu.customers.models import Customer
    from siyu.db import get_engine, session_scope, utcnow
    from siyu.orders.models import Order
    from siyu.traits.service import recompute

    now = utcnow()
    batch = secrets.token_hex(3)  # so it can be called again
    with session_scope() as s:
        brand = s.scalar(sa.select(Brand).order_by(Brand.id))
        assert brand is not None
        people = list(s.scalars(sa.select(Customer).order_by(Customer.id).limit(customers)))
        for n, c in enumerate(people):
            c.first_seen_at = now - timedelta(days=12 - n % 10)
            c.source = c.source or "taobao"
            c.updated_at = now
            for k in range(1 + n % 3):
                when = now - timedelta(days=1 + 3 * k)
                s.add(
                    Order(
                        brand_id=brand.id,
                        platform="csv",
                        platform_order_id=f"fresh-{batch}-{c.id}-{k}",
                        customer_id=c.id,
                        status="completed",
                        total_fen=19900,
                        paid_fen=19900,
                        refund_fen=0,
                        ordered_at=when,
                        paid_at=when,
                        digest=f"{batch}-{c.id}-{k}",
                    )
                )
        ids = [c.id for c in people]
    settings = get_settings()
    refresh_copy(settings, full=True)
    recompute(get_engine(), settings)
    return ids
