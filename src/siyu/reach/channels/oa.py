"""Official-account template messages (公众号模板消息): ``cgi-bin/message/template/send`` to a
follower's openid, with the approved template's id and its fields (``data.keyword1`` …).

WeChat allows template messages for service notices only (orders, bookings, membership
changes), not marketing, so a marketing campaign may not use this channel (checked when the
campaign is saved). A follower who has unfollowed cannot be reached (43004: failed for good).

The call carries ``client_msg_id`` (the ledger row): WeChat sends one message per openid and
client_msg_id within ten minutes. A lost answer is therefore asked again at once with the same
id; if that answer is lost too, the row is ambiguous and waits for an operator (WeChat has no
query for a message by that id). The access token is the account's, shared with the follower
sync (``siyu.oa.client``): kept until shortly before it expires, fetched again once when
WeChat calls it invalid.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from siyu.oa.client import TRANSIENT, OaClient, TokenError
from siyu.reach.channels.base import Delivery, Outgoing, SendResult

FOLLOWER_GONE = {43004: "not_following", 40003: "invalid_openid", 43101: "refused"}


@dataclass
class OfficialAccount:
    appid: str
    secret: str
    base_url: str = "https://api.weixin.qq.com"
    timeout: float = 10.0
    transport: httpx.BaseTransport | None = None

    name = "oa"
    reconcilable = False
    absence_proves_unsent = False

    def __post_init__(self) -> None:
        self.api = OaClient(
            self.appid,
            self.secret,
            self.base_url,
            timeout=self.timeout,
            transport=self.transport,
        )

    @property
    def _http(self) -> httpx.Client:
        return self.api.http

    def close(self) -> None:
        self.api.close()

    def token(self, *, fresh: bool = False) -> str:
        return self.api.token(fresh=fresh)

    def send(self, message: Outgoing) -> SendResult:
        """One template message to one follower; ``message.ref`` is its client_msg_id."""
        body: dict[str, Any] = {
            "touser": message.address,
            "template_id": str(message.template.get("template_id") or ""),
            "data": {
                k.removeprefix("data."): {"value": v}
                for k, v in message.parts.items()
                if k.startswith("data.")
            },
            "client_msg_id": message.ref,
        }
        if message.template.get("url"):
            body["url"] = str(message.template["url"])
        try:
            data = self._post(body)
        except TokenError as exc:
            return SendResult("retry", code="token", error=str(exc)[:200], retry_after=600)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            return SendResult("retry", code="network", error=str(exc)[:200], retry_after=30)
        except (httpx.HTTPError, ValueError):
            try:  # the same client_msg_id again: WeChat sends it at most once
                data = self._post(body)
            except (httpx.HTTPError, ValueError, TokenError) as exc:
                return SendResult("ambiguous", code="unanswered", error=str(exc)[:200])
        return classify(data)

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.api.call("POST", "/cgi-bin/message/template/send", json=body)

    def delivery(self, address: str, ref: str, since: datetime) -> Delivery:
        return Delivery(False)  # WeChat pushes TEMPLATESENDJOBFINISH; it cannot be asked


def classify(data: dict[str, Any]) -> SendResult:
    code = int(data.get("errcode") or 0)
    message = str(data.get("errmsg") or "")[:200]
    if code == 0:
        return SendResult("sent", provider_ref=str(data.get("msgid") or ""), code="ok")
    if code in FOLLOWER_GONE:
        return SendResult("failed", code=FOLLOWER_GONE[code], error=message)
    if code in TRANSIENT:
        return SendResult("retry", code=str(code), error=message, retry_after=TRANSIENT[code])
    return SendResult("failed", code=f"oa:{code}", error=message)
