"""The simulated SMS gateway: Aliyun's SendSms and QuerySendDetails (and, in ``tencent``,
Tencent Cloud's SendSms and PullSmsSendStatusByPhoneNumber on the same store) with their checks — the
request signature, a fresh timestamp and a nonce used once, approved signature names and
templates with all their parameters, mainland numbers, per-number limits (1 a minute, 5 an
hour, 10 a day: isv.BUSINESS_LIMIT_CONTROL) — and faults to inject (an error code, or an
answer that comes too late). Every accepted message is kept, so tests count what customers
actually received."""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from siyu.reach.channels.sms import sign

SHANGHAI = timedelta(hours=8)
LIMITS = ((60, 1), (3600, 5), (86400, 10))  # (seconds, messages) per number
_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


@dataclass
class Message:
    biz_id: str
    phone: str
    sign_name: str
    template_code: str
    content: str
    out_id: str
    at: float
    status: int = 3  # 1 on its way, 2 failed, 3 delivered


@dataclass
class Gateway:
    access_key_id: str = "LTAIsimulated0001"
    access_key_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    signs: set[str] = field(default_factory=lambda: {"悦颜"})
    templates: dict[str, str] = field(
        default_factory=lambda: {
            "SMS_000001": "${name}您好，${offer}，拒收请回复R",
            "SMS_000002": "您的订单${order}已发货",
            "SMS_000003": "${name}您好，${offer}，戳 ${link} 拒收请回复R",  # with a short link
            "SMS_100001": "您的验证码是${code}，10分钟内有效",  # the member centre's sign-in
            # growth's reward notices (SIYU_GROWTH_SMS_TEMPLATE_CODE)
            "SMS_100002": "您邀请的好友订单已确认，${reward}已发放到您的会员账户",
            # Tencent template ids are numbers, their placeholders positional
            "1000001": "{1}您好，{2}，拒收请回复R",
            "1000002": "您的订单{1}已发货",
            "1000003": "您的验证码是{1}，10分钟内有效",
        }
    )
    secret_id: str = "AKIDsimulated0001"  # noqa: S105 - Tencent's API key pair and SMS application
    sdk_app_id: str = "1400000001"
    clock: Any = time.time
    messages: list[Message] = field(default_factory=list)
    attempts: list[str] = field(default_factory=list)  # the OutId of every authenticated SendSms
    sent_at: dict[str, list[float]] = field(default_factory=dict)  # phone → send times (limits)
    nonces: set[str] = field(default_factory=set)
    faults: list[list[Any]] = field(default_factory=list)  # [code or "slow", times, seconds]
    lock: threading.RLock = field(default_factory=threading.RLock)

    def inject(self, code: str, times: int = 1, seconds: float = 0.0) -> None:
        """The next ``times`` sends answer ``code``; "slow" takes the message but answers only
        after ``seconds`` (a client with a shorter timeout sees an ambiguous send)."""
        self.faults.append([code, times, seconds])

    def received(self, phone: str | None = None) -> list[Message]:
        return [m for m in self.messages if phone is None or m.phone == phone]

    def reports(self, start: int = 0, end: int | None = None) -> list[dict[str, Any]]:
        """Aliyun's SmsReport items for the messages accepted in [start, end) (what Aliyun
        pushes to the brand's receipt address), in the order they were accepted."""
        with self.lock:
            taken = self.messages[start:end]
        return [
            {
                "phone_number": m.phone,
                "success": m.status == 3,
                "err_code": "DELIVERED" if m.status == 3 else "MOBILE_NOT_ON_SERVICE",
                "report_time": (datetime.fromtimestamp(m.at, UTC) + SHANGHAI).strftime(
                    "%Y-%m-%d %H:%M:%S"
                ),
                "out_id": m.out_id,
                "biz_id": m.biz_id,
            }
            for m in taken
            if m.status != 1
        ]

    def take_fault(self) -> tuple[str | None, float]:
        """The injected answer for this send, if any: (error code, 0) or (None, delay)."""
        for fault in self.faults:
            if fault[1] > 0:
                fault[1] -= 1
                if fault[0] != "slow":
                    return str(fault[0]), 0.0
                return None, float(fault[2])
        return None, 0.0

    def over_limit(self, phone: str) -> int | None:
        """The window (seconds) whose per-number limit this send would pass, if any."""
        now = self.clock()
        mine = self.sent_at.setdefault(phone, [])
        mine[:] = [t for t in mine if now - t < LIMITS[-1][0]]
        for seconds, most in LIMITS:
            if sum(1 for t in mine if now - t < seconds) >= most:
                return seconds
        return None

    def accept(
        self, phone: str, sign_name: str, template_code: str, content: str, out_id: str
    ) -> Message:
        now = self.clock()
        msg = Message(secrets.token_hex(10), phone, sign_name, template_code, content, out_id, now)
        self.messages.append(msg)
        self.sent_at.setdefault(phone, []).append(now)
        return msg


def _err(code: str, message: str) -> dict[str, Any]:
    return {"Code": code, "Message": message, "RequestId": secrets.token_hex(8)}


def handle(g: Gateway, params: dict[str, str]) -> tuple[dict[str, Any], float]:
    """(answer, seconds to wait before answering)."""
    with g.lock:
        if params.get("AccessKeyId") != g.access_key_id:
            return _err("InvalidAccessKeyId.NotFound", "Specified access key is not found."), 0
        if params.get("Signature") != sign(params, g.access_key_secret):
            return _err("SignatureDoesNotMatch", "Specified signature is not matched."), 0
        try:
            ts = datetime.strptime(params.get("Timestamp", ""), "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            return _err("InvalidTimeStamp.Format", "Specified time stamp is not valid."), 0
        if abs(ts.replace(tzinfo=UTC).timestamp() - g.clock()) > 900:
            return _err("InvalidTimeStamp.Expired", "Specified time stamp is expired."), 0
        nonce = params.get("SignatureNonce", "")
        if not nonce or nonce in g.nonces:
            return _err("SignatureNonceUsed", "Specified signature nonce was used already."), 0
        g.nonces.add(nonce)
        action = params.get("Action")
        if action == "SendSms":
            return _send(g, params)
        if action == "QuerySendDetails":
            return _query(g, params), 0
        return _err("InvalidAction.NotFound", f"Specified api is not found: {action}"), 0


def _send(g: Gateway, p: dict[str, str]) -> tuple[dict[str, Any], float]:
    g.attempts.append(p.get("OutId", ""))
    phone = p.get("PhoneNumbers", "")
    if not re.fullmatch(r"1[3-9]\d{9}", phone):
        return _err("isv.MOBILE_NUMBER_ILLEGAL", "invalid mobile number"), 0
    if p.get("SignName") not in g.signs:
        return _err("isv.SMS_SIGNATURE_ILLEGAL", "signature not approved"), 0
    template = g.templates.get(p.get("TemplateCode", ""))
    if template is None:
        return _err("isv.SMS_TEMPLATE_ILLEGAL", "template not approved"), 0
    try:
        values = json.loads(p.get("TemplateParam") or "{}")
    except ValueError:
        return _err("isv.INVALID_JSON_PARAM", "TemplateParam is not JSON"), 0
    missing = [k for k in _PLACEHOLDER.findall(template) if k not in values]
    if missing:
        return _err("isv.TEMPLATE_MISSING_PARAMETERS", f"missing {missing[0]}"), 0
    code, slow = g.take_fault()
    if code is not None:
        return _err(code, "injected by the simulator"), 0
    window = g.over_limit(phone)
    if window is not None:
        return _err("isv.BUSINESS_LIMIT_CONTROL", f"per-number limit ({window} s)"), 0
    content = f"【{p['SignName']}】" + _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), template)
    msg = g.accept(phone, p["SignName"], p["TemplateCode"], content, p.get("OutId", ""))
    return {
        "Code": "OK",
        "Message": "OK",
        "BizId": msg.biz_id,
        "RequestId": secrets.token_hex(8),
    }, slow


def _query(g: Gateway, p: dict[str, str]) -> dict[str, Any]:
    phone, day = p.get("PhoneNumber", ""), p.get("SendDate", "")
    found = [
        m
        for m in g.messages
        if m.phone == phone
        and (datetime.fromtimestamp(m.at, UTC) + SHANGHAI).strftime("%Y%m%d") == day
    ]
    return {
        "Code": "OK",
        "Message": "OK",
        "TotalCount": len(found),
        "SmsSendDetailDTOs": {
            "SmsSendDetailDTO": [
                {
                    "PhoneNum": m.phone,
                    "SendStatus": m.status,
                    "ErrCode": "DELIVERED" if m.status == 3 else "",
                    "TemplateCode": m.template_code,
                    "Content": m.content,
                    "SendDate": datetime.fromtimestamp(m.at, UTC).strftime("%Y-%m-%d %H:%M:%S"),
                    "OutId": m.out_id,
                    "BizId": m.biz_id,
                }
                for m in found
            ]
        },
    }


def create_app(gateway: Gateway) -> Starlette:
    import asyncio

    from siyu.simulators.sms.tencent import handle_tencent

    async def endpoint(request: Request) -> JSONResponse:
        g: Gateway = request.app.state.gateway
        if request.headers.get("x-tc-action"):
            body = await request.body()
            answer, wait = handle_tencent(g, dict(request.headers), body)
            if wait:
                await asyncio.sleep(wait)
            return JSONResponse(answer)
        params = dict(request.query_params)
        if request.method == "POST":
            params.update({k: str(v) for k, v in (await request.form()).items()})
        answer, wait = handle(g, params)
        if wait:
            await asyncio.sleep(wait)
        return JSONResponse(answer)

    app = Starlette(routes=[Route("/", endpoint, methods=["GET", "POST"])])
    app.state.gateway = gateway
    return app
