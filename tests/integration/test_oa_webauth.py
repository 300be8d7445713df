"""Web authorisation (网页授权) against the local official account over real HTTP: the
authorisation page sends the customer back with a code, the code becomes their openid (and for
snsapi_userinfo their nickname and unionid); a snapshot page's virtual account is flagged; a
code is good once and for five minutes; a declined prompt, a wrong AppID or AppSecret and a
callback outside the authorised domain are refused as WeChat refuses them."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from tests.oa_sim import wechat_opens

pytestmark = pytest.mark.no_database  # nothing here is stored: WeChat and back

CALLBACK = "http://127.0.0.1:8000/m/auth/wechat?next=%2Fm%2Fpoints"
UNIONID = "oU7b_0CNNpXc9EmAmjgWjMIXmT5A"


def _settings() -> Any:
    from siyu.config import get_settings

    return get_settings()


def _sign_in(scope: str, state: str = "s1") -> dict[str, str]:
    from siyu.oa.webauth import authorize_url

    return wechat_opens(authorize_url(_settings(), CALLBACK, scope, state))


def test_the_authorisation_address_is_wechats_own(oa_account: Any) -> None:
    from siyu.oa.webauth import authorize_url

    url = authorize_url(_settings(), CALLBACK, "snsapi_userinfo", "Ab12")
    base = _settings().oa_web_auth_base
    assert url == (
        f"{base}/connect/oauth2/authorize?appid={oa_account.appid}"
        "&redirect_uri=http%3A%2F%2F127.0.0.1%3A8000%2Fm%2Fauth%2Fwechat%3Fnext%3D%252Fm%252Fpoints"
        "&response_type=code&scope=snsapi_userinfo&state=Ab12#wechat_redirect"
    )


def test_snsapi_base_answers_the_openid_without_asking(oa_account: Any) -> None:
    from siyu.oa.webauth import exchange_code

    user = oa_account.sign_in(unionid=UNIONID, nickname="小雨")
    back = _sign_in("snsapi_base", "x9")
    assert back["state"] == "x9" and back["next"] == "/m/points" and back["code"]

    answer = exchange_code(_settings(), back["code"])
    assert (answer.openid, answer.scope, answer.snapshot) == (user.openid, "snsapi_base", False)
    assert answer.appid == oa_account.appid
    assert answer.unionid is None and answer.nickname is None  # snsapi_base: the openid only
    assert ("sns/userinfo", user.openid) not in oa_account.calls


def test_snsapi_userinfo_answers_the_nickname_and_unionid(oa_account: Any) -> None:
    from siyu.oa.webauth import exchange_code

    user = oa_account.sign_in(unionid=UNIONID, nickname="小雨")
    answer = exchange_code(_settings(), _sign_in("snsapi_userinfo")["code"])
    assert (answer.openid, answer.unionid, answer.nickname) == (user.openid, UNIONID, "小雨")
    assert (answer.scope, answer.snapshot) == ("snsapi_userinfo", False)
    assert ("sns/userinfo", user.openid) in oa_account.calls


def test_a_follower_signing_in_keeps_their_unionid(oa_account: Any) -> None:
    from siyu.oa.webauth import exchange_code

    fan = oa_account.subscribe(unionid=UNIONID)
    oa_account.sign_in(fan.openid)
    answer = exchange_code(_settings(), _sign_in("snsapi_userinfo")["code"])
    assert (answer.openid, answer.unionid) == (fan.openid, UNIONID)


def test_no_unionid_when_the_account_has_no_open_platform(oa_account: Any) -> None:
    from siyu.oa.webauth import exchange_code

    oa_account.web.open_platform = False
    oa_account.sign_in(unionid=UNIONID, nickname="小雨")
    answer = exchange_code(_settings(), _sign_in("snsapi_userinfo")["code"])
    assert answer.unionid is None and answer.nickname == "小雨"


@pytest.mark.parametrize("scope", ["snsapi_base", "snsapi_userinfo"])
def test_a_snapshot_page_answer_is_flagged(oa_account: Any, scope: str) -> None:
    from siyu.oa.webauth import exchange_code

    virtual = oa_account.sign_in(unionid=UNIONID, snapshot=True, declines=True)
    answer = exchange_code(_settings(), _sign_in(scope)["code"])  # no prompt: a code anyway
    assert answer.snapshot is True and answer.openid == virtual.openid
    assert answer.nickname is None  # the profile of a virtual account is not read
    assert ("sns/userinfo", virtual.openid) not in oa_account.calls


def test_a_code_is_good_once(oa_account: Any) -> None:
    from siyu.oa.webauth import CodeRefused, exchange_code

    oa_account.sign_in()
    code = _sign_in("snsapi_base")["code"]
    exchange_code(_settings(), code)
    with pytest.raises(CodeRefused) as refused:
        exchange_code(_settings(), code)  # the callback reloaded
    assert refused.value.errcode == 40163 and refused.value.status == 422
    assert "sns/oauth2/access_token: 40163 code been used" in str(refused.value)
    assert refused.value.template == "{api}: {errcode} {errmsg}"  # catalogued: 微信错误码


def test_a_code_expires_after_five_minutes(oa_account: Any) -> None:
    from siyu.oa.webauth import CodeRefused, exchange_code

    now = [1_800_000_000.0]
    oa_account.clock = lambda: now[0]
    oa_account.sign_in()
    code = _sign_in("snsapi_base")["code"]
    now[0] += 301
    with pytest.raises(CodeRefused) as refused:
        exchange_code(_settings(), code)
    assert refused.value.errcode == 40029
    with pytest.raises(CodeRefused) as unknown:
        exchange_code(_settings(), "not-a-code")
    assert unknown.value.errcode == 40029


def test_declining_userinfo_comes_back_without_a_code(oa_account: Any) -> None:
    from siyu.oa.webauth import CodeRefused, exchange_code

    oa_account.sign_in(declines=True)
    back = _sign_in("snsapi_userinfo", "k7")
    assert "code" not in back and back["state"] == "k7"
    with pytest.raises(CodeRefused) as refused:
        exchange_code(_settings(), back.get("code", ""))
    assert refused.value.errcode == 41008
    assert oa_account.web.exchanged == []  # nothing asked of WeChat

    assert "code" in _sign_in("snsapi_base")  # snsapi_base asks nothing: nothing to decline


@pytest.mark.parametrize(
    ("variable", "errcode"), [("SIYU_OA_APPID", 40013), ("SIYU_OA_SECRET", 40125)]
)
def test_a_wrong_appid_or_secret_is_refused(
    oa_account: Any, monkeypatch: pytest.MonkeyPatch, variable: str, errcode: int
) -> None:
    from siyu.config import reset_settings
    from siyu.oa.webauth import CodeRefused, WebAuthError, exchange_code

    oa_account.sign_in()
    code = _sign_in("snsapi_base")["code"]
    monkeypatch.setenv(variable, "wx0000000000wrong")
    reset_settings()
    with pytest.raises(WebAuthError) as refused:
        exchange_code(_settings(), code)
    assert refused.value.errcode == errcode and refused.value.status == 502
    assert not isinstance(refused.value, CodeRefused)  # Siyu's settings, not the customer


def test_the_page_refuses_a_wrong_appid(oa_account: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from siyu.config import reset_settings
    from siyu.oa.webauth import authorize_url

    monkeypatch.setenv("SIYU_OA_APPID", "wx0000000000wrong")
    reset_settings()
    resp = httpx.get(authorize_url(_settings(), CALLBACK, "snsapi_base", "s1"))
    assert resp.status_code == 200 and "location" not in resp.headers
    assert "错误码：40013" in resp.text


@pytest.mark.parametrize(
    "callback",
    [
        "http://siyu.example/m/auth/wechat",
        "http://127.0.0.1.evil.example/m/auth/wechat",
        "https://evil.example/?u=http://127.0.0.1:8000/",
    ],
)
def test_a_callback_outside_the_authorised_domain_gets_wechats_error_page(
    oa_account: Any, callback: str
) -> None:
    from siyu.oa.webauth import authorize_url

    oa_account.sign_in()
    resp = httpx.get(authorize_url(_settings(), callback, "snsapi_base", "s1"))
    assert resp.status_code == 200 and "location" not in resp.headers
    assert "redirect_uri域名与后台配置不一致" in resp.text and "错误码：10003" in resp.text
    assert oa_account.web.codes == {}


def test_the_page_comes_back_to_the_authorised_domain_only(oa_account: Any) -> None:
    from siyu.oa.webauth import authorize_url

    oa_account.web.domain = "m.brand.example"
    resp = httpx.get(authorize_url(_settings(), CALLBACK, "snsapi_base", "s1"))
    assert "错误码：10003" in resp.text
    back = wechat_opens(
        authorize_url(_settings(), "https://m.brand.example/m/auth/wechat", "snsapi_base", "s1")
    )
    assert back["code"]


def test_a_lost_answer_spends_the_code(oa_account: Any) -> None:
    """Timeouts are bounded; WeChat may have spent the code, so the customer starts again."""
    from siyu.oa.webauth import CodeRefused, WebAuthError, exchange_code

    oa_account.sign_in()
    code = _sign_in("snsapi_base")["code"]
    oa_account.inject("slow", seconds=2.0, api="oauth2/access_token")
    with pytest.raises(WebAuthError) as lost:
        exchange_code(_settings(), code, timeout=0.3)
    assert lost.value.errcode == -1 and "ReadTimeout" in str(lost.value)
    with pytest.raises(CodeRefused):
        exchange_code(_settings(), code)


def test_the_profile_needs_a_snsapi_userinfo_token(oa_account: Any) -> None:
    """The simulator answers sns/userinfo as WeChat does: 48001 for a snsapi_base token,
    40001 for an unknown one, 42001 once two hours are over."""
    base = _settings().oa_api_base
    now = [1_800_000_000.0]
    oa_account.clock = lambda: now[0]
    user = oa_account.sign_in(nickname="小雨")

    def token(scope: str) -> str:
        code = _sign_in(scope)["code"]
        answer = httpx.get(
            f"{base}/sns/oauth2/access_token",
            params={
                "appid": oa_account.appid,
                "secret": oa_account.secret,
                "code": code,
                "grant_type": "authorization_code",
            },
        ).json()
        assert answer["expires_in"] == 7200 and answer["refresh_token"]
        assert "is_snapshotuser" not in answer
        return str(answer["access_token"])

    def profile(access_token: str) -> dict[str, Any]:
        params = {"access_token": access_token, "openid": user.openid, "lang": "zh_CN"}
        return dict(httpx.get(f"{base}/sns/userinfo", params=params).json())

    assert profile(token("snsapi_base"))["errcode"] == 48001
    assert profile("not-a-token")["errcode"] == 40001
    good = token("snsapi_userinfo")
    info = profile(good)
    assert set(info) >= {"openid", "nickname", "sex", "province", "city", "country"}
    assert set(info) >= {"headimgurl", "privilege"} and info["nickname"] == "小雨"
    now[0] += 7201
    assert profile(good)["errcode"] == 42001


def test_the_caller_is_held_to_what_wechat_takes(
    oa_account: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from siyu.config import reset_settings
    from siyu.oa.service import OaConfigError
    from siyu.oa.webauth import authorize_url

    with pytest.raises(ValueError, match="scope"):
        authorize_url(_settings(), CALLBACK, "snsapi_login", "s1")
    with pytest.raises(ValueError, match="state"):
        authorize_url(_settings(), CALLBACK, "snsapi_base", "a&b=c")
    with pytest.raises(ValueError, match="state"):
        authorize_url(_settings(), CALLBACK, "snsapi_base", "a" * 129)
    with pytest.raises(ValueError, match="redirect_uri"):
        authorize_url(_settings(), "/m/auth/wechat", "snsapi_base", "s1")
    monkeypatch.setenv("SIYU_OA_APPID", "")
    reset_settings()
    with pytest.raises(OaConfigError):
        authorize_url(_settings(), CALLBACK, "snsapi_base", "s1")


def test_the_page_checks_what_it_is_asked(oa_account: Any) -> None:
    base = _settings().oa_web_auth_base
    good = {
        "appid": oa_account.appid,
        "redirect_uri": CALLBACK,
        "response_type": "code",
        "scope": "snsapi_base",
        "state": "s1",
    }
    for change, errcode in [
        ({"scope": "snsapi_login"}, 10005),
        ({"scope": ""}, 10010),
        ({"redirect_uri": ""}, 10011),
        ({"appid": ""}, 10012),
        ({"response_type": "token"}, 10008),
    ]:
        resp = httpx.get(f"{base}/connect/oauth2/authorize", params={**good, **change})
        assert f"错误码：{errcode}" in resp.text, change
    resp = httpx.get(f"{base}/connect/oauth2/authorize", params=good)
    back = dict(parse_qsl(urlsplit(resp.headers["location"]).query))
    assert resp.status_code == 302 and set(back) == {"next", "code", "state"}
