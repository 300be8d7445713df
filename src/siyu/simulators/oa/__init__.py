"""A local official account (公众号) for tests and the demo: the access token (AppID and
AppSecret, two hours), template messages to followers (approved templates and their fields,
43004 for someone who does not follow, client_msg_id sent at most once in ten minutes), the
follower list (``user/get`` paged by next_openid, ``user/info/batchget`` at most 100 at a time,
without nickname, avatar, sex or region, as WeChat answers since 2021), people following and
unfollowing (``driver.py`` pushes their events to Siyu, signed, in plain or safe mode), web
authorisation (网页授权, ``webauth.py``: the customer signed in to WeChat is set by ``sign_in``)
and faults to inject per API (an error code, or an answer that comes too late)."""

from __future__ import annotations

import asyncio
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from siyu.simulators.oa import webauth
from siyu.simulators.oa.webauth import WebAuth, WebUser
from siyu.wecom.connection.crypto import new_aes_key

_FIELD = re.compile(r"\{\{(\w+)\.DATA\}\}")
DEDUP_SECONDS = 600
PAGE_MOST = 10_000  # user/get
BATCH_MOST = 100  # user/info/batchget


def new_openid() -> str:
    """28 characters, like a real openid (o6_bmjrPTlm6_2sgVt7hMZOPfL2M)."""
    return "o" + secrets.token_urlsafe(20)[:27]


@dataclass
class Fan:
    """A WeChat user as the account knows them (no nickname, avatar, sex or region: WeChat
    stopped handing those out)."""

    openid: str
    unionid: str | None
    subscribe_time: int
    scene: str = "ADD_SCENE_SEARCH"
    qr_scene: str = ""


@dataclass
class Sent:
    msgid: int
    openid: str
    template_id: str
    values: dict[str, str]
    url: str
    client_msg_id: str
    at: float


@dataclass
class OfficialAccountSim:
    appid: str = "wx00000000simulated"
    secret: str = field(default_factory=lambda: secrets.token_hex(16))
    templates: dict[str, str] = field(
        default_factory=lambda: {
            "TPL_ORDER_SHIPPED": "订单{{character_string1.DATA}}已发货\n商品：{{thing2.DATA}}\n{{thing3.DATA}}",
            "TPL_POINTS": "积分变动：{{number1.DATA}}\n当前积分：{{number2.DATA}}",
        }
    )
    followers: set[str] = field(default_factory=set)  # who follows now
    people: dict[str, Fan] = field(default_factory=dict)  # everyone who ever followed, in order
    follow_all: bool = False  # every openid follows (for template-message tests)
    page_size: int = PAGE_MOST  # user/get's page; tests make it small to page often
    # the server configuration (服务器配置) pushes are signed with; safe mode encrypts them
    server_token: str = field(default_factory=lambda: secrets.token_hex(16))
    aes_key: str = field(default_factory=lambda: new_aes_key())
    safe_mode: bool = False
    calls: list[tuple[str, str]] = field(default_factory=list)  # (api, where it started)
    clock: Any = time.time
    tokens: dict[str, float] = field(default_factory=dict)
    sent: list[Sent] = field(default_factory=list)
    attempts: list[str] = field(default_factory=list)  # client_msg_id of every authorised call
    faults: list[list[Any]] = field(default_factory=list)
    web: WebAuth = field(default_factory=WebAuth)  # web authorisation (网页授权)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def inject(
        self,
        code: int | str,
        times: int = 1,
        seconds: float = 0.0,
        api: str = "send",
        after: int = 0,
    ) -> None:
        """The next ``times`` calls of ``api`` (send, user/get, batchget, oauth2/access_token,
        sns/userinfo), once ``after`` calls went through, answer ``code``; "slow" answers (a
        send: after sending; a code exchange: after the code is spent) after ``seconds``."""
        self.faults.append([code, times, seconds, api, after])

    def _fault(self, api: str) -> tuple[dict[str, Any] | None, float]:
        for fault in self.faults:
            if fault[1] > 0 and fault[3] == api:
                if fault[4] > 0:
                    fault[4] -= 1
                    return None, 0.0
                fault[1] -= 1
                if fault[0] != "slow":
                    return {"errcode": int(fault[0]), "errmsg": "injected"}, 0.0
                return None, float(fault[2])
        return None, 0.0

    # -- followers -------------------------------------------------------------------------------
    def subscribe(
        self,
        openid: str | None = None,
        unionid: str | None = None,
        scene: str = "ADD_SCENE_SEARCH",
        qr_scene: str = "",
    ) -> Fan:
        """Someone follows (again, if ``openid`` followed before: the openid stays theirs)."""
        with self.lock:
            fan = self.people.get(openid or "")
            if fan is None:
                fan = Fan(openid or new_openid(), unionid, int(self.clock()), scene, qr_scene)
                self.people[fan.openid] = fan
            else:
                fan.subscribe_time, fan.scene, fan.qr_scene = int(self.clock()), scene, qr_scene
                fan.unionid = fan.unionid or unionid
            self.followers.add(fan.openid)
            return fan

    def sign_in(
        self,
        openid: str | None = None,
        unionid: str | None = None,
        nickname: str = "微信用户",
        *,
        headimgurl: str = "",
        snapshot: bool = False,
        declines: bool = False,
    ) -> WebUser:
        """Make the WeChat user who opens authorisation pages from now on: ``openid`` (a new one
        unless given; someone who followed keeps their unionid), whether the page opens as a
        snapshot page (快照页, ``is_snapshotuser``) and whether they decline snsapi_userinfo."""
        with self.lock:
            fan = self.people.get(openid or "")
            user = WebUser(
                openid=openid or new_openid(),
                unionid=unionid or (fan.unionid if fan else None),
                nickname=nickname,
                headimgurl=headimgurl,
                snapshot=snapshot,
                declines=declines,
            )
            self.web.user = user
            return user

    def unsubscribe(self, openid: str) -> None:
        with self.lock:
            self.followers.discard(openid)

    def _authorised(self, token: str) -> dict[str, Any] | None:
        expires = self.tokens.get(token)
        if expires is None:
            return {"errcode": 40001, "errmsg": "invalid credential"}
        if expires < self.clock():
            return {"errcode": 42001, "errmsg": "access_token expired"}
        return None

    def user_get(self, token: str, next_openid: str) -> tuple[dict[str, Any], float]:
        """The followers after ``next_openid`` in follow order, ``page_size`` at most."""
        with self.lock:
            refused = self._authorised(token)
            if refused:
                return refused, 0
            self.calls.append(("user/get", next_openid))
            fault, slow = self._fault("user/get")
            if fault:
                return fault, 0
            order = list(self.people) + sorted(self.followers - self.people.keys())
            start = 0
            if next_openid:
                if next_openid not in self.people:
                    return {"errcode": 40003, "errmsg": "invalid openid"}, 0
                start = order.index(next_openid) + 1
            page = [o for o in order[start:] if o in self.followers][: self.page_size]
            answer: dict[str, Any] = {"total": len(self.followers), "count": len(page)}
            if page:
                answer["data"] = {"openid": page}
            answer["next_openid"] = page[-1] if page else ""
            return answer, slow

    def batchget(self, token: str, b: dict[str, Any]) -> tuple[dict[str, Any], float]:
        with self.lock:
            refused = self._authorised(token)
            if refused:
                return refused, 0
            wanted = b.get("user_list")
            if not isinstance(wanted, list) or not 0 < len(wanted) <= BATCH_MOST:
                return {"errcode": 40032, "errmsg": "invalid openid list size"}, 0
            openids = [str((w or {}).get("openid") or "") for w in wanted]
            self.calls.append(("batchget", openids[0]))
            fault, slow = self._fault("batchget")
            if fault:
                return fault, 0
            infos = []
            for openid in openids:
                fan = self.people.get(openid)
                if fan is None and openid in self.followers:  # added to ``followers`` directly
                    fan = Fan(openid, None, 0)
                if fan is None:
                    return {"errcode": 40003, "errmsg": f"invalid openid {openid[:40]}"}, 0
                infos.append(self._info(fan))
            return {"user_info_list": infos}, slow

    def _info(self, fan: Fan) -> dict[str, Any]:
        if fan.openid not in self.followers:
            info: dict[str, Any] = {"subscribe": 0, "openid": fan.openid}
        else:
            info = {
                "subscribe": 1,
                "openid": fan.openid,
                "language": "zh_CN",
                "subscribe_time": fan.subscribe_time,
                "remark": "",
                "groupid": 0,
                "tagid_list": [],
                "subscribe_scene": fan.scene,
                "qr_scene": int(fan.qr_scene) if fan.qr_scene.isdigit() else 0,
                "qr_scene_str": "" if fan.qr_scene.isdigit() else fan.qr_scene,
            }
        if fan.unionid:
            info["unionid"] = fan.unionid
        return info

    def received(self, openid: str | None = None) -> list[Sent]:
        return [s for s in self.sent if openid is None or s.openid == openid]

    def token(self, appid: str, secret: str) -> dict[str, Any]:
        with self.lock:
            if appid != self.appid:
                return {"errcode": 40013, "errmsg": "invalid appid"}
            if secret != self.secret:
                return {"errcode": 40125, "errmsg": "invalid appsecret"}
            value = secrets.token_urlsafe(48)
            self.tokens[value] = self.clock() + 7200
            return {"access_token": value, "expires_in": 7200}

    def send(self, token: str, b: dict[str, Any]) -> tuple[dict[str, Any], float]:
        with self.lock:
            refused = self._authorised(token)
            if refused:
                return refused, 0
            client_msg_id = str(b.get("client_msg_id") or "")
            self.attempts.append(client_msg_id)
            template = self.templates.get(str(b.get("template_id") or ""))
            if template is None:
                return {"errcode": 40037, "errmsg": "invalid template_id"}, 0
            data = b.get("data") or {}
            wanted = _FIELD.findall(template)
            if not isinstance(data, dict) or any(
                not str((data.get(k) or {}).get("value") or "") for k in wanted
            ):
                return {"errcode": 47003, "errmsg": "argument invalid! data.xxx.value empty"}, 0
            openid = str(b.get("touser") or "")
            if openid not in self.followers and not self.follow_all:
                return {"errcode": 43004, "errmsg": "require subscribe"}, 0
            now = self.clock()
            if client_msg_id:
                for s in self.sent:
                    if (s.openid, s.client_msg_id) == (
                        openid,
                        client_msg_id,
                    ) and now - s.at < DEDUP_SECONDS:
                        return {"errcode": 0, "errmsg": "ok", "msgid": s.msgid}, 0
            fault, slow = self._fault("send")
            if fault:
                return fault, 0
            msg = Sent(
                len(self.sent) + 2_000_000_000,
                openid,
                str(b["template_id"]),
                {k: str(data[k]["value"]) for k in wanted},
                str(b.get("url") or ""),
                client_msg_id,
                now,
            )
            self.sent.append(msg)
            return {"errcode": 0, "errmsg": "ok", "msgid": msg.msgid}, slow


def create_app(sim: OfficialAccountSim) -> Starlette:
    async def token(request: Request) -> JSONResponse:
        q = request.query_params
        if q.get("grant_type") != "client_credential":
            return JSONResponse({"errcode": 40002, "errmsg": "invalid grant_type"})
        return JSONResponse(request.app.state.sim.token(q.get("appid", ""), q.get("secret", "")))

    async def send(request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"errcode": 47001, "errmsg": "data format error"})
        answer, wait = request.app.state.sim.send(
            request.query_params.get("access_token", ""), body
        )
        if wait:
            await asyncio.sleep(wait)
        return JSONResponse(answer)

    async def user_get(request: Request) -> JSONResponse:
        q = request.query_params
        answer, wait = request.app.state.sim.user_get(
            q.get("access_token", ""), q.get("next_openid", "")
        )
        if wait:
            await asyncio.sleep(wait)
        return JSONResponse(answer)

    async def batchget(request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"errcode": 47001, "errmsg": "data format error"})
        if not isinstance(body, dict):
            return JSONResponse({"errcode": 47001, "errmsg": "data format error"})
        answer, wait = request.app.state.sim.batchget(
            request.query_params.get("access_token", ""), body
        )
        if wait:
            await asyncio.sleep(wait)
        return JSONResponse(answer)

    app = Starlette(
        routes=[
            Route("/cgi-bin/token", token, methods=["GET"]),
            Route("/cgi-bin/message/template/send", send, methods=["POST"]),
            Route("/cgi-bin/user/get", user_get, methods=["GET"]),
            Route("/cgi-bin/user/info/batchget", batchget, methods=["POST"]),
            # open.weixin.qq.com's page and api.weixin.qq.com's calls, served side by side
            Route("/connect/oauth2/authorize", webauth.authorize_endpoint, methods=["GET"]),
            Route("/sns/oauth2/access_token", webauth.access_token_endpoint, methods=["GET"]),
            Route("/sns/userinfo", webauth.userinfo_endpoint, methods=["GET"]),
        ]
    )
    app.state.sim = sim
    return app
