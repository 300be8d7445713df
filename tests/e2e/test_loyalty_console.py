"""The loyalty console pages over HTTP: programmes with their earn rules and tiers, the member
list and a member's page (within the customer list's scope: a store guide sees their own
store's members only), manual adjustments that write once, and coupon templates — forms
checked for CSRF, permissions and bad input, hostile text escaped."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from tests.e2e.conftest import login, make_user

HOSTILE = "<script>alert(1)</script>"
MINE_PHONE, THEIR_PHONE = "13911112222", "13933334444"


def _world() -> dict[str, Any]:
    """Brand b1 with stores s1 (the guide's) and s2; a programme with a member of each store,
    tiers, a spend rule, points and a coupon."""
    from siyu.brands.models import Store
    from siyu.customers.models import Customer, Identity
    from siyu.db import session_scope
    from siyu.loyalty.coupons.service import create_template, issue
    from siyu.loyalty.rules import set_spend_rule
    from siyu.loyalty.service import create_programme, earn, enrol
    from siyu.loyalty.tiers import set_tier

    make_user("ops", "operator")
    make_user("guide", "store_guide", "s1")
    with session_scope() as s:
        s1 = s.scalar(sa.select(Store).where(Store.code == "s1"))
        assert s1 is not None
        s2 = Store(brand_id=s1.brand_id, code="s2", name="外店")
        s.add(s2)
        s.flush()
        people = {}
        for key, name, store, phone in (
            ("mine", "本店会员", s1.id, MINE_PHONE),
            ("theirs", "外店会员", s2.id, THEIR_PHONE),
        ):
            c = Customer(name=name, city="上海", store_id=store, source="pos", status="active")
            s.add(c)
            s.flush()
            s.add(Identity(customer_id=c.id, kind="phone", value=f"+86{phone}", source="t"))
            people[key] = c.id
        programme = create_programme(s, "vip", HOSTILE, lot_months=12)
        set_tier(s, programme, "basic", "普卡", rank=0, threshold=0)
        set_tier(s, programme, "gold", HOSTILE, rank=1, threshold=1000, multiplier_pct=150)
        set_spend_rule(s, programme, 100)
        members = {k: enrol(s, programme, cid, channel="store").id for k, cid in people.items()}
        earn(s, members["mine"], ("order", "T1"), 300, reason=HOSTILE)
        template = create_template(s, programme, "c20", HOSTILE, "amount_off", amount_fen=2000)
        issue(s, template, members["mine"], ("manual", "welcome"))
        return {"programme": programme.id, "customers": people, "members": members}


def _empty_programme_and_an_erased_member(w: dict[str, Any]) -> tuple[int, int]:
    """A programme with no rules, tiers or coupons; a member erased under a tombstone."""
    from siyu.customers.models import Customer
    from siyu.db import session_scope
    from siyu.loyalty.models import Member, Programme
    from siyu.loyalty.service import create_programme, enrol

    with session_scope() as s:
        empty = create_programme(s, "empty", "空计划")
        gone = Customer(name="已删除", status="active")
        s.add(gone)
        s.flush()
        programme = s.get(Programme, w["programme"])
        assert programme is not None
        member = enrol(s, programme, gone.id)
        s.execute(
            sa.update(Member)
            .where(Member.id == member.id)
            .values(customer_id=None, status="erased", tombstone=f"erased-{member.id}")
        )
        return empty.id, member.id


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found
    return found.group(1)


def _request_id(page: str) -> str:
    found = re.search(r'name="request" value="([^"]+)"', page)
    assert found
    return found.group(1)


def _alert(page: str) -> str:
    found = re.search(r'role="alert"[^>]*>([^<]*)<', page)
    assert found
    return found.group(1)


def _balance(member_id: int) -> tuple[int, int]:
    from siyu.db import session_scope
    from siyu.loyalty.models import PointsBalance

    with session_scope() as s:
        b = s.get(PointsBalance, member_id)
        assert b is not None
        return int(b.remaining), int(b.earned)


def _audits(action: str) -> int:
    from siyu.accounts.models import AuditLog
    from siyu.db import session_scope

    with session_scope() as s:
        return int(s.scalar(sa.select(sa.func.count()).where(AuditLog.action == action)) or 0)


def test_every_page_renders_for_an_operator_and_escapes_what_people_typed(
    client: TestClient,
) -> None:
    w = _world()
    login(client, "ops")
    pid, mine = w["programme"], w["members"]["mine"]
    pages = {
        "/loyalty": ['data-testid="programmes"', "vip"],
        f"/loyalty/programmes/{pid}": ['data-testid="rules"', 'data-testid="tiers"', "gold"],
        "/loyalty/members": ['data-testid="members"', "139****2222", "139****4444"],
        f"/loyalty/members/{mine}": ['data-testid="lots"', 'data-testid="tier-history"', "300"],
        f"/loyalty/programmes/{pid}/coupons": ['data-testid="coupon-templates"', "¥20.00"],
    }
    for path, needles in pages.items():
        page = client.get(path)
        assert page.status_code == 200, (path, page.text[:300])
        assert page.headers["cache-control"] == "no-store", path
        for needle in needles:
            assert needle in page.text, (path, needle)
        assert HOSTILE not in page.text and "<script>alert" not in page.text, path
        assert "&lt;script&gt;" in page.text, path  # the name shown, escaped
        assert MINE_PHONE not in page.text and THEIR_PHONE not in page.text, path
    nav = client.get("/loyalty/members").text
    assert 'data-testid="nav-loyalty"' in nav and 'href="/loyalty"' in nav
    member = client.get(f"/loyalty/members/{mine}").text
    assert 'data-testid="adjust-form"' in member and 'data-testid="coupons"' in member
    assert "…" in member and '<a href="/customers/' in member  # the coupon's code shortened
    empty, erased = _empty_programme_and_an_erased_member(w)
    for path in (f"/loyalty/programmes/{empty}", f"/loyalty/programmes/{empty}/coupons"):
        page = client.get(path)
        assert page.status_code == 200 and 'data-testid="no-' in page.text, path
    assert 'data-testid="no-members"' in client.get(f"/loyalty/members?programme={empty}").text
    tombstone = client.get(f"/loyalty/members/{erased}")
    assert tombstone.status_code == 200 and f"erased-{erased}" in tombstone.text
    assert 'data-testid="adjust-form"' not in tombstone.text
    assert client.get("/loyalty/programmes/999999").status_code == 404
    assert client.get("/loyalty/members/999999").status_code == 404
    assert client.get("/loyalty/programmes/999999/coupons").status_code == 404
    client.get("/lang/en")
    english = client.get(f"/loyalty/programmes/{pid}").text
    assert "Earn rules" in english and "100 points per 100 yuan" in english


def test_a_store_guide_sees_only_their_own_stores_members(client: TestClient) -> None:
    w = _world()
    csrf = login(client, "guide")
    listed = client.get("/loyalty/members")
    assert listed.status_code == 200
    assert (
        "139****2222" in listed.text and f"/loyalty/members/{w['members']['mine']}" in listed.text
    )
    assert "139****4444" not in listed.text and "外店" not in listed.text
    assert f'/loyalty/members/{w["members"]["theirs"]}"' not in listed.text
    assert set(re.findall(r'href="/loyalty/members/(\d+)"', listed.text)) == {
        str(w["members"]["mine"])
    }
    found = client.get("/loyalty/members", params={"q": THEIR_PHONE})
    assert "139****4444" not in found.text and 'data-testid="no-members"' in found.text
    own = client.get(f"/loyalty/members/{w['members']['mine']}")
    assert own.status_code == 200 and "本*" in own.text
    assert 'data-testid="adjust-form"' not in own.text  # they may look, not adjust
    theirs = client.get(f"/loyalty/members/{w['members']['theirs']}")
    assert theirs.status_code == 404
    assert "外店" not in theirs.text and "4444" not in theirs.text
    missing = client.get("/loyalty/members/999999")
    assert missing.status_code == 404  # the same answer as another store's member
    assert _alert(theirs.text) == _alert(missing.text)
    _empty, erased = _empty_programme_and_an_erased_member(w)
    assert client.get(f"/loyalty/members/{erased}").status_code == 404  # nobody's customer
    assert _audits("customer.denied") == 1  # the look-up at another store's member is kept
    for path in ("/loyalty", f"/loyalty/programmes/{w['programme']}"):
        assert client.get(path).status_code == 403, path
    refused = client.post(
        f"/loyalty/members/{w['members']['mine']}/adjust",
        data={"csrf": csrf, "points": "100", "reason": "x", "request": "r1"},
    )
    assert refused.status_code == 403 and _balance(w["members"]["mine"]) == (300, 300)
    bar = client.get("/customers").text
    assert 'href="/loyalty/members" class="" data-testid="nav-loyalty"' in bar


def test_an_adjustment_writes_once_and_bad_ones_change_nothing(client: TestClient) -> None:
    w = _world()
    login(client, "ops")
    client.get("/lang/en")  # the refusals as their English message ids say them
    mine = w["members"]["mine"]
    url = f"/loyalty/members/{mine}"
    page = client.get(url).text
    csrf, request_id = _csrf(page), _request_id(page)
    assert _request_id(client.get(url).text) != request_id  # a new one each time it is shown
    form = {"csrf": csrf, "request": request_id, "points": "+100", "reason": "客诉补偿"}
    first = client.post(f"{url}/adjust", data=form)
    assert first.status_code == 303 and first.headers["location"] == f"{url}?done=adjusted"
    again = client.post(f"{url}/adjust", data=form)  # a double submit
    assert again.headers["location"] == f"{url}?done=again"
    assert _balance(mine) == (400, 400) and _audits("loyalty.adjust") == 1
    shown = client.get(f"{url}?done=adjusted").text
    assert 'data-testid="done"' in shown and "客诉补偿" in shown
    assert 'data-testid="spendable">100<' in shown  # added points are spendable at once

    def refused(status: int, words: str, **changes: str) -> None:
        data = {**form, "request": f"r-{len(words)}-{status}", **changes}
        answer = client.post(f"{url}/adjust", data=data)
        assert answer.status_code == status, (changes, answer.status_code)
        assert 'data-testid="form-error"' in answer.text and words in answer.text, changes
        for value in changes.values():  # what was typed is kept, escaped
            if value and value != HOSTILE:
                assert f'value="{value}"' in answer.text
        assert _balance(mine) == (400, 400)

    refused(422, "needs a reason", reason="")
    refused(422, "&#39;abc&#39; is not a whole number", points="abc")
    refused(422, "&#39;0&#39; is not a whole number from 1", points="0")
    refused(409, "not enough points", points="-5000")
    refused(403, "This page has expired", csrf="", points="-10")
    refused(422, "&lt;script&gt;", points=HOSTILE)
    taken = client.post(f"{url}/adjust", data={**form, "request": "r-minus", "points": "-30"})
    assert taken.status_code == 303 and _balance(mine) == (370, 400)
    history = client.get(url).text
    assert "-30" in history and "+100" in history


def test_programme_forms_call_the_services_and_refuse_bad_input(client: TestClient) -> None:
    from siyu.db import session_scope
    from siyu.loyalty.models import EarnRule, Programme, Tier

    w = _world()
    csrf = login(client, "ops")
    client.get("/lang/en")
    pid = w["programme"]
    base = f"/loyalty/programmes/{pid}"

    def post(path: str, status: int, **data: str) -> Any:
        answer = client.post(f"{base}/{path}", data={"csrf": csrf, **data})
        assert answer.status_code == status, (path, data, answer.text[:500])
        return answer

    def stored() -> tuple[Any, ...]:
        with session_scope() as s:
            rules = s.execute(
                sa.select(
                    EarnRule.basis,
                    EarnRule.store_id,
                    EarnRule.category,
                    EarnRule.event,
                    EarnRule.rate,
                    EarnRule.points,
                ).order_by(EarnRule.id)
            ).all()
            tiers = s.execute(
                sa.select(
                    Tier.code, Tier.name, Tier.rank, Tier.threshold, Tier.multiplier_pct
                ).order_by(Tier.rank)
            ).all()
            p = s.get(Programme, pid)
            assert p is not None
            return tuple(rules), tuple(tiers), (p.tier_measure, p.tier_months, p.tier_grace_days)

    ok = post("rules", 303, basis="spend", rate="200", category="护肤")
    assert ok.headers["location"] == f"{base}?done=rule"
    post("rules", 303, basis="event", event="签到", points="5")
    with session_scope() as s:
        from siyu.brands.models import Store

        s2 = s.scalar(sa.select(Store.id).where(Store.code == "s2"))
    post("rules", 303, basis="spend", rate="50", store=str(s2))
    post("tiers", 303, form="tier", code="gold", name="金卡", rank="2", threshold="1000")
    post("tiers", 303, form="tier", code="silver", name="银卡", rank="1", threshold="500")
    post(
        "qualification",
        303,
        form="qualification",
        measure="orders",
        window="calendar",
        months="12",
        downgrade="by_measure",
        grace_days="30",
    )
    page = client.get(f"{base}?done=qualification").text
    assert "200 points per 100 yuan" in page and "5 points each" in page
    assert "签到" in page and "外店" in page and "金卡" in page and "银卡" in page
    assert 'data-testid="done"' in page
    before = stored()
    assert ("spend", None, "护肤", None, 200, 0) in before[0] and before[2] == ("orders", 12, 30)

    def refused(path: str, status: int, words: str, **data: str) -> None:
        answer = post(path, status, **data)
        assert 'data-testid="form-error"' in answer.text and words in answer.text, data
        assert stored() == before

    refused(
        "rules", 422, "no brand with code &#39;nope&#39;", basis="spend", rate="1", brand="nope"
    )
    refused("rules", 422, "no store 999999", basis="spend", rate="100", store="999999")
    refused("rules", 422, "&#39;abc&#39; is not a whole number", basis="spend", rate="abc")
    refused("rules", 422, "from 0 to 100000", basis="spend", rate="100001")
    refused("rules", 422, "one brand, one store", basis="spend", rate="1", brand="b1", category="x")
    refused("rules", 422, "event: 1–100", basis="event", event="", points="1")
    refused(
        "tiers", 422, "rank 1 is another", form="tier", code="x", name="x", rank="1", threshold="9"
    )
    refused(
        "tiers", 422, "higher threshold", form="tier", code="x", name="x", rank="3", threshold="10"
    )
    refused("tiers", 422, "&#39;-1&#39;", form="tier", code="x", name="x", rank="-1", threshold="1")
    refused("qualification", 422, "&#39;99&#39;", months="99", measure="points")
    refused("qualification", 422, "tier measure", months="12", measure="bogus")
    refused("rules", 403, "This page has expired", basis="spend", rate="1", csrf="")
    typed = post("tiers", 422, form="tier", code="plat", name=HOSTILE, rank="1", threshold="9")
    assert 'value="plat"' in typed.text and "<script>alert" not in typed.text


def test_coupon_templates_are_created_and_issued_once_per_batch(client: TestClient) -> None:
    from siyu.db import session_scope
    from siyu.loyalty.coupons.models import Coupon, CouponTemplate
    from siyu.segments.service import create_static_segment

    w = _world()
    csrf = login(client, "ops")
    client.get("/lang/en")
    base = f"/loyalty/programmes/{w['programme']}/coupons"
    with session_scope() as s:
        segment, _missing = create_static_segment(
            s, "两家店", customer_ids=list(w["customers"].values()), actor="test"
        )
        segment_id = segment.id

    def post(path: str, status: int, **data: str) -> Any:
        answer = client.post(base + path, data={"csrf": csrf, **data})
        assert answer.status_code == status, (path, data, answer.text[:500])
        return answer

    def coupons() -> int:
        with session_scope() as s:
            return int(s.scalar(sa.select(sa.func.count()).select_from(Coupon)) or 0)

    made = post(
        "",
        303,
        form="create",
        code="m100",
        name="满100减20",
        kind="amount_off",
        amount="20",
        threshold="100",
        valid_days="30",
        per_member="1",
        total="0",
        points_price="0",
    )
    assert made.headers["location"] == f"{base}?done=created"
    page = client.get(f"{base}?done=created").text
    assert "满100减20" in page and "¥20.00" in page and "¥100.00" in page
    for bad, words in (
        ({"amount": "abc"}, "&#39;abc&#39; is not an amount in yuan"),
        ({"amount": "0"}, "needs an amount"),
        ({"code": "m100"}, "exists already"),
        ({"kind": "bogus"}, "coupon kind"),
        ({"valid_days": "0"}, "&#39;0&#39; is not a whole number from 1 to 3660"),
    ):
        data = {"form": "create", "code": "m2", "name": "券", "kind": "amount_off", "amount": "5"}
        answer = post("", 422 if "code" not in bad else 409, **{**data, **bad})
        assert 'data-testid="form-error"' in answer.text and words in answer.text, bad
    with session_scope() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(CouponTemplate)) == 2
    assert coupons() == 1

    one = {"form": "issue", "coupon": "m100", "batch": "双12", "to": "member"}
    first = post("/issue", 303, **one, member=str(w["members"]["mine"]))
    assert first.headers["location"].endswith("done=issued&issued=1&skipped=0")
    again = post("/issue", 303, **one, member=str(w["members"]["mine"]))
    assert again.headers["location"].endswith("issued=0&skipped=1") and coupons() == 2
    shown = client.get(again.headers["location"]).text
    assert 'data-testid="done"' in shown and "0" in shown
    to_segment = {**one, "to": "segment", "segment": str(segment_id), "batch": "分群"}
    batch = post("/issue", 303, **to_segment)
    # two members: the one holding m100 already is over its limit of one per member
    assert batch.headers["location"].endswith("issued=1&skipped=1") and coupons() == 3
    for bad, status, words in (
        ({"member": "999999"}, 404, "no member 999999"),
        ({"batch": ""}, 422, "batch name of 1–100"),
        ({"coupon": "nope"}, 404, "no coupon nope"),
        ({"to": "segment", "segment": "999999"}, 404, "no segment 999999"),
        ({"csrf": ""}, 403, "This page has expired"),
    ):
        answer = post("/issue", status, **{**one, "member": "1", **bad})
        assert words in answer.text, bad
    assert coupons() == 3
    assert _audits("loyalty.coupons_issue") == 3 and _audits("loyalty.coupon_create") == 1


def test_coupon_rules_are_set_on_the_coupons_page_and_bad_ones_shown_again(
    client: TestClient,
) -> None:
    from siyu.db import session_scope
    from siyu.loyalty.coupons.models import CouponRule
    from siyu.loyalty.coupons.service import create_template
    from siyu.loyalty.models import Programme

    w = _world()
    with session_scope() as s:
        programme = s.get(Programme, w["programme"])
        create_template(s, programme, "wel", "入会礼", "amount_off", amount_fen=500)
    csrf = login(client, "ops")
    client.get("/lang/en")
    base = f"/loyalty/programmes/{w['programme']}/coupons"

    def post(status: int, **data: str) -> Any:
        answer = client.post(f"{base}/rules", data={"csrf": csrf, "form": "rule", **data})
        assert answer.status_code == status, (data, answer.text[:500])
        return answer

    saved = post(303, code="welcome", coupon="wel", trigger="joined")
    assert saved.headers["location"] == f"{base}?done=coupon_rule"
    page = client.get(saved.headers["location"]).text
    assert 'data-testid="coupon-rules"' in page and "Joining" in page
    post(303, code="review", coupon="wel", trigger="event", event="review_posted", off="1")
    for bad, words in (
        ({"trigger": "tier", "tier": "nosuch"}, "no tier nosuch"),
        ({"trigger": "event", "event": HOSTILE}, "an event name is"),
        ({"coupon": "nope"}, "no coupon nope"),
        ({"code": HOSTILE}, "1–40 letters"),
        ({"trigger": "<b>x</b>"}, "a rule is on joined"),
    ):
        answer = post(422, **{"code": "r2", "coupon": "wel", "trigger": "joined", **bad})
        assert 'data-testid="form-error"' in answer.text and words in answer.text, bad
        assert "<script>alert" not in answer.text
    assert post(403, code="r3", coupon="wel", trigger="joined", csrf="").status_code == 403
    with session_scope() as s:
        rules = {(r.code, r.trigger, r.event, r.active) for r in s.scalars(sa.select(CouponRule))}
    assert rules == {("welcome", "joined", "", True), ("review", "event", "review_posted", False)}
    assert _audits("loyalty.coupon_rule") == 2
