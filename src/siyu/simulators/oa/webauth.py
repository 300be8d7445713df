"""The official account's web authorisation (网页授权), as WeChat runs it for a page opened in
the WeChat browser: the authorisation page (open.weixin.qq.com ``/connect/oauth2/authorize``)
redirects back to the page with a code, the page's server exchanges the code for the user's
openid (api.weixin.qq.com ``/sns/oauth2/access_token``) and, for ``snsapi_userinfo``, reads
their nickname and avatar (``/sns/userinfo``).

No phone is here, so a test says who is signed in to WeChat: ``OfficialAccountSim.sign_in``
sets the current user (their openid, unionid, nickname), whether the page opened as a snapshot
page (快照页: WeChat hands out a virtual account flagged ``is_snapshotuser``) and whether they
decline the ``snsapi_userinfo`` prompt (the page is sent back without a code).

What WeChat documents and the simulator keeps: the authorised domain (网页授权域名, the host
only: another host gets WeChat's error page, 10003); a code is good once (40163 after) and
for five minutes (40029 after, as for an unknown code); the web access token lasts two hours
(42001 after, 40001 for an unknown one) and a ``snsapi_base`` token may not read the user's
profile (48001); the unionid comes only when the account is bound to an Open Platform account,
in the token's answer only for ``snsapi_userinfo``; sex and region are blank, as WeChat answers
since 2021.
"""

from __future__ import annotations

import asyncio
import html
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

if TYPE_CHECKING:
    from siyu.simulators.oa import OfficialAccountSim

SCOPES = ("snsapi_base", "snsapi_userinfo")
CODE_SECONDS = 300  # a code not exchanged within five minutes expires
TOKEN_SECONDS = 7200
# WeChat's authorisation page shows these instead of redirecting (错误码 on the page)
PAGE_ERRORS = {
    10003: "redirect_uri域名与后台配置不一致",
    10005: "此公众号并没有这些scope的权限",
    10010: "scope不能为空",
    10011: "redirect_uri不能为空",
    10012: "appid不能为空",
    # WeChat documents no code of its own for these two; the page says what is wrong
    40013: "appid参数错误",
    10008: "response_type参数错误",
}


def _id(prefix: str) -> str:
    """28 characters, like a real openid or unionid."""
    return prefix + secrets.token_urlsafe(20)[:27]


@dataclass
class WebUser:
    """Who is signed in to WeChat on the phone that opens the page. On real WeChat a snapshot
    page hands out a virtual openid and unionid; a test that wants that gives this user ids
    of their own."""

    openid: str = field(default_factory=lambda: _id("o"))
    unionid: str | None = None
    nickname: str = "微信用户"
    headimgurl: str = ""
    snapshot: bool = False  # the page opens as a snapshot page (快照页)
    declines: bool = False  # refuses the snsapi_userinfo prompt


@dataclass
class _Code:
    user: WebUser
    scope: str
    appid: str
    issued: float
    used: bool = False


@dataclass
class _Token:
    user: WebUser
    scope: str
    expires: float


@dataclass
class WebAuth:
    """The account's web-authorisation state: its authorised domain, whether it is bound to an
    Open Platform account (unionids), the current user and the codes and tokens handed out."""

    domain: str = "127.0.0.1"  # 网页授权域名: a host, no scheme, no port
    open_platform: bool = True
    user: WebUser | None = None
    codes: dict[str, _Code] = field(default_factory=dict)
    tokens: dict[str, _Token] = field(default_factory=dict)
    exchanged: list[str] = field(default_factory=list)  # every code presented, in order


def page_error(errcode: int) -> HTMLResponse:
    """WeChat's error page in the WeChat browser: no redirect, the reason and its code."""
    text = html.escape(PAGE_ERRORS[errcode])
    body = (
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>微信网页授权</title>'
        f"</head><body><h2>{text}</h2><p>错误码：{errcode}</p></body></html>"
    )
    return HTMLResponse(body, status_code=200)


def _with_query(url: str, params: dict[str, str]) -> str:
    """``url`` with ``params`` after the query it already has (WeChat appends code and state)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query), fragment=""))


def authorize(sim: OfficialAccountSim, q: dict[str, str]) -> Response:
    """The authorisation page: checks the request as WeChat does, then (the user agreeing, or
    ``snsapi_base``, which asks nothing) sends the browser back with a fresh code."""
    appid, redirect_uri, scope = q.get("appid", ""), q.get("redirect_uri", ""), q.get("scope", "")
    if not appid:
        return page_error(10012)
    if appid != sim.appid:
        return page_error(40013)
    if not redirect_uri:
        return page_error(10011)
    if q.get("response_type") != "code":
        return page_error(10008)
    if not scope:
        return page_error(10010)
    if scope not in SCOPES:
        return page_error(10005)
    target = urlsplit(redirect_uri)
    if target.scheme not in ("http", "https") or (target.hostname or "") != sim.web.domain.lower():
        return page_error(10003)
    state = q.get("state", "")
    with sim.lock:
        sim.calls.append(("oauth2/authorize", scope))
        user = sim.web.user or sim.sign_in()
        if scope == "snsapi_userinfo" and user.declines and not user.snapshot:
            return RedirectResponse(_with_query(redirect_uri, {"state": state}), status_code=302)
        code = secrets.token_urlsafe(24)
        sim.web.codes[code] = _Code(user, scope, appid, sim.clock())
    return RedirectResponse(
        _with_query(redirect_uri, {"code": code, "state": state}), status_code=302
    )


def access_token(sim: OfficialAccountSim, q: dict[str, str]) -> tuple[dict[str, Any], float]:
    """``sns/oauth2/access_token``: the code for the user's web token and openid."""
    with sim.lock:
        if q.get("grant_type") != "authorization_code":
            return {"errcode": 40002, "errmsg": "invalid grant_type"}, 0
        if q.get("appid") != sim.appid:
            return {"errcode": 40013, "errmsg": "invalid appid"}, 0
        if q.get("secret") != sim.secret:
            return {"errcode": 40125, "errmsg": "invalid appsecret"}, 0
        given = q.get("code", "")
        if not given:
            return {"errcode": 41008, "errmsg": "missing code"}, 0
        sim.web.exchanged.append(given)
        sim.calls.append(("oauth2/access_token", given))
        code = sim.web.codes.get(given)
        if code is None or code.appid != sim.appid or sim.clock() - code.issued > CODE_SECONDS:
            return {"errcode": 40029, "errmsg": "invalid code"}, 0
        if code.used:
            return {"errcode": 40163, "errmsg": "code been used"}, 0
        code.used = True
        fault, slow = sim._fault("oauth2/access_token")
        if fault:
            return fault, 0
        user, scope = code.user, code.scope
        value = secrets.token_urlsafe(48)
        sim.web.tokens[value] = _Token(user, scope, sim.clock() + TOKEN_SECONDS)
        answer: dict[str, Any] = {
            "access_token": value,
            "expires_in": TOKEN_SECONDS,
            "refresh_token": secrets.token_urlsafe(48),
            "openid": user.openid,
            "scope": scope,
        }
        if user.snapshot:
            answer["is_snapshotuser"] = 1
        if scope == "snsapi_userinfo" and sim.web.open_platform and user.unionid:
            answer["unionid"] = user.unionid
        return answer, slow


def userinfo(sim: OfficialAccountSim, q: dict[str, str]) -> tuple[dict[str, Any], float]:
    """``sns/userinfo``: the profile a ``snsapi_userinfo`` token may read."""
    with sim.lock:
        token = sim.web.tokens.get(q.get("access_token", ""))
        if token is None:
            return {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid"}, 0
        if token.expires < sim.clock():
            return {"errcode": 42001, "errmsg": "access_token expired"}, 0
        if token.scope != "snsapi_userinfo":
            return {"errcode": 48001, "errmsg": "api unauthorized"}, 0
        if q.get("openid") != token.user.openid:
            return {"errcode": 40003, "errmsg": "invalid openid"}, 0
        sim.calls.append(("sns/userinfo", token.user.openid))
        fault, slow = sim._fault("sns/userinfo")
        if fault:
            return fault, 0
        user = token.user
        answer: dict[str, Any] = {
            "openid": user.openid,
            "nickname": user.nickname,
            "sex": 0,
            "province": "",
            "city": "",
            "country": "",
            "headimgurl": user.headimgurl,
            "privilege": [],
        }
        if sim.web.open_platform and user.unionid:
            answer["unionid"] = user.unionid
        return answer, slow


# -- the HTTP endpoints (create_app routes them) ---------------------------------------------------
async def authorize_endpoint(request: Request) -> Response:
    return authorize(request.app.state.sim, dict(request.query_params))


async def access_token_endpoint(request: Request) -> JSONResponse:
    answer, wait = access_token(request.app.state.sim, dict(request.query_params))
    if wait:
        await asyncio.sleep(wait)
    return JSONResponse(answer)


async def userinfo_endpoint(request: Request) -> JSONResponse:
    answer, wait = userinfo(request.app.state.sim, dict(request.query_params))
    if wait:
        await asyncio.sleep(wait)
    return JSONResponse(answer)
