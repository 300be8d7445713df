"""The hostile attempts that need a browser to judge (test_hostile.py has the rest): markup typed
into every field an operator, a customer or a stranger can fill, opened on every page that shows
it in Debian's Chromium, where the page's scripts (charts, htmx, the rule builder) run too;
redirects as the browser follows them; Swagger UI asked to load a spec from elsewhere; the
console framed by another site."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from tests.e2e.browsing import NEEDS_BROWSER, browser_context, log_in, serving, watched
from tests.e2e.test_hostile import MARK, SHORT_MARK, SMS_FORM, _static_segment, refresh_copy

pytestmark = NEEDS_BROWSER


@pytest.fixture()
def marked(wecom: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Markup in every field that can hold it, on pages of every kind; then the app served."""
    import sqlalchemy as sa
    from fastapi.testclient import TestClient

    from siyu.app import create_app
    from siyu.brands.models import Brand, Store
    from siyu.customers.models import Customer, Identity
    from siyu.db import session_scope, utcnow
    from siyu.events.models import Event
    from siyu.tags.service import add_group, add_tag, assign
    from siyu.wecom.connection.models import WecomCorp
    from siyu.wecom.contacts.models import WecomAlert
    from siyu.wecom.live_codes.models import LiveCode
    from tests.e2e.conftest import login, make_user
    from tests.e2e.test_import_console import _tb_csv

    with session_scope() as s:
        brand = Brand(code="b1", name=MARK)
        s.add(brand)
        s.flush()
        store = Store(brand_id=brand.id, code="S1", name=MARK)
        s.add(store)
        s.flush()
        c = Customer(name=MARK, city=SHORT_MARK, source=SHORT_MARK, store_id=store.id)
        s.add(c)
        s.flush()
        s.add(Identity(customer_id=c.id, kind="phone", value="+8613911112222", source="t"))
        s.add(
            Event(
                message_id="m1",
                customer_id=c.id,
                type="track",
                name=SHORT_MARK,
                properties={MARK: MARK, "备注": [MARK]},
                occurred_at=utcnow(),
                source="t",
            )
        )
        add_group(s, SHORT_MARK, single=False, actor="t")
        assign(s, add_tag(s, f"{SHORT_MARK}/{SHORT_MARK}", actor="t"), [c.id], actor="t")
        corp = s.scalar(sa.select(WecomCorp))
        s.add(LiveCode(corp_id=corp.id, name=MARK, state="x1", config_id="c", qr_png=b"x"))
        s.add(WecomAlert(corp_id=corp.id, kind="customer_deleted", message=MARK))
        customer = c.id
    segment = _static_segment(MARK, [customer])
    make_user("guanli", "admin")
    app = create_app()
    with TestClient(app, follow_redirects=False) as tc:
        csrf = login(tc, "guanli")
        form = {**SMS_FORM, "csrf": csrf, "name": MARK, "segment_id": str(segment)}
        campaign = tc.post("/campaigns/new", data=form).headers["location"]
        tc.post(
            "/dashboard/funnels",
            data={"csrf": csrf, "name": MARK, "label_0": MARK, "kind_0": "first_seen"}
            | {"label_1": MARK, "kind_1": "order"},
        )
        tc.post(
            "/wecom/keywords",
            data={"csrf": csrf, "name": MARK[:90], "match": "contains", "pattern": MARK}
            | {"reply": MARK, "ch_kf": "1"},
        )
        tc.post("/wecom/welcome", data={"csrf": csrf, "text": MARK})
        tc.post(
            f"/customers/{customer}/do-not-disturb",
            data={"csrf": csrf, "on": "1", "reason": MARK},
        )
        files = {"file": (MARK + ".csv", _tb_csv(), "text/csv")}
        upload = tc.post("/imports", data={"csrf": csrf, "what": "orders:taobao"}, files=files)
        tc.post("/admin/apikeys", data={"csrf": csrf, "name": MARK, "scope": "customers:read"})
    with TestClient(app, client=("203.0.113.5", 1)) as stranger:
        stranger.post("/login", data={"username": MARK[:60], "password": "x" * 12})
    refresh_copy()  # the rule builder's live preview reads it
    with serving() as base:
        yield {
            "base": base,
            "customer": customer,
            "segment": segment,
            "campaign": campaign,
            "run": upload.headers["location"],
        }


def test_ba1_markup_in_every_field_runs_nowhere(marked: dict[str, Any]) -> None:
    rule = quote(json.dumps({"field": "city", "op": "=", "value": MARK}))
    pages = [
        "/customers",
        f"/customers?q={quote(MARK)}",
        f"/customers/{marked['customer']}",
        f"/customers/{marked['customer']}/merge?other=%3Cimg",
        "/segments",
        f"/segments/{marked['segment']}",
        f"/segments/new?name={quote(MARK)}&rule={rule}",
        "/campaigns",
        "/campaigns/new",
        marked["campaign"],
        "/dashboard",
        "/dashboard/funnels",
        f"/dashboard/customers?rule={rule}",
        "/wecom",
        "/wecom/live-codes",
        "/wecom/keywords",
        "/wecom/welcome",
        "/imports",
        marked["run"],
        "/jobs",
        "/admin",
        "/admin/audit",
        f"/admin/audit?actor={quote(MARK)}",
        "/insight",
    ]
    with browser_context(marked["base"]) as context:
        page = context.new_page()
        trouble = watched(page)
        failed: list[str] = []
        page.on(
            "response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 500 else None
        )
        log_in(page, "guanli")
        for url in pages:
            page.goto(url)
            page.wait_for_load_state("networkidle")
            where = f"{url}: "
            assert page.evaluate("window.__xss") is None, where + "markup ran"
            assert page.locator("img[src=x]").count() == 0, where + "markup became an element"
            assert page.evaluate("window.__csp") == [], where + str(page.evaluate("window.__csp"))
        # the customer page unmasked shows the whole name, still as text
        page.goto(f"/customers/{marked['customer']}")
        page.locator(f"form[action$='/customers/{marked['customer']}'] button").click()
        page.wait_for_load_state("networkidle")
        assert MARK in page.locator("h1").inner_text()
        assert page.evaluate("window.__xss") is None and page.locator("img[src=x]").count() == 0
        assert not trouble, (trouble, failed)


@pytest.mark.parametrize(
    "target",
    ["//evil.example/x", "/\\evil.example", "/\t/evil.example", "https://evil.example"],
    ids=["BA2 //", "BA3 /\\", "BA4 tab", "BA5 absolute"],
)
def test_a_redirect_the_browser_follows_stays_on_the_site(target: str) -> None:
    from tests.e2e.conftest import make_user

    make_user("guanli", "admin")
    with serving() as base, browser_context(base) as context:
        page = context.new_page()
        here = urlsplit(base).netloc
        page.route(
            "**/*",
            lambda route: (
                route.abort() if urlsplit(route.request.url).netloc != here else route.continue_()
            ),
        )
        page.goto(f"/lang/en?next={quote(target)}")
        assert urlsplit(page.url).netloc == here, page.url
        page.goto(f"/login?next={quote(target)}")
        page.fill("input[name=username]", "guanli")
        page.fill("input[name=password]", "correct-horse-battery")
        page.click("button[type=submit]")
        page.wait_for_load_state()
        assert urlsplit(page.url).netloc == here, page.url


def test_ba6_swagger_ui_will_not_load_a_spec_from_elsewhere() -> None:
    with serving() as base, browser_context(base) as context:
        page = context.new_page()
        trouble = watched(page)
        here = urlsplit(base).netloc
        elsewhere: list[str] = []
        page.on(
            "request",
            lambda r: (
                elsewhere.append(r.url)
                if urlsplit(r.url).netloc not in (here, "") and not r.url.startswith("data:")
                else None
            ),
        )
        spec = quote("https://evil.example/spec.json")
        page.goto(f"/api/docs?url={spec}&configUrl={spec}&urls.primaryName=x")
        page.locator(".opblock").first.wait_for()
        assert "Siyu" in page.locator(".info .title").inner_text()
        assert elsewhere == [] and page.evaluate("window.__csp") == []
        assert not trouble, trouble


def test_ba7_another_site_cannot_frame_the_console() -> None:
    with serving() as base, browser_context(base) as context:
        page = context.new_page()
        page.goto("/login")  # a page of the site, then a frame of it put in by "another site"
        frame_host = context.new_page()
        frame_host.set_content(
            f'<iframe id="f" src="{base}/login" width="600" height="400"></iframe>'
        )
        frame_host.wait_for_timeout(1000)
        framed = [f for f in frame_host.frames if f != frame_host.main_frame]
        assert framed
        inside = framed[0]
        assert (
            inside.url.startswith("chrome-error")
            or inside.locator("input[name=password]").count() == 0
        )
