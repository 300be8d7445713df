"""Tencent Cloud's SMS API on the simulated gateway: the TC3-HMAC-SHA256 signature with a
fresh timestamp, SendSms (approved signature and numeric template, every {n} filled, mainland
numbers, the per-number limits as LimitExceeded.* per number) and
PullSmsSendStatusByPhoneNumber (receipts, with the SessionContext the sender gave)."""

from __future__ import annotations

import json
import re
import secrets
from typing import TYPE_CHECKING, Any

from siyu.reach.channels.sms_tencent import tc3_authorization

if TYPE_CHECKING:
    from siyu.simulators.sms.gateway import Gateway

_POSITIONAL = re.compile(r"\{(\d+)\}")
LIMIT_CODES = {
    60: "LimitExceeded.PhoneNumberThirtySecondLimit",
    3600: "LimitExceeded.PhoneNumberOneHourLimit",
    86400: "LimitExceeded.PhoneNumberDailyLimit",
}


def _error(code: str, message: str) -> dict[str, Any]:
    return {
        "Response": {"Error": {"Code": code, "Message": message}, "RequestId": secrets.token_hex(8)}
    }


def _status(
    phone: str, code: str, message: str, serial: str = "", context: str = ""
) -> dict[str, Any]:
    return {
        "Response": {
            "SendStatusSet": [
                {
                    "SerialNo": serial,
                    "PhoneNumber": phone,
                    "Fee": 1 if code == "Ok" else 0,
                    "SessionContext": context,
                    "Code": code,
                    "Message": message,
                    "IsoCode": "CN",
                }
            ],
            "RequestId": secrets.token_hex(8),
        }
    }


def handle_tencent(
    g: Gateway, headers: dict[str, str], body: bytes
) -> tuple[dict[str, Any], float]:
    """(answer, seconds to wait before answering) for one API 3.0 request."""
    h = {k.lower(): v for k, v in headers.items()}
    action = h.get("x-tc-action", "")
    payload = body.decode("utf-8", "replace")
    with g.lock:
        try:
            ts = int(h.get("x-tc-timestamp", ""))
        except ValueError:
            return _error("AuthFailure.InvalidAuthorization", "X-TC-Timestamp is missing"), 0
        if abs(ts - g.clock()) > 300:
            return _error("AuthFailure.SignatureExpire", "the signature has expired"), 0
        expected = tc3_authorization(
            g.secret_id, g.access_key_secret, h.get("host", ""), action, payload, ts
        )
        if h.get("authorization") != expected:
            return _error("AuthFailure.SignatureFailure", "the signature does not match"), 0
        try:
            p = json.loads(payload)
        except ValueError:
            return _error("InvalidParameter", "the body is not JSON"), 0
        if str(p.get("SmsSdkAppId")) != g.sdk_app_id:
            return _error("UnauthorizedOperation.SmsSdkAppIdVerifyFail", "unknown SdkAppId"), 0
        if action == "SendSms":
            return _send(g, p)
        if action == "PullSmsSendStatusByPhoneNumber":
            return _pull(g, p), 0
        return _error("InvalidAction", f"no such action: {action}"), 0


def _send(g: Gateway, p: dict[str, Any]) -> tuple[dict[str, Any], float]:
    numbers = p.get("PhoneNumberSet") or []
    if len(numbers) != 1:
        return _error("InvalidParameterValue", "the simulator takes one number a request"), 0
    e164, context = str(numbers[0]), str(p.get("SessionContext") or "")
    g.attempts.append(context)
    phone = e164.removeprefix("+86")
    if not re.fullmatch(r"1[3-9]\d{9}", phone):
        return _status(e164, "InvalidParameterValue.IncorrectPhoneNumber", "bad number"), 0
    if p.get("SignName") not in g.signs:
        return _error("FailedOperation.SignatureIncorrectOrUnapproved", "signature not approved"), 0
    template = g.templates.get(str(p.get("TemplateId") or ""))
    if template is None or "${" in template:
        return _error("FailedOperation.TemplateIncorrectOrUnapproved", "template not approved"), 0
    values = [str(v) for v in p.get("TemplateParamSet") or []]
    wanted = [int(n) for n in _POSITIONAL.findall(template)]
    if len(values) != max(wanted, default=0):
        return _error(
            "InvalidParameterValue.TemplateParameterFormatError", "wrong parameter count"
        ), 0
    code, slow = g.take_fault()
    if code is not None:
        return _status(e164, code, "injected by the simulator", context=context), 0
    window = g.over_limit(phone)
    if window is not None:
        return _status(e164, LIMIT_CODES[window], "per-number limit", context=context), 0
    content = f"【{p['SignName']}】" + _POSITIONAL.sub(
        lambda m: values[int(m.group(1)) - 1], template
    )
    msg = g.accept(phone, str(p["SignName"]), str(p["TemplateId"]), content, context)
    return _status(e164, "Ok", "send success", msg.biz_id, context), slow


def _pull(g: Gateway, p: dict[str, Any]) -> dict[str, Any]:
    phone = str(p.get("PhoneNumber") or "").removeprefix("+86")
    begin, end = int(p.get("BeginTime") or 0), int(p.get("EndTime") or 0)
    found = [
        m
        for m in g.messages
        if m.phone == phone and begin <= m.at <= end and m.status != 1  # receipts only
    ]
    limit, offset = int(p.get("Limit") or 100), int(p.get("Offset") or 0)
    return {
        "Response": {
            "PullSmsSendStatusSet": [
                {
                    "UserReceiveTime": int(m.at),
                    "CountryCode": "86",
                    "SubscriberNumber": m.phone,
                    "PhoneNumber": "+86" + m.phone,
                    "SerialNo": m.biz_id,
                    "ReportStatus": "SUCCESS" if m.status == 3 else "FAIL",
                    "Description": "DELIVRD" if m.status == 3 else "UNDELIV",
                    "SessionContext": m.out_id,
                }
                for m in found[offset : offset + limit]
            ],
            "RequestId": secrets.token_hex(8),
        }
    }
