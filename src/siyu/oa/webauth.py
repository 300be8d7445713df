"""Signing a customer in with the official account's web authorisation (网页授权), the way a
page opened in the WeChat browser learns who is reading it.

Three steps, two of them here: ``authorize_url`` is where the customer's browser is sent
(open.weixin.qq.com asks them, or for ``snsapi_base`` asks nothing, and sends the browser
back to ``redirect_uri?code=…&state=…``; without a code when they decline), and
``exchange_code`` is what Siyu's callback does with the code: ``sns/oauth2/access_token`` for
the openid (and, for ``snsapi_userinfo``, ``sns/userinfo`` for the nickname and unionid).
The caller makes and checks ``state`` (it ties the callback to the browser that left) and
keeps the session; nothing here touches the database.

A snapshot answer (快照页, ``is_snapshotuser``: WeChat showed the page without asking and
hands out a virtual account) is reported, not refused here, so the caller can say why; its
openid and unionid belong to no one and must never be linked to a customer.

The code is good once: a second exchange (a reloaded callback) or a lost answer spends it, so
nothing here retries; the customer signs in again (``CodeRefused``). Calls have short timeouts
because a customer's page waits on them.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import quote, urlencode, urlsplit

import httpx

from siyu import runtime
from siyu.config import Settings
from siyu.oa.service import OaConfigError
from siyu.refusals import Refusal, UpstreamFailed

SCOPES = ("snsapi_base", "snsapi_userinfo")
STATE = re.compile(r"[A-Za-z0-9]{0,128}")  # what WeChat passes back unchanged
TIMEOUT = httpx.Timeout(5.0)  # connect, read, write and pool, each
CODE_API = "sns/oauth2/access_token"  # the code for the openid and a web access token
USERINFO_API = "sns/userinfo"
# invalid or expired code, code been used, no code: the customer starts again
CODE_REFUSED = frozenset({40029, 40163, 41008})
NO_ANSWER = -1  # WeChat's own "system busy, try later", for an answer that never came


class WebAuthRefused(Refusal):
    """WeChat said no to a step of web authorisation: ``errcode`` as WeChat answered it (-1
    when no usable answer came) and ``api``, the call that was refused."""

    def __init__(self, template: str, /, **params: Any) -> None:
        super().__init__(template, **params)
        self.api = str(params.get("api") or "")
        self.errcode = int(params.get("errcode") or 0)


class CodeRefused(WebAuthRefused):
    """The code from the callback cannot be used (used already, expired, unknown, missing):
    the customer signs in again; nothing is wrong with Siyu or WeChat."""


class WebAuthError(WebAuthRefused, UpstreamFailed):
    """WeChat refused Siyu, not the customer (a wrong AppID 40013 or AppSecret 40125), or did
    not answer: signing in again will not help until it is fixed or WeChat is back."""


@dataclass(frozen=True)
class WebAuthAnswer:
    """Who signed in. ``openid`` belongs to the official account ``appid``; ``unionid`` only
    when the account is bound to an Open Platform account and the scope was snsapi_userinfo;
    ``nickname`` only for snsapi_userinfo. ``snapshot``: a virtual account (快照页) the
    caller must refuse."""

    openid: str
    unionid: str | None
    scope: str
    snapshot: bool
    nickname: str | None
    appid: str = ""


def authorize_url(settings: Settings, redirect_uri: str, scope: str, state: str) -> str:
    """The authorisation page to send the customer's browser to. Parameters go in WeChat's
    documented order (WeChat is known to refuse others), ``#wechat_redirect`` last, which the
    WeChat browser needs. ``redirect_uri``'s host must be the account's authorised domain
    (网页授权域名), or WeChat shows an error page (10003) instead of coming back."""
    if not settings.oa_appid:
        raise OaConfigError(
            "no official account is configured (set SIYU_OA_APPID and SIYU_OA_SECRET)"
        )
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}")
    if not STATE.fullmatch(state):
        raise ValueError("state: at most 128 letters and digits (WeChat passes back no other)")
    target = urlsplit(redirect_uri)
    if target.scheme not in ("http", "https") or not target.hostname:
        raise ValueError("redirect_uri must be an absolute http(s) address")
    query = urlencode(
        {
            "appid": settings.oa_appid,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": scope,
            "state": state,
        },
        quote_via=quote,
    )
    base = settings.oa_web_auth_base.rstrip("/")
    return f"{base}/connect/oauth2/authorize?{query}#wechat_redirect"


def exchange_code(
    settings: Settings, code: str, *, timeout: httpx.Timeout | float = TIMEOUT
) -> WebAuthAnswer:
    """The customer behind ``code`` (from the callback's query). Raises ``CodeRefused`` (422)
    for a code that cannot be used (an empty one: the customer declined), ``WebAuthError``
    (502) for anything else WeChat refuses or does not answer (both are ``WebAuthRefused``),
    ``OaConfigError`` when no account is configured. A snapshot answer is returned with ``snapshot`` set and no profile read."""
    if not (settings.oa_appid and settings.oa_secret):
        raise OaConfigError(
            "no official account is configured (set SIYU_OA_APPID and SIYU_OA_SECRET)"
        )
    if not code:  # what WeChat would answer; no call needed to know it
        raise CodeRefused(
            "{api}: {errcode} {errmsg}",
            api=CODE_API,
            errcode=41008,
            errmsg="missing code (the customer declined, or the callback was opened directly)",
        )
    http = _client(settings.oa_api_base, timeout)
    token = _get(
        http,
        CODE_API,
        {
            "appid": settings.oa_appid,
            "secret": settings.oa_secret,
            "code": code,
            "grant_type": "authorization_code",
        },
    )
    openid, scope = str(token.get("openid") or ""), str(token.get("scope") or "")
    if not openid or not token.get("access_token"):
        _refuse(CODE_API, NO_ANSWER, "answer without access_token or openid")
    snapshot = str(token.get("is_snapshotuser") or "") == "1"
    unionid = str(token.get("unionid") or "") or None
    nickname: str | None = None
    if scope == "snsapi_userinfo" and not snapshot:  # a snapshot profile is virtual too
        info = _get(
            http,
            USERINFO_API,
            {"access_token": str(token["access_token"]), "openid": openid, "lang": "zh_CN"},
        )
        if str(info.get("openid") or "") != openid:
            _refuse(USERINFO_API, NO_ANSWER, "answer for another openid")
        nickname = str(info.get("nickname") or "") or None
        unionid = unionid or str(info.get("unionid") or "") or None
    return WebAuthAnswer(openid, unionid, scope, snapshot, nickname, settings.oa_appid)


def _get(http: httpx.Client, api: str, params: dict[str, str]) -> dict[str, Any]:
    """WeChat's JSON answer to ``GET /api``; its errcode, or no answer, raised."""
    try:
        resp = http.get(f"/{api}", params=params)
    except httpx.HTTPError as exc:
        _refuse(api, NO_ANSWER, f"no answer from WeChat ({type(exc).__name__})")
    try:
        data = resp.json()
    except ValueError:
        _refuse(api, NO_ANSWER, f"answer is not JSON (HTTP {resp.status_code})")
    if not isinstance(data, dict):
        _refuse(api, NO_ANSWER, "answer is not a JSON object")
    errcode = int(data.get("errcode") or 0)
    if errcode:
        _refuse(api, errcode, str(data.get("errmsg") or ""))
    return data


def _refuse(api: str, errcode: int, errmsg: str) -> NoReturn:
    """Raise what ``errcode`` means for the caller: start again, or WeChat said no."""
    errmsg = errmsg[:250]
    if errcode in CODE_REFUSED:
        raise CodeRefused("{api}: {errcode} {errmsg}", api=api, errcode=errcode, errmsg=errmsg)
    raise WebAuthError("{api}: {errcode} {errmsg}", api=api, errcode=errcode, errmsg=errmsg)


_CLIENTS: dict[tuple[str, str], httpx.Client] = {}
_LOCK = threading.Lock()


def _client(base: str, timeout: httpx.Timeout | float) -> httpx.Client:
    """One pooled client per WeChat address and timeout (sign-ins come one after another)."""
    key = (base.rstrip("/"), repr(timeout))
    with _LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            client = _CLIENTS[key] = httpx.Client(
                base_url=key[0], timeout=timeout, follow_redirects=False
            )
        return client


def forget_clients() -> None:
    with _LOCK:
        for client in _CLIENTS.values():
            client.close()
        _CLIENTS.clear()


runtime.forgets("oa.webauth.clients", forget_clients)
