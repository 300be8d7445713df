"""The member centre from a customer's phone, over HTTP: an SMS code from the simulated gateway
signs them in (and enrols them, with the terms as evidence); their card, points, coupons,
orders, preferences and data; and the hostile side: limits on codes and guesses, a code used
once, forms from elsewhere or without the page's token, another customer's coupon, a staff
cookie that opens nothing here, and deletion of the account."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from tests.centre_world import code_for

PHONE = "13912340001"
# a moment well inside an hour and a day (limits count per clock hour and day)
CALM = datetime(2026, 12, 7, 2, 0, 30, tzinfo=UTC)
OTHER = "13912340002"


def sign_in(client: TestClient, centre: dict[str, Any], phone: str = PHONE) -> TestClient:
    assert client.get("/m/login").status_code == 200  # the device cookie
    sent = client.post("/m/login/code", data={"phone": phone})
    assert sent.status_code == 200, sent.text
    code = code_for(centre["gateway"], phone)
    done = client.post("/m/login", data={"phone": phone, "code": code, "agree": "yes"})
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/m/"
    return client


def _error(page: str) -> str:
    return page.split('role="alert">', 1)[1].split("<", 1)[0]


def _csrf(page: str) -> str:
    marker = 'name="csrf" value="'
    return page.split(marker, 1)[1].split('"', 1)[0]


def test_a_customer_signs_in_with_a_code_and_joins(
    client: TestClient, centre: dict[str, Any]
) -> None:
    from siyu.db import session_scope
    from siyu.loyalty.models import Member

    assert client.get("/m/").headers["location"] == "/m/login"
    sign_in(client, centre)
    card = client.get("/m/")
    assert card.status_code == 200
    assert "银卡" in card.text and "悦颜会员" in card.text
    assert "no-store" in card.headers["cache-control"]
    assert "script-src 'self'" in card.headers["content-security-policy"]
    qr = client.get("/m/code.svg")
    assert qr.status_code == 200 and qr.headers["content-type"].startswith("image/svg+xml")
    with session_scope() as s:
        member = s.scalars(sa.select(Member)).one()
        assert member.join_channel == "member_centre"
        assert "terms v1 accepted" in member.consent_evidence
    from siyu.centre.models import CentreThrottle
    from siyu.reach.models import SendRow

    with session_scope() as s:  # the code is forgotten once sent; limits hold no phone
        sent = s.scalars(sa.select(SendRow)).one()
        assert sent.message["params"] == {"code": "******"}
        assert not any(PHONE in k for k in s.scalars(sa.select(CentreThrottle.key)))
    for path in ("/m/points", "/m/coupons", "/m/orders", "/m/profile", "/m/privacy"):
        assert client.get(path).status_code == 200, path


def test_a_code_works_once_and_wrong_codes_lock_the_phone(
    client: TestClient, centre: dict[str, Any]
) -> None:
    from siyu import clock

    clock.freeze(CALM)
    client.get("/m/login")
    client.post("/m/login/code", data={"phone": PHONE})
    code = code_for(centre["gateway"], PHONE)
    wrong = "000000" if code != "000000" else "111111"
    refused = client.post("/m/login", data={"phone": PHONE, "code": wrong, "agree": "yes"})
    assert refused.status_code == 422 and "验证码错误" in refused.text
    no_terms = client.post("/m/login", data={"phone": PHONE, "code": code})
    assert no_terms.status_code == 422
    ok = client.post("/m/login", data={"phone": PHONE, "code": code, "agree": "yes"})
    assert ok.status_code == 303
    again = client.post("/m/login", data={"phone": PHONE, "code": code, "agree": "yes"})
    assert again.status_code == 422  # used once
    # brute force: five wrong guesses spend a code; ten an hour lock the phone
    statuses = []
    for i in range(12):
        if i % 5 == 0:
            from siyu import clock

            clock.advance(timedelta(seconds=61))  # past the one-a-minute limit on codes
            client.post("/m/login/code", data={"phone": PHONE})
        statuses.append(
            client.post(
                "/m/login", data={"phone": PHONE, "code": f"{i:06d}", "agree": "yes"}
            ).status_code
        )
    assert statuses[-1] == 429, statuses


def test_the_days_codes_for_everyone_together_are_capped(
    client: TestClient, centre: dict[str, Any], monkeypatch: Any
) -> None:
    """A script with many numbers, devices and networks stops at the day's budget; requests
    another limit refused spend none of it."""
    from siyu import clock, runtime

    monkeypatch.setenv("SIYU_CENTRE_SMS_DAILY_MOST", "2")
    runtime.reset()
    clock.freeze(CALM)
    answers = []
    for n, phone in enumerate(("13900000001", "13900000001", "13900000002", "13900000003")):
        client.cookies.clear()
        client.get("/m/login")  # a new device each time
        answers.append(
            client.post(
                "/m/login/code", data={"phone": phone}, headers={"X-Forwarded-For": f"10.0.{n}.1"}
            ).status_code
        )
    assert answers == [200, 429, 200, 429], answers  # the second: the phone's one a minute
    assert not centre["gateway"].received("+8613900000003")


def test_code_requests_are_limited_per_phone_and_need_the_page(
    client: TestClient, centre: dict[str, Any]
) -> None:
    from siyu import clock

    clock.freeze(CALM)
    fresh = client.post("/m/login/code", data={"phone": PHONE})
    assert fresh.status_code == 400  # never opened the sign-in page: no device cookie
    client.get("/m/login")
    assert client.post("/m/login/code", data={"phone": PHONE}).status_code == 200
    second = client.post("/m/login/code", data={"phone": PHONE})
    assert second.status_code == 429 and "请等一分钟" in second.text
    bad = client.post("/m/login/code", data={"phone": "12345"})
    assert bad.status_code == 422
    elsewhere = client.post(
        "/m/login/code", data={"phone": OTHER}, headers={"Origin": "https://evil.example"}
    )
    assert elsewhere.status_code == 403
    assert len(centre["gateway"].received()) == 0 or code_for(centre["gateway"], PHONE)
    assert not centre["gateway"].received("+86" + OTHER)


def test_coupons_are_claimed_once_and_only_ones_own(
    client: TestClient, centre: dict[str, Any]
) -> None:
    from siyu.db import session_scope
    from siyu.loyalty.coupons.models import Coupon

    sign_in(client, centre)
    page = client.get("/m/coupons")
    assert "新人券" in page.text
    token = _csrf(page.text)
    missing = client.post("/m/coupons/claim", data={"template": centre["template"]})
    assert missing.status_code == 403  # without the page's token
    took = client.post("/m/coupons/claim", data={"template": centre["template"], "csrf": token})
    assert took.status_code == 303
    twice = client.post("/m/coupons/claim", data={"template": centre["template"], "csrf": token})
    assert twice.status_code == 409
    foreign = client.post("/m/coupons/claim", data={"template": 999999, "csrf": token})
    assert foreign.status_code == 404
    with session_scope() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Coupon)) == 1
    wallet = client.get("/m/coupons").text
    assert "可使用" in wallet or "Usable" in wallet


def test_a_customer_sees_only_their_own(client: TestClient, centre: dict[str, Any]) -> None:
    from siyu.app import create_app

    sign_in(client, centre)
    token = _csrf(client.get("/m/coupons").text)
    client.post("/m/coupons/claim", data={"template": centre["template"], "csrf": token})
    mine = client.get("/m/coupons").text
    with TestClient(create_app(), follow_redirects=False) as other:
        sign_in(other, centre, OTHER)
        theirs = other.get("/m/coupons").text
        assert "新人券" in theirs  # the offer, not the first customer's coupon
        code = mine.split("<code>", 1)[1].split("</code>", 1)[0]
        assert code not in theirs
        data = other.post("/m/privacy/export", data={"csrf": _csrf(other.get("/m/privacy").text)})
        assert PHONE not in data.text and ("+86" + OTHER) in data.text


def test_preferences_are_the_customers_own_statement(
    client: TestClient, centre: dict[str, Any]
) -> None:
    from siyu.customers.models import Consent, Customer
    from siyu.db import session_scope

    sign_in(client, centre)
    page = client.get("/m/profile")
    token = _csrf(page.text)
    ident = page.text.split('name="consent_', 1)[1].split('"', 1)[0]
    saved = client.post("/m/profile", data={"csrf": token, f"consent_{ident}": "yes"})
    assert saved.status_code == 303
    with session_scope() as s:
        row = s.scalars(sa.select(Consent)).one()
        assert (row.status, row.source, row.channel) == ("granted", "member", "sms")
        assert "member centre" in (row.evidence or "")
    client.post("/m/profile", data={"csrf": token, "do_not_disturb": "yes"})
    with session_scope() as s:
        row = s.scalars(sa.select(Consent)).one()
        customer = s.get(Customer, row.customer_id)
        assert row.status == "withdrawn" and customer.do_not_disturb
        assert customer.do_not_disturb_source == "member"
    forged = client.post("/m/profile", data={"csrf": "x", f"consent_{ident}": "yes"})
    assert forged.status_code == 403


def test_staff_cookies_open_nothing_and_hostile_text_is_escaped(
    client: TestClient, centre: dict[str, Any]
) -> None:
    from tests.e2e.conftest import login, make_user

    make_user("ops", "operator")
    login(client, "ops")
    assert client.get("/m/").status_code == 303  # a staff session is not a customer's
    script = client.post("/m/login/code", data={"phone": "<script>alert(1)</script>"})
    assert "<script>alert(1)" not in script.text


def test_data_download_and_account_deletion(client: TestClient, centre: dict[str, Any]) -> None:
    from siyu.customers.models import Customer
    from siyu.db import session_scope
    from siyu.loyalty.models import Member

    sign_in(client, centre)
    token = _csrf(client.get("/m/privacy").text)
    data = client.post("/m/privacy/export", data={"csrf": token})
    assert data.status_code == 200
    mine = json.loads(data.text)
    assert mine["identities"][0]["value"] == "+86" + PHONE
    assert mine["held_elsewhere"]["loyalty.memberships"][0]["join_channel"] == "member_centre"
    assert mine["held_elsewhere"]["centre.sessions"][0]["method"] == "sms"
    assert "code_hash" not in data.text and "token_hash" not in data.text
    wechat_ua = {"User-Agent": "Mozilla/5.0 (iPhone) MicroMessenger/8.0.50 NetType/WIFI"}
    in_wechat = client.post("/m/privacy/export", data={"csrf": token}, headers=wechat_ua)
    assert in_wechat.status_code == 200 and in_wechat.headers["content-type"].startswith(
        "text/html"
    )
    assert "attachment" not in in_wechat.headers.get("content-disposition", "")
    assert 'data-testid="my-data"' in in_wechat.text and "&#34;identities&#34;" in in_wechat.text
    unconfirmed = client.post("/m/privacy/delete", data={"csrf": token, "confirm": "ok"})
    assert unconfirmed.status_code == 400
    gone = client.post("/m/privacy/delete", data={"csrf": token, "confirm": "删除"})
    assert gone.status_code == 200
    assert client.get("/m/").status_code == 303
    with session_scope() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Customer)) == 0
        member = s.scalars(sa.select(Member)).one()
        assert member.customer_id is None and member.tombstone
    # the number was erased at its owner's request: no code goes to it again, and the page
    # answers as for anyone (it must not tell who asked for erasure)
    client.get("/m/login")
    from siyu import clock
    from siyu.customers.models import Customer as Person
    from siyu.reach.models import SendRow

    clock.advance(timedelta(seconds=61))
    with session_scope() as s:
        sends = s.scalar(sa.select(sa.func.count()).select_from(SendRow))
    again = client.post("/m/login/code", data={"phone": PHONE})
    assert again.status_code == 200 and 'name="code"' in again.text
    stranger = client.post("/m/login/code", data={"phone": "13900001111"})
    assert stranger.status_code == 200, stranger.text[-1500:]
    assert "A code was sent" in stranger.text or "验证码已发送" in stranger.text, stranger.text[
        -1500:
    ]
    with session_scope() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(SendRow)) == sends + 1  # stranger
        people = [(p.id, p.status, p.source) for p in s.scalars(sa.select(Person))]
        assert len(people) == 1, people  # the stranger only
    wrong = client.post("/m/login", data={"phone": PHONE, "code": "000000", "agree": "yes"})
    real = client.post("/m/login", data={"phone": "13900001111", "code": "000000", "agree": "yes"})
    assert wrong.status_code == real.status_code == 422  # the same words as any wrong code
    assert _error(wrong.text) == _error(real.text) and "验证码错误" in _error(wrong.text)


def test_the_till_identifies_a_member_by_the_rotating_code(
    client: TestClient, centre: dict[str, Any]
) -> None:
    from siyu import clock
    from siyu.accounts.service import create_api_key
    from siyu.brands.models import Store
    from siyu.centre.code import current
    from siyu.config import get_settings
    from siyu.db import session_scope
    from siyu.loyalty.models import Member

    sign_in(client, centre)
    with session_scope() as s:
        s.add(Store(brand_id=centre["brand"], code="SH001", name="徐汇店"))
        member = s.scalars(sa.select(Member)).one().id
        _k, key = create_api_key(s, "till", ["members:identify"])
    pos = {"Authorization": f"Bearer {key}"}
    code = current(get_settings().secret_key_bytes(), member)
    found = client.post(
        "/api/v1/members/identify", json={"code": code, "store_code": "SH001"}, headers=pos
    )
    assert found.status_code == 200, found.text
    assert found.json()["tier"] == "银卡"
    forged = code[:-1] + ("0" if code[-1] != "0" else "1")
    assert (
        client.post(
            "/api/v1/members/identify", json={"code": forged, "store_code": "SH001"}, headers=pos
        ).status_code
        == 404
    )
    clock.advance(timedelta(seconds=180))
    old = client.post(
        "/api/v1/members/identify", json={"code": code, "store_code": "SH001"}, headers=pos
    )
    assert old.status_code == 404
    assert (
        client.post(
            "/api/v1/members/identify", json={"code": code, "store_code": "SH001"}
        ).status_code
        == 401
    )


def test_verification_files_are_served(client: TestClient, tmp_path: Any) -> None:
    from typer.testing import CliRunner

    from siyu.cli import app

    good = tmp_path / "MP_verify_AbC123.txt"
    good.write_text("AbC123")
    result = CliRunner().invoke(app, ["centre", "verify-file", str(good)])
    assert result.exit_code == 0, result.output
    answer = client.get("/MP_verify_AbC123.txt")
    assert answer.status_code == 200 and answer.text == "AbC123"
    bad = tmp_path / "MP_verify_x.txt"
    bad.write_text("<script>")
    assert CliRunner().invoke(app, ["centre", "verify-file", str(bad)]).exit_code != 0
    assert client.get("/MP_verify_nothing.txt").status_code == 404


def _via_wechat(client: TestClient) -> Any:
    """The customer taps 微信登录: Siyu sends them to WeChat, WeChat sends them back."""
    from tests.oa_sim import wechat_opens

    away = client.get("/m/wechat")
    assert away.status_code == 303, away.text
    back = wechat_opens(away.headers["location"])
    return client.get("/m/wechat/back", params=back)


def test_wechat_sign_in_binds_once_then_signs_in_by_openid(
    client: TestClient, centre: dict[str, Any], oa_account: Any
) -> None:
    from siyu.app import create_app
    from siyu.customers.models import Identity
    from siyu.db import session_scope

    reader = oa_account.sign_in()
    first = _via_wechat(client)
    assert first.status_code == 200 and "微信" in first.text  # asked for the phone once
    assert 'name="wechat" value="1"' in first.text
    sent = client.post("/m/login/code", data={"phone": PHONE, "wechat": "1"})
    assert 'name="wechat" value="1"' in sent.text  # the code step goes on linking
    code = code_for(centre["gateway"], PHONE)
    typo = "000000" if code != "000000" else "111111"
    mistyped = client.post(
        "/m/login", data={"phone": PHONE, "code": typo, "agree": "yes", "wechat": "1"}
    )
    assert mistyped.status_code == 422 and 'name="wechat" value="1"' in mistyped.text
    done = client.post(
        "/m/login", data={"phone": PHONE, "code": code, "agree": "yes", "wechat": "1"}
    )
    assert done.status_code == 303
    with session_scope() as s:
        held = s.scalars(sa.select(Identity).where(Identity.kind == "openid")).one()
        phone = s.scalars(sa.select(Identity).where(Identity.kind == "phone")).one()
        assert held.value == reader.openid and held.customer_id == phone.customer_id
        # the join tells growth the WeChat reader (a keyed hash: no openid passed on)
        from siyu.centre.service import reader_key
        from siyu.config import get_settings
        from siyu.jobs.models import Job

        joined = [
            j.payload["data"]
            for j in s.scalars(sa.select(Job).where(Job.kind == "reaction"))
            if j.payload.get("topic") == "member.joined"
        ]
        expected = reader_key(f"{get_settings().oa_appid}:{reader.openid}")
        assert joined and {d["wechat"] for d in joined} == {expected}
        assert reader.openid not in str(joined)
    with TestClient(create_app(), follow_redirects=False) as later:
        oa_account.sign_in(openid=reader.openid)
        again = _via_wechat(later)
        assert again.status_code == 303 and again.headers["location"] == "/m/"
        assert later.get("/m/").status_code == 200


def test_with_snsapi_userinfo_the_unionid_is_bound_too(
    client: TestClient, centre: dict[str, Any], oa_account: Any, monkeypatch: Any
) -> None:
    """SIYU_CENTRE_WECHAT_SCOPE=snsapi_userinfo: WeChat asks the reader once and gives the
    unionid, which is bound with the openid (the same person in the group's other accounts
    and as a WeCom friend)."""
    from urllib.parse import parse_qs, urlsplit

    from siyu import runtime
    from siyu.customers.models import Identity
    from siyu.db import session_scope

    monkeypatch.setenv("SIYU_CENTRE_WECHAT_SCOPE", "snsapi_userinfo")
    runtime.reset()
    reader = oa_account.sign_in(unionid="oUnion" + "u" * 22)
    away = client.get("/m/wechat")
    assert parse_qs(urlsplit(away.headers["location"]).query)["scope"] == ["snsapi_userinfo"]
    first = _via_wechat(client)
    assert 'name="wechat" value="1"' in first.text
    client.post("/m/login/code", data={"phone": PHONE, "wechat": "1"})
    code = code_for(centre["gateway"], PHONE)
    done = client.post(
        "/m/login", data={"phone": PHONE, "code": code, "agree": "yes", "wechat": "1"}
    )
    assert done.status_code == 303
    with session_scope() as s:
        held = {i.kind: (i.value, i.customer_id) for i in s.scalars(sa.select(Identity))}
    assert held["openid"][0] == reader.openid and held["unionid"][0] == reader.unionid
    assert held["openid"][1] == held["unionid"][1] == held["phone"][1]


def test_a_wechat_reader_left_waiting_is_not_bound_to_the_next_person_on_the_phone(
    client: TestClient, centre: dict[str, Any], oa_account: Any
) -> None:
    """A reader comes back from WeChat and walks away; the next person on the same phone
    opens the sign-in page afresh (or posts without the WeChat step) and signs in with their
    own number: the first reader's openid is bound to nobody."""
    from siyu.customers.models import Identity
    from siyu.db import session_scope

    oa_account.sign_in()
    assert _via_wechat(client).status_code == 200  # the bind cookie is set
    sign_in(client, centre)  # opens /m/login afresh
    _via_wechat(client)
    from siyu import clock

    clock.advance(timedelta(seconds=61))
    client.post("/m/login/code", data={"phone": OTHER})  # the plain form, no WeChat step
    code = code_for(centre["gateway"], OTHER)
    done = client.post("/m/login", data={"phone": OTHER, "code": code, "agree": "yes"})
    assert done.status_code == 303
    with session_scope() as s:
        assert s.scalar(sa.select(sa.func.count()).where(Identity.kind == "openid")) == 0


def test_wechat_snapshots_and_forged_callbacks_are_refused(
    client: TestClient, centre: dict[str, Any], oa_account: Any
) -> None:
    oa_account.sign_in(snapshot=True)
    snap = _via_wechat(client)
    assert snap.status_code == 403
    assert client.get("/m/").status_code == 303
    forged = client.get("/m/wechat/back", params={"code": "x", "state": "y"})
    assert forged.status_code == 400


def test_a_member_takes_up_a_benefit_of_their_tier(
    client: TestClient, centre: dict[str, Any]
) -> None:
    from siyu.db import session_scope
    from siyu.loyalty.benefits.models import BenefitClaim
    from siyu.loyalty.benefits.service import set_benefit
    from siyu.loyalty.models import Programme

    with session_scope() as s:
        p = s.get(Programme, centre["programme"])
        silver = set_benefit(s, p, "ship", "会员包邮", "free_delivery", "silver").id
        gold = set_benefit(s, p, "vip", "专属客服", "priority_service", "gold").id
    sign_in(client, centre)
    card = client.get("/m/")
    assert "会员包邮" in card.text and "专属客服" in card.text
    token = _csrf(card.text)
    assert (
        client.post("/m/benefits/claim", data={"benefit": silver, "csrf": token}).status_code == 303
    )
    assert (
        client.post("/m/benefits/claim", data={"benefit": silver, "csrf": token}).status_code == 303
    )
    higher = client.post("/m/benefits/claim", data={"benefit": gold, "csrf": token})
    assert higher.status_code == 409
    forged = client.post("/m/benefits/claim", data={"benefit": silver, "csrf": "x"})
    assert forged.status_code == 403
    with session_scope() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(BenefitClaim)) == 1


def test_a_live_code_link_is_the_join_channel(client: TestClient, centre: dict[str, Any]) -> None:
    """The live code the link names is the join channel; a link edited to name one that does
    not exist credits no channel (the evidence says what the link claimed)."""
    from siyu import clock
    from siyu.db import session_scope
    from siyu.loyalty.models import Member
    from siyu.secretbox import seal
    from siyu.wecom.connection.models import WecomCorp
    from siyu.wecom.live_codes.models import LiveCode

    with session_scope() as s:
        corp = WecomCorp(
            corp_id="ww1",
            agent_id="1",
            secret_sealed=seal("s"),
            secret_hint="s",
            token_sealed="",
            aes_key_sealed="",
        )
        s.add(corp)
        s.flush()
        live = LiveCode(corp_id=corp.id, name="门店柜台", state="c1")
        s.add(live)
        s.flush()
        via = f"live_code:{live.id}"
    page = client.get("/m/login", params={"via": via})
    assert f'value="{via}"' in page.text
    assert 'value="x"' not in client.get("/m/login", params={"via": "x"}).text
    for phone, link in ((PHONE, via), (OTHER, "live_code:99999999999999999999")):
        clock.advance(timedelta(seconds=61))
        client.post("/m/login/code", data={"phone": phone, "via": link})
        code = code_for(centre["gateway"], phone)
        done = client.post(
            "/m/login", data={"phone": phone, "code": code, "agree": "yes", "via": link}
        )
        assert done.status_code == 303
        client.post("/m/logout")
    with session_scope() as s:
        real, forged = s.scalars(sa.select(Member).order_by(Member.id)).all()
        assert real.join_channel == "live_code" and f"via {via}" in real.consent_evidence
        assert forged.join_channel == "member_centre"
        assert "which is not known" in forged.consent_evidence


def test_a_till_enrols_a_customer_with_their_consent(
    client: TestClient, centre: dict[str, Any]
) -> None:
    from siyu.accounts.service import create_api_key
    from siyu.brands.models import Brand, Store
    from siyu.db import session_scope
    from siyu.loyalty.models import Member

    with session_scope() as s:
        s.add(Store(brand_id=centre["brand"], code="SH001", name="徐汇店"))
        other = Brand(code="zz", name="别家")
        s.add(other)
        s.flush()
        s.add(Store(brand_id=other.id, code="ZZ01", name="别家店"))
        _k, key = create_api_key(s, "till", ["members:enrol"])
    pos = {"Authorization": f"Bearer {key}"}
    body = {
        "programme": "yy",
        "store_code": "SH001",
        "customer": {"phone": PHONE, "name": "<script>x</script>"},
        "consent": {
            "terms_version": "v1",
            "agreed_at": "2026-01-02T10:00:00+08:00",
            "how": "纸质入会表 No.88",
        },
    }
    first = client.post("/api/v1/members", json=body, headers=pos)
    assert first.status_code == 200, first.text
    assert first.json()["created"] is True and first.json()["tier"] == "银卡"
    again = client.post("/api/v1/members", json=body, headers=pos)
    assert again.json() == {**first.json(), "created": False}
    answers = {
        "foreign brand": client.post(
            "/api/v1/members", json={**body, "store_code": "ZZ01"}, headers=pos
        ).status_code,
        "no programme": client.post(
            "/api/v1/members", json={**body, "programme": "nope"}, headers=pos
        ).status_code,
        "no consent": client.post(
            "/api/v1/members", json={k: v for k, v in body.items() if k != "consent"}, headers=pos
        ).status_code,
        "future": client.post(
            "/api/v1/members",
            json={**body, "consent": {**body["consent"], "agreed_at": "2099-01-01T00:00:00+08:00"}},
            headers=pos,
        ).status_code,
        "bad phone": client.post(
            "/api/v1/members", json={**body, "customer": {"phone": "12"}}, headers=pos
        ).status_code,
        "no key": client.post("/api/v1/members", json=body).status_code,
    }
    assert answers == {
        "foreign brand": 403,
        "no programme": 404,
        "no consent": 422,
        "future": 422,
        "bad phone": 422,
        "no key": 401,
    }
    with session_scope() as s:
        member = s.scalars(sa.select(Member)).one()
        assert member.join_channel == "store" and "纸质入会表 No.88" in member.consent_evidence


def test_a_follower_the_account_sync_knows_confirms_a_phone_first(
    client: TestClient, centre: dict[str, Any], oa_account: Any
) -> None:
    """An openid alone (a follower synced from the official account) proves no phone: the
    reader is asked for an SMS code, then bound and enrolled, never signed in as the bare
    follower profile."""
    from siyu import clock
    from siyu.customers.models import Customer, Identity
    from siyu.db import session_scope

    reader = oa_account.sign_in()
    with session_scope() as s:
        now = clock.now()
        follower = Customer(status="active", source="oa", created_at=now, updated_at=now)
        s.add(follower)
        s.flush()
        s.add(
            Identity(
                customer_id=follower.id,
                kind="openid",
                namespace=oa_account.appid,
                value=reader.openid,
                source="oa",
            )
        )
    first = _via_wechat(client)
    assert first.status_code == 200  # the sign-in page, asking for the phone
    sign_in(client, centre)
    assert "银卡" in client.get("/m/").text


def test_a_merge_keeps_the_members_points_in_sight(
    client: TestClient, centre: dict[str, Any]
) -> None:
    from siyu import clock
    from siyu.app import create_app
    from siyu.customers.models import Customer, Identity
    from siyu.customers.service import merge
    from siyu.db import session_scope
    from siyu.loyalty.models import Member
    from siyu.loyalty.service import earn

    sign_in(client, centre)
    with session_scope() as s:
        first = s.scalars(sa.select(Member)).one()
        earn(s, first.id, ("adjustment", "gift"), 500, reason="gift")
        loser = first.customer_id
    with session_scope() as s:  # the same person under another number, never a member
        now = clock.now()
        survivor = Customer(status="active", created_at=now, updated_at=now)
        s.add(survivor)
        s.flush()
        s.add(Identity(customer_id=survivor.id, kind="phone", value="+86" + OTHER, source="t"))
        s.flush()
        merge(s, survivor.id, loser, "test", force=True)
    with TestClient(create_app(), follow_redirects=False) as again:
        sign_in(again, centre, OTHER)
        assert "500" in again.get("/m/").text


def test_odd_input_gets_the_page_not_an_error(client: TestClient, centre: dict[str, Any]) -> None:
    """Over-long and malformed values are answered in the page's words (or ignored), never a
    bare JSON 422 nor a 500."""
    long = "1" * 5000
    assert client.get("/m/login", params={"via": long}).status_code == 200
    answer = client.post("/m/login/code", data={"phone": long, "via": long})
    assert answer.status_code in (400, 422) and "<html" in answer.text
    answer = client.post("/m/login", data={"phone": long, "code": long, "agree": "yes"})
    assert answer.status_code in (403, 422) and "<html" in answer.text
    sign_in(client, centre)
    token = _csrf(client.get("/m/coupons").text)
    for value in ("abc", "-1", "99999999999999999999", "１２"):
        for path, field in (("/m/coupons/claim", "template"), ("/m/benefits/claim", "benefit")):
            got = client.post(path, data={field: value, "csrf": token})
            assert got.status_code == 404 and "<html" in got.text, (path, value, got.text[:80])
    assert client.post("/m/profile", data={"csrf": long}).status_code == 403


def test_no_code_goes_out_before_the_brand_sets_its_sms_up(
    client: TestClient, centre: dict[str, Any], monkeypatch: Any
) -> None:
    from siyu import runtime

    monkeypatch.setenv("SIYU_CENTRE_SMS_TEMPLATE_CODE", "")
    runtime.reset()
    client.get("/m/login")
    answer = client.post("/m/login/code", data={"phone": PHONE})
    assert answer.status_code == 409 and "<html" in answer.text
    assert not centre["gateway"].received()
