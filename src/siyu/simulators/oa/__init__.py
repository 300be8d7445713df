"""A local official account (公众号) for tests and the demo: the access token (AppID and
AppSecret, two hours), template messages to followers (approved templates and their fields,
43004 for someone who does not follow, client_msg_id sent at most once in ten minutes) and
faults to inject (an error code, or an answer that comes too late)."""

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

_FIELD = re.compile(r"\{\{(\w+)\.DATA\}\}")
DEDUP_SECONDS = 600


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
    followers: set[str] = field(default_factory=set)
    follow_all: bool = False  # the demo: every openid follows
    clock: Any = time.time
    tokens: dict[str, float] = field(default_factory=dict)
    sent: list[Sent] = field(default_factory=list)
    attempts: list[str] = field(default_factory=list)  # client_msg_id of every authorised call
    faults: list[list[Any]] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def inject(self, code: int | str, times: int = 1, seconds: float = 0.0) -> None:
        """The next ``times`` sends answer ``code``; "slow" sends but answers after ``seconds``."""
        self.faults.append([code, times, seconds])

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
            expires = self.tokens.get(token)
            if expires is None:
                return {"errcode": 40001, "errmsg": "invalid credential"}, 0
            if expires < self.clock():
                return {"errcode": 42001, "errmsg": "access_token expired"}, 0
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
            slow = 0.0
            for fault in self.faults:
                if fault[1] > 0:
                    fault[1] -= 1
                    if fault[0] != "slow":
                        return {"errcode": int(fault[0]), "errmsg": "injected"}, 0
                    slow = float(fault[2])
                    break
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

    app = Starlette(
        routes=[
            Route("/cgi-bin/token", token, methods=["GET"]),
            Route("/cgi-bin/message/template/send", send, methods=["POST"]),
        ]
    )
    app.state.sim = sim
    return app
