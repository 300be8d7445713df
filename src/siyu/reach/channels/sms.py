"""SMS through Aliyun's SMS API (dysmsapi, RPC style, version 2017-05-25): SendSms with a
signature name, a template code and its parameters, and QuerySendDetails for receipts and for
reconciling an ambiguous send by its OutId (the ledger row).

Requests are signed as Aliyun specifies: the parameters sorted, each name and value
percent-encoded (RFC 3986: space as %20, ``*`` as %2A, ``~`` kept), StringToSign =
``METHOD&%2F&`` + the encoded query, HMAC-SHA1 keyed with ``AccessKeySecret&``, base64.
The endpoint is configuration, so the local gateway (``siyu.simulators.sms``) can stand in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from siyu import clock
from siyu.reach.channels.base import Delivery, Outgoing, SendResult

VERSION = "2017-05-25"
# Aliyun codes: what may succeed later, what never will
TRANSIENT = {"isp.SYSTEM_ERROR", "isp.RAM_PERMISSION_DENY", "Throttling.User", "ServiceUnavailable"}
RATE_LIMITED = {"isv.BUSINESS_LIMIT_CONTROL"}
_MAINLAND = re.compile(r"^(?:\+?86)?(1[3-9]\d{9})$")


def percent_encode(value: str) -> str:
    return quote(value, safe="-_.~")


def canonical_query(params: dict[str, str]) -> str:
    return "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items()))


def sign(params: dict[str, str], secret: str, method: str = "POST") -> str:
    """Aliyun RPC signature v1 over every parameter but Signature."""
    query = canonical_query({k: v for k, v in params.items() if k != "Signature"})
    to_sign = f"{method}&{percent_encode('/')}&{percent_encode(query)}"
    digest = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def local_number(phone: str) -> str | None:
    """The 11-digit mainland number Aliyun takes, from Siyu's normalised +86 form."""
    m = _MAINLAND.match(phone.replace(" ", ""))
    return m.group(1) if m else None


@dataclass
class AliyunSms:
    """One Aliyun SMS account (AccessKey pair) and its endpoint."""

    access_key_id: str
    access_key_secret: str
    endpoint: str = "https://dysmsapi.aliyuncs.com"
    timeout: float = 10.0
    transport: httpx.BaseTransport | None = None

    def __post_init__(self) -> None:
        self._http = httpx.Client(timeout=self.timeout, transport=self.transport)

    def close(self) -> None:
        self._http.close()

    def _call(self, action: str, params: dict[str, str]) -> dict[str, Any]:
        full = {
            "AccessKeyId": self.access_key_id,
            "Action": action,
            "Format": "JSON",
            "RegionId": "cn-hangzhou",
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": secrets.token_hex(16),
            "SignatureVersion": "1.0",
            "Timestamp": clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),  # UTC (Siyu's clock)
            "Version": VERSION,
            **params,
        }
        full["Signature"] = sign(full, self.access_key_secret)
        resp = self._http.post(self.endpoint.rstrip("/") + "/", data=full)
        data = resp.json()
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return data

    name = "sms"
    reconcilable = True  # QuerySendDetails finds a message by its OutId
    absence_proves_unsent = True  # it lists every message it accepted, delivered or not

    def send(self, message: Outgoing) -> SendResult:
        """Send one ledger row: the template's signature and code, the rendered parameters."""
        params = {k.removeprefix("params."): v for k, v in message.parts.items()}
        return self.send_sms(
            message.address,
            str(message.template.get("sign_name", "")),
            str(message.template.get("template_code", "")),
            params,
            message.ref,
        )

    def send_sms(
        self, phone: str, sign_name: str, template_code: str, params: dict[str, Any], out_id: str
    ) -> SendResult:
        """Send one templated SMS; ``out_id`` (the ledger row) comes back in receipts."""
        number = local_number(phone)
        if number is None:
            return SendResult(
                "failed", code="isv.MOBILE_NUMBER_ILLEGAL", error="not a mainland mobile"
            )
        try:
            data = self._call(
                "SendSms",
                {
                    "PhoneNumbers": number,
                    "SignName": sign_name,
                    "TemplateCode": template_code,
                    "TemplateParam": json.dumps(params, ensure_ascii=False),
                    "OutId": out_id,
                },
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:  # nothing left us
            return SendResult("retry", code="network", error=str(exc)[:200], retry_after=30)
        except httpx.TimeoutException as exc:
            # the gateway may have taken it: ask QuerySendDetails by OutId, never resend blindly
            return SendResult("ambiguous", code="timeout", error=str(exc)[:200])
        except httpx.HTTPError as exc:  # the answer was lost on the way back
            return SendResult("ambiguous", code="network", error=str(exc)[:200])
        except ValueError as exc:
            return SendResult("ambiguous", code="bad_response", error=str(exc)[:200])
        return classify(data)

    def delivery(self, phone: str, out_id: str, sent_on: datetime) -> Delivery:
        """What the gateway knows of the message sent with ``out_id`` on that (Shanghai) day."""
        number = local_number(phone)
        if number is None:
            return Delivery(False)
        data = self._call(
            "QuerySendDetails",
            {
                "PhoneNumber": number,
                "SendDate": sent_on.strftime("%Y%m%d"),
                "PageSize": "50",
                "CurrentPage": "1",
            },
        )
        details = (data.get("SmsSendDetailDTOs") or {}).get("SmsSendDetailDTO") or []
        for d in details:
            if d.get("OutId") == out_id:
                status = int(d.get("SendStatus") or 0)  # 1 on its way, 2 failed, 3 delivered
                return Delivery(
                    True,
                    None if status == 1 else status == 3,
                    d.get("BizId") or None,
                    str(d.get("ErrCode") or ""),
                )
        return Delivery(False)


def classify(data: dict[str, Any]) -> SendResult:
    code = str(data.get("Code") or "")
    message = str(data.get("Message") or "")[:200]
    if code == "OK":
        return SendResult("sent", provider_ref=str(data.get("BizId") or ""), code=code)
    if code in RATE_LIMITED:
        return SendResult("retry", code=code, error=message, retry_after=60)
    if code in TRANSIENT:
        return SendResult("retry", code=code, error=message, retry_after=10)
    return SendResult("failed", code=code, error=message)
