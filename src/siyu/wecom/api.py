"""WeCom's callback URL (`/wecom/callback/{corp_id}`) and the WeCom status API.

The callback endpoint authenticates by WeCom's signature, not by login. It answers within
milliseconds: verify, decrypt, store in the inbox, reply ``success``; the worker does the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import PlainTextResponse
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.accounts.permissions import Perm
from siyu.config import get_settings
from siyu.webkit import db_session, require
from siyu.wecom import inbox, queries
from siyu.wecom.crypto import CallbackRejected
from siyu.wecom.service import corp_keys

log = logging.getLogger("siyu.wecom.callback")
router = APIRouter(tags=["wecom"])

STATUS_OF = {
    "too_large": 413,
    "bad_signature": 403,
    "bad_corp": 403,
    "stale_timestamp": 403,
    "replayed": 403,
}
REJECTED: Counter[str] = Counter()
_last_log: dict[str, float] = {}


def _reject(exc: CallbackRejected) -> HTTPException:
    """Count and log (at most once a second per reason: a flood must not flood the log too)."""
    REJECTED[exc.reason] += 1
    now = time.monotonic()
    if now - _last_log.get(exc.reason, 0) > 1:
        _last_log[exc.reason] = now
        log.warning("wecom callback rejected: %s (%d so far)", exc, REJECTED[exc.reason])
    return HTTPException(STATUS_OF.get(exc.reason, 400), f"callback rejected: {exc.reason}")


async def _body(request: Request, cap: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > cap:
        raise CallbackRejected("too_large", f"over {cap} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise CallbackRejected("too_large", f"over {cap} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@router.get("/wecom/callback/{corp_id}", response_class=PlainTextResponse, include_in_schema=False)
async def verify_url(corp_id: str, request: Request) -> PlainTextResponse:
    """WeCom's URL check when the callback is configured: answer the decrypted echostr."""
    keys = corp_keys(corp_id)
    if keys is None:
        raise HTTPException(404, "unknown corp")
    q = request.query_params
    try:
        inbox.check_time(q.get("timestamp", ""), get_settings())
        plain = keys.crypto.verify_url(
            q.get("msg_signature", ""),
            q.get("timestamp", ""),
            q.get("nonce", ""),
            q.get("echostr", ""),
        )
    except CallbackRejected as exc:
        raise _reject(exc) from None
    return PlainTextResponse(plain.decode("utf-8", "replace"))


@router.post("/wecom/callback/{corp_id}", response_class=PlainTextResponse, include_in_schema=False)
async def receive(corp_id: str, request: Request) -> PlainTextResponse:
    """An encrypted event: stored in the inbox before the answer, processed by the worker."""
    settings = get_settings()
    keys = corp_keys(corp_id)
    if keys is None:
        raise HTTPException(404, "unknown corp")
    query = dict(request.query_params)
    try:
        body = await _body(request, settings.wecom_callback_max_bytes)
        incoming = inbox.open_callback(keys, query, body, settings)
    except CallbackRejected as exc:
        raise _reject(exc) from None
    # IntegrityError: the same event stored by another process at the same moment (a duplicate)
    with contextlib.suppress(IntegrityError):
        await asyncio.wrap_future(inbox.store(incoming))
    inbox.remember(query, settings)
    return PlainTextResponse("success")


@router.get("/api/v1/wecom/status")
def wecom_status(
    session: Session = Depends(db_session),
    _who: Any = Depends(require(Perm.customers_read)),
) -> dict[str, Any]:
    """Per connected corp: the last sync and its position or error, the inbox backlog and
    failures, and the last hour's API errors by errcode. Failures are shown, never hidden."""
    return {"corps": queries.status(session), "rejected_callbacks": dict(REJECTED)}
