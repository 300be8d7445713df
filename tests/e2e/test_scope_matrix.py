"""The visibility matrix: every route a store guide may open is requested as a guide of one
store, in a brand with two stores, and what comes back may hold only the guide's customers —
their home-store customers, those who bought there and their own WeCom friends (DESIGN §11:
one visibility rule).

The routes are derived from the application, as in the permission matrix. Each route a guide
may open is either in ``SCOPED`` (it returns customer data: how to call it, and the numbers it
must show over the guide's scope) or in ``NO_CUSTOMER_DATA`` (why not). A new route that is in
neither fails the test, so it has to say which it is. Every route of both tables is requested
and its answer searched for the other store's names, phones, e-mails, WeCom ids and customer
ids, masked or not. docs/scope.md is the table as a reference page (``SIYU_WRITE_MATRIX=1``
rewrites it).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from siyu.accounts.permissions import Role
from siyu.accounts.service import Principal
from tests.e2e.test_permission_matrix import PUBLIC, _expected, _routes

W = dict[str, Any]
MINE = (7100001, 7100002, 7100003)  # home store S1; home S2 but bought at S1; guide's friend
THEIRS = (7200001, 7200002, 7200003, 7200004)
NAMES = {
    7100001: "本店甲",
    7100002: "本店乙",
    7100003: "好友丙",
    7200001: "外店丁",
    7200002: "外店戊",
    7200003: "外店己",
    7200004: "外店庚",
}
SMS = {
    "sign_name": "悦颜",
    "template_code": "SMS_000001",
    "text": "${name}您好，${offer}，拒收请回复R",
    "params": {"name": "{{ name }}", "offer": "满199减30"},
}
TAG_RULE = "tag:兴趣/护肤"


def phone(cid: int) -> str:
    """Mine end 1001…, theirs 2001…: their masked forms differ too."""
    own = cid in MINE
    return f"139{'1111' if own else '2222'}{cid % 1000 + (1000 if own else 2000):04d}"


def email(cid: int) -> str:
    return f"c{cid}@{'mine' if cid in MINE else 'other'}.example"


def external(cid: int) -> str:
    return f"{'xm' if cid in MINE else 'xo'}-{cid}-ext"


def leaks(text: str) -> list[str]:
    """Anything of the other store's customers in an answer, masked or not."""
    from siyu.customers.identifiers import mask_email, mask_phone

    found = []
    for cid in THEIRS:
        for marker in (
            NAMES[cid],
            NAMES[cid][:2],  # "外店" starts every name of theirs, masked or not
            phone(cid),
            mask_phone(phone(cid)) or "",
            email(cid),
            mask_email(email(cid)) or "",
            "other.example",
            external(cid),
            "xo-",
        ):
            if marker in text:
                found.append(marker)
        if re.search(rf"(?<![0-9]){cid}(?![0-9])", text):
            found.append(str(cid))
    return sorted(set(found))


@dataclass
class Call:
    """How to call a route as the guide, and what its numbers must be over their scope."""

    what: str  # what the route returns, for docs/scope.md
    scope: str  # the scope it applies, for docs/scope.md
    url: Callable[[W], str]
    body: Callable[[W], dict[str, Any]] | None = None
    check: Callable[[W, httpx.Response], None] = field(default=lambda w, r: None)
    status: int = 200


def _json(r: httpx.Response) -> Any:
    assert r.status_code == 200, r.text[:300]
    return r.json()


def _ids(rows: list[dict[str, Any]], key: str = "customer_id") -> set[int]:
    return {int(x[key]) for x in rows if x.get(key) is not None}


def _seg(w: W, rows: list[dict[str, Any]], key: str) -> dict[str, Any]:
    return next(s for s in rows if s["id"] == w[key])


def _consent(customer_id: int) -> str:
    from siyu.customers.models import Consent
    from siyu.db import session_scope

    with session_scope() as s:
        return str(s.scalar(sa.select(Consent.id).where(Consent.customer_id == customer_id)))


def _check_own(r: httpx.Response, key: str | None = None) -> None:
    """A write on one of the guide's own customers goes through (the console redirects back
    to the customer page)."""
    assert r.status_code in (200, 303), (r.status_code, r.text[:300])
    if key is not None:
        assert key in r.json()


def check_tags(w: W, r: httpx.Response) -> None:
    tags = [t for g in _json(r) for t in g["tags"] if t["name"] == "护肤"]
    assert tags[0]["customers"] == {"manual": 3}


def check_segments(w: W, r: httpx.Response) -> None:
    rows = _json(r)
    assert _seg(w, rows, "static")["size"] == 3 and _seg(w, rows, "dynamic")["size"] == 3
    assert all(s["scoped"] for s in rows)


def check_segment(w: W, r: httpx.Response) -> None:
    body = _json(r)
    assert body["size"] == 3 and body["history"] == []


def check_count(w: W, r: httpx.Response) -> None:
    assert _json(r)["count"] == 3


def check_preview(w: W, r: httpx.Response) -> None:
    body = _json(r)
    assert body["count"] == 3 and _ids(body["sample"]) == set(MINE)


def check_campaigns(w: W, r: httpx.Response) -> None:
    row = next(c for c in _json(r) if c["id"] == w["campaign"])
    assert row["audience_size"] == 3 and row["progress"]["total"] == 3


def check_campaign(w: W, r: httpx.Response) -> None:
    body = _json(r)
    assert body["funnel"]["targeted"] == 3 and body["audience_size"] == 3


def check_results(w: W, r: httpx.Response) -> None:
    assert _json(r)["funnel"]["targeted"] == 3


def check_campaign_preview(w: W, r: httpx.Response) -> None:
    body = _json(r)
    assert _ids(body["samples"]) == set(MINE) and body["unmasked"] is False


def check_customers(w: W, r: httpx.Response) -> None:
    body = _json(r)
    assert body["total"] == 3 and _ids(body["items"], "id") == set(MINE)


def check_status(w: W, r: httpx.Response) -> None:
    corp = _json(r)["corps"][0]
    assert corp["customers"] == 2 and corp["friendships"] == 3  # brand-wide: 4 and 6


def check_live_codes(w: W, r: httpx.Response) -> None:
    row = next(c for c in _json(r) if c["id"] == w["live_code"])
    assert row["net_adds"] == 2  # brand-wide: 3


def check_stats(w: W, r: httpx.Response) -> None:
    body = _json(r)
    assert body["adds"] == 2 and sum(body["by_staff"].values()) == 2


def check_alerts(w: W, r: httpx.Response) -> None:
    body = _json(r)
    assert {a["kind"] for a in body["alerts"]} == {"customer_deleted", "capacity"}
    assert _ids(body["alerts"]) == {7100001}
    assert sum(body["welcome"]["by_status"].values()) == 1


def check_duplicates(w: W, r: httpx.Response) -> None:
    body = _json(r)
    assert body["customers_with_several_staff"] == 1 and _ids(body["sample"]) == {7100003}


def check_keywords(w: W, r: httpx.Response) -> None:
    rule = next(x for x in _json(r) if x["id"] == w["keyword_rule"])
    assert rule["sent"] == 1  # brand-wide: 2


def check_replies(w: W, r: httpx.Response) -> None:
    rows = _json(r)
    assert _ids(rows) == {7100001} and phone(7100001) not in json.dumps(rows)


def check_handovers(w: W, r: httpx.Response) -> None:
    row = next(h for h in _json(r) if h["id"] == w["handover"])
    assert row["counts"] == {"queued": 1}


def check_handover(w: W, r: httpx.Response) -> None:
    assert _ids(_json(r)["items"]) == {7100001}


def check_detail(w: W, r: httpx.Response) -> None:
    body = _json(r)
    assert body["id"] == MINE[0] and phone(MINE[0]) not in r.text  # masked until unmasked


def page(*needles: str) -> Callable[[W, httpx.Response], None]:
    """A console page that must show these (its counts over the guide's scope)."""

    def check(w: W, r: httpx.Response) -> None:
        assert r.status_code == 200, r.text[:300]
        assert r.headers["content-type"].startswith("text/html")
        for needle in needles:
            assert needle.format(**w) in r.text, needle

    return check


def segment_sizes(w: W, r: httpx.Response) -> None:
    page('data-testid="scope-note"')(w, r)
    sizes = re.findall(r'<a href="/segments/(\d+)">[^<]*</a>.*?</td>\s*<td>([\d,]+)</td>', r.text)
    assert {int(s) for _sid, s in sizes} == {3}, sizes


R = "/api/v1"
EVERYONE = "everyone (no customer data)"
SCOPED: dict[tuple[str, str], Call] = {
    ("PUT", f"{R}/customers/{{customer_id}}/do-not-disturb"): Call(
        "one customer's do-not-disturb (a write)",
        "visible_to (get_visible)",
        lambda w: f"{R}/customers/{MINE[0]}/do-not-disturb",
        body=lambda w: {"on": True, "reason": "顾客来电要求"},
        check=lambda w, r: _check_own(r, "do_not_disturb"),
    ),
    ("POST", f"{R}/customers/{{customer_id}}/consents"): Call(
        "one customer's consent record (a write)",
        "visible_to (get_visible)",
        lambda w: f"{R}/customers/{MINE[0]}/consents",
        body=lambda w: {"action": "withdraw", "channel": "sms"},
        check=lambda w, r: _check_own(r, "status"),
    ),
    ("POST", "/customers/{customer_id}/do-not-disturb"): Call(
        "one customer's do-not-disturb (a console form)",
        "visible_to (get_visible)",
        lambda w: f"/customers/{MINE[0]}/do-not-disturb",
        body=lambda w: {"csrf": w["csrf"], "on": "1", "reason": "顾客来电要求"},
        check=lambda w, r: _check_own(r),
    ),
    ("POST", "/customers/{customer_id}/consents"): Call(
        "one customer's consent record (a console form)",
        "visible_to (get_visible)",
        lambda w: f"/customers/{MINE[0]}/consents",
        body=lambda w: {"csrf": w["csrf"], "action": "withdraw", "consent_id": _consent(MINE[0])},
        check=lambda w, r: _check_own(r),
    ),
    ("GET", f"{R}/customers"): Call(
        "customer list", "visible_to", lambda w: f"{R}/customers", check=check_customers
    ),
    ("GET", f"{R}/customers/{{customer_id}}"): Call(
        "customer 360 (events masked by value)",
        "visible_to; unmask audited",
        lambda w: f"{R}/customers/{MINE[0]}",
        check=check_detail,
    ),
    ("GET", f"{R}/tags"): Call(
        "tag counts, rule matches",
        "only_visible(customer_tag)",
        lambda w: f"{R}/tags",
        check=check_tags,
    ),
    ("GET", f"{R}/segments"): Call(
        "segment sizes",
        "only_visible(segment_member)",
        lambda w: f"{R}/segments",
        check=check_segments,
    ),
    ("GET", f"{R}/segments/{{segment_id}}"): Call(
        "segment size; size history",
        "only_visible(segment_member); history withheld",
        lambda w: f"{R}/segments/{w['static']}",
        check=check_segment,
    ),
    ("GET", f"{R}/segments/{{segment_id}}/count"): Call(
        "live count",
        "guide_scope on the copy",
        lambda w: f"{R}/segments/{w['dynamic']}/count",
        check=check_count,
    ),
    ("POST", f"{R}/segments/count"): Call(
        "live count of a rule",
        "guide_scope on the copy",
        lambda w: f"{R}/segments/count",
        body=lambda w: {"rule": TAG_RULE},
        check=check_count,
    ),
    ("POST", f"{R}/segments/preview"): Call(
        "count, reach, masked sample",
        "guide_scope on the copy + visible_to",
        lambda w: f"{R}/segments/preview",
        body=lambda w: {"rule": TAG_RULE},
        check=check_preview,
    ),
    ("GET", f"{R}/campaigns"): Call(
        "campaign progress, audience",
        "only_visible(send_ledger); own groups",
        lambda w: f"{R}/campaigns",
        check=check_campaigns,
    ),
    ("GET", f"{R}/campaigns/{{campaign_id}}"): Call(
        "funnel, skip reasons",
        "only_visible(send_ledger); own groups",
        lambda w: f"{R}/campaigns/{w['campaign']}",
        check=check_campaign,
    ),
    ("GET", f"{R}/campaigns/{{campaign_id}}/results"): Call(
        "conversions, revenue, lift",
        "only_visible(send_ledger)",
        lambda w: f"{R}/campaigns/{w['campaign']}/results",
        check=check_results,
    ),
    ("POST", f"{R}/campaigns/preview"): Call(
        "messages rendered for members",
        "only_visible(segment_member); masked unless asked and allowed, audited",
        lambda w: f"{R}/campaigns/preview",
        body=lambda w: {
            "segment_id": w["static"],
            "channel": "sms",
            "template": SMS,
            "samples": 20,
        },
        check=check_campaign_preview,
    ),
    ("GET", f"{R}/wecom/status"): Call(
        "friendships, customers (sync and inbox)",
        "only_visible(wecom_contact); inbox failures withheld",
        lambda w: f"{R}/wecom/status",
        check=check_status,
    ),
    ("GET", f"{R}/wecom/live-codes"): Call(
        "live codes with net adds",
        "only_visible(wecom_contact)",
        lambda w: f"{R}/wecom/live-codes",
        check=check_live_codes,
    ),
    ("GET", f"{R}/wecom/live-codes/{{code_id}}/stats"): Call(
        "adds and deletions by day and staff",
        "only_visible(wecom_contact)",
        lambda w: f"{R}/wecom/live-codes/{w['live_code']}/stats",
        check=check_stats,
    ),
    ("GET", f"{R}/wecom/alerts"): Call(
        "open alerts, welcome figures",
        "only_visible(alert, delivery); capacity and stock alerts; messages masked",
        lambda w: f"{R}/wecom/alerts",
        check=check_alerts,
    ),
    ("GET", f"{R}/wecom/duplicates"): Call(
        "customers with several staff",
        "only_visible(wecom_contact)",
        lambda w: f"{R}/wecom/duplicates",
        check=check_duplicates,
    ),
    ("GET", f"{R}/wecom/keywords"): Call(
        "keyword rules with replies sent",
        "only_visible(keyword_reply)",
        lambda w: f"{R}/wecom/keywords",
        check=check_keywords,
    ),
    ("GET", f"{R}/wecom/keyword-replies"): Call(
        "customers' messages and replies",
        "only_visible(keyword_reply); text masked by value",
        lambda w: f"{R}/wecom/keyword-replies",
        check=check_replies,
    ),
    ("GET", f"{R}/wecom/handovers"): Call(
        "handovers with item counts",
        "only_visible(handover_item); groups withheld",
        lambda w: f"{R}/wecom/handovers",
        check=check_handovers,
    ),
    ("GET", f"{R}/wecom/handovers/{{handover_id}}"): Call(
        "handover items",
        "only_visible(handover_item); groups withheld",
        lambda w: f"{R}/wecom/handovers/{w['handover']}",
        check=check_handover,
    ),
    ("GET", "/customers"): Call(
        "customer list page", "visible_to", lambda w: "/customers", check=page("本**")
    ),
    ("GET", "/customers/{customer_id}"): Call(
        "customer 360 page",
        "visible_to; events masked by value",
        lambda w: f"/customers/{MINE[0]}",
        check=page("本**"),
    ),
    ("POST", "/customers/{customer_id}"): Call(
        "customer 360 unmasked",
        "visible_to; audited",
        lambda w: f"/customers/{MINE[0]}",
        body=lambda w: {"unmask": "1", "csrf": w["csrf"]},
        check=page("本店甲"),
    ),
    ("GET", "/insight"): Call(
        "lifecycle, RFM and CLV distribution",
        "only_visible(customer_trait); trend withheld",
        lambda w: "/insight",
        check=page("共 3 位购买客户", 'data-testid="scope-note"'),
    ),
    ("GET", "/segments"): Call(
        "segment sizes page",
        "only_visible(segment_member)",
        lambda w: "/segments",
        check=segment_sizes,
    ),
    ("GET", "/segments/{segment_id}"): Call(
        "segment page",
        "only_visible(segment_member); history withheld",
        lambda w: f"/segments/{w['static']}",
        check=page('data-testid="segment-size">3<', 'data-testid="scope-note"'),
    ),
    ("GET", "/dashboard/customers"): Call(
        "drill-down list",
        "guide_scope on the copy + visible_to",
        lambda w: "/dashboard/customers?rule=" + w["rule_json"],
        check=page("本**"),
    ),
    ("GET", "/campaigns"): Call(
        "campaign list page",
        "only_visible(send_ledger)",
        lambda w: "/campaigns",
        check=page("{campaign_name}"),
    ),
    ("GET", "/campaigns/{campaign_id}"): Call(
        "campaign funnel and results page",
        "only_visible(send_ledger)",
        lambda w: f"/campaigns/{w['campaign']}",
        check=page("{campaign_name}"),
    ),
    ("GET", "/wecom"): Call(
        "WeCom status, staff friend counts, alerts",
        "only_visible(wecom_contact, alert, delivery)",
        lambda w: "/wecom",
        check=page("guide_w"),
    ),
    ("GET", "/wecom/live-codes"): Call(
        "live codes with net adds",
        "only_visible(wecom_contact)",
        lambda w: "/wecom/live-codes",
        check=page("门店码"),
    ),
    ("GET", "/wecom/live-codes/{code_id}"): Call(
        "live code stats",
        "only_visible(wecom_contact)",
        lambda w: f"/wecom/live-codes/{w['live_code']}",
        check=page("门店码"),
    ),
    ("GET", "/wecom/welcome"): Call(
        "welcome delivery figures",
        "only_visible(welcome_delivery)",
        lambda w: "/wecom/welcome",
        check=page(),
    ),
    ("GET", "/wecom/keywords"): Call(
        "keyword rules and customers' messages",
        "only_visible(keyword_reply); text masked by value",
        lambda w: "/wecom/keywords",
        check=page("价格"),
    ),
    ("GET", "/wecom/handovers"): Call(
        "handovers", "only_visible(handover_item)", lambda w: "/wecom/handovers", check=page()
    ),
    ("GET", "/wecom/handovers/{handover_id}"): Call(
        "handover items",
        "only_visible(handover_item); groups withheld",
        lambda w: f"/wecom/handovers/{w['handover']}",
        check=page(),
    ),
    ("GET", "/loyalty/members"): Call(
        "loyalty members: masked name and phone, tier, points",
        "only_visible(loyalty_member)",
        lambda w: "/loyalty/members",
        check=page("本**", 'href="/loyalty/members/{member}"'),
    ),
    ("GET", "/loyalty/members/{member_id}"): Call(
        "a member's points, lots, ledger, tier history, coupons",
        "visible_to (get_visible); another store's member: 404",
        lambda w: f"/loyalty/members/{w['member']}",
        check=page("本**", 'data-testid="balance"'),
    ),
}

# Routes a guide may open that return no customer's data, and why; requested all the same.
NO_CUSTOMER_DATA: dict[tuple[str, str], tuple[str, Callable[[W], str]]] = {
    ("POST", f"{R}/coupons/{{code}}/redeem"): (
        "a coupon's code and discount (at the guide's own store only), never its member",
        lambda w: f"{R}/coupons/NOSUCHCODE23/redeem",
    ),
    ("POST", f"{R}/members"): (
        "enrols at the guide's own store and answers the member number and tier it gave; no "
        "name, phone or customer id",
        lambda w: f"{R}/members",
    ),
    ("POST", f"{R}/members/identify"): (
        "the member number, tier and points of the card the customer shows (its code changes "
        "every minute), at the guide's own store only; no name, phone or customer id",
        lambda w: f"{R}/members/identify",
    ),
    ("GET", f"{R}/segments/fields"): (
        "the rule vocabulary: fields, operators, cities, sources and tag names, no people",
        lambda w: f"{R}/segments/fields",
    ),
    ("GET", f"{R}/send-caps"): ("frequency caps (settings)", lambda w: f"{R}/send-caps"),
    ("GET", f"{R}/wecom/benefit-pools"): (
        "benefit-code stock per pool",
        lambda w: f"{R}/wecom/benefit-pools",
    ),
    ("GET", f"{R}/wecom/group-codes"): (
        "group live codes: groups' names and sizes at WeCom, no members",
        lambda w: f"{R}/wecom/group-codes",
    ),
    ("GET", f"{R}/wecom/group-codes/{{code_id}}"): (
        "one group live code (groups, no members)",
        lambda w: f"{R}/wecom/group-codes/{w['group_code']}",
    ),
    ("GET", f"{R}/wecom/group-codes/{{code_id}}/qr.png"): (
        "a QR image",
        lambda w: f"{R}/wecom/group-codes/{w['group_code']}/qr.png",
    ),
    ("GET", f"{R}/wecom/live-codes/{{code_id}}/qr.png"): (
        "a QR image",
        lambda w: f"{R}/wecom/live-codes/{w['live_code']}/qr.png",
    ),
}


def test_a_store_guide_sees_only_their_scope_on_every_route(
    client: TestClient, wecom: dict[str, Any], tmp_path: Path
) -> None:
    from siyu.app import create_app
    from siyu.customers.models import Customer
    from siyu.db import session_scope
    from tests.e2e.conftest import login

    w = _world(wecom)
    routes = _routes(create_app())
    reachable = {
        (method, path)
        for method, path, declared in routes
        if declared != PUBLIC and _expected(declared, Role.store_guide) == "allowed"
    }
    unlisted = sorted(reachable - set(SCOPED) - set(NO_CUSTOMER_DATA))
    assert not unlisted, (
        f"say whether these return customer data (SCOPED or NO_CUSTOMER_DATA): {unlisted}"
    )
    stale = sorted((set(SCOPED) | set(NO_CUSTOMER_DATA)) - reachable)
    assert not stale, f"no longer a route a guide may open: {stale}"

    w["csrf"] = login(client, "guide")
    wrong = []
    for (method, path), call in sorted(SCOPED.items()):
        url = call.url(w)
        headers = {"X-CSRF-Token": w["csrf"]} if url.startswith("/api/") else {}
        body = call.body(w) if call.body else None
        if method == "GET":
            r = client.get(url, headers=headers)
        elif url.startswith("/api/"):
            r = client.request(method, url, headers=headers, json=body or {})
        else:
            r = client.post(url, data=body or {})
        if found := leaks(r.text):
            wrong.append(f"{method} {path}: shows the other store's {found}")
        try:
            call.check(w, r)
        except (AssertionError, LookupError, TypeError, ValueError) as exc:
            wrong.append(f"{method} {path}: {type(exc).__name__} {str(exc)[:200]}")
    for (method, path), (_why, url_of) in sorted(NO_CUSTOMER_DATA.items()):
        if method != "GET":
            continue
        r = client.get(url_of(w))
        assert r.status_code == 200, (path, r.status_code, r.text[:200])
        if found := leaks(r.content.decode("utf-8", "replace")):
            wrong.append(f"{method} {path}: shows the other store's {found}")
    assert not wrong, "\n".join(wrong)

    # another store's customer, asked for by id, is refused and shows nothing of theirs
    for cid in THEIRS:
        for url in (f"/api/v1/customers/{cid}", f"/customers/{cid}"):
            r = client.get(url)
            # the page's own address (language links) and the id asked for, said back as the
            # same "no customer …" a missing one gets, aside
            shown = r.text.replace(url, "").replace(f"no customer {cid}", "")
            assert r.status_code == 404 and not leaks(shown), (url, r.status_code)
    # nor another store's member: their page is a missing member's
    for member_id in w["their_members"]:
        r = client.get(f"/loyalty/members/{member_id}")
        assert r.status_code == 404 and not leaks(
            r.text.replace(f"/loyalty/members/{member_id}", "")
        )
    # nor may they change another store's customer: refused alike, nothing stored
    for cid in THEIRS:
        for method, url, body in (
            ("PUT", f"{R}/customers/{cid}/do-not-disturb", {"on": True, "reason": "x"}),
            ("POST", f"{R}/customers/{cid}/consents", {"action": "withdraw", "channel": "sms"}),
        ):
            r = client.request(method, url, json=body, headers={"X-CSRF-Token": w["csrf"]})
            shown = r.text.replace(f"no customer {cid}", "")
            assert r.status_code == 404 and not leaks(shown), (url, r.status_code)
    with session_scope() as s:
        theirs = s.scalars(sa.select(Customer.do_not_disturb).where(Customer.id.in_(THEIRS)))
        assert not any(theirs)
    # a guide may not ask a preview to unmask (they unmask one customer at a time, audited)
    preview = SCOPED[("POST", f"{R}/campaigns/preview")].body
    ask = {**(preview(w) if preview else {}), "unmask": True}
    refused = client.post(f"{R}/campaigns/preview", json=ask, headers={"X-CSRF-Token": w["csrf"]})
    assert refused.status_code == 403 and not leaks(refused.text)
    _write_doc(reachable)


def _write_doc(reachable: set[tuple[str, str]]) -> None:
    lines = [
        "# 可见范围 What a store guide sees",
        "",
        "Generated by tests/e2e/test_scope_matrix.py; do not edit by hand (`SIYU_WRITE_MATRIX=1`",
        "rewrites it). Every route a store guide may open, what customer data it returns and the",
        "scope it applies: `visible_to` is the one visibility rule on customers (home store, bought",
        "there, the guide's WeCom friends), `only_visible(table)` the same rule on a table's",
        "customer id, `guide_scope` its twin on the analytical copy. Other roles see the whole pool.",
        "",
        "| 方法 | 路径 route | returns | scope for a store guide |",
        "|---|---|---|---|",
    ]
    for key in sorted(reachable, key=lambda k: (k[1], k[0])):
        if key in SCOPED:
            what, scope = SCOPED[key].what, SCOPED[key].scope
        else:
            what, scope = NO_CUSTOMER_DATA[key][0], EVERYONE
        lines.append(f"| {key[0]} | `{key[1]}` | {what} | {scope} |")
    text = "\n".join(lines) + "\n"
    doc = Path(__file__).resolve().parents[2] / "docs" / "scope.md"
    if os.environ.get("SIYU_WRITE_MATRIX"):
        doc.write_text(text, encoding="utf-8")
    assert doc.read_text(encoding="utf-8") == text, "docs/scope.md is stale"


# -- the world: one brand, two stores, a guide of the first --------------------------------
def _world(wecom: dict[str, Any]) -> W:
    from siyu.accounts.models import User
    from siyu.brands.models import Brand, Store
    from siyu.config import get_settings
    from siyu.customers.models import Consent, Customer, Identity
    from siyu.db import get_engine, session_scope, utcnow
    from siyu.events.models import Event
    from siyu.loyalty.service import create_programme, enrol
    from siyu.orders.models import Order
    from siyu.reach.campaigns import service as reach
    from siyu.reach.campaigns.commands import PlanCampaign
    from siyu.segments.membership import refresh_segments
    from siyu.segments.rules import to_json
    from siyu.segments.service import create_segment, create_static_segment, parse_rule
    from siyu.tags.models import CustomerTag, Tag, TagGroup
    from siyu.traits.models import CustomerTrait, TraitRun, TraitSnapshot
    from tests.e2e.conftest import make_user

    make_user("guide", "store_guide", store_code="S1")
    now = utcnow()
    w: W = {}
    with session_scope() as s:
        s.execute(sa.update(User).where(User.username == "guide").values(wecom_userid="guide_w"))
        brand = s.scalar(sa.select(Brand).where(Brand.code == "b1"))
        assert brand is not None
        s1 = s.scalar(sa.select(Store).where(Store.code == "S1"))
        s2 = Store(brand_id=brand.id, code="S2", name="门店S2")
        s.add(s2)
        s.flush()
        assert s1 is not None
        home = {7100001: s1.id, 7100002: s2.id, 7100003: s2.id, 7200001: s2.id}
        home |= {7200002: s2.id, 7200003: None, 7200004: s2.id}
        for cid, store in home.items():
            s.add(
                Customer(
                    id=cid,
                    name=NAMES[cid],
                    city="上海",
                    store_id=store,
                    source="pos",
                    created_at=now,
                    updated_at=now,
                    first_seen_at=now - timedelta(days=3),
                )
            )
        s.flush()
        for cid in home:
            s.add(Identity(customer_id=cid, kind="phone", value=f"+86{phone(cid)}", source="t"))
            s.add(Identity(customer_id=cid, kind="email", value=email(cid), source="t"))
            s.add(
                Identity(customer_id=cid, kind="external_userid", value=external(cid), source="t")
            )
            s.add(
                Consent(
                    customer_id=cid,
                    brand_id=brand.id,
                    channel="sms",
                    purpose="marketing",
                    address=f"+86{phone(cid)}",
                    status="granted",
                    source="t",
                    recorded_at=now,
                )
            )
            s.add(
                Event(
                    message_id=f"e{cid}",
                    customer_id=cid,
                    type="track",
                    name="留资",
                    properties={"contact": {"phone": phone(cid)}, "备注": f"{NAMES[cid]} 来过"},
                    occurred_at=now,
                    source="t",
                )
            )
        bought = {7100001: s1.id, 7100002: s1.id, 7200001: s2.id, 7200004: s2.id}
        for cid, store in bought.items():
            s.add(
                Order(
                    brand_id=brand.id,
                    platform="pos",
                    shop="",
                    platform_order_id=f"o{cid}",
                    customer_id=cid,
                    store_id=store,
                    status="completed",
                    total_fen=10000,
                    paid_fen=10000,
                    refund_fen=0,
                    ordered_at=now - timedelta(days=2),
                    paid_at=now - timedelta(days=2),
                    digest="x",
                )
            )
        group = TagGroup(name="兴趣", single=False)
        s.add(group)
        s.flush()
        tag = Tag(group_id=group.id, name="护肤")
        s.add(tag)
        s.flush()
        for cid in home:
            s.add(CustomerTag(customer_id=cid, tag_id=tag.id, source="manual", actor="t"))
        run = TraitRun(engine="duckdb", reference_date=date.today(), window_days=365, actor="t")
        s.add(run)
        s.flush()
        for cid in home:
            s.add(
                CustomerTrait(
                    customer_id=cid,
                    scope=0,
                    run_id=run.id,
                    lifecycle_stage="active",
                    stage_since=date.today(),
                    rfm_class="important_value",
                    clv_fen=cid,
                )
            )
        s.add(
            TraitSnapshot(
                run_id=run.id,
                scope=0,
                reference_date=date.today(),
                customers=7,
                lifecycle={"active": 7},
                rfm_classes={"important_value": 7},
                clv_quantiles={"p50": 7200004},
            )
        )
        static, _missing = create_static_segment(s, "全店名单", customer_ids=list(home), actor="t")
        w["static"] = static.id
        programme = create_programme(s, "vip", "会员计划")
        members = {cid: enrol(s, programme, cid, channel="store").id for cid in home}
        w["member"], w["their_members"] = members[MINE[0]], [members[c] for c in THEIRS]
        _wecom_world(s, w, wecom)
    runner = CliRunner()
    from siyu.cli import app

    assert runner.invoke(app, ["analytics", "refresh"]).exit_code == 0
    with session_scope() as s:
        dynamic = create_segment(s, "护肤人群", rule=TAG_RULE, actor="t")
        w["dynamic"] = dynamic.id
    refresh_segments(get_engine(), get_settings(), segment_ids=[w["dynamic"]])
    with session_scope() as s:
        campaign = reach.plan_campaign(
            s,
            PlanCampaign(
                name="双12预热", segment_id=w["static"], channels=["sms"], templates={"sms": SMS}
            ),
            actor="t",
        )
        reach.act(s, campaign, "start", by=Principal("t", Role.admin, frozenset()))
        w["campaign"], w["campaign_name"] = campaign.id, campaign.name
        w["rule_json"] = json.dumps(to_json(parse_rule(TAG_RULE)), ensure_ascii=False)
    return w


def _wecom_world(s: Any, w: W, wecom: dict[str, Any]) -> None:
    """Friendships (the guide's own among them), a live code, alerts, welcome deliveries,
    keyword replies, a handover and a group live code."""
    from siyu.db import utcnow
    from siyu.wecom.connection.models import WecomCorp, WecomStaff
    from siyu.wecom.contacts.models import WecomAlert, WecomContact
    from siyu.wecom.handover.models import Handover, HandoverItem
    from siyu.wecom.live_codes.models import GroupLiveCode, LiveCode, WelcomeDelivery
    from siyu.wecom.replies.models import KeywordReply, KeywordRule

    now = utcnow()
    corp = s.scalar(sa.select(WecomCorp))
    for userid in ("guide_w", "other_w", "third_w"):
        s.add(WecomStaff(corp_id=corp.id, userid=userid, name=userid, status=1))
    code = LiveCode(
        corp_id=corp.id, name="门店码", state="lc1", config_id="cfg1", qr_png=b"\x89PNG"
    )
    s.add(code)
    s.flush()
    w["live_code"] = code.id
    contacts = [
        ("guide_w", 7100003, "lc1", None),
        ("guide_w", 7200003, None, now),  # a friendship since deleted: not the guide's any more
        ("other_w", 7200001, "lc1", None),
        ("other_w", 7100001, "lc1", None),
        ("other_w", 7200003, None, None),
        ("other_w", 7100003, None, None),
        ("third_w", 7200001, None, None),
    ]
    for staff, cid, state, deleted in contacts:
        s.add(
            WecomContact(
                corp_id=corp.id,
                staff_userid=staff,
                external_userid=external(cid),
                customer_id=cid,
                nickname=NAMES[cid],
                state=state,
                added_at=now - timedelta(hours=1),
                deleted_at=deleted,
            )
        )
    for cid, kind in ((7100001, "customer_deleted"), (7200001, "customer_deleted")):
        s.add(
            WecomAlert(
                corp_id=corp.id,
                kind=kind,
                message=f"客户 {NAMES[cid]}（{phone(cid)}）删除了导购",
                staff_userid="other_w",
                customer_id=cid,
            )
        )
    s.add(
        WecomAlert(
            corp_id=corp.id, kind="staff_deleted", message=f"员工删除了客户 {NAMES[7200003]}"
        )
    )
    s.add(WecomAlert(corp_id=corp.id, kind="capacity", message="guide_w 接近上限"))
    for n, cid in enumerate((7100001, 7200001)):
        s.add(
            WelcomeDelivery(
                corp_id=corp.id,
                callback_id=n + 1,
                staff_userid="other_w",
                external_userid=external(cid),
                customer_id=cid,
                status="sent",
                latency_ms=100,
                at=now,
            )
        )
    rule = KeywordRule(
        corp_id=corp.id, name="问价", match="contains", pattern="价格", reply_text="您好"
    )
    s.add(rule)
    s.flush()
    w["keyword_rule"] = rule.id
    for cid in (7100001, 7200001):
        s.add(
            KeywordReply(
                corp_id=corp.id,
                channel="kf",
                message_id=f"m{cid}",
                sender=external(cid),
                customer_id=cid,
                text=f"{NAMES[cid]}问价格，电话 {phone(cid)}",
                rule_id=rule.id,
                status="sent",
                at=now,
            )
        )
    handover = Handover(
        corp_id=corp.id,
        kind="onjob",
        handover_userid="other_w",
        takeover_userid="guide_w",
        created_by="t",
    )
    s.add(handover)
    s.flush()
    w["handover"] = handover.id
    for target, cid, kind in (
        (external(7100001), 7100001, "customer"),
        (external(7200001), 7200001, "customer"),
        ("chat-1", None, "group"),
    ):
        s.add(
            HandoverItem(
                handover_id=handover.id,
                corp_id=corp.id,
                target_type=kind,
                target_id=target,
                customer_id=cid,
                takeover_userid="guide_w",
            )
        )
    group_code = GroupLiveCode(
        corp_id=corp.id, name="会员群码", state="gc1", config_id="gcfg", qr_png=b"\x89PNG"
    )
    s.add(group_code)
    s.flush()
    w["group_code"] = group_code.id
