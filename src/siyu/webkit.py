"""What every HTTP entry point shares: the session, who is calling, permission and CSRF checks."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from siyu.accounts.permissions import Perm
from siyu.accounts.service import (
    Principal,
    principal_for_api_key,
    principal_for_user,
    session_user,
)
from siyu.config import get_settings
from siyu.db import new_session

SESSION_COOKIE = "siyu_session"
access_log = logging.getLogger("siyu.access")


def db_session() -> Iterator[Session]:
    session = new_session()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


class NotAuthenticated(HTTPException):
    def __init__(self) -> None:
        super().__init__(
            401, "authentication required: an API key (Authorization: Bearer …) or a console login"
        )


_key_cache: dict[str, tuple[float, Principal | None]] = {}
KEY_CACHE_SECONDS = 5.0


def _api_key_principal(session: Session, presented: str) -> Principal | None:
    """API keys are checked against the database at most every few seconds per key, so the
    ingest path does not pay a query per request; revocation takes effect within that time."""
    now = time.monotonic()
    hit = _key_cache.get(presented)
    if hit and now - hit[0] < KEY_CACHE_SECONDS:
        return hit[1]
    principal = principal_for_api_key(session, presented)
    if len(_key_cache) > 1000:
        _key_cache.clear()
    _key_cache[presented] = (now, principal)
    return principal


def current_principal(request: Request, session: Session = Depends(db_session)) -> Principal:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        principal = _api_key_principal(session, auth[7:].strip())
        if principal is None:
            raise HTTPException(401, "invalid or revoked API key")
        return principal
    found = session_user(session, request.cookies.get(SESSION_COOKIE))
    if found is None:
        raise NotAuthenticated()
    user, login = found
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        sent = request.headers.get("x-csrf-token", "")
        if not secrets.compare_digest(sent, login.csrf_token):
            raise HTTPException(403, "CSRF token missing or wrong (send X-CSRF-Token)")
    request.state.csrf_token = login.csrf_token
    return principal_for_user(user)


def require(perm: Perm) -> Callable[..., Principal]:
    def check(principal: Principal = Depends(current_principal)) -> Principal:
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


class SecurityHeaders(BaseHTTPMiddleware):
    """Headers every response carries; the access log omits query strings (they may hold phones)."""

    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        start = time.perf_counter()
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        access_log.info(
            "%s %s %s %.1fms",
            request.method,
            request.url.path,
            response.status_code,
            (time.perf_counter() - start) * 1000,
        )
        return response
