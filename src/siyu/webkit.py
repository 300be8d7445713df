"""What every HTTP entry point shares: the session, who is calling, permission and CSRF checks."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from pydantic import Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from siyu.accounts.permissions import Perm
from siyu.accounts.service import (
    Principal,
    principal_for_api_key,
    principal_for_user,
    session_user,
)
from siyu.config import get_settings
from siyu.db import new_session, session_scope
from siyu.refusals import Refusal

SESSION_COOKIE = "siyu_session"
access_log = logging.getLogger("siyu.access")

# Every integer an entry point takes is bounded (tests/unit/test_api_bounds.py walks the schema
# for one that is not), so a number beyond what the database holds is answered 422 before a
# query is made, never a 500 from the driver. Row ids are INTEGER on PostgreSQL; the send
# ledger's are BIGINT.
ID_MAX = 2**31 - 1
BIG_ID_MAX = 2**63 - 1
Id = Annotated[int, Field(ge=1, le=ID_MAX)]
BigId = Annotated[int, Field(ge=1, le=BIG_ID_MAX)]
Page = Annotated[int, Field(ge=1, le=100_000)]


def db_session() -> Iterator[Session]:
    """A request's unit of work (see ``db.session_scope``). Use it with
    ``Depends(db_session, scope="function")`` so it commits *before* the response leaves: a
    browser following the login redirect must find the new session already stored."""
    with session_scope() as session:
        yield session


class NotAuthenticated(HTTPException):
    def __init__(self) -> None:
        super().__init__(
            401, "authentication required: an API key (Authorization: Bearer …) or a console login"
        )


class Refused(HTTPException):
    """A service's refusal answered over HTTP, said in the language the request asks for
    (``answer_refused``); ``exc`` may be any exception, a refusal is translated."""

    def __init__(self, status: int, exc: BaseException) -> None:
        super().__init__(status, str(exc))
        self.refusal = exc


def asked_language(header: str | None) -> str:
    """``zh-CN`` when the Accept-Language header prefers Chinese, ``en`` otherwise (also when
    there is none: scripts keep the English the API has always answered)."""
    best, best_q = "en", 0.0
    for part in (header or "").split(","):
        tag, _sep, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and q > best_q:
            best, best_q = ("zh-CN" if tag.lower().startswith("zh") else "en"), q
    return best


async def answer_refused(request: Request, exc: Refused) -> JSONResponse:
    """The exception handler for ``Refused``: the console's segment builder sends its page's
    language, so the reasons it shows are in the reader's language."""
    from siyu.console.words import said_in

    lang = asked_language(request.headers.get("accept-language"))
    why = exc.refusal
    detail = why.detail(lambda e: said_in(lang, e)) if isinstance(why, Refusal) else str(why)
    return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)


_key_cache: dict[str, tuple[float, Principal | None]] = {}
KEY_CACHE_SECONDS = 5.0


def forget_cached_keys() -> None:
    """After a revocation: this process checks every key again at once (others within
    ``KEY_CACHE_SECONDS``)."""
    _key_cache.clear()


def _cached_key(presented: str) -> tuple[bool, Principal | None]:
    """(found, principal) from the cache of recently checked API keys."""
    hit = _key_cache.get(presented)
    if hit and time.monotonic() - hit[0] < KEY_CACHE_SECONDS:
        return True, hit[1]
    return False, None


def _api_key_principal(presented: str) -> Principal | None:
    """API keys are checked against the database at most every few seconds per key, so the
    ingest path does not pay a query per request; revocation takes effect within that time."""
    now = time.monotonic()
    session = new_session()
    try:
        principal = principal_for_api_key(session, presented)
    finally:
        session.close()
    if len(_key_cache) > 1000:
        _key_cache.clear()
    _key_cache[presented] = (now, principal)
    return principal


def _cookie_principal(token: str | None, method: str, sent_csrf: str) -> tuple[Principal, str]:
    session = new_session()
    try:
        found = session_user(session, token)
        if found is None:
            raise NotAuthenticated()
        user, login = found
        if method not in ("GET", "HEAD", "OPTIONS") and not secrets.compare_digest(
            sent_csrf, login.csrf_token
        ):
            raise HTTPException(403, "CSRF token missing or wrong (send X-CSRF-Token)")
        return principal_for_user(user), login.csrf_token
    finally:
        session.close()


async def current_principal(request: Request) -> Principal:
    """Who is calling: an API key (Bearer) or a console login (cookie + CSRF header on writes).
    Async, so a cached API key costs no thread hop on the ingest path."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        presented = auth[7:].strip()
        found, principal = _cached_key(presented)
        if not found:
            principal = await run_in_threadpool(_api_key_principal, presented)
        if principal is None:
            raise HTTPException(401, "invalid or revoked API key")
        return principal
    user_principal, csrf = await run_in_threadpool(
        _cookie_principal,
        request.cookies.get(SESSION_COOKIE),
        request.method,
        request.headers.get("x-csrf-token", ""),
    )
    request.state.csrf_token = csrf
    return user_principal


def require(perm: Perm) -> Callable[..., Awaitable[Principal]]:
    async def check(principal: Principal = Depends(current_principal)) -> Principal:
        if not principal.can(perm):
            raise HTTPException(403, f"permission {perm.value} required")
        return principal

    return check


class BodyLimit:
    """Refuse bodies over the limit before reading them (Content-Length or streamed count)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.limit = get_settings().request_max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await JSONResponse({"detail": f"request body over {self.limit} bytes"}, 413)(
                scope, receive, send
            )
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise HTTPException(413, f"request body over {self.limit} bytes")
            return message

        await self.app(scope, counted, send)


class SecurityHeaders:
    """Headers every response carries; the access log omits query strings (they may hold
    phones). Plain ASGI, so it costs next to nothing per request."""

    HEADERS = (
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"same-origin"),
    )

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 0

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), *self.HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)
        if access_log.isEnabledFor(logging.INFO):
            access_log.info(
                "%s %s %s %.1fms",
                scope["method"],
                scope["path"],
                status,
                (time.perf_counter() - start) * 1000,
            )
