"""The official account's API as Siyu calls it (api.weixin.qq.com): the access token and the
follower lists.

The token is fetched with the AppID and AppSecret and kept until shortly before it expires.
WeChat invalidates the previous token (after five minutes) whenever a new one is fetched, so
every client of one account in a process shares one token, and a client told that its token is
invalid takes the one another client fetched meanwhile before it fetches a new one itself.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from siyu import runtime

TOKEN_INVALID = {40001, 40014, 42001}  # invalid credential, invalid token, token expired
# system busy, daily quota used up, too frequent: try again later (after so many seconds)
TRANSIENT = {-1: 10.0, 45009: 3600.0, 45011: 60.0}
BATCHGET_MOST = 100  # user/info/batchget takes at most 100 openids
USER_GET_MOST = 10_000  # user/get answers at most 10,000 openids a page


class TokenError(Exception):
    """The AppID/AppSecret pair was refused: nothing can be called until it is fixed."""


class OaError(Exception):
    """WeChat answered an errcode. ``transient`` errors are worth trying again later, after
    ``retry_after`` seconds when WeChat's code says how long."""

    def __init__(self, api: str, errcode: int, errmsg: str) -> None:
        super().__init__(f"{api}: {errcode} {errmsg}"[:300])
        self.api, self.errcode, self.errmsg = api, errcode, errmsg
        self.transient = errcode in TRANSIENT
        self.retry_after = TRANSIENT.get(errcode)


@dataclass
class _Token:
    value: str = ""
    until: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


_TOKENS: dict[tuple[str, str, str], _Token] = {}
_TOKENS_LOCK = threading.Lock()
runtime.forgets("oa.client.tokens", _TOKENS.clear)


def _shared_token(base: str, appid: str, secret: str) -> _Token:
    with _TOKENS_LOCK:
        return _TOKENS.setdefault((base, appid, secret), _Token())


@dataclass(frozen=True)
class FollowerPage:
    """One page of ``user/get``: openids in follow order, and where the next page starts."""

    total: int
    openids: list[str]
    next_openid: str


class OaClient:
    """One official account's API. ``call`` answers WeChat's JSON as it came (the template
    channel classifies errcodes itself); ``checked`` raises OaError for a non-zero errcode."""

    def __init__(
        self,
        appid: str,
        secret: str,
        base_url: str = "https://api.weixin.qq.com",
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.appid, self.secret = appid, secret
        base = base_url.rstrip("/")
        self.http = httpx.Client(base_url=base, timeout=timeout, transport=transport)
        self._token = _shared_token(base, appid, secret)

    def close(self) -> None:
        self.http.close()

    def token(self, *, fresh: bool = False, stale: str = "") -> str:
        """The account's access token; ``fresh`` fetches a new one unless the token in hand is
        no longer ``stale`` (another client fetched one since)."""
        shared = self._token
        with shared.lock:
            usable = shared.value and time.monotonic() < shared.until
            if usable and (not fresh or (stale and shared.value != stale)):
                return shared.value
            resp = self.http.get(
                "/cgi-bin/token",
                params={
                    "grant_type": "client_credential",
                    "appid": self.appid,
                    "secret": self.secret,
                },
            )
            data = resp.json()
            if not isinstance(data, dict) or not data.get("access_token"):
                got = data if isinstance(data, dict) else {}
                raise TokenError(f"{got.get('errcode')}: {got.get('errmsg')}")
            expires = float(data.get("expires_in") or 7200)
            shared.value = str(data["access_token"])
            shared.until = time.monotonic() + max(60.0, expires - 300)
            return shared.value

    def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: Any = None,
    ) -> dict[str, Any]:
        """WeChat's answer; a token WeChat calls invalid is replaced once and the call made
        again. Raises httpx errors, ValueError for an answer that is not a JSON object, and
        TokenError when no token can be had."""
        data: dict[str, Any] = {}
        token = self.token()
        for attempt in range(2):
            resp = self.http.request(
                method, path, params={**(params or {}), "access_token": token}, json=json
            )
            answer = resp.json()
            if not isinstance(answer, dict):
                raise ValueError("not a JSON object")
            data = answer
            if attempt == 0 and int(data.get("errcode") or 0) in TOKEN_INVALID:
                token = self.token(fresh=True, stale=token)
                continue
            break
        return data

    def checked(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        data = self.call(method, path, **kw)
        code = int(data.get("errcode") or 0)
        if code:
            raise OaError(path.rsplit("/cgi-bin/", 1)[-1], code, str(data.get("errmsg") or ""))
        return data

    # -- followers ------------------------------------------------------------------------------
    def followers_page(self, next_openid: str = "") -> FollowerPage:
        """``user/get`` from ``next_openid`` (empty: from the start of the list)."""
        params = {"next_openid": next_openid} if next_openid else {}
        data = self.checked("GET", "/cgi-bin/user/get", params=params)
        openids = (data.get("data") or {}).get("openid") or []
        if not isinstance(openids, list):
            raise ValueError("user/get: data.openid is not a list")
        return FollowerPage(
            int(data.get("total") or 0),
            [str(o) for o in openids[:USER_GET_MOST]],
            str(data.get("next_openid") or ""),
        )

    def user_infos(self, openids: list[str]) -> list[dict[str, Any]]:
        """``user/info/batchget`` for at most 100 openids: subscribe (1/0), subscribe_time,
        unionid (when the account is bound to an Open Platform account), subscribe_scene,
        qr_scene / qr_scene_str. WeChat no longer returns nickname, avatar, sex or region."""
        if len(openids) > BATCHGET_MOST:
            raise ValueError(f"user/info/batchget takes at most {BATCHGET_MOST} openids")
        data = self.checked(
            "POST",
            "/cgi-bin/user/info/batchget",
            json={"user_list": [{"openid": o, "lang": "zh_CN"} for o in openids]},
        )
        infos = data.get("user_info_list") or []
        if not isinstance(infos, list):
            raise ValueError("user/info/batchget: user_info_list is not a list")
        return [i for i in infos if isinstance(i, dict)]
