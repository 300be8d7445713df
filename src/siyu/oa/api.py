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
from typing import ClassVar

from sqlalchemy.exc import IntegrityError
from starlette.types import Receive, Scope

from siyu.config import get_settings
from siyu.oa import inbox
from siyu.wecom.callbacks.endpoint import CallbackEndpointBase, read_body

MAX_BODY = 64 * 1024  # an event push is well under 2 KB


class OaCallbackEndpoint(CallbackEndpointBase):
    PREFIX = "/oa/callback/"
    STATUS_OF: ClassVar[dict[str, int]] = {**CallbackEndpointBase.STATUS_OF, "plain_refused": 403}
    log = logging.getLogger("siyu.oa.callback")

    async def handle(
        self, scope: Scope, receive: Receive, appid: str, query: dict[str, str]
    ) -> tuple[int, str]:
        settings = get_settings()
        if not settings.oa_token or appid != settings.oa_appid:
            return 404, "unknown official account"
        if scope["method"] == "GET":  # WeChat's URL check: the echostr back, as it came
            inbox.check_signature(settings.oa_token, query, settings)
            return 200, query.get("echostr", "")[:200]
        signed = inbox.check_signature(settings.oa_token, query, settings)  # before the body
        body = await read_body(scope, receive, MAX_BODY)
        push = inbox.open_push(appid, query, body, settings, signed)
        if push is not None:
            # IntegrityError: the same push stored by another process at the same moment
            with contextlib.suppress(IntegrityError):
                await asyncio.wrap_future(inbox.store(push))
        inbox.remember(query, settings)
        return 200, "success"
