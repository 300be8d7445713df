"""The official account's server URL (服务器地址): ``/oa/callback/{appid}``.

Plain ASGI in front of the application, like WeCom's callback URL: it authenticates by
WeChat's signature, not by login, needs no routing or validation models, and stays cheap when
flooded. GET is WeChat's URL check (the echostr back when the signature holds); POST is an event
push, answered "success" once stored (WeChat waits 5 s and retries three times).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from urllib.parse import parse_qsl

from sqlalchemy.exc import IntegrityError
from starlette.types import ASGIApp, Receive, Scope, Send

from siyu.config import get_settings
from siyu.oa import inbox
from siyu.wecom.crypto import CallbackRejected

log = logging.getLogger("siyu.oa.callback")
MAX_BODY = 64 * 1024  # an event push is well under 2 KB
STATUS_OF = {
    "too_large": 413,
    "bad_signature": 403,
    "bad_corp": 403,  # the decrypted push names another appid
    "stale_timestamp": 403,
    "plain_refused": 403,
}
REJECTED: Counter[str] = Counter()
_last_log: dict[str, float] = {}


def _reject(exc: CallbackRejected) -> tuple[int, str]:
    """Count and log (at most once a second per reason: a flood must not flood the log too)."""
    REJECTED[exc.reason] += 1
    now = time.monotonic()
    if now - _last_log.get(exc.reason, 0) > 1:
        _last_log[exc.reason] = now
        log.warning("oa push rejected: %s (%d so far)", exc, REJECTED[exc.reason])
    return STATUS_OF.get(exc.reason, 400), f"callback rejected: {exc.reason}"


class OaCallbackEndpoint:
    PREFIX = "/oa/callback/"

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith(self.PREFIX) or scope["method"] not in ("GET", "POST"):
            await self.app(scope, receive, send)
            return
        appid = path[len(self.PREFIX) :]
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        try:
            status, text = await self._handle(scope, receive, appid, query)
        except CallbackRejected as exc:
            status, text = _reject(exc)
        body = text.encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _handle(
        self, scope: Scope, receive: Receive, appid: str, query: dict[str, str]
    ) -> tuple[int, str]:
        settings = get_settings()
        if not settings.oa_token or appid != settings.oa_appid:
            return 404, "unknown official account"
        if scope["method"] == "GET":  # WeChat's URL check: the echostr back, as it came
            inbox.check_signature(settings.oa_token, query, settings)
            return 200, query.get("echostr", "")[:200]
        signed = inbox.check_signature(settings.oa_token, query, settings)  # before the body
        body = await _read_body(scope, receive, MAX_BODY)
        push = inbox.open_push(appid, query, body, settings, signed)
        if push is not None:
            # IntegrityError: the same push stored by another process at the same moment
            with contextlib.suppress(IntegrityError):
                await asyncio.wrap_future(inbox.store(push))
        inbox.remember(query, settings)
        return 200, "success"


async def _read_body(scope: Scope, receive: Receive, cap: int) -> bytes:
    for name, value in scope.get("headers") or []:
        if name == b"content-length" and value.isdigit() and int(value) > cap:
            raise CallbackRejected("too_large", f"over {cap} bytes")
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise CallbackRejected("disconnected")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > cap:
            raise CallbackRejected("too_large", f"over {cap} bytes")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)
