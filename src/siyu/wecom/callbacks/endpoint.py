"""A WeChat-family callback URL (WeCom's ``/wecom/callback/{corp}``, the official account's
``/oa/callback/{appid}``) as plain ASGI in front of the whole application.

Such a URL authenticates by the platform's signature, not by login, needs no routing,
middleware, dependency injection or validation models, and must stay cheap when flooded: an
invalid callback costs little more than reading it. A subclass says its path prefix and
answers one request in ``handle``; this class routes, reads bodies within a cap, counts and
logs refusals (at most once a second per reason, so a flood does not flood the log too) and
writes the plain-text answer. Everything else passes straight through to the application.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import ClassVar
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from siyu.wecom.connection.crypto import CallbackRejected


class CallbackEndpointBase:
    PREFIX: ClassVar[str]
    STATUS_OF: ClassVar[dict[str, int]] = {
        "too_large": 413,
        "bad_signature": 403,
        "bad_corp": 403,
        "stale_timestamp": 403,
    }
    REJECTED: ClassVar[Counter[str]]  # refusals by reason since start, for the status page
    log: ClassVar[logging.Logger]
    _last_log: ClassVar[dict[str, float]]

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        cls.REJECTED = Counter()
        cls._last_log = {}

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith(self.PREFIX) or scope["method"] not in ("GET", "POST"):
            await self.app(scope, receive, send)
            return
        key = path[len(self.PREFIX) :]
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        try:
            status, text = await self.handle(scope, receive, key, query)
        except CallbackRejected as exc:
            status, text = self._reject(exc)
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

    async def handle(
        self, scope: Scope, receive: Receive, key: str, query: dict[str, str]
    ) -> tuple[int, str]:
        """The status and text answering one callback to ``PREFIX + key``."""
        raise NotImplementedError

    def _reject(self, exc: CallbackRejected) -> tuple[int, str]:
        cls = type(self)
        cls.REJECTED[exc.reason] += 1
        now = time.monotonic()
        if now - cls._last_log.get(exc.reason, 0) > 1:
            cls._last_log[exc.reason] = now
            cls.log.warning("callback rejected: %s (%d so far)", exc, cls.REJECTED[exc.reason])
        return self.STATUS_OF.get(exc.reason, 400), f"callback rejected: {exc.reason}"


async def read_body(scope: Scope, receive: Receive, cap: int) -> bytes:
    """The request body, refused (``too_large``) past ``cap`` bytes, declared or streamed."""
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
