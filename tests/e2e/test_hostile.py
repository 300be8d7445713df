"""Hostile attempts against the console, the API and the callbacks, as an attacker and as a
careless operator would make them (issue 23, "Harden what exists", items 1–9 and the pages it
added). Every attempt is a case here, so each one keeps holding; an attempt that does not hold
yet is marked ``xfail(strict=True)`` with what goes wrong, so it fails the suite the day it is
fixed and the mark has to come off.

The attempts are numbered by item (A = item 1 … I = item 9, N = the new pages); the browser
half is in test_hostile_browser.py. Requests go in process through FastAPI's test client,
with server errors answered as 500s (not raised), as a client would see them.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from tests.e2e.conftest import make_user

PASSWORD = "correct-horse-battery"
POSTGRES = os.environ.get("SIYU_TEST_DATABASE_URL", "sqlite") != "sqlite"
MINE_PHONE, THEIR_PHONE = "+8613911112222", "+8613922223333"
THEIR_NAME, THEIR_EMAIL = "外店丁", "ding@other.example"
# markup an operator, a customer or a stranger could type; a page that runs it sets __xss
MARK = '"><img src=x onerror=__xss=1><script>__xss=2</script>'
SHORT_MARK = "<img src=x onerror=__xss=1>"  # for fields of 32 characters and less
RAW = ("<img src=x", "<script>__xss")


def not_fixed(reason: str, *, only_postgres: bool = False) -> pytest.MarkDecorator:
    """An attempt that does not hold yet (strict: passing makes the suite fail, so the mark is
    taken off with the fix)."""
    return pytest.mark.xfail(
        condition=POSTGRES if only_postgres else True, reason=reason, strict=True
    )


@pytest.fixture(autouse=True)
def quick_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 at its cheapest for these tests' users: the attempts are about what logins and
    sessions allow, not what a hash costs, and a hundred users would take a minute at the
    production cost (a hash carries its own parameters, so checking follows them)."""
    from argon2 import PasswordHasher

    from siyu.accounts import service

    monkeypatch.setattr(
        service, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


# -- the town: one brand, two stores, a guide of the first ----------------------------------------
@dataclass
class Town:
    app: Any
    brand: int
    s1: int
    s2: int
    mine: int
    theirs: int
    their_consent: int
    their_phone_id: int
    clients: dict[str, tuple[TestClient, str]] = field(default_factory=dict)

    def as_(self, username: str, role: str = "admin") -> tuple[TestClient, str]:
        """A logged-in client (made once per user) and its CSRF token."""
        if username not in self.clients:
            store = "S1" if role == "store_guide" else None
            make_user(username, role, store_code=store)
            c = browser(self.app)
            self.clients[username] = (c, log_in(c, username))
        return self.clients[username]

    def anonymous(self, address: str = "testclient") -> TestClient:
        return browser(self.app, address)


def browser(app: Any, address: str = "testclient") -> TestClient:
    return TestClient(
        app, follow_redirects=False, raise_server_exceptions=False, client=(address, 50000)
    )


def log_in(c: TestClient, username: str, password: str = PASSWORD) -> str:
    r = c.post("/login", data={"username": username, "password": password, "next": "/customers"})
    assert r.status_code == 303, _said(r.text)
    page = c.get("/customers")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    if found is None:  # a role that may not list customers still has a session
        return csrf_of(username)
    return found.group(1)


def csrf_of(username: str) -> str:
    from siyu.accounts.models import LoginSession, User
    from siyu.db import session_scope

    with session_scope() as s:
        token = s.scalar(
            sa.select(LoginSession.csrf_token)
            .join(User, User.id == LoginSession.user_id)
            .where(User.username == username)
            .order_by(LoginSession.id.desc())
        )
    assert token
    return str(token)


@pytest.fixture()
def town() -> Iterator[Town]:
    from siyu.app import create_app
    from siyu.brands.models import Brand, Store
    from siyu.customers.models import Consent, Customer, Identity
    from siyu.db import session_scope, utcnow

    now = utcnow()
    with session_scope() as s:
        brand = Brand(code="b1", name="品牌一")
        s.add(brand)
        s.flush()
        s1 = Store(brand_id=brand.id, code="S1", name="门店一")
        s2 = Store(brand_id=brand.id, code="S2", name="门店二")
        s.add_all([s1, s2])
        s.flush()
        mine = Customer(name="本店甲", city="上海", store_id=s1.id, source="pos", status="active")
        theirs = Customer(name=THEIR_NAME, city="上海", store_id=s2.id, source="pos")
        s.add_all([mine, theirs])
        s.flush()
        for c, phone in ((mine, MINE_PHONE), (theirs, THEIR_PHONE)):
            s.add(Identity(customer_id=c.id, kind="phone", value=phone, source="t"))
        s.add(Identity(customer_id=theirs.id, kind="email", value=THEIR_EMAIL, source="t"))
        s.flush()
        phone_id = s.scalar(sa.select(Identity.id).where(Identity.value == THEIR_PHONE))
        consent = Consent(
            customer_id=theirs.id,
            brand_id=brand.id,
            channel="sms",
            purpose="marketing",
            address=THEIR_PHONE,
            status="granted",
            source="t",
            recorded_at=now,
        )
        s.add(consent)
        s.flush()
        ids = (brand.id, s1.id, s2.id, mine.id, theirs.id, consent.id, phone_id)
    app = create_app()
    t = Town(app, *ids)
    yield t
    for c, _csrf in t.clients.values():
        c.close()


def refresh_copy() -> None:
    from siyu.analytics.service import refresh_copy as refresh
    from siyu.config import get_settings

    refresh(get_settings(), full=True)


def my_phone_id() -> int:
    from siyu.customers.models import Identity
    from siyu.db import session_scope

    with session_scope() as s:
        return int(s.scalar(sa.select(Identity.id).where(Identity.value == MINE_PHONE)) or 0)


def no_markup(text: str, where: str) -> None:
    for raw in RAW:
        assert raw not in text, f"{where}: unescaped {raw!r}"


def audit_actions() -> list[tuple[str, str | None]]:
    from siyu.accounts.models import AuditLog
    from siyu.db import session_scope

    with session_scope() as s:
        return [(a, t) for a, t in s.execute(sa.select(AuditLog.action, AuditLog.target_id))]


# == A. item 1: markup stays text; the policy and no-store on every page ==========================
SMS_FORM = {
    "channel": "sms",
    "sign_name": "悦颜",
    "template_code": "SMS_000001",
    "sms_text": "${name}您好，拒收请回复R",
    "params": "name={{ name }}",
    "holdout": "0",
}


def _static_segment(name: str, ids: list[int]) -> int:
    from siyu.db import session_scope
    from siyu.segments.service import create_static_segment

    with session_scope() as s:
        seg, _missing = create_static_segment(s, name, customer_ids=ids, actor="t")
        return int(seg.id)


def _field_customer_name(t: Town, request: Any) -> list[Any]:
    from siyu.customers.models import Customer
    from siyu.db import session_scope

    with session_scope() as s:
        s.get(Customer, t.mine).name = MARK
        other = Customer(name=MARK + "乙", status="active")
        s.add(other)
    return [
        "/customers",
        "/customers?q=%3Cimg",
        f"/customers/{t.mine}",
        ("POST", f"/customers/{t.mine}", {"unmask": "1"}),
        f"/customers/{t.mine}/merge?other=%3Cimg",
        "/identity-conflicts",
    ]


def _field_segment_name(t: Town, request: Any) -> list[Any]:
    seg = _static_segment(MARK, [t.mine])
    return ["/segments", f"/segments/{seg}", "/campaigns/new"]


def _field_tag_name(t: Town, request: Any) -> list[Any]:
    from siyu.db import session_scope
    from siyu.tags.service import add_group, add_tag, assign

    with session_scope() as s:
        add_group(s, SHORT_MARK, single=False, actor="t")
        tag = add_tag(s, f"{SHORT_MARK}/{SHORT_MARK}", actor="t")
        assign(s, tag, [t.mine], actor="t")
    return [f"/customers/{t.mine}", "/segments/new"]


def _field_campaign_name(t: Town, request: Any) -> list[Any]:
    seg = _static_segment("名单", [t.mine])
    c, csrf = t.as_("guanli")
    r = c.post("/campaigns/new", data={**SMS_FORM, "csrf": csrf, "name": MARK, "segment_id": seg})
    assert r.status_code == 303, _said(r.text)
    return ["/campaigns", r.headers["location"]]


def _field_funnel_step(t: Town, request: Any) -> list[Any]:
    c, csrf = t.as_("guanli")
    r = c.post(
        "/dashboard/funnels",
        data={"csrf": csrf, "name": MARK, "label_0": MARK, "kind_0": "first_seen"}
        | {"label_1": "</script><script>__xss=3</script>", "kind_1": "order"},
    )
    assert r.status_code == 303, _said(r.text)
    return ["/dashboard/funnels", r.headers["location"].split("#")[0]]


def _field_live_code_name(t: Town, request: Any) -> list[Any]:
    from siyu.db import session_scope
    from siyu.wecom.connection.models import WecomCorp
    from siyu.wecom.live_codes.models import LiveCode

    request.getfixturevalue("wecom")
    with session_scope() as s:
        corp = s.scalar(sa.select(WecomCorp))
        code = LiveCode(corp_id=corp.id, name=MARK, state="x1", config_id="c", qr_png=b"\x89PNG")
        s.add(code)
        s.flush()
        code_id = code.id
    return ["/wecom/live-codes", f"/wecom/live-codes/{code_id}"]


def _field_keyword_rule(t: Town, request: Any) -> list[Any]:
    request.getfixturevalue("wecom")
    c, csrf = t.as_("guanli")
    form = {"csrf": csrf, "name": MARK[:90], "match": "contains", "pattern": MARK, "reply": MARK}
    r = c.post("/wecom/keywords", data=form | {"ch_kf": "1"})
    assert r.status_code == 303, _said(r.text)
    return ["/wecom/keywords"]


def _field_welcome_text(t: Town, request: Any) -> list[Any]:
    request.getfixturevalue("wecom")
    c, csrf = t.as_("guanli")
    r = c.post("/wecom/welcome", data={"csrf": csrf, "text": MARK + " {{ nickname }}"})
    assert r.status_code == 200 and "error" not in r.text.split("<main", 1)[-1][:50], r.text[:300]
    return ["/wecom/welcome"]


def _field_wecom_texts(t: Town, request: Any) -> list[Any]:
    """What customers write (a kf message) and what alerts say, kept and shown to staff."""
    from siyu.db import session_scope, utcnow
    from siyu.wecom.connection.models import WecomCorp
    from siyu.wecom.contacts.models import WecomAlert
    from siyu.wecom.replies.models import KeywordReply, KeywordRule

    request.getfixturevalue("wecom")
    with session_scope() as s:
        corp = s.scalar(sa.select(WecomCorp))
        rule = KeywordRule(corp_id=corp.id, name="问价", match="contains", pattern="价")
        s.add(rule)
        s.flush()
        s.add(
            KeywordReply(
                corp_id=corp.id,
                channel="kf",
                message_id="m1",
                sender="x",
                customer_id=t.mine,
                text=MARK,
                rule_id=rule.id,
                status="sent",
                at=utcnow(),
            )
        )
        s.add(WecomAlert(corp_id=corp.id, kind="customer_deleted", message=MARK))
    return ["/wecom", "/wecom/keywords"]


def _field_store_name(t: Town, request: Any) -> list[Any]:
    from siyu.brands.models import Store
    from siyu.db import session_scope

    with session_scope() as s:
        s.get(Store, t.s1).name = MARK
    return ["/customers", "/admin", f"/customers/{t.mine}"]


def _field_event_properties(t: Town, request: Any) -> list[Any]:
    from siyu.db import session_scope, utcnow
    from siyu.events.models import Event

    with session_scope() as s:
        s.add(
            Event(
                message_id="x1",
                customer_id=t.mine,
                type="track",
                name=SHORT_MARK,
                properties={MARK: MARK, "nested": [{"备注": MARK}]},
                occurred_at=utcnow(),
                source="t",
            )
        )
    return [f"/customers/{t.mine}", ("POST", f"/customers/{t.mine}", {"unmask": "1"})]


def _field_staff_notes(t: Town, request: Any) -> list[Any]:
    """The reason for do-not-disturb and the evidence of a consent, typed by staff."""
    c, csrf = t.as_("guanli")
    r = c.post(
        f"/customers/{t.mine}/do-not-disturb", data={"csrf": csrf, "on": "1", "reason": MARK}
    )
    assert r.status_code == 303, _said(r.text)
    r = c.post(
        f"/customers/{t.mine}/consents",
        data={"csrf": csrf, "action": "grant", "identity_id": str(my_phone_id()), "note": MARK}
        | {"reference": MARK[:90]},
    )
    assert r.status_code == 303, _said(r.text)
    return [f"/customers/{t.mine}", "/admin/audit"]


def _field_upload_name(t: Town, request: Any) -> list[Any]:
    from tests.e2e.test_import_console import _tb_csv

    c, csrf = t.as_("guanli")
    files = {"file": (MARK + ".csv", _tb_csv(), "text/csv")}
    r = c.post("/imports", data={"csrf": csrf, "what": "orders:taobao"}, files=files)
    assert r.status_code == 303, _said(r.text)
    return ["/imports", r.headers["location"], "/jobs"]


def _field_login_name(t: Town, request: Any) -> list[Any]:
    """A stranger types markup as the user name: the failed login is in the audit log."""
    r = t.anonymous().post("/login", data={"username": MARK[:60], "password": "x" * 12})
    assert r.status_code == 401
    return ["/admin/audit", "/admin/audit?action=login.failed"]


def _field_admin_names(t: Town, request: Any) -> list[Any]:
    """An API key's name and a user's display name, typed by an administrator."""
    c, csrf = t.as_("guanli")
    r = c.post("/admin/apikeys", data={"csrf": csrf, "name": MARK, "scope": "customers:read"})
    assert r.status_code == 200, r.text[:300]
    no_markup(r.text, "the page showing the new key")
    r = c.post(
        "/admin/users",
        data={"csrf": csrf, "username": "dz", "password": PASSWORD, "role": "analyst"}
        | {"display_name": MARK},
    )
    assert r.status_code == 303, _said(r.text)
    return ["/admin", "/admin/audit"]


def _field_rule_value(t: Town, request: Any) -> list[Any]:
    """A segment rule whose value is markup (the rule's text is shown on its page)."""
    from siyu.db import session_scope
    from siyu.segments.service import create_segment

    with session_scope() as s:
        seg = create_segment(s, "城市", rule={"field": "city", "op": "=", "value": MARK}, actor="t")
        seg_id = seg.id
    return ["/segments", f"/segments/{seg_id}"]


def _reflected(t: Town, request: Any) -> list[Any]:
    """Query values said back on the page that answers them."""
    from urllib.parse import quote

    m = quote(MARK)
    rule = quote(json.dumps({"field": "city", "op": "=", "value": MARK}))
    return [
        f"/customers?q={m}&source={m}",
        f"/login?next=/{m}",
        f"/segments/new?name={m}&rule={rule}",
        f"/admin/audit?actor={m}&action={m}",
        f"/customers/{t.mine}/merge?other={m}",
        f"/dashboard/customers?rule={rule}",
        f"/customers/{t.mine}?done={m}",
        f"/identity-conflicts?done={m}",
    ]


FIELDS: dict[str, Callable[[Town, Any], list[Any]]] = {
    "A01 customer name": _field_customer_name,
    "A02 segment name": _field_segment_name,
    "A03 tag group and tag": _field_tag_name,
    "A04 campaign name": _field_campaign_name,
    "A05 funnel name and steps": _field_funnel_step,
    "A06 live code name": _field_live_code_name,
    "A07 keyword rule name, pattern, reply": _field_keyword_rule,
    "A08 welcome message": _field_welcome_text,
    "A09 customers' kf messages, alerts": _field_wecom_texts,
    "A10 store name": _field_store_name,
    "A11 event properties": _field_event_properties,
    "A12 do-not-disturb reason, consent evidence": _field_staff_notes,
    "A13 upload file name": _field_upload_name,
    "A14 user name typed at the login": _field_login_name,
    "A15 API key and display names": _field_admin_names,
    "A16 a segment rule's value": _field_rule_value,
    "A17 query values said back": _reflected,
}


@pytest.mark.parametrize("what", list(FIELDS))
def test_markup_typed_into_a_field_stays_text(what: str, town: Town, request: Any) -> None:
    pages = FIELDS[what](town, request)
    c, csrf = town.as_("guanli")
    anon = town.anonymous()
    for page in pages:
        if isinstance(page, tuple):
            method, url, data = page
            r = c.request(method, url, data={**data, "csrf": csrf})
        else:
            url = page
            r = (anon if url.startswith("/login") else c).get(url)
        assert r.status_code < 500, (url, r.status_code)
        assert r.status_code in (200, 400, 404, 409, 422), (url, r.status_code, r.text[:300])
        no_markup(r.text, url)
        if r.headers["content-type"].startswith("text/html"):
            assert "content-security-policy" in r.headers, url


def _said(text: str) -> str:
    """What a page said went wrong (its error or refusal line), for assertion messages."""
    found = re.search(r'class="error"[^>]*>([^<]*)', text)
    return found.group(1) if found else text[:300]


def _console_pages(t: Town, request: Any) -> list[str]:
    """Every console GET route, its ids filled with real objects (or one that is missing: the
    not-found page is a page too)."""
    from siyu.db import session_scope
    from siyu.metrics.funnels.service import save_funnel
    from tests.e2e.test_import_console import _tb_csv
    from tests.e2e.test_permission_matrix import _routes

    request.getfixturevalue("wecom")
    c, csrf = t.as_("guanli")
    seg = _static_segment("名单", [t.mine])
    made = c.post("/campaigns/new", data={**SMS_FORM, "csrf": csrf, "name": "c", "segment_id": seg})
    assert made.status_code == 303, _said(made.text)
    files = {"file": ("a.csv", _tb_csv(), "text/csv")}
    run = c.post("/imports", data={"csrf": csrf, "what": "orders:taobao"}, files=files)
    assert run.status_code == 303, _said(run.text)
    with session_scope() as s:
        steps = [{"label": "a", "kind": "first_seen"}, {"label": "b", "kind": "order"}]
        funnel = save_funnel(s, "f", steps, actor="t").id
    ids = {
        "customer_id": t.mine,
        "segment_id": seg,
        "campaign_id": int(made.headers["location"].rsplit("/", 1)[1]),
        "run_id": int(run.headers["location"].rsplit("/", 1)[1]),
        "funnel_id": funnel,
        "lang": "en",
        "token": "not-a-token",
    }
    pages = []
    for method, path, _perm in _routes(t.app):
        if method != "GET" or path.startswith("/api/") or path in ("/", "/healthz"):
            continue
        pages.append(re.sub(r"\{(\w+)\}", lambda m: str(ids.get(m.group(1), 999999)), path))
    rule = json.dumps({"field": "city", "op": "=", "value": "上海"})
    return [p.replace("/dashboard/customers", f"/dashboard/customers?rule={rule}") for p in pages]


INLINE_HANDLER = re.compile(r"<[^>]+\s(?:on[a-z]+|hx-on[:\w-]*)\s*=", re.I)
SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.S | re.I)


def test_a18_every_console_page_carries_the_policy_and_no_store(town: Town, request: Any) -> None:
    from siyu.webkit import CONTENT_SECURITY_POLICY

    c, _csrf = town.as_("guanli")
    anon = town.anonymous()
    wrong = []
    pages = _console_pages(town, request)
    assert len(pages) > 30
    for url in [*pages, "/api/docs", "/nope", "/customers/999999"]:
        r = (anon if url.startswith(("/login", "/u/", "/l/")) else c).get(url)
        if r.status_code >= 500:
            wrong.append(f"{url}: {r.status_code}")
            continue
        if r.headers.get("content-security-policy") != CONTENT_SECURITY_POLICY:
            wrong.append(f"{url}: no policy")
        if r.headers.get("cache-control") != "no-store":
            wrong.append(f"{url}: cache-control {r.headers.get('cache-control')}")
        if r.headers.get("x-content-type-options") != "nosniff":
            wrong.append(f"{url}: sniffable")
    assert not wrong, "\n".join(wrong)


def test_a19_no_console_page_carries_inline_code(town: Town, request: Any) -> None:
    """No inline script, no on*= (or htmx hx-on) handler, no javascript: URL on any page: the
    policy would stop them, and a page relying on one is broken under it."""
    c, _csrf = town.as_("guanli")
    wrong = []
    for url in [*_console_pages(town, request), "/api/docs"]:
        r = c.get(url)
        if not r.headers.get("content-type", "").startswith("text/html"):
            continue
        for attrs, body in SCRIPT.findall(r.text):
            if body.strip() and 'type="application/json"' not in attrs:
                wrong.append(f"{url}: inline script {body.strip()[:60]!r}")
        if found := INLINE_HANDLER.search(r.text):
            wrong.append(f"{url}: handler {found.group()[:80]!r}")
        if "javascript:" in r.text.lower():
            wrong.append(f"{url}: javascript: URL")
        if "htmx" in r.text and '"allowEval": false' not in r.text:
            wrong.append(f"{url}: htmx may eval")
    assert not wrong, "\n".join(wrong)


def test_a20_downloads_of_personal_data_are_not_stored_and_not_shown_inline(
    town: Town,
) -> None:
    from tests.e2e.test_import_console import _tb_csv, run_queued_imports

    c, csrf = town.as_("guanli")
    files = {"file": ("a.csv", _tb_csv(), "text/csv")}
    run = c.post("/imports", data={"csrf": csrf, "what": "orders:taobao"}, files=files)
    run_queued_imports()
    refresh_copy()
    answers = [
        c.get(run.headers["location"] + "/rejects.csv"),
        c.get("/admin/audit.csv"),
        c.get("/dashboard.csv"),
        c.post(f"/customers/{town.mine}/privacy/export", data={"csrf": csrf}),
    ]
    for r in answers:
        where = r.request.url.path
        assert r.status_code == 200, (where, r.status_code, r.text[:200])
        assert r.headers["cache-control"] == "no-store", where
        assert r.headers["x-content-type-options"] == "nosniff", where
        if where != "/dashboard.csv":
            assert r.headers["content-disposition"].startswith("attachment"), where


def test_a21_an_over_size_answer_carries_the_same_headers(town: Town) -> None:
    c, csrf = town.as_("guanli")
    r = c.post(
        "/api/v1/segments/count",
        content=b"{" + b" " * (3 * 1024 * 1024) + b"}",
        headers={"X-CSRF-Token": csrf, "content-type": "application/json"},
    )
    assert r.status_code == 413
    assert r.headers.get("x-content-type-options") == "nosniff"
    assert r.headers.get("cache-control") == "no-store"


# == B. item 2: a store guide sees only their scope; unmasking is permitted and audited ===========
def theirs_shown(text: str) -> list[str]:
    """Anything of the other store's customer in an answer, masked or not."""
    from siyu.customers.identifiers import mask_email, mask_phone

    markers = [THEIR_NAME, THEIR_NAME[:2], THEIR_PHONE, THEIR_PHONE[3:], THEIR_EMAIL]
    markers += [mask_phone(THEIR_PHONE) or "", mask_email(THEIR_EMAIL) or ""]
    return [m for m in markers if m and m in text]


def their_state() -> tuple[Any, ...]:
    from siyu.customers.models import Consent, Customer
    from siyu.db import session_scope

    with session_scope() as s:
        c = s.scalar(sa.select(Customer).where(Customer.name == THEIR_NAME))
        consents = s.execute(
            sa.select(Consent.status, Consent.recorded_at).where(Consent.customer_id == c.id)
        ).all()
        return c.do_not_disturb, c.status, tuple(consents)


def _guide_posts(t: Town, csrf: str) -> dict[str, tuple[str, str, dict[str, Any]]]:
    return {
        "B01 unmask their customer": ("POST", f"/customers/{t.theirs}", {"unmask": "1"}),
        "B02 their do-not-disturb": (
            "POST",
            f"/customers/{t.theirs}/do-not-disturb",
            {"on": "1", "reason": "顾客来电"},
        ),
        "B03 their consent": (
            "POST",
            f"/customers/{t.theirs}/consents",
            {"action": "withdraw", "consent_id": str(t.their_consent)},
        ),
        "B04 their consent through mine": (
            "POST",
            f"/customers/{t.mine}/consents",
            {"action": "withdraw", "consent_id": str(t.their_consent)},
        ),
        "B05 their phone through mine": (
            "POST",
            f"/customers/{t.mine}/consents",
            {"action": "withdraw", "identity_id": str(t.their_phone_id)},
        ),
        "B06 their 360 over the API, unmasked": (
            "GET",
            f"/api/v1/customers/{t.theirs}?unmask=true",
            {},
        ),
        "B07 their consent over the API through mine": (
            "POST",
            f"/api/v1/customers/{t.mine}/consents",
            {"action": "withdraw", "channel": "sms", "address": THEIR_PHONE},
        ),
    }


GUIDE_WRITES = [
    "B01 unmask their customer",
    "B02 their do-not-disturb",
    "B03 their consent",
    "B04 their consent through mine",
    "B05 their phone through mine",
    "B06 their 360 over the API, unmasked",
    "B07 their consent over the API through mine",
]


@pytest.mark.parametrize("attempt", GUIDE_WRITES)
def test_a_guide_reaches_nothing_of_another_store(attempt: str, town: Town) -> None:
    c, csrf = town.as_("daogou", "store_guide")
    before = their_state()
    method, url, data = _guide_posts(town, csrf)[attempt]
    if url.startswith("/api/"):
        r = c.request(method, url, json=data or None, headers={"X-CSRF-Token": csrf})
    elif method == "POST":
        r = c.post(url, data={**data, "csrf": csrf})
    else:
        r = c.get(url)
    assert r.status_code in (404, 409, 422), (r.status_code, _said(r.text))
    assert not theirs_shown(r.text), theirs_shown(r.text)
    assert their_state() == before


@pytest.mark.parametrize(
    "url",
    [
        pytest.param(f"/customers?q={THEIR_PHONE[3:]}", id="B08 by phone"),
        pytest.param(f"/customers?q={THEIR_NAME}", id="B09 by name"),
        pytest.param(f"/customers?q={THEIR_EMAIL}", id="B10 by e-mail"),
        pytest.param("/customers?store_id={s2}", id="B11 by their store"),
        pytest.param(f"/api/v1/customers?q={THEIR_NAME[:2]}", id="B12 over the API"),
        pytest.param("/customers/{mine}/merge?other={theirs}", id="B13 the merge preview"),
        pytest.param("/identity-conflicts", id="B14 the review list"),
    ],
)
def test_a_guide_searching_for_another_stores_customer_finds_nothing(url: str, town: Town) -> None:
    c, _csrf = town.as_("daogou", "store_guide")
    from urllib.parse import quote

    r = c.get(url.format(s2=town.s2, mine=town.mine, theirs=town.theirs))
    assert r.status_code in (200, 403), r.status_code
    asked = url.partition("q=")[2]
    shown = r.text.replace(asked, "").replace(quote(asked), "") if asked else r.text
    assert "共 0 位客户" in shown or r.status_code == 403 or '"total":0' in shown, shown[-500:]
    assert not theirs_shown(shown), theirs_shown(shown)


def test_b15_a_guide_previews_and_drills_down_only_their_customers(town: Town) -> None:
    c, csrf = town.as_("daogou", "store_guide")
    refresh_copy()
    rule = {"field": "city", "op": "=", "value": "上海"}
    preview = c.post(
        "/api/v1/segments/preview", json={"rule": rule}, headers={"X-CSRF-Token": csrf}
    )
    assert preview.status_code == 200, preview.text
    assert preview.json()["count"] == 1 and not theirs_shown(preview.text)
    assert [s["customer_id"] for s in preview.json()["sample"]] == [town.mine]
    count = c.post("/api/v1/segments/count", json={"rule": rule}, headers={"X-CSRF-Token": csrf})
    assert count.json()["count"] == 1
    drill = c.get("/dashboard/customers", params={"rule": json.dumps(rule)})
    assert drill.status_code == 200 and not theirs_shown(drill.text)
    seg = _static_segment("两店名单", [town.mine, town.theirs])
    page = c.get(f"/segments/{seg}")
    assert 'data-testid="segment-size">1<' in page.text and not theirs_shown(page.text)
    assert c.get(f"/api/v1/segments/{seg}/export").status_code == 403


@pytest.mark.parametrize(
    "rule",
    [
        pytest.param({"field": "store", "op": "=", "value": "S2"}, id="B23 their store by rule"),
        pytest.param({"field": "identity", "op": "has", "value": "email"}, id="B24 by identity"),
        pytest.param({"field": "segment", "op": "=", "value": "{seg}"}, id="B25 a segment of both"),
        pytest.param(
            {"not": {"field": "city", "op": "=", "value": "北京"}},
            id="B26 everyone by negation",
        ),
    ],
)
def test_a_guides_rule_never_counts_another_store(rule: dict[str, Any], town: Town) -> None:
    seg = _static_segment("两店名单", [town.mine, town.theirs])
    c, csrf = town.as_("daogou", "store_guide")
    refresh_copy()
    rule = json.loads(json.dumps(rule).replace('"{seg}"', str(seg)))
    h = {"X-CSRF-Token": csrf}
    preview = c.post("/api/v1/segments/preview", json={"rule": rule}, headers=h)
    count = c.post("/api/v1/segments/count", json={"rule": rule}, headers=h)
    drill = c.get("/dashboard/customers", params={"rule": json.dumps(rule)})
    for r in (preview, count, drill):
        assert r.status_code == 200, (r.request.url.path, r.status_code, r.text[:200])
        assert not theirs_shown(r.text), (r.request.url.path, theirs_shown(r.text))
    assert preview.status_code == 200, preview.text[:200]  # a rule a guide may ask
    assert preview.json()["count"] <= 1 and count.json()["count"] <= 1
    assert {x["customer_id"] for x in preview.json()["sample"]} <= {town.mine}


@pytest.mark.parametrize("who", ["analyst", "store_guide", "operator"])
def test_b16_privacy_export_and_erasure_need_their_permission(who: str, town: Town) -> None:
    c, csrf = town.as_(f"p_{who}", who)
    for what in ("export", "erase"):
        r = c.post(f"/customers/{town.mine}/privacy/{what}", data={"csrf": csrf, "confirm": "删除"})
        assert r.status_code == 403, (what, r.status_code)
    from siyu.customers.models import Customer
    from siyu.db import session_scope

    with session_scope() as s:
        assert s.get(Customer, town.mine).status == "active"


def test_b17_unmasking_without_the_permission_shows_masked_and_is_recorded(town: Town) -> None:
    c, csrf = town.as_("fenxi", "analyst")
    page = c.post(f"/customers/{town.theirs}", data={"csrf": csrf, "unmask": "1"})
    assert page.status_code == 200 and THEIR_PHONE[3:] not in page.text
    assert THEIR_NAME not in page.text and THEIR_EMAIL not in page.text
    api = c.get(f"/api/v1/customers/{town.theirs}?unmask=true")
    assert api.status_code == 403 and THEIR_PHONE[3:] not in api.text
    assert ("customer.unmask.denied", str(town.theirs)) in audit_actions()


def test_b18_an_api_key_without_unmask_cannot_unmask(town: Town) -> None:
    from siyu.accounts.service import create_api_key
    from siyu.db import session_scope

    with session_scope() as s:
        _k, secret = create_api_key(s, "only-read", ["customers:read"])
    h = {"Authorization": f"Bearer {secret}"}
    c = town.anonymous()
    assert c.get(f"/api/v1/customers/{town.theirs}?unmask=true", headers=h).status_code == 403
    masked = c.get(f"/api/v1/customers/{town.theirs}", headers=h)
    assert masked.status_code == 200 and THEIR_PHONE[3:] not in masked.text
    listed = c.get("/api/v1/customers", headers=h)
    assert THEIR_PHONE[3:] not in listed.text and THEIR_EMAIL not in listed.text


def test_b19_every_unmasking_is_audited(town: Town) -> None:
    c, csrf = town.as_("yunying", "operator")
    page = c.post(f"/customers/{town.theirs}", data={"csrf": csrf, "unmask": "1"})
    assert THEIR_PHONE in page.text or THEIR_PHONE[3:] in page.text
    api = c.get(f"/api/v1/customers/{town.theirs}?unmask=true")
    assert api.status_code == 200
    unmasked = [a for a in audit_actions() if a == ("customer.unmask", str(town.theirs))]
    assert len(unmasked) == 2
    g, gcsrf = town.as_("daogou", "store_guide")
    g.post(f"/customers/{town.mine}", data={"csrf": gcsrf, "unmask": "1"})
    assert ("customer.unmask", str(town.mine)) in audit_actions()


def test_b20_a_guide_moved_to_another_store_or_switched_off_loses_the_session(
    town: Town,
) -> None:
    from siyu.accounts.models import User
    from siyu.db import session_scope

    c, _csrf = town.as_("daogou", "store_guide")
    admin, acsrf = town.as_("guanli")
    with session_scope() as s:
        uid = s.scalar(sa.select(User.id).where(User.username == "daogou"))
    moved = admin.post(f"/admin/users/{uid}", data={"csrf": acsrf, "store_id": str(town.s2)})
    assert moved.status_code == 303
    assert c.get(f"/customers/{town.mine}").status_code == 303  # to the login: session ended
    c2 = town.anonymous()
    log_in(c2, "daogou")
    assert c2.get(f"/customers/{town.mine}").status_code == 404  # the old store's customer
    off = admin.post(f"/admin/users/{uid}", data={"csrf": acsrf, "active": "0"})
    assert off.status_code == 303
    assert c2.get("/customers").status_code == 303


def test_b21_another_sessions_csrf_token_is_refused(town: Town) -> None:
    _guide, gcsrf = town.as_("daogou", "store_guide")
    op, _ocsrf = town.as_("yunying", "operator")
    r = op.post(
        f"/customers/{town.theirs}/do-not-disturb",
        data={"csrf": gcsrf, "on": "1", "reason": "伪造"},
    )
    assert r.status_code == 403
    api = op.put(
        f"/api/v1/customers/{town.theirs}/do-not-disturb",
        json={"on": True, "reason": "伪造"},
        headers={"X-CSRF-Token": gcsrf},
    )
    assert api.status_code == 403
    assert their_state()[0] is False


def test_b22_an_unmasked_campaign_preview_is_audited_per_customer_and_refused_to_others(
    town: Town,
) -> None:
    seg = _static_segment("两店名单", [town.mine, town.theirs])
    sms = {
        "sign_name": "悦颜",
        "template_code": "SMS_000001",
        "text": "${name}您好，拒收请回复R",
        "params": {"name": "{{ name }}"},
    }
    body = {"segment_id": seg, "channel": "sms", "template": sms, "samples": 20, "unmask": True}
    op, csrf = town.as_("yunying", "operator")
    shown = op.post("/api/v1/campaigns/preview", json=body, headers={"X-CSRF-Token": csrf})
    assert shown.status_code == 200 and shown.json()["unmasked"] is True, shown.text[:300]
    assert THEIR_NAME in shown.text
    audited = {t for a, t in audit_actions() if a == "customer.unmask"}
    assert {str(town.mine), str(town.theirs)} <= audited
    for role in ("analyst", "store_guide"):
        c, token = town.as_(f"pv_{role}", role)
        refused = c.post("/api/v1/campaigns/preview", json=body, headers={"X-CSRF-Token": token})
        assert refused.status_code == 403 and THEIR_NAME not in refused.text, role


# == C. item 3: personal data in event properties masked by value ================================
# (what a customer or a mini program put into an event, the raw value that must not show)
MASKING = [
    pytest.param({"联系方式": {"号码": "13933334444"}}, "33334444", id="C01 nested, Chinese keys"),
    pytest.param(
        {"备注": "张三 139 3333 4444，住上海市浦东新区世纪大道100号"},
        "世纪大道100号",
        id="C02 free text: phone and street address",
    ),
    pytest.param({"x": 13933334444}, "33334444", id="C03 a phone as a JSON number"),
    pytest.param({"x": 1.3933334444e10}, "33334444", id="C04 a phone as a float"),
    pytest.param({"x": "１３９３３３３４４４４"}, "３３３３４４４４", id="C05 full-width digits"),
    pytest.param({"x": "0086 139 3333 4444"}, "3333 4444", id="C06 0086 and spaces"),
    pytest.param({"x": "tel:+8613933334444"}, "33334444", id="C07 a tel: link"),
    pytest.param({"x": "139\u00a03333\u00a04444"}, "4444\u00a0", id="C08 no-break spaces"),
    pytest.param({"13933334444": "a key"}, "33334444", id="C09 a phone as a key"),
    pytest.param({"x": "ZHANG.San@Example.COM"}, "ZHANG.San", id="C10 e-mail in capitals"),
    pytest.param({"x": "证件 310101 19900101 123X"}, "19900101", id="C11 ID card with spaces"),
    pytest.param({"a": [[[[{"b": [{"c": "13933334444"}]}]]]]}, "33334444", id="C12 deep lists"),
    pytest.param(
        {"d": json.loads("[" * 40 + '"13933334444"' + "]" * 40)}, "3333", id="C13 past depth"
    ),
    pytest.param({"x": "幺三九三三三三四四四四"}, "三三三三四四四四", id="C14 Chinese numerals"),
    pytest.param({"x": "(021) 5555-6666"}, "5555", id="C15 landline with area code"),
    pytest.param({"passportNo": "E12345678"}, "12345678", id="C16 a key naming the document"),
    pytest.param(
        {"x": "+852 9123 4567"},
        "9123 4567",
        id="C17 a Hong Kong mobile",
    ),
    pytest.param(
        {"x": "+86 21 5555 6666"},
        "5555 6666",
        id="C18 a landline in international form",
    ),
    pytest.param(
        {"x": "139/3333/4444"},
        "3333/4444",
        id="C19 a mobile written with slashes",
    ),
    pytest.param(
        {"x": "139–3333–4444"},
        "3333–4444",
        id="C20 a mobile written with en dashes",
    ),
    pytest.param(
        {"x": "一三九两两两两四四四四"},
        "两两两两四四四四",
        id="C21 Chinese numerals with 两",
    ),
]


@pytest.mark.parametrize(("props", "raw"), MASKING)
def test_personal_data_in_properties_is_masked(props: dict[str, Any], raw: str) -> None:
    from siyu.customers.masking import mask_properties

    shown = json.dumps(mask_properties(props), ensure_ascii=False)
    assert raw not in shown, shown


def test_c22_what_an_event_brings_in_is_masked_on_every_masked_view(town: Town) -> None:
    """Through the event API (as a mini program sends it) and back out on the 360 page and the
    API for someone who may not unmask, and in the PIPL export unmasked."""
    from siyu.accounts.service import create_api_key
    from siyu.db import session_scope

    with session_scope() as s:
        _k, secret = create_api_key(s, "mp", ["events:write"])
    props = {
        "收货信息": {"电话": "13955556666", "地址": "杭州市西湖区文三路 88号 3单元"},
        "form": [{"label": "邮箱", "value": "li.si@example.com"}],
        "note": "身份证 110101199003071234，手机 +86 139-5555-6666",
    }
    r = town.anonymous().post(
        "/api/v1/events",
        json={"type": "track", "messageId": "c22", "event": "留资", "userId": "M9"}
        | {"traits": {"phone": MINE_PHONE}, "properties": props},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert r.status_code == 200, r.text
    cid = r.json()["results"][0]["customerId"]
    analyst, _csrf = town.as_("fenxi", "analyst")
    for answer in (analyst.get(f"/customers/{cid}"), analyst.get(f"/api/v1/customers/{cid}")):
        for raw in ("55556666", "5555-6666", "文三路", "li.si@", "19900307"):
            assert raw not in answer.text, (answer.request.url.path, raw)
    admin, csrf = town.as_("guanli")
    export = admin.post(f"/customers/{cid}/privacy/export", data={"csrf": csrf})
    assert "13955556666" in export.text  # the person's own copy holds it all


# == D. item 4: erasure leaves no byte of the person anywhere ==================================
GONE_PHONE, GONE_NAME, GONE_EMAIL = "13977778888", "擦除测试甲", "gone.person@example.com"


def _their_taobao_export() -> bytes:
    """An order export holding the person: one order imported, one rejected (its row, with
    their phone and name, goes to the rejects file)."""
    from tests import platform_files as pf

    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(pf.TAOBAO_HEADER)
    w.writerow(pf.taobao_row("9101", "tb_gone", GONE_PHONE, "99.00", name=GONE_NAME))
    w.writerow(pf.taobao_row("9102", "tb_gone", GONE_PHONE, "oops", name=GONE_NAME))
    return out.getvalue().encode("gbk")


def _needles() -> dict[str, list[bytes]]:
    return {
        "phone": [GONE_PHONE.encode(), GONE_PHONE.encode("utf-16-le")],
        "name": [GONE_NAME.encode(), GONE_NAME.encode("gbk"), GONE_NAME.encode("utf-16-le")],
        "email": [GONE_EMAIL.encode(), GONE_EMAIL.encode("utf-16-le")],
        "buyer": [b"tb_gone"],
    }


def _files_holding(root: Path, needles: dict[str, list[bytes]]) -> list[str]:
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        for what, forms in needles.items():
            if any(f in data for f in forms):
                found.append(f"{path.relative_to(root)}: {what}")
    return found


def _rows_holding(needles: dict[str, list[bytes]]) -> list[str]:
    """Any row of any table whose text holds the person (both engines)."""
    from siyu.db import get_engine
    from siyu.models import metadata

    texts = {what: [f.decode("utf-8") for f in forms[:1]] for what, forms in needles.items()}
    found = []
    with get_engine().connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(sa.select(table)):
                line = json.dumps([str(v) for v in row], ensure_ascii=False)
                found += [f"{table.name}: {w}" for w, ts in texts.items() if ts[0] in line]
    return found


def _parquet_exports() -> None:
    """The Parquet exports of the copy the Spark engine reads, written as it writes them (the
    engine itself is not started: it would take a Java process and seconds)."""
    from siyu.analytics import engines
    from siyu.config import get_settings

    def no_spark() -> Any:
        raise engines.EngineUnavailable("not started in this test")

    real = engines.spark_session
    engines.spark_session = no_spark  # type: ignore[assignment]
    try:
        with (
            contextlib.suppress(engines.EngineUnavailable),
            engines.ibis_tables(
                get_settings().resolved_analytics_path, "spark", ["customer", "event"]
            ),
        ):
            pass
    finally:
        engines.spark_session = real  # type: ignore[assignment]


def test_d01_erasure_leaves_no_byte_of_the_person_in_any_file_or_table(town: Town) -> None:
    from siyu.accounts.service import create_api_key
    from siyu.config import get_settings
    from siyu.db import get_engine, session_scope
    from tests.e2e.test_import_console import run_queued_imports

    c, csrf = town.as_("guanli")
    files = {"file": ("订单.csv", _their_taobao_export(), "text/csv")}
    up = c.post("/imports", data={"csrf": csrf, "what": "orders:taobao"}, files=files)
    assert up.status_code == 303, _said(up.text)
    assert run_queued_imports() == 1
    with session_scope() as s:
        _k, secret = create_api_key(s, "mp", ["events:write"])
    event = {
        "type": "track",
        "messageId": "gone-1",
        "event": "留资",
        "traits": {"phone": GONE_PHONE, "email": GONE_EMAIL, "name": GONE_NAME},
        "properties": {"备注": f"{GONE_NAME} {GONE_PHONE} {GONE_EMAIL}", "tb": "tb_gone"},
    }
    r = c.post("/api/v1/events", json=event, headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 200, r.text
    person = r.json()["results"][0]["customerId"]
    c.post(f"/customers/{person}", data={"csrf": csrf, "unmask": "1"})  # audited with the id
    refresh_copy()
    assert c.get("/dashboard").status_code == 200  # the dashboard's cache beside the copy
    _parquet_exports()  # what the Spark engine reads, written beside the copy
    data_dir = get_settings().data_dir
    held = _files_holding(data_dir, _needles())
    assert any("parquet" in f for f in held) and any("rejects" in f for f in held), held
    gone = c.post(f"/customers/{person}/privacy/erase", data={"csrf": csrf, "confirm": GONE_PHONE})
    assert gone.status_code == 200, _said(gone.text)
    refresh_copy()  # the next refresh brings nothing back
    assert _files_holding(data_dir, _needles()) == []
    assert _rows_holding(_needles()) == []
    engine = get_engine()
    if engine.dialect.name == "sqlite":
        get_engine().dispose()
        db = Path(str(engine.url.database))
        for path in db.parent.glob(db.name + "*"):
            data = path.read_bytes()
            for what, forms in _needles().items():
                assert not any(f in data for f in forms), f"{path.name} holds the {what}"


def test_d02_the_erased_person_sent_again_is_not_marketable(town: Town) -> None:
    from siyu.accounts.service import create_api_key
    from siyu.customers.models import Customer
    from siyu.db import session_scope

    c, csrf = town.as_("guanli")
    with session_scope() as s:
        _k, secret = create_api_key(s, "mp", ["events:write"])
    h = {"Authorization": f"Bearer {secret}"}
    event = {"type": "identify", "messageId": "g1", "traits": {"phone": GONE_PHONE}}
    person = c.post("/api/v1/events", json=event, headers=h).json()["results"][0]["customerId"]
    gone = c.post(f"/customers/{person}/privacy/erase", data={"csrf": csrf, "confirm": "删除"})
    assert gone.status_code == 200, _said(gone.text)
    again = c.post("/api/v1/events", json={**event, "messageId": "g2"}, headers=h)
    assert again.status_code == 200
    back = again.json()["results"][0]["customerId"]
    with session_scope() as s:
        if back is not None:
            assert s.get(Customer, back).suppressed  # known again, but never marketed to


@pytest.mark.parametrize(
    ("form", "status"),
    [
        pytest.param({"confirm": "13900000000"}, 400, id="D03 another number typed"),
        pytest.param({"confirm": ""}, 400, id="D04 nothing typed"),
        pytest.param({"confirm": "删除", "csrf": ""}, 403, id="D05 no CSRF token"),
        pytest.param({"confirm": "删 除"}, 400, id="D06 almost the word"),
        pytest.param({"confirm": THEIR_PHONE}, 400, id="D07 the other customer's number"),
    ],
)
def test_an_erasure_not_confirmed_erases_nothing(
    form: dict[str, str], status: int, town: Town
) -> None:
    from siyu.customers.models import Customer
    from siyu.db import session_scope

    c, csrf = town.as_("guanli")
    r = c.post(f"/customers/{town.mine}/privacy/erase", data={"csrf": csrf, **form})
    assert r.status_code == status, _said(r.text)
    with session_scope() as s:
        assert s.get(Customer, town.mine).status == "active"


# == E. item 5: one bounded sandbox for every template ========================================
SANDBOX = [
    pytest.param("{{ name.__class__.__mro__[1].__subclasses__() }}", id="E01 the class tree"),
    pytest.param("{{ self._TemplateReference__context }}", id="E02 the template's context"),
    pytest.param("{{ cycler.__init__.__globals__.os }}", id="E03 Jinja's globals"),
    pytest.param('{{ "{0.__class__}".format(name) }} {{ "%s" % name }}', id="E04 formatting"),
    pytest.param('{{ name|attr("__class__") }}{{ name["__class__"] }}', id="E05 attr, subscript"),
    pytest.param("{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}", id="E06 a recursive macro"),
    pytest.param('{{ "a" * 10**8 }}', id="E07 a huge repetition"),
    pytest.param("{{ range(10**9)|length }}", id="E08 a huge range"),
    pytest.param(
        "{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}",
        id="E09 an empty busy loop",
    ),
    pytest.param('{{ ("a" * 99999).replace("a", "aaaa") }}', id="E10 replace that grows"),
    pytest.param("{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}", id="E11 nesting"),
    pytest.param("{{ (2**4000) * (2**4000) }} {{ 10.0 ** 400 }}", id="E12 huge numbers"),
    pytest.param(
        "{{ name.zfill(10**9) }}{{ name.encode() }}{{ {}.update(a=1) }}", id="E13 methods"
    ),
    pytest.param('{% for a in range(1000) %}{{ "x" * 100 }}{% endfor %}', id="E14 past the cap"),
    pytest.param('{% include "base.html" %}{% import "x" as y %}', id="E15 other templates"),
    pytest.param("{{ [name] * 100000 }}{{ [name, name]|join(name * 99999) }}", id="E16 lists"),
]


@pytest.mark.parametrize("source", SANDBOX)
def test_a_template_cannot_leave_its_bounds(source: str) -> None:
    from siyu import sandbox

    started = time.perf_counter()
    with pytest.raises(sandbox.TemplateRefused):
        compiled = sandbox.compile_template(source, variables={"name"})
        sandbox.render(compiled, {"name": "张三"}, cap=500)
    assert time.perf_counter() - started < 2


def test_e17_templates_that_escape_are_refused_where_they_are_saved(
    town: Town, request: Any
) -> None:
    """The campaign form, the welcome message and a keyword reply: refused with the reason,
    nothing stored."""
    from siyu.db import session_scope
    from siyu.reach.models import Campaign
    from siyu.wecom.live_codes.models import WelcomeMessage
    from siyu.wecom.replies.models import KeywordRule

    request.getfixturevalue("wecom")
    c, csrf = town.as_("guanli")
    seg = _static_segment("名单", [town.mine])
    escape = "{{ name.__class__.__mro__ }}"
    campaign = c.post(
        "/campaigns/new",
        data={"csrf": csrf, "name": "x", "channel": "email", "segment_id": str(seg)}
        | {"subject": "hi", "body": escape},
    )
    assert campaign.status_code == 200 and "__mro__" in _said(campaign.text)
    welcome = c.post("/wecom/welcome", data={"csrf": csrf, "text": "{{ nickname.__class__ }}"})
    assert "__class__" in _said(welcome.text)
    reply = c.post(
        "/wecom/keywords",
        data={"csrf": csrf, "name": "k", "match": "contains", "pattern": "价", "ch_kf": "1"}
        | {"reply": "{% for i in range(10**6) %}{{ i }}{% endfor %}"},
    )
    assert reply.status_code == 200 and "range" in _said(reply.text)
    with session_scope() as s:
        for model in (Campaign, WelcomeMessage, KeywordRule):
            assert s.scalar(sa.select(sa.func.count()).select_from(model)) == 0, model


@pytest.mark.parametrize(
    "offer",
    [
        # the sample customer's name has 2 characters; every customer here has 4 (顾客05)
        pytest.param('{{ "满" * ((name|length - 2) * 60000) }}', id="E18 grows for real names"),
        pytest.param(
            "{% for i in range((name|length - 2) * 500) %}{% for j in range(1000) %}"
            "{% endfor %}{% endfor %}满减",
            id="E19 loops for real names",
        ),
    ],
)
def test_a_render_that_blows_its_bounds_at_send_sends_nothing(
    offer: str, world: dict[str, Any], session: Any
) -> None:
    from siyu.config import get_settings
    from siyu.reach.campaigns.commands import PlanCampaign
    from siyu.reach.campaigns.service import plan_campaign, start
    from siyu.reach.channels.configured import sms as sms_channel
    from siyu.reach.models import SendRow
    from tests.reach_world import drain

    campaign = plan_campaign(
        session,
        PlanCampaign(
            name="爆",
            segment_id=world["segment"],
            channel="sms",
            template={
                "sign_name": "悦颜",
                "template_code": "SMS_000001",
                "text": "${name}您好，${offer}，拒收请回复R",
                "params": {"name": "{{ name }}", "offer": offer},
            },
        ),
        actor="t",
    )
    start(session, campaign, actor="t")
    session.commit()
    started = time.perf_counter()
    settings = get_settings()
    drain(settings, sms_channel(settings))
    assert time.perf_counter() - started < 30
    assert world["gateway"].received() == []
    rows = session.scalars(sa.select(SendRow).where(SendRow.campaign_id == campaign.id)).all()
    consented = [r for r in rows if r.customer_id in sorted(world["phones"])[:20]]
    assert {(r.state, r.reason) for r in consented} == {("skipped", "template_error")}


def test_e20_a_keyword_rule_cannot_stall_the_worker(town: Town, request: Any) -> None:
    from siyu.db import session_scope
    from siyu.wecom.replies.models import KeywordRule
    from siyu.wecom.replies.service import KeywordError, matches

    request.getfixturevalue("wecom")
    c, csrf = town.as_("guanli")
    c.post(
        "/wecom/keywords",
        data={"csrf": csrf, "name": "k", "match": "regex", "pattern": "(a+)+$", "ch_kf": "1"}
        | {"reply": "您好"},
    )
    with session_scope() as s:
        rule = s.scalar(sa.select(KeywordRule))
        if rule is None:
            return  # refused when saved: holds
        started = time.perf_counter()
        with contextlib.suppress(KeywordError):  # refused when matched: holds too
            matches(rule, "a" * 23 + "!")  # a customer's message (they may send 2,000)
        assert time.perf_counter() - started < 0.2


# == F. item 6: no CSV Siyu writes runs a formula ==============================================
FORMULAS = [
    '=HYPERLINK("http://evil.example","点我")',
    "@SUM(1+1)",
    "+1+1",
    "-1+cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "＝1+1",
    "  =1+1",
    "\u3000@SUM(1)",
    "'=1+1",
]


def runs_in_a_spreadsheet(cell: str) -> bool:
    """Whether Excel/WPS/LibreOffice could evaluate this cell (numbers are numbers)."""
    try:
        float(cell)
        return False
    except ValueError:
        pass
    if not cell:
        return False
    if cell[0] in "=+-@\t\r\n":
        return True
    trimmed = cell.lstrip(" \u3000\u00a0")
    return bool(trimmed) and trimmed[0] in "=+-@＝＋－＠"


def formula_cells(text: str) -> list[str]:
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    return [cell for row in rows for cell in row if runs_in_a_spreadsheet(cell)]


def test_f01_the_audit_log_export_with_names_strangers_typed(town: Town) -> None:
    for n, name in enumerate(FORMULAS):  # strangers, each from an address of their own
        town.anonymous(f"203.0.113.{n + 1}").post(
            "/login", data={"username": name, "password": "wrong-password"}
        )
    c, _csrf = town.as_("guanli")
    sheet = c.get("/admin/audit.csv")
    assert sheet.status_code == 200
    assert sheet.text.count("login.failed") == len(FORMULAS)  # they are all in it
    assert formula_cells(sheet.text) == []


def test_f02_the_rejects_of_an_import_with_formulas_in_every_column(town: Town) -> None:
    from tests import platform_files as pf
    from tests.e2e.test_import_console import run_queued_imports

    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(pf.TAOBAO_HEADER)
    for n, formula in enumerate(FORMULAS):
        row = pf.taobao_row(f"77{n}", formula, "13812340000", "oops", name=formula)
        row[10] = formula  # the address
        row[8] = formula  # the buyer's message
        w.writerow(row)
    c, csrf = town.as_("guanli")
    files = {"file": ("bad.csv", out.getvalue().encode("gbk", "replace"), "text/csv")}
    run = c.post("/imports", data={"csrf": csrf, "what": "orders:taobao"}, files=files)
    assert run.status_code == 303, _said(run.text)
    run_queued_imports()
    rejects = c.get(run.headers["location"] + "/rejects.csv")
    assert rejects.status_code == 200
    assert len(list(csv.reader(io.StringIO(rejects.text)))) > len(FORMULAS)
    assert formula_cells(rejects.text) == []


@pytest.mark.parametrize("unmask", [False, True], ids=["F03 masked", "F04 unmasked"])
def test_a_segment_export_with_formula_names_and_cities(unmask: bool, town: Town) -> None:
    from siyu.customers.models import Customer
    from siyu.db import session_scope

    with session_scope() as s:
        ids = []
        for f in FORMULAS:
            c = Customer(name=f, city=f[:32], source=f[:32], status="active")
            s.add(c)
            s.flush()
            ids.append(c.id)
    seg = _static_segment("公式", ids)
    c, _csrf = town.as_("yunying", "operator")
    sheet = c.get(f"/api/v1/segments/{seg}/export", params={"unmask": unmask})
    assert sheet.status_code == 200, sheet.text[:200]
    assert len(sheet.text.splitlines()) > len(FORMULAS)
    assert formula_cells(sheet.text) == []


def test_f05_the_dashboard_export_with_formula_sources_and_stores(town: Town) -> None:
    from siyu.brands.models import Store
    from siyu.customers.models import Customer
    from siyu.db import session_scope
    from tests.e2e.browsing import fresh_trade

    with session_scope() as s:
        s.get(Store, town.s1).name = FORMULAS[0]
        s.get(Store, town.s1).code = "@S1"
        for n, f in enumerate(FORMULAS):
            s.add(Customer(name=f"c{n}", source=f.strip()[:32], store_id=town.s1))
        s.get(Customer, town.mine).source = "=1+1"
        s.get(Customer, town.theirs).source = "-2+3"
    fresh_trade(12)
    c, _csrf = town.as_("guanli")
    page = c.get("/dashboard")
    link = re.search(r'data-testid="dashboard-csv" href="([^"]+)"', page.text)
    assert link
    sheet = c.get(link.group(1).replace("&amp;", "&"))
    assert sheet.status_code == 200, sheet.text[:200]
    assert "HYPERLINK" in sheet.text and "SUM(1+1)" in sheet.text  # they are in it
    assert formula_cells(sheet.text) == []


def test_f06_the_cli_segment_export_too(town: Town, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from siyu.cli import app
    from siyu.customers.models import Customer
    from siyu.db import session_scope

    with session_scope() as s:
        ids = []
        for f in FORMULAS:
            c = Customer(name=f, city="上海", status="active")
            s.add(c)
            s.flush()
            ids.append(c.id)
    seg = _static_segment("公式", ids)
    out = tmp_path / "members.csv"
    done = CliRunner().invoke(app, ["segments", "export", str(seg), str(out), "--unmask"])
    assert done.exit_code == 0, done.output
    assert formula_cells(out.read_text(encoding="utf-8-sig")) == []


# == G. item 7: logins, sessions, API keys ====================================================
def test_g01_parallel_guesses_are_counted_and_the_account_locks(town: Town) -> None:
    """Twenty wrong passwords at once over real HTTP (server threads, one database): no more
    passwords are checked than the limit allows, and then even the right one is refused with
    the same answer a wrong one gets."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from siyu.config import get_settings
    from siyu.simulators.threaded import ThreadedServer

    make_user("mubiao", "operator")
    most = get_settings().login_max_failures
    server = ThreadedServer(town.app)
    try:

        def guess(n: int) -> int:
            with httpx.Client(base_url=server.base, timeout=30) as h:
                r = h.post("/login", data={"username": "mubiao", "password": f"guess-{n:04d}x"})
                return r.status_code

        with ThreadPoolExecutor(max_workers=10) as pool:
            codes = list(pool.map(guess, range(20)))
        assert set(codes) == {401}
        with httpx.Client(base_url=server.base, timeout=30) as h:
            right = h.post("/login", data={"username": "mubiao", "password": PASSWORD})
            wrong = h.post("/login", data={"username": "mubiao", "password": "guess-9999x"})
    finally:
        server.stop()
    checked = [a for a in audit_actions() if a == ("login.failed", "mubiao")]
    assert len(checked) <= most, f"{len(checked)} passwords checked, the limit is {most}"
    assert right.status_code == wrong.status_code == 401
    assert _said(right.text) == _said(wrong.text)


def test_g02_a_session_cookie_set_before_login_is_not_kept(town: Town) -> None:
    """Session fixation: whatever cookie the browser carried, the login issues a new one, and
    the planted value opens nothing."""
    make_user("mubiao", "operator")
    c = town.anonymous()
    planted = "attacker-chosen-session-value-0123456789"
    c.cookies.set("siyu_session", planted)
    r = c.post("/login", data={"username": "mubiao", "password": PASSWORD})
    assert r.status_code == 303
    issued = re.search(r"siyu_session=([^;]+)", r.headers["set-cookie"])
    assert issued and issued.group(1) != planted
    other = town.anonymous()
    other.cookies.set("siyu_session", planted)
    assert other.get("/customers").status_code == 303


def test_g03_the_session_cookie_cannot_be_read_or_sent_cross_site(town: Town) -> None:
    from siyu.config import get_settings

    make_user("mubiao", "operator")
    r = town.anonymous().post("/login", data={"username": "mubiao", "password": PASSWORD})
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
    assert "domain=" not in cookie
    assert f"max-age={get_settings().session_hours * 3600}" in cookie


def test_g04_logout_by_get_or_without_the_token(town: Town) -> None:
    c, _csrf = town.as_("mubiao", "operator")
    stolen = c.cookies.get("siyu_session")
    assert c.get("/logout").status_code in (404, 405)  # a link or an <img> cannot log out …
    assert c.get("/customers").status_code == 200
    assert c.post("/logout").status_code == 303  # … a form without the token does, for good
    replay = town.anonymous()
    replay.cookies.set("siyu_session", stolen or "")
    assert replay.get("/customers").status_code == 303
    assert replay.get("/api/v1/customers").status_code == 401


def test_g05_an_expired_session_opens_nothing(town: Town) -> None:
    from datetime import timedelta

    from siyu.accounts.models import LoginSession
    from siyu.db import session_scope, utcnow

    c, csrf = town.as_("mubiao", "operator")
    with session_scope() as s:
        s.execute(sa.update(LoginSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert c.get("/customers").status_code == 303
    r = c.put(
        f"/api/v1/customers/{town.mine}/do-not-disturb",
        json={"on": True, "reason": "x"},
        headers={"X-CSRF-Token": csrf},
    )
    assert r.status_code == 401


def test_g06_a_password_change_ends_the_old_sessions(town: Town) -> None:
    from typer.testing import CliRunner

    from siyu.cli import app

    c, _csrf = town.as_("mubiao", "operator")
    new = "another-long-password-9"
    done = CliRunner().invoke(app, ["users", "passwd", "mubiao", "--password", new])
    assert done.exit_code == 0, done.output
    assert c.get("/customers").status_code == 303


def test_g07_a_login_posted_from_another_site_is_refused(town: Town) -> None:
    make_user("gongji", "operator")
    r = town.anonymous().post(
        "/login",
        data={"username": "gongji", "password": PASSWORD},
        headers={"Origin": "https://evil.example", "Referer": "https://evil.example/x"},
    )
    assert r.status_code in (400, 403)


KEY_SCOPES = [
    pytest.param(["events:write"], "GET", "/api/v1/customers", 403, id="G08 events key lists"),
    pytest.param(["customers:read"], "POST", "/api/v1/events", 403, id="G09 read key writes"),
    pytest.param(
        ["customers:read"], "GET", "/api/v1/segments/{seg}/export", 403, id="G10 read key exports"
    ),
    pytest.param(["metrics:read"], "GET", "/api/v1/customers/{mine}", 403, id="G11 metrics key"),
    pytest.param(
        ["customers:read", "customers:export"],
        "PUT",
        "/api/v1/customers/{mine}/do-not-disturb",
        403,
        id="G12 no key may set do-not-disturb",
    ),
    pytest.param(
        ["segments:write"], "POST", "/api/v1/privacy/erase", 403, id="G13 a key never erases"
    ),
    pytest.param(["customers:read"], "GET", "/customers", 303, id="G14 a key on the console"),
    pytest.param(["customers:read"], "GET", "/admin/audit", 303, id="G15 a key on the admin"),
]


@pytest.mark.parametrize(("scopes", "method", "url", "status"), KEY_SCOPES)
def test_an_api_key_reaches_only_its_scopes(
    scopes: list[str], method: str, url: str, status: int, town: Town
) -> None:
    from siyu.accounts.service import create_api_key
    from siyu.db import session_scope

    with session_scope() as s:
        _k, secret = create_api_key(s, "k", scopes)
    seg = _static_segment("名单", [town.mine])
    body = {"on": True, "reason": "x"} if method == "PUT" else {"customer_id": town.mine}
    r = town.anonymous().request(
        method,
        url.format(seg=seg, mine=town.mine),
        json=body if method != "GET" else None,
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert r.status_code == status, (r.status_code, r.text[:200])


def test_g16_a_tampered_or_revoked_key_is_refused_at_once(town: Town) -> None:
    from siyu.accounts.service import create_api_key
    from siyu.db import session_scope

    with session_scope() as s:
        key, secret = create_api_key(s, "k", ["customers:read"])
        prefix = key.prefix
    anon = town.anonymous()
    for bad in (secret + "x", secret[:-1], f"sy_{prefix}_", f"sy_{prefix}", "sy__", secret.upper()):
        r = anon.get("/api/v1/customers", headers={"Authorization": f"Bearer {bad}"})
        assert r.status_code == 401, bad
    ok = {"Authorization": f"Bearer {secret}"}
    assert anon.get("/api/v1/customers", headers=ok).status_code == 200
    admin, csrf = town.as_("guanli")
    assert admin.post(f"/admin/apikeys/{prefix}/revoke", data={"csrf": csrf}).status_code == 303
    assert anon.get("/api/v1/customers", headers=ok).status_code == 401


def test_g17_keys_with_powers_no_key_may_hold_are_refused(town: Town) -> None:
    from siyu.accounts.models import ApiKey
    from siyu.db import session_scope

    c, csrf = town.as_("guanli")
    for scope in ("users:manage", "privacy:manage", "apikeys:manage", "audit:read", "*"):
        r = c.post("/admin/apikeys", data={"csrf": csrf, "name": "k", "scope": scope})
        assert r.status_code == 400, scope
    with session_scope() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(ApiKey)) == 0


def test_g18_the_json_api_with_a_cookie_needs_the_csrf_header(town: Town) -> None:
    c, _csrf = town.as_("guanli")
    for content_type in ("application/json", "text/plain"):  # text/plain: what a form can send
        r = c.post(
            "/api/v1/tag-groups",
            content=b'{"name": "forged"}',
            headers={"content-type": content_type},
        )
        assert r.status_code == 403, (content_type, r.status_code)
    r = c.put(f"/api/v1/customers/{town.mine}/do-not-disturb", json={"on": True, "reason": "x"})
    assert r.status_code == 403


REDIRECTS = [
    "//evil.example/x",
    "/\\evil.example",
    "\\\\evil.example",
    "https://evil.example",
    "/\t/evil.example",
    "/%2F%2Fevil.example",
    "javascript:alert(1)",
    "/customers\r\nSet-Cookie: siyu_session=planted",
    "http:/\\evil.example",
]


def _lands_here(location: str) -> bool:
    """Whether a browser following ``location`` from this site stays on it (browsers read a
    backslash as a slash and drop tabs and line ends in URLs)."""
    from urllib.parse import urljoin, urlsplit

    seen = re.sub(r"[\t\r\n]", "", location).replace("\\", "/")
    return urlsplit(urljoin("http://testserver/login", seen)).netloc == "testserver"


@pytest.mark.parametrize("target", REDIRECTS, ids=[f"G19 next={t!r}" for t in REDIRECTS])
def test_no_redirect_leaves_the_site(target: str, town: Town) -> None:
    make_user("mubiao", "operator")
    anon = town.anonymous()
    after_login = anon.post(
        "/login", data={"username": "mubiao", "password": PASSWORD, "next": target}
    )
    lang = anon.get("/lang/en", params={"next": target})
    for where, r in (("login", after_login), ("lang", lang)):
        location = r.headers.get("location", "")
        assert _lands_here(location), (where, location)
        assert "\n" not in location and "\r" not in location, (where, location)
        assert "planted" not in r.headers.get("set-cookie", ""), where


# == H. item 8: input edges answer 4xx, never 500, and store nothing they should not ==========
def _forms(t: Town, csrf: str) -> dict[str, tuple[str, str, dict[str, str]]]:
    seg = _static_segment("名单", [t.mine])
    sms = {**SMS_FORM, "csrf": csrf, "name": "c", "segment_id": str(seg)}
    return {
        "store_sup2": ("GET", "/customers?store_id=²", {}),
        "store_huge": ("GET", f"/customers?store_id={2**70}", {}),
        "admin_store_huge": (
            "POST",
            "/admin/users",
            {"username": "g2", "password": PASSWORD, "role": "store_guide", "store_id": str(2**70)},
        ),
        "admin_store_missing": (
            "POST",
            "/admin/users",
            {"username": "g3", "password": PASSWORD, "role": "store_guide", "store_id": "999999"},
        ),
        "consent_sup2": (
            "POST",
            f"/customers/{t.mine}/consents",
            {"action": "withdraw", "consent_id": "²"},
        ),
        "consent_brand_sup2": (
            "POST",
            f"/customers/{t.mine}/consents",
            {"action": "withdraw", "brand_id": "¹"},
        ),
        "funnel_sup2": (
            "POST",
            "/dashboard/funnels",
            {"name": "f", "funnel_id": "²", "label_0": "a", "kind_0": "first_seen"}
            | {"label_1": "b", "kind_1": "order"},
        ),
        "keyword_toggle_huge": ("POST", "/wecom/keywords", {"toggle": str(2**70), "active": "1"}),
        "keyword_priority_huge": (
            "POST",
            "/wecom/keywords",
            {"name": "k", "match": "contains", "pattern": "p", "reply": "r"}
            | {"ch_kf": "1", "priority": str(2**70)},
        ),
        "campaign_segment_huge": ("POST", "/campaigns/new", {**sms, "segment_id": str(2**70)}),
        "campaign_year_1": ("POST", "/campaigns/new", {**sms, "scheduled_at": "0001-01-01T00:00"}),
        "audit_year_9999": ("GET", "/admin/audit?start=9999-12-31&end=9999-12-31", {}),
        "audit_csv_year_9999": ("GET", "/admin/audit.csv?start=9999-12-31&end=9999-12-31", {}),
        "rule_deep": ("GET", "/segments/new?rule=" + "[" * 5000, {}),
        "csrf_non_ascii": (
            "POST",
            f"/customers/{t.mine}/do-not-disturb",
            {"csrf": "é", "on": "1", "reason": "x"},
        ),
        # what holds: the same kinds of edge where they are already checked
        "funnel_days_huge": (
            "POST",
            "/dashboard/funnels",
            {"name": "f", "label_0": "a", "kind_0": "first_seen", "label_1": "b"}
            | {"kind_1": "order", "from_1": str(2**70), "times_1": "-1"},
        ),
        "campaign_holdout_odd": (
            "POST",
            "/campaigns/new",
            {**sms, "holdout": "-5", "cost_fen": "-1"},
        ),
        "campaign_holdout_abc": ("POST", "/campaigns/new", {**sms, "holdout": "abc"}),
        "page_zero": ("GET", "/customers?page=0", {}),
        "page_huge": ("GET", f"/identity-conflicts?page={2**70}", {}),
        "path_id_huge": ("GET", f"/customers/{2**70}", {}),
        "merge_other_huge": ("POST", f"/customers/{t.mine}/merge", {"other": f"#{2**70}"}),
        "drill_rule_deep": ("GET", "/dashboard/customers?rule=" + "[" * 5000, {}),
        "dashboard_years": ("GET", "/dashboard?start=0001-01-01&end=9999-12-31", {}),
    }


FORM_EDGES = [
    pytest.param(
        "store_sup2",
        id="H01 ?store_id=² on the customer list",
    ),
    pytest.param(
        "store_huge",
        id="H02 ?store_id=2**70 on the customer list",
    ),
    pytest.param(
        "admin_store_huge",
        id="H03 a new guide's store 2**70",
    ),
    pytest.param(
        "admin_store_missing",
        id="H04 a new guide's store that does not exist",
    ),
    pytest.param(
        "consent_sup2",
        id="H05 consent_id=²",
    ),
    pytest.param(
        "consent_brand_sup2",
        id="H06 brand_id=¹ on the consent form",
    ),
    pytest.param(
        "funnel_sup2",
        id="H07 funnel_id=²",
    ),
    pytest.param(
        "keyword_toggle_huge",
        id="H08 keyword toggle 2**70",
    ),
    pytest.param(
        "keyword_priority_huge",
        id="H09 keyword priority 2**70",
    ),
    pytest.param(
        "campaign_segment_huge",
        id="H10 campaign segment_id 2**70",
    ),
    pytest.param(
        "campaign_year_1",
        id="H11 campaign scheduled at 0001-01-01",
    ),
    pytest.param(
        "audit_year_9999",
        id="H12 the audit log up to 9999-12-31",
    ),
    pytest.param(
        "audit_csv_year_9999",
        id="H13 the audit CSV from 9999-12-31",
    ),
    pytest.param(
        "rule_deep",
        id="H14 /segments/new?rule=[[[[…",
    ),
    pytest.param(
        "csrf_non_ascii",
        id="H15 a CSRF token with é",
    ),
    pytest.param("funnel_days_huge", id="H16 funnel days 2**70 and -1"),
    pytest.param("campaign_holdout_odd", id="H17 holdout -5, cost -1"),
    pytest.param("campaign_holdout_abc", id="H17b holdout abc"),
    pytest.param("page_zero", id="H18 page=0"),
    pytest.param("page_huge", id="H19 page=2**70"),
    pytest.param("path_id_huge", id="H20 a path id of 2**70"),
    pytest.param("merge_other_huge", id="H21 merge with #2**70"),
    pytest.param("drill_rule_deep", id="H22 a drill-down rule nested 5,000 deep"),
    pytest.param("dashboard_years", id="H23 the dashboard from year 1 to 9999"),
]


@pytest.mark.parametrize("edge", FORM_EDGES)
def test_a_console_input_edge_is_answered_not_crashed(edge: str, town: Town, request: Any) -> None:
    if "keyword" in edge:
        request.getfixturevalue("wecom")
    c, csrf = town.as_("guanli")
    method, url, data = _forms(town, csrf)[edge]
    r = c.get(url) if method == "GET" else c.post(url, data={"csrf": csrf, **data})
    assert r.status_code < 500, (r.status_code, r.text[:200])


def test_h04_a_guide_of_a_store_that_does_not_exist_is_refused_in_words(town: Town) -> None:
    from siyu.accounts.models import User
    from siyu.db import session_scope

    c, csrf = town.as_("guanli")
    form = {"csrf": csrf, "username": "g4", "password": PASSWORD, "role": "store_guide"}
    r = c.post("/admin/users", data={**form, "store_id": "999999"})
    assert r.status_code == 400 and "没有编号为 999999 的门店" in r.text, r.status_code
    r = c.post("/admin/users", data={**form, "store_id": "²"})
    assert r.status_code == 400 and "不是 1–2147483647 之间的整数" in r.text, r.status_code
    with session_scope() as s:
        assert s.scalar(sa.select(User).where(User.username == "g4")) is None


def test_h17b_a_holdout_that_is_no_number_is_refused_in_words(town: Town) -> None:
    from siyu.db import session_scope
    from siyu.reach.models import Campaign

    c, csrf = town.as_("guanli")
    seg = _static_segment("对照", [town.mine])
    form = {**SMS_FORM, "csrf": csrf, "name": "c", "segment_id": str(seg)}
    for name, value, said in (
        ("holdout", "abc", "不是 0–50 之间的整数"),
        ("split_b", "²", "不是 1–99 之间的整数"),
        ("scheduled_at", "1999-12-31T23:00", "发送时间：2000-01-01 到 2099-12-31 之间"),
        ("scheduled_at", "下周五晚上", "发送时间的格式是 年-月-日 时:分"),
    ):
        extra = {"variant_b_body": "B"} if name == "split_b" else {}
        r = c.post("/campaigns/new", data={**form, **extra, name: value})
        assert r.status_code == 200 and said in r.text, (name, r.status_code)
    with session_scope() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Campaign)) == 0


def test_h12_an_audit_day_past_the_range_is_refused_in_words(town: Town) -> None:
    c, _csrf = town.as_("guanli")
    r = c.get("/admin/audit", params={"start": "1999-12-31", "end": "9999-12-31"})
    assert r.status_code == 400 and "2000-01-01 到 2099-12-31" in r.text, r.status_code
    assert c.get("/admin/audit", params={"start": "2000-01-01"}).status_code == 200


PUBLIC_TOKENS = [
    pytest.param(
        "GET",
        "/u/%C2%B2",
        id="H67 an unsubscribe token of ²",
    ),
    pytest.param(
        "GET",
        "/u/1.%C3%A9",
        id="H68 an unsubscribe token with é",
    ),
    pytest.param(
        "GET",
        "/l/1.1.%C3%A9",
        id="H69 a short link with é",
    ),
    pytest.param(
        "POST",
        "/reach/sms/%C3%A9/report",
        id="H70 the SMS receipt URL with é",
    ),
    pytest.param("GET", "/u/99999999999999999999.x", id="H71 an unsubscribe token past 18 digits"),
    pytest.param("GET", "/l/zzzzzzzzzzzzz.1.x", id="H72 a short link of 13 base-36 digits"),
]


@pytest.mark.parametrize(("method", "url"), PUBLIC_TOKENS)
def test_a_forged_public_token_is_refused_not_crashed(method: str, url: str, town: Town) -> None:
    """The addresses customers and gateways reach without a login: anyone can send them
    anything, and a 500 on demand is noise in the logs and alerts at the least."""
    r = town.anonymous().request(method, url, json=[] if "/sms/" in url else None)
    assert r.status_code in (400, 403, 404, 422), r.status_code


def test_h73_an_upload_with_a_non_ascii_token_is_refused(town: Town) -> None:
    c, _csrf = town.as_("guanli")
    files = {"file": ("a.csv", b"x,y\n1,2\n", "text/csv")}
    r = c.post("/imports", data={"csrf": "é", "what": "orders:taobao"}, files=files)
    assert r.status_code == 403, r.status_code


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"a": float("nan")}, id="H24 NaN"),
        pytest.param({"a": [{"b": {"c": float("inf")}}]}, id="H25 Infinity nested"),
        pytest.param({"context": {"x": -float("inf")}}, id="H26 -Infinity in context"),
        pytest.param({"traits": {"score": float("nan")}}, id="H27 NaN among the traits"),
        pytest.param({"timestamp": "1999-12-31T23:59:59+00:00"}, id="H28 before the floor"),
        pytest.param({"timestamp": "0001-01-01T00:00:00+14:00"}, id="H29 year one"),
        pytest.param({"timestamp": "9999-12-31T23:59:59-23:59"}, id="H30 past year 9999 in UTC"),
        pytest.param({"timestamp": "2026-01-01T00:00:00"}, id="H31 no time zone"),
        pytest.param({"messageId": "a\x00b"}, id="H32 NUL in the messageId"),
        pytest.param({"properties": {"k\x00": 1}}, id="H33 NUL in a key"),
    ],
)
def test_an_event_that_cannot_be_stored_is_refused(body: dict[str, Any], town: Town) -> None:
    from siyu.accounts.service import create_api_key
    from siyu.db import session_scope
    from siyu.events.models import Event

    with session_scope() as s:
        _k, secret = create_api_key(s, "mp", ["events:write"])
    event: dict[str, Any] = {"type": "track", "messageId": "h1", "event": "e", "userId": "M1"}
    if "a" in body:
        event["properties"] = body
    else:
        event |= body
    raw = json.dumps(event, allow_nan=True).encode()
    r = town.anonymous().post(
        "/api/v1/events",
        content=raw,
        headers={"Authorization": f"Bearer {secret}", "content-type": "application/json"},
    )
    assert r.status_code == 422, (r.status_code, r.text[:200])
    with session_scope() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Event)) == 0


def test_h34_a_lone_surrogate_in_an_event_breaks_nothing(town: Town) -> None:
    from siyu.accounts.service import create_api_key
    from siyu.db import session_scope

    with session_scope() as s:
        _k, secret = create_api_key(s, "mp", ["events:write", "customers:read"])
    h = {"Authorization": f"Bearer {secret}", "content-type": "application/json"}
    raw = (
        b'{"type":"track","messageId":"s1","event":"e","userId":"M1","properties":{"a":"\\ud800"}}'
    )
    r = town.anonymous().post("/api/v1/events", content=raw, headers=h)
    if r.status_code == 422:
        return  # refused: holds
    cid = r.json()["results"][0]["customerId"]
    c, csrf = town.as_("guanli")
    assert c.get(f"/customers/{cid}").status_code == 200
    assert town.anonymous().get(f"/api/v1/customers/{cid}", headers=h).status_code == 200
    export = c.post(f"/customers/{cid}/privacy/export", data={"csrf": csrf})
    assert export.status_code == 200


def test_h35_a_lone_surrogate_in_a_name_is_refused(town: Town) -> None:
    c, csrf = town.as_("guanli")
    h = {"X-CSRF-Token": csrf, "content-type": "application/json"}
    for url, raw in (
        ("/api/v1/tag-groups", b'{"name": "\\ud800"}'),
        (
            "/api/v1/segments",
            b'{"name": "\\udfff", "rule": {"field": "city", "op": "=", "value": "x"}}',
        ),
    ):
        r = c.post(url, content=raw, headers=h)
        assert r.status_code == 422, (url, r.status_code)


@pytest.mark.parametrize(
    "where",
    [
        pytest.param("/customers?q=%00", id="H36 NUL in the customer search"),
        pytest.param("/customers?source=a%00b", id="H37 NUL in the source filter"),
        pytest.param("/admin/audit?actor=a%00b", id="H38 NUL in the audit filter"),
        pytest.param("/api/v1/customers?q=%00", id="H39 NUL in the API search"),
    ],
)
def test_a_nul_in_a_search_is_answered(where: str, town: Town) -> None:
    c, _csrf = town.as_("guanli")
    r = c.get(where)
    assert r.status_code < 500, r.status_code


def test_h40_a_nul_in_the_user_name_at_login(town: Town) -> None:
    r = town.anonymous().post("/login", data={"username": "adm\x00in", "password": "x" * 12})
    assert r.status_code in (401, 422), r.status_code


def test_h41_oversized_and_deeply_nested_bodies(town: Town) -> None:
    c, csrf = town.as_("guanli")
    h = {"X-CSRF-Token": csrf, "content-type": "application/json"}
    big = b'{"rule": "' + b"a" * (3 * 1024 * 1024) + b'"}'
    assert c.post("/api/v1/segments/count", content=big, headers=h).status_code == 413
    streamed = c.post(
        "/api/v1/segments/count",
        content=iter([b'{"rule": "'] + [b"a" * 65536] * 48 + [b'"}']),  # no Content-Length
        headers=h,
    )
    assert streamed.status_code == 413
    deep = b'{"rule": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    assert c.post("/api/v1/segments/count", content=deep, headers=h).status_code in (400, 413, 422)
    form = "&".join(f"f{i}=x" for i in range(5000)) + f"&csrf={csrf}"
    r = c.post(
        f"/customers/{town.mine}/do-not-disturb",
        content=form.encode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code < 500


@pytest.mark.parametrize(
    "rule",
    [
        pytest.param(
            {"field": "orders", "op": ">=", "value": 10**30}, id="H42 a number past range"
        ),
        pytest.param('{"field": "orders", "op": ">=", "value": 1e400}', id="H43 1e400"),
        pytest.param("first_seen >= 99999-01-01", id="H44 a year past 9999"),
        pytest.param("orders(last 99999999999d).count >= 1", id="H45 a window of forever"),
        pytest.param(
            "city in [" + ",".join(f'"c{i}"' for i in range(20000)) + "]", id="H46 a huge list"
        ),
        pytest.param("(" * 500 + 'city = "x"' + ")" * 500, id="H47 parentheses 500 deep"),
    ],
)
def test_a_rule_out_of_range_is_refused(rule: Any, town: Town) -> None:
    c, csrf = town.as_("guanli")
    raw = rule if isinstance(rule, str) and rule.startswith("{") else json.dumps({"rule": rule})
    if isinstance(rule, str) and rule.startswith("{"):
        raw = '{"rule": ' + rule + "}"
    r = c.post(
        "/api/v1/segments/count",
        content=raw.encode(),
        headers={"X-CSRF-Token": csrf, "content-type": "application/json"},
    )
    assert r.status_code in (400, 422), (r.status_code, r.text[:200])


def test_h48_an_unterminated_quote_in_an_upload_folds_nothing_silently(town: Town) -> None:
    """A quote opened and never closed: the rows it swallowed are not imported as one cell of
    the row that opened it; that row is rejected, naming the lines it spans."""
    from siyu.db import session_scope
    from siyu.orders.models import Order
    from tests import platform_files as pf
    from tests.e2e.test_import_console import run_queued_imports

    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(pf.TAOBAO_HEADER)
    for n in range(5):
        w.writerow(pf.taobao_row(f"550{n}", f"tb_{n}", f"1381234550{n}", "10.00"))
    lines = out.getvalue().splitlines()
    lines[2] = lines[2].replace("tb_1", '"tb_1 留言没有结束')  # a quote opened, never closed
    c, csrf = town.as_("guanli")
    files = {"file": ("q.csv", ("\r\n".join(lines) + "\r\n").encode("gbk"), "text/csv")}
    run = c.post("/imports", data={"csrf": csrf, "what": "orders:taobao"}, files=files)
    assert run.status_code == 303
    run_queued_imports()
    with session_scope() as s:
        imported = set(s.scalars(sa.select(Order.platform_order_id)))
    assert imported == {"5500"}
    rejects = c.get(run.headers["location"] + "/rejects.csv").text
    assert "line 3 to line 6" in rejects and "quote" in rejects


# -- SSRF through a webhook's address --------------------------------------------------------
def _webhook_message(row_id: int, address: str) -> Any:
    """One marketing message of campaign 1 to a webhook address, as the dispatcher hands it over."""
    from siyu.reach.channels.base import Outgoing

    return Outgoing(
        ref=f"L{row_id}",
        channel="webhook",
        row_id=row_id,
        campaign_id=1,
        customer_id=1,
        address=address,
        parts={"text": "hi"},
        template={},
        purpose="marketing",
    )


def _resolving(monkeypatch: pytest.MonkeyPatch, table: dict[str, list[str]]) -> None:
    """DNS as an attacker who owns some names would have it answer."""
    import socket

    real = socket.getaddrinfo

    def fake(host: str, port: Any, *a: Any, **kw: Any) -> Any:
        if host in table:
            return [
                (
                    socket.AF_INET6 if ":" in ip else socket.AF_INET,
                    socket.SOCK_STREAM,
                    6,
                    "",
                    (ip, port),
                )
                for ip in table[host]
            ]
        return real(host, port, *a, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", fake)


SSRF = [
    pytest.param("http://127.0.0.1/hook", id="H49 loopback"),
    pytest.param("http://169.254.169.254/latest/meta-data/", id="H50 the cloud metadata address"),
    pytest.param("http://[::ffff:10.0.0.1]/", id="H51 IPv4-mapped private"),
    pytest.param("http://[64:ff9b::a00:1]/", id="H52 NAT64 of a private address"),
    pytest.param("http://[2002:a00:1::]/", id="H53 6to4 of a private address"),
    pytest.param("http://224.0.0.1/", id="H54 multicast"),
    pytest.param("http://0.0.0.0:8000/", id="H55 this host"),
    pytest.param("http://100.64.0.1/", id="H56 shared address space (CGNAT)"),
    pytest.param("http://[fd00::1]/", id="H57 unique local IPv6"),
    pytest.param("http://2130706433/", id="H58 loopback as one number"),
    pytest.param("http://0177.0.0.1/", id="H59 loopback in octal"),
    pytest.param("http://rebind.evil.example/", id="H60 a name resolving to a private address"),
    pytest.param("http://mixed.evil.example/", id="H61 a name with a public and a private address"),
    pytest.param("http://user@127.0.0.1:80@8.8.8.8/", id="H62 two @ in the address"),
    pytest.param("file:///etc/passwd", id="H63 file://"),
    pytest.param("gopher://127.0.0.1:6379/_FLUSHALL", id="H64 gopher://"),
]


@pytest.mark.parametrize("url", SSRF)
def test_a_webhook_never_calls_inside(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx

    from siyu.reach.channels.webhook import Webhook

    _resolving(
        monkeypatch,
        {"rebind.evil.example": ["10.1.2.3"], "mixed.evil.example": ["93.184.216.34", "127.0.0.1"]},
    )
    called: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        called.append(str(request.url))
        return httpx.Response(200)

    hook = Webhook(key=b"k" * 32, transport=httpx.MockTransport(handler))
    message = _webhook_message(1, url)
    result = hook.send(message)
    if called:  # it went out: only ever to the public address the URL names
        from urllib.parse import urlsplit

        assert [urlsplit(u).hostname for u in called] == ["8.8.8.8"], called
        return
    assert result.outcome == "failed" and result.code == "unsafe_target", result


def test_h65_a_webhook_does_not_follow_a_redirect_inside(monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx

    from siyu.reach.channels.webhook import Webhook

    _resolving(monkeypatch, {"hooks.brand.example": ["93.184.216.34"]})
    called: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        called.append(str(request.url))
        return httpx.Response(302, headers={"Location": "http://127.0.0.1:6379/"})

    hook = Webhook(key=b"k" * 32, transport=httpx.MockTransport(handler))
    message = _webhook_message(2, "https://hooks.brand.example/in")
    result = hook.send(message)
    assert [u.replace(":443", "") for u in called] == ["https://93.184.216.34/in"]  # once, pinned
    assert result.outcome == "failed"


def test_h66_a_receivers_odd_retry_after_is_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx

    from siyu.reach.channels.webhook import Webhook

    _resolving(monkeypatch, {"hooks.brand.example": ["93.184.216.34"]})

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, headers=[(b"Retry-After", b"\xb2")])

    hook = Webhook(key=b"k" * 32, transport=httpx.MockTransport(handler))
    message = _webhook_message(3, "https://hooks.brand.example/in")
    assert hook.send(message).outcome == "retry"


# == I. item 9: dependency floors, the constraints, vendored docs, no extension downloads ======
FLOORS = {"jinja2": (3, 1, 6), "python-multipart": (0, 0, 18)}


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


def test_i01_what_is_installed_and_pinned_is_past_the_known_holes() -> None:
    from importlib.metadata import version

    root = Path(__file__).resolve().parents[2]
    project = (root / "pyproject.toml").read_text(encoding="utf-8")
    pins = dict(
        line.split("==", 1)
        for line in (root / "constraints.txt").read_text(encoding="utf-8").splitlines()
        if "==" in line and not line.startswith("#")
    )
    pins = {k.lower().replace("_", "-"): v for k, v in pins.items()}
    for name, floor in FLOORS.items():
        assert _version(version(name)) >= floor, name
        declared = re.search(rf'"{re.escape(name)}>=([\d.]+)', project)
        assert declared and _version(declared.group(1)) >= floor, name
        assert _version(pins[name]) >= floor, name


def test_i02_duckdb_never_fetches_an_extension_because_a_query_named_one(town: Town) -> None:
    import duckdb

    from siyu.analytics.engines import open_duckdb
    from siyu.config import get_settings

    refresh_copy()
    with open_duckdb(get_settings().resolved_analytics_path, read_only=True) as conn:
        settings = dict(
            conn.execute(
                "SELECT name, value FROM duckdb_settings() WHERE name IN "
                "('autoinstall_known_extensions', 'autoload_known_extensions')"
            ).fetchall()
        )
        assert settings == {
            "autoinstall_known_extensions": "false",
            "autoload_known_extensions": "false",
        }
        started = time.perf_counter()
        with pytest.raises(duckdb.Error):
            conn.execute("SELECT * FROM read_parquet('https://evil.example/x.parquet')")
        assert time.perf_counter() - started < 5  # refused, not downloaded


def test_i03_the_api_docs_load_nothing_from_elsewhere_and_ignore_a_spec_url(town: Town) -> None:
    anon = town.anonymous()
    page = anon.get("/api/docs", params={"url": "https://evil.example/spec.json"})
    assert page.status_code == 200 and "evil.example" not in page.text
    starter = anon.get("/static/api_docs.js").text
    assert "queryConfigEnabled" not in starter and "configUrl" not in starter
    bundle = anon.get("/static/vendor/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and "queryConfigEnabled:!1" in bundle.text  # off by default
    assert "swagger-ui-bundle.js" in page.text and "cdn" not in page.text.lower()


def test_i04_a_multipart_flood_is_cut_short(town: Town) -> None:
    """python-multipart before 0.0.18 logged every stray byte before the first boundary; and a
    form of a thousand parts is not read in full by the upload route."""
    c, csrf = town.as_("guanli")
    boundary = "b0undary"
    preamble = b"\r\n" * 500_000
    body = (
        preamble
        + f'--{boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{csrf}\r\n--{boundary}--\r\n'.encode()
    )
    started = time.perf_counter()
    r = c.post(
        "/imports",
        content=body,
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert r.status_code == 400 and time.perf_counter() - started < 5
    parts = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\nx\r\n'
        for i in range(1000)
    )
    r = c.post(
        "/imports",
        content=(parts + f"--{boundary}--\r\n").encode(),
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert r.status_code == 400 and ("too many fields" in r.text or "字段" in r.text), r.text[:200]
    files = [("f", (f"{i}.txt", b"x", "text/plain")) for i in range(1200)]
    r = c.post(f"/customers/{town.mine}/do-not-disturb", data={"csrf": csrf}, files=files)
    assert r.status_code < 500


# == N. the new pages: imports, customer actions, merges, identity conflicts, the OA callback ==
@pytest.mark.parametrize(
    ("name", "status"),
    [
        pytest.param("../../../../etc/cron.d/x.csv", 303, id="N01 a path as the file name"),
        pytest.param("..\\..\\windows\\x.csv", 303, id="N02 a Windows path"),
        pytest.param("x.html", 400, id="N03 a web page"),
        pytest.param("x.csv.exe", 400, id="N04 an executable named like an export"),
        pytest.param("x", 400, id="N05 no extension"),
        pytest.param("x.csv\x00.html", 400, id="N06 a NUL in the name"),
        pytest.param("\u202ecsv.exe", 400, id="N07 a right-to-left override"),
    ],
)
def test_an_uploaded_files_name_never_becomes_a_path(name: str, status: int, town: Town) -> None:
    from siyu.config import get_settings
    from tests.e2e.test_import_console import _tb_csv

    c, csrf = town.as_("guanli")
    data_dir = get_settings().data_dir
    files = {"file": (name, _tb_csv(False), "text/csv")}
    r = c.post("/imports", data={"csrf": csrf, "what": "orders:taobao"}, files=files)
    assert r.status_code == status, _said(r.text)
    stored = sorted(p for p in data_dir.rglob("*") if p.is_file())
    uploads = data_dir / "uploads"
    for path in stored:
        assert path.parent == uploads and re.fullmatch(r"[0-9a-f]{32}\.(csv|txt)", path.name), path
    assert len(stored) == (1 if status == 303 else 0)
    if status == 303:
        page = c.get(r.headers["location"]).text
        assert "/etc" not in page and "windows\\" not in page.lower() and "\x00" not in page


@pytest.mark.parametrize(
    "how",
    [
        pytest.param("no_token", id="N08 no CSRF token"),
        pytest.param("token_after_file", id="N09 the token after the file"),
        pytest.param("wrong_header", id="N10 a wrong X-CSRF-Token"),
        pytest.param("guide", id="N11 a store guide"),
        pytest.param("anonymous", id="N12 nobody logged in"),
    ],
)
def test_an_upload_that_is_not_allowed_writes_no_byte(how: str, town: Town) -> None:
    from siyu.config import get_settings
    from tests.e2e.test_import_console import _tb_csv

    c, csrf = town.as_("daogou", "store_guide") if how == "guide" else town.as_("guanli")
    if how == "anonymous":
        c = town.anonymous()
    boundary = "xYz"
    file_part = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + _tb_csv(False)
        + b"\r\n"
    )
    token = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{csrf}\r\n'.encode()
    )
    what = f'--{boundary}\r\nContent-Disposition: form-data; name="what"\r\n\r\norders:taobao\r\n'.encode()
    end = f"--{boundary}--\r\n".encode()
    headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
    if how == "token_after_file":
        body = what + file_part + token + end
    elif how == "guide":
        body = token + what + file_part + end
    else:
        body = what + file_part + end
    if how == "wrong_header":
        headers["X-CSRF-Token"] = "wrong-token"
    r = c.post("/imports", content=body, headers=headers)
    assert r.status_code in (303, 400, 403), r.status_code
    assert r.status_code != 303 or r.headers["location"].startswith("/login")
    data_dir = get_settings().data_dir
    assert not [p for p in data_dir.rglob("*") if p.is_file()]


def test_n13_a_workbook_pointing_at_the_servers_files_reads_none(
    town: Town, tmp_path: Path
) -> None:
    from siyu.db import session_scope
    from siyu.ingest.models import ImportRun
    from tests.e2e.test_import_console import run_queued_imports
    from tests.xlsx_files import write_xlsx

    secret = tmp_path / "server-secret.txt"
    secret.write_text("SERVER-SECRET-0451", encoding="utf-8")
    strings = (
        f'<?xml version="1.0"?><!DOCTYPE sst [<!ENTITY x SYSTEM "file://{secret}">]>'
        '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        "<si><t>&x;</t></si></sst>"
    ).encode()
    book = write_xlsx(
        tmp_path / "b.xlsx",
        [["order_id", "phone", "paid_at", "amount"], ["X1", "13812345678", "2026-01-01", "1"]],
        extra={"xl/sharedStrings.xml": strings},
    )
    c, csrf = town.as_("guanli")
    files = {"file": ("b.xlsx", book.read_bytes(), "application/octet-stream")}
    run = c.post("/imports", data={"csrf": csrf, "what": "orders:csv"}, files=files)
    assert run.status_code == 303, _said(run.text)
    run_queued_imports()
    with session_scope() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(ImportRun)) == 1
    assert _rows_holding({"secret": [b"SERVER-SECRET-0451"]}) == []
    page = c.get(run.headers["location"])
    assert page.status_code == 200 and "SERVER-SECRET" not in page.text


def test_n14_rejects_and_qr_images_serve_only_their_own_file(town: Town) -> None:
    c, _csrf = town.as_("guanli")
    for url in (
        "/imports/1/rejects.csv",
        "/imports/..%2f..%2fsecret.key/rejects.csv",
        "/imports/%2e%2e/rejects.csv",
        f"/imports/{2**70}/rejects.csv",
        "/api/v1/wecom/live-codes/..%2f1/qr.png",
        "/static/..%2fviews.py",
        "/static/%2e%2e/%2e%2e/config.py",
        "/static/vendor/../../views.py",
    ):
        r = c.get(url)
        assert r.status_code in (404, 422), (url, r.status_code)
        assert "SIYU_" not in r.text and "import " not in r.text, url


CUSTOMER_ACTIONS = [
    pytest.param(
        "do-not-disturb", {"on": "1", "reason": ""}, id="N15 do-not-disturb without reason"
    ),
    pytest.param("do-not-disturb", {"on": "1", "reason": "x" * 201}, id="N16 a reason too long"),
    pytest.param("do-not-disturb", {"on": "1", "reason": "a\x07b"}, id="N17 a control character"),
    pytest.param(
        "consents", {"action": "grant", "identity_id": "{phone}"}, id="N18 a grant without evidence"
    ),
    pytest.param(
        "consents",
        {"action": "grant", "identity_id": "{phone}", "note": "n", "given_at": "2999-01-01T00:00"},
        id="N19 a grant dated in the future",
    ),
    pytest.param(
        "consents",
        {"action": "grant", "identity_id": "{phone}", "note": "n", "given_at": "昨天"},
        id="N20 a grant dated 'yesterday'",
    ),
    pytest.param(
        "consents", {"action": "sell", "identity_id": "{phone}"}, id="N21 an action that is none"
    ),
    pytest.param(
        "consents",
        {"action": "grant", "identity_id": "{phone}", "note": "x" * 501},
        id="N22 a note too long",
    ),
    pytest.param("merge", {"other": "{mine}"}, id="N23 merge a customer into themself"),
    pytest.param("merge", {"other": "#0"}, id="N24 merge with #0"),
    pytest.param("unmerge/999999", {}, id="N25 undo a merge that never was"),
]


@pytest.mark.parametrize(("action", "form"), CUSTOMER_ACTIONS)
def test_a_customer_action_that_cannot_be_done_changes_nothing(
    action: str, form: dict[str, str], town: Town
) -> None:
    from siyu.customers.models import Consent, Customer
    from siyu.db import session_scope

    def state() -> tuple[Any, ...]:
        with session_scope() as s:
            c = s.get(Customer, town.mine)
            n = s.scalar(sa.select(sa.func.count()).select_from(Consent))
            return c.do_not_disturb, c.status, c.merged_into_id, n

    before = state()
    c, csrf = town.as_("guanli")
    filled = {k: v.format(phone=my_phone_id(), mine=town.mine) for k, v in form.items()}
    r = c.post(f"/customers/{town.mine}/{action}", data={"csrf": csrf, **filled})
    assert r.status_code in (400, 404, 409, 422), (r.status_code, _said(r.text))
    assert state() == before


def test_n26_identity_conflicts_unmask_and_keep_apart_need_the_token(town: Town) -> None:
    from siyu.customers.models import Customer, IdentityConflict
    from siyu.db import session_scope

    with session_scope() as s:
        twin = Customer(name="本店甲", status="active")
        s.add(twin)
        s.flush()
        s.add(
            IdentityConflict(
                customer_id=town.mine, other_customer_id=twin.id, kind="phone", source="t"
            )
        )
    c, csrf = town.as_("yunying", "operator")
    shown = c.post("/identity-conflicts", data={"unmask": "1"})  # no token: stays masked
    assert shown.status_code == 200 and MINE_PHONE[3:] not in shown.text
    assert ("customer.unmask", str(town.mine)) not in audit_actions()
    conflict = re.search(r"/identity-conflicts/(\d+)/keep-apart", shown.text)
    assert conflict
    kept = c.post(conflict.group(0), data={"reason": "不同的人"})
    assert kept.status_code == 403
    assert c.post("/identity-conflicts/999999/keep-apart", data={"csrf": csrf}).status_code == 404


def _digest() -> str:
    """What the database holds, but for who logged in and what was looked at."""
    import hashlib

    from siyu.db import get_engine
    from siyu.models import metadata

    skip = {"audit_log", "login_session", "login_throttle"}
    h = hashlib.sha256()
    with get_engine().connect() as conn:
        for table in metadata.sorted_tables:
            if table.name in skip:
                continue
            rows = sorted(str(tuple(r)) for r in conn.execute(sa.select(table)))
            h.update(f"{table.name}:{len(rows)}:{rows}".encode())
    return h.hexdigest()


@pytest.mark.parametrize(
    "token", [pytest.param(None, id="N27 no token"), pytest.param("x" * 32, id="N28 a wrong token")]
)
def test_no_console_form_changes_anything_without_its_csrf_token(
    token: str | None, town: Town, request: Any
) -> None:
    from siyu.accounts.models import ApiKey, User
    from siyu.accounts.service import create_api_key
    from siyu.customers.models import Customer, IdentityConflict, MergeLog
    from siyu.db import session_scope
    from siyu.loyalty.service import create_programme, enrol
    from siyu.metrics.funnels.service import save_funnel
    from siyu.reach.models import Campaign
    from siyu.wecom.connection.models import WecomCorp
    from siyu.wecom.handover.models import Handover
    from tests.e2e.test_import_console import _tb_csv
    from tests.e2e.test_permission_matrix import CONSOLE, PUBLIC, _routes

    request.getfixturevalue("wecom")
    c, csrf = town.as_("guanli")
    town.as_("fenxi", "analyst")
    seg = _static_segment("名单", [town.mine])
    made = c.post("/campaigns/new", data={**SMS_FORM, "csrf": csrf, "name": "c", "segment_id": seg})
    assert made.status_code == 303
    with session_scope() as s:
        twin, twin2 = Customer(name="甲2", status="active"), Customer(name="甲3", status="active")
        s.add_all([twin, twin2])
        s.flush()
        s.add(
            IdentityConflict(
                customer_id=town.mine, other_customer_id=twin2.id, kind="phone", source="t"
            )
        )
        twin_id, twin2_id = twin.id, twin2.id
    merged = c.post(f"/customers/{town.mine}/merge", data={"csrf": csrf, "other": str(twin_id)})
    assert merged.status_code == 303, _said(merged.text)
    with session_scope() as s:
        steps = [{"label": "a", "kind": "first_seen"}, {"label": "b", "kind": "order"}]
        key, _secret = create_api_key(s, "k", ["customers:read"])
        corp = s.scalar(sa.select(WecomCorp))
        handover = Handover(
            corp_id=corp.id, kind="onjob", handover_userid="a", takeover_userid="b", created_by="t"
        )
        s.add(handover)
        s.flush()
        ids = {
            "customer_id": town.mine,
            "merge_id": s.scalar(sa.select(MergeLog.id)),
            "conflict_id": s.scalar(sa.select(IdentityConflict.id)),
            "funnel_id": save_funnel(s, "f", steps, actor="t").id,
            "user_id": s.scalar(sa.select(User.id).where(User.username == "fenxi")),
            "prefix": s.scalar(sa.select(ApiKey.prefix)),
            "campaign_id": s.scalar(sa.select(Campaign.id)),
            "action": "start",
            "row_id": 1,
            "handover_id": handover.id,
            "referral_id": 1,  # none there: refused for its token before it is looked for
            "slug": "survey",
        }
        programme = create_programme(s, "csrf", "会员")
        ids["programme_id"] = programme.id
        ids["member_id"] = enrol(s, programme, town.mine, channel="store").id
        assert key.prefix == ids["prefix"]
    forms: dict[str, dict[str, str]] = {
        "/customers/{customer_id}": {"unmask": "1"},
        "/customers/{customer_id}/do-not-disturb": {"on": "1", "reason": "伪造"},
        "/customers/{customer_id}/consents": {
            "action": "withdraw",
            "identity_id": str(my_phone_id()),
        },
        "/customers/{customer_id}/merge": {"other": str(twin2_id), "force": "1"},
        "/customers/{customer_id}/privacy/erase": {"confirm": "删除"},
        "/identity-conflicts/{conflict_id}/keep-apart": {"reason": "伪造"},
        "/dashboard/funnels": {"name": "f2", "label_0": "a", "kind_0": "first_seen"}
        | {"label_1": "b", "kind_1": "order"},
        "/admin/users": {"username": "new1", "password": PASSWORD, "role": "admin"},
        "/admin/users/{user_id}": {"role": "admin"},
        "/admin/apikeys": {"name": "k2", "scope": "customers:read"},
        "/campaigns/new": {**SMS_FORM, "name": "c2", "segment_id": str(seg)},
        "/campaigns/ambiguous/{row_id}": {"outcome": "sent"},
        "/wecom/corps": {"corp_id": "ww0123456789", "agent_id": "1000002", "secret": "s" * 43}
        | {"token": "t", "aes_key": "k" * 43},
        "/wecom/welcome": {"text": "伪造的欢迎语"},
        "/wecom/keywords": {"name": "k", "match": "contains", "pattern": "p", "reply": "r"}
        | {"ch_kf": "1"},
        "/wecom/handovers": {"kind": "onjob", "from": "a", "to": "b"},
        "/wecom/handovers/{handover_id}": {"to": "b"},
    }
    before = _digest()
    posts = [
        path
        for method, path, _perm in _routes(town.app)
        if method == "POST"
        and not path.startswith("/api/")
        and CONSOLE.get(("POST", path)) != PUBLIC
    ]
    assert len(posts) > 25
    wrong = []
    for path in posts:
        url = re.sub(r"\{(\w+)\}", lambda m: str(ids[m.group(1)]), path)
        data = dict(forms.get(path, {"name": "x"}))
        if token is not None:
            data["csrf"] = token
        files = {"file": ("a.csv", _tb_csv(False), "text/csv")} if path == "/imports" else None
        if files:
            data["what"] = "orders:taobao"
        r = c.post(url, data=data, files=files)
        if r.status_code >= 500:
            wrong.append(f"{path}: {r.status_code}")
        elif r.headers.get("content-disposition", "").startswith("attachment"):
            wrong.append(f"{path}: answered the download")
        elif _digest() != before:
            wrong.append(f"{path}: changed what is stored")
            before = _digest()
    assert not wrong, "\n".join(wrong)


# -- the official account's callback ---------------------------------------------------------
def _oa_inbox() -> int:
    from siyu.db import session_scope
    from siyu.oa.models import OaCallback

    with session_scope() as s:
        return int(s.scalar(sa.select(sa.func.count()).select_from(OaCallback)) or 0)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x"> %p;]>'
            b"<xml><MsgType>event</MsgType><Event>subscribe</Event></xml>",
            id="N29 a parameter entity fetching from inside",
        ),
        pytest.param(
            b'<xml xmlns:xi="http://www.w3.org/2001/XInclude"><MsgType>event</MsgType>'
            b'<Event>subscribe</Event><FromUserName><xi:include href="file:///etc/hostname" '
            b'parse="text"/></FromUserName><CreateTime>1700000000</CreateTime></xml>',
            id="N30 an XInclude of a local file",
        ),
        pytest.param(
            b'<?xml version="1.0" encoding="UTF-7"?>+ADw-xml+AD4-+ADw-/xml+AD4-',
            id="N31 an encoding that hides markup",
        ),
    ],
)
def test_a_signed_push_cannot_make_the_parser_reach_out(
    body: bytes, oa_account: Any, town: Town
) -> None:
    from tests.e2e.test_oa_reach import _driver

    driver = _driver(oa_account, town.anonymous())
    _plain, query = driver.envelope(driver.event("o_x", "subscribe"))
    started = time.perf_counter()
    r = town.anonymous().post(driver.callback_url, params=query, content=body)
    assert r.status_code in (200, 400), r.status_code
    assert time.perf_counter() - started < 2
    assert _oa_inbox() == 0


def test_n32_the_same_push_sent_ten_times_at_once_is_stored_once(
    oa_account: Any, town: Town
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from siyu.simulators.threaded import ThreadedServer
    from tests.e2e.test_oa_reach import _driver

    driver = _driver(oa_account, town.anonymous())
    fan = oa_account.subscribe()
    body, query = driver.envelope(driver.event(fan.openid, "subscribe"))
    server = ThreadedServer(town.app)
    try:

        def push(_n: int) -> int:
            with httpx.Client(base_url=server.base, timeout=30) as h:
                return h.post(driver.callback_url, params=query, content=body).status_code

        with ThreadPoolExecutor(max_workers=10) as pool:
            codes = list(pool.map(push, range(10)))
    finally:
        server.stop()
    assert set(codes) == {200}
    assert _oa_inbox() == 1


# == J. the review of the door's checks (NUL, half surrogate pairs, the login's origin) ==========
def _tag_groups() -> list[str]:
    from siyu.db import session_scope
    from siyu.tags.models import TagGroup

    with session_scope() as s:
        return list(s.scalars(sa.select(TagGroup.name)))


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le"])
def test_j01_json_in_another_encoding_cannot_carry_a_nul(encoding: str, town: Town) -> None:
    c, csrf = town.as_("guanli")
    h = {"X-CSRF-Token": csrf, "content-type": "application/json"}
    for text in ('{"name": "x\\u0000y"}', '{"name": "x\\ud800"}'):
        r = c.post("/api/v1/tag-groups", content=text.encode(encoding), headers=h)
        assert r.status_code == 400, (encoding, r.status_code)
    assert _tag_groups() == []


@pytest.mark.parametrize("ending", ["\x85", "\xa0", "\x1f", " "])
def test_j02_a_content_type_with_odd_whitespace_is_still_checked(ending: str, town: Town) -> None:
    c, csrf = town.as_("guanli")
    kind = ("application/json" + ending).encode("latin-1")  # as a raw header carries it
    r = c.post(
        "/api/v1/tag-groups",
        content=b'{"name": "n\\u0000"}',
        headers={"X-CSRF-Token": csrf, "content-type": kind},  # type: ignore[dict-item]
    )
    assert r.status_code in (415, 422), r.status_code
    assert _tag_groups() == []


def test_j03_a_console_form_sent_as_multipart_is_refused(town: Town) -> None:
    from siyu.accounts.models import User
    from siyu.db import session_scope

    c, csrf = town.as_("guanli")
    fields = {"csrf": csrf, "username": "u\x00ser", "password": PASSWORD, "role": "operator"}
    r = c.post("/admin/users", files={k: (None, v) for k, v in fields.items()})
    assert r.status_code == 415
    with session_scope() as s:
        assert s.scalar(sa.select(User).where(User.username.like("u%ser"))) is None


def test_j04_a_form_with_a_nul_gets_a_page_in_words(town: Town) -> None:
    c, csrf = town.as_("guanli")
    r = c.post(f"/customers/{town.mine}/do-not-disturb", data={"csrf": csrf, "reason": "a\x00b"})
    assert r.status_code == 422 and "无法保存" in r.text


def test_j05_pairs_spelt_as_escapes_are_taken(town: Town) -> None:
    c, csrf = town.as_("guanli")
    h = {"X-CSRF-Token": csrf, "content-type": "application/json"}
    body = json.dumps({"name": "会员😀"}, ensure_ascii=True).encode()
    assert c.post("/api/v1/tag-groups", content=body, headers=h).status_code == 201
    assert _tag_groups() == ["会员😀"]
