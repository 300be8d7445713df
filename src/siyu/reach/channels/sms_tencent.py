"""SMS through Tencent Cloud's SMS API (sms.tencentcloudapi.com, version 2021-01-11): SendSms
with a signature, a template id and its ordered parameters, and PullSmsSendStatusByPhoneNumber
for receipts and for finding a send whose answer was lost (by SessionContext: the ledger row).

Requests are JSON, signed with TC3-HMAC-SHA256: a canonical request (method, ``/``, an empty
query, the ``content-type``, ``host`` and ``x-tc-action`` headers, the SHA-256 of the body), a
string to sign under ``date/sms/tc3_request``, and a key derived ``TC3<secret>`` → date →
service → ``tc3_request``.

Tencent's status list holds a message only once the carrier's receipt is in, and a phone that
is off can keep that receipt away for days; so a message that is not (yet) listed is not proof
that it never left, and an ambiguous Tencent row waits for an operator instead of being resent
(``absence_proves_unsent``). Aliyun's list, by contrast, holds every message it accepted.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from siyu import clock
from siyu.reach.channels.base import Delivery, Outgoing, SendResult
from siyu.reach.channels.sms import local_number
from siyu.untrusted import whole_number

VERSION = "2021-01-11"
SERVICE = "sms"
TRANSIENT = {"InternalError.Timeout", "InternalError.SendAndRecvFail", "InternalError.OtherError"}
TRANSIENT_PREFIX = ("RequestLimitExceeded", "InternalError.RequestTimeException")
# per-number limits: worth trying again, once the window has passed
RATE_LIMITED = {
    "LimitExceeded.PhoneNumberThirtySecondLimit": 30,
    "LimitExceeded.PhoneNumberOneHourLimit": 3600,
    "LimitExceeded.PhoneNumberDailyLimit": 3600,
    "LimitExceeded.PhoneNumberSameContentDailyLimit": 3600,
}


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def tc3_authorization(
    secret_id: str, secret_key: str, host: str, action: str, payload: str, timestamp: int
) -> str:
    """The Authorization header of a TC3-HMAC-SHA256 request (Tencent Cloud API 3.0)."""
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    headers = (
        f"content-type:application/json; charset=utf-8\nhost:{host}\nx-tc-action:{action.lower()}\n"
    )
    signed = "content-type;host;x-tc-action"
    canonical = "\n".join(
        ["POST", "/", "", headers, signed, hashlib.sha256(payload.encode()).hexdigest()]
    )
    scope = f"{date}/{SERVICE}/tc3_request"
    to_sign = "\n".join(
        ["TC3-HMAC-SHA256", str(timestamp), scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = _hmac(_hmac(_hmac(("TC3" + secret_key).encode(), date), SERVICE), "tc3_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return (
        f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, SignedHeaders={signed}, "
        f"Signature={signature}"
    )


def ordered_params(parts: dict[str, str]) -> list[str]:
    """Tencent's TemplateParamSet is positional: {1}, {2}, … in that order."""
    params = {k.removeprefix("params."): v for k, v in parts.items() if k.startswith("params.")}
    return [params[k] for k in sorted(params, key=_position)]


def _position(name: str) -> tuple[int, str]:
    n = whole_number(name, most=(1 << 30) - 1)
    return (n, "") if n is not None else (1 << 30, name)


@dataclass
class TencentSms:
    """One Tencent Cloud SMS application (SdkAppId) and the API key that sends for it."""

    secret_id: str
    secret_key: str
    sdk_app_id: str
    endpoint: str = "https://sms.tencentcloudapi.com"
    region: str = "ap-guangzhou"
    timeout: float = 10.0
    transport: httpx.BaseTransport | None = None

    name = "sms"
    reconcilable = True  # the status list is asked by number and SessionContext
    absence_proves_unsent = False

    def __post_init__(self) -> None:
        self._http = httpx.Client(timeout=self.timeout, transport=self.transport)
        self._host = urlsplit(self.endpoint).netloc

    def close(self) -> None:
        self._http.close()

    def _call(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        now = int(clock.timestamp())
        headers = {
            "Authorization": tc3_authorization(
                self.secret_id, self.secret_key, self._host, action, payload, now
            ),
            "Content-Type": "application/json; charset=utf-8",
            "Host": self._host,
            "X-TC-Action": action,
            "X-TC-Timestamp": str(now),
            "X-TC-Version": VERSION,
            "X-TC-Region": self.region,
        }
        resp = self._http.post(
            self.endpoint.rstrip("/") + "/", content=payload.encode(), headers=headers
        )
        data = resp.json()
        if not isinstance(data, dict) or not isinstance(data.get("Response"), dict):
            raise ValueError("not a Tencent Cloud answer")
        out: dict[str, Any] = data["Response"]
        return out

    def send(self, message: Outgoing) -> SendResult:
        """Send one ledger row: the template's signature and id, its parameters in order."""
        return self.send_sms(
            message.address,
            str(message.template.get("sign_name", "")),
            str(message.template.get("template_code", "")),
            ordered_params(dict(message.parts)),
            message.ref,
        )

    def send_sms(
        self, phone: str, sign_name: str, template_id: str, params: list[str], context: str
    ) -> SendResult:
        number = local_number(phone)
        if number is None:
            return SendResult(
                "failed",
                code="InvalidParameterValue.IncorrectPhoneNumber",
                error="not a mainland mobile",
            )
        body = {
            "PhoneNumberSet": ["+86" + number],
            "SmsSdkAppId": self.sdk_app_id,
            "SignName": sign_name,
            "TemplateId": template_id,
            "TemplateParamSet": params,
            "SessionContext": context,
        }
        try:
            data = self._call("SendSms", body)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            return SendResult("retry", code="network", error=str(exc)[:200], retry_after=30)
        except httpx.TimeoutException as exc:
            return SendResult("ambiguous", code="timeout", error=str(exc)[:200])
        except httpx.HTTPError as exc:
            return SendResult("ambiguous", code="network", error=str(exc)[:200])
        except ValueError as exc:
            return SendResult("ambiguous", code="bad_response", error=str(exc)[:200])
        return classify(data)

    def delivery(self, phone: str, context: str, since: datetime) -> Delivery:
        """The receipt of the message sent with ``context``, if the carrier has reported it."""
        number = local_number(phone)
        if number is None:
            return Delivery(False)
        begin = int((since - timedelta(minutes=5)).timestamp())
        data = self._call(
            "PullSmsSendStatusByPhoneNumber",
            {
                "BeginTime": begin,
                "EndTime": int(clock.timestamp()) + 60,
                "Offset": 0,
                "Limit": 100,
                "PhoneNumber": "+86" + number,
                "SmsSdkAppId": self.sdk_app_id,
            },
        )
        for s in data.get("PullSmsSendStatusSet") or []:
            if s.get("SessionContext") == context:
                return Delivery(
                    True,
                    s.get("ReportStatus") == "SUCCESS",
                    str(s.get("SerialNo") or "") or None,
                    str(s.get("Description") or ""),
                )
        return Delivery(False)


def classify(data: dict[str, Any]) -> SendResult:
    error = data.get("Error")
    if isinstance(error, dict):
        return _by_code(str(error.get("Code") or ""), str(error.get("Message") or ""))
    statuses = data.get("SendStatusSet") or []
    if not statuses:
        return SendResult("ambiguous", code="bad_response", error="no SendStatusSet")
    s = statuses[0]
    code = str(s.get("Code") or "")
    if code == "Ok":
        return SendResult("sent", provider_ref=str(s.get("SerialNo") or ""), code=code)
    return _by_code(code, str(s.get("Message") or ""))


def _by_code(code: str, message: str) -> SendResult:
    message = message[:200]
    if code in RATE_LIMITED:
        return SendResult("retry", code=code, error=message, retry_after=RATE_LIMITED[code])
    if code in TRANSIENT or code.startswith(TRANSIENT_PREFIX):
        return SendResult("retry", code=code, error=message, retry_after=10)
    return SendResult("failed", code=code, error=message)
