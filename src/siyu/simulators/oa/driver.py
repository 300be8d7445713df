"""People following and unfollowing the simulated official account, each act pushed to Siyu
as WeChat pushes it: event XML POSTed to the account's server URL, signed with the server
token (signature over token, timestamp and nonce), and in safe mode encrypted with the
EncodingAESKey and signed over the cipher text too (msg_signature)."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from siyu.simulators.oa import Fan, OfficialAccountSim
from siyu.wecom.connection.crypto import CallbackCrypto
from siyu.wecom.connection.crypto import signature as msg_signature


def signature(token: str, timestamp: str, nonce: str) -> str:
    """WeChat's push signature, written from WeChat's documentation, not taken from Siyu."""
    return hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()  # noqa: S324


def event_xml(fields: dict[str, Any]) -> bytes:
    parts = []
    for key, value in fields.items():
        if isinstance(value, int):
            parts.append(f"<{key}>{value}</{key}>")
        else:
            text = str(value).replace("]]>", "]]]]><![CDATA[>")
            parts.append(f"<{key}><![CDATA[{text}]]></{key}>")
    return ("<xml>" + "".join(parts) + "</xml>").encode()


@dataclass
class OaDriver:
    sim: OfficialAccountSim
    callback_url: str  # Siyu's /oa/callback/{appid}
    http: Any = field(default_factory=lambda: httpx.Client(timeout=10))
    gh_id: str = "gh_0000000000sim"  # the account's original id, WeChat's ToUserName
    sent: list[tuple[dict[str, Any], int]] = field(default_factory=list)

    def envelope(
        self, fields: dict[str, Any], timestamp: int | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """The body and query string WeChat would push for ``fields``."""
        sim = self.sim
        ts, nonce = str(timestamp or int(time.time())), secrets.token_hex(5)
        query = {
            "signature": signature(sim.server_token, ts, nonce),
            "timestamp": ts,
            "nonce": nonce,
            "openid": str(fields.get("FromUserName", "")),
        }
        plain = event_xml(fields)
        if not sim.safe_mode:
            return plain, query
        encrypt = CallbackCrypto(sim.server_token, sim.aes_key, sim.appid).encrypt(plain)
        body = (
            f"<xml><ToUserName><![CDATA[{self.gh_id}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
        ).encode()
        query["encrypt_type"] = "aes"
        query["msg_signature"] = msg_signature(sim.server_token, ts, nonce, encrypt)
        return body, query

    def post(self, fields: dict[str, Any]) -> Any:
        body, query = self.envelope(fields)
        resp = self.http.post(
            self.callback_url, params=query, content=body, headers={"Content-Type": "text/xml"}
        )
        self.sent.append((fields, resp.status_code))
        return resp

    def event(self, openid: str, event: str, **more: Any) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "ToUserName": self.gh_id,
            "FromUserName": openid,
            "CreateTime": int(self.sim.clock()),
            "MsgType": "event",
            "Event": event,
        }
        fields.update({k: v for k, v in more.items() if v is not None})
        return fields

    # -- people's acts ---------------------------------------------------------------------------
    def subscribe(
        self, openid: str | None = None, unionid: str | None = None, qr_scene: str = ""
    ) -> tuple[Fan, Any]:
        """Someone follows: by search, or by scanning a parametric QR code (``qr_scene``)."""
        scene = "ADD_SCENE_QR_CODE" if qr_scene else "ADD_SCENE_SEARCH"
        fan = self.sim.subscribe(openid, unionid, scene, qr_scene)
        more: dict[str, Any] = {}
        if qr_scene:
            more = {"EventKey": f"qrscene_{qr_scene}", "Ticket": secrets.token_urlsafe(24)}
        return fan, self.post(self.event(fan.openid, "subscribe", **more))

    def unsubscribe(self, openid: str) -> Any:
        self.sim.unsubscribe(openid)
        return self.post(self.event(openid, "unsubscribe", EventKey=""))

    def scan(self, openid: str, qr_scene: str) -> Any:
        """A follower scans a parametric QR code (no subscribe: they already follow)."""
        return self.post(
            self.event(openid, "SCAN", EventKey=qr_scene, Ticket=secrets.token_urlsafe(24))
        )
