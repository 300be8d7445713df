"""What every HTTP entry point shares: the session, who is calling, permission and CSRF checks."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated
from urllib.parse import unquote_to_bytes, urlsplit

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BeforeValidator, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from siyu import runtime
from siyu.accounts.service import (
    Principal,
    principal_for_api_key,
    principal_for_user,
    session_user,
)
from siyu.capability import Permission
from siyu.config import get_settings
from siyu.db import new_session, session_scope
from siyu.i18n import console_language, language, speaking
from siyu.refusals import Refusal
from siyu.untrusted import BIG_ID_MAX, ID_MAX, same_token

SESSION_COOKIE = "siyu_session"
access_log = logging.getLogger("siyu.access")
security_log = logging.getLogger("siyu.security")

# Every integer an entry point takes is bounded (tests/unit/test_api_bounds.py walks the schema
# for one that is not), so a number beyond what the database holds is answered 422 before a
# query is made, never a 500 from the driver (the bounds: ``siyu.untrusted``).


def _not_a_truth_value(value: object) -> object:
    """``true`` is 1 to Python and to pydantic's lax ints; as an id it is a client's mistake
    (or a probe), never the first customer."""
    if isinstance(value, bool):
        raise ValueError("a number is expected, not true or false")
    return value


Id = Annotated[int, Field(ge=1, le=ID_MAX), BeforeValidator(_not_a_truth_value)]
BigId = Annotated[int, Field(ge=1, le=BIG_ID_MAX), BeforeValidator(_not_a_truth_value)]
Page = Annotated[int, Field(ge=1, le=100_000)]


def db_session() -> Iterator[Session]:
    """A request's unit of work (see ``db.session_scope``); routes take it as ``SessionDep``.
    A refusal that ``keeps_writes`` (a refused look-up's audit entry) commits them first."""
    with session_scope() as session:
        try:
            yield session
        except Refusal as exc:
            if exc.keeps_writes:
                session.commit()
            raise


SessionDep = Annotated[Session, Depends(db_session, scope="function")]
"""The session every route takes: its unit of work commits before the response is sent, so a
failed commit is answered as an error, never as the success it would have been."""


class NotAuthenticated(HTTPException):
    def __init__(self) -> None:
        super().__init__(
            401, "authentication required: an API key (Authorization: Bearer …) or a console login"
        )


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


class ReadersLanguage:
    """Each request is answered in its reader's language (``siyu.i18n.speaking``): the API in
    the one ``Accept-Language`` asks for (English when none), the console in its cookie's."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith("/api/"):
            header = next((v for k, v in scope["headers"] if k == b"accept-language"), None)
            lang = asked_language(None if header is None else header.decode("latin-1"))
        else:
            lang = console_language(HTTPConnection(scope))
        if lang == language():  # the API's English, mostly: already spoken, nothing to set
            await self.app(scope, receive, send)
            return
        with speaking(lang):
            await self.app(scope, receive, send)


async def answer_refusal(request: Request, exc: Exception) -> JSONResponse:
    """The one answer to a service's refusal: its class's status, ``{"detail": …}`` said in
    the language the request asks for (``Accept-Language``; the console's segment builder
    sends its page's), so routes never catch a refusal themselves."""
    from siyu.console.words import said_in

    assert isinstance(exc, Refusal)
    if request.url.path.startswith("/api/"):
        lang = asked_language(request.headers.get("accept-language"))
    else:
        lang = console_language(request)
    detail = exc.detail(lambda e: said_in(lang, e))
    return JSONResponse({"detail": detail}, status_code=exc.status)


_key_cache: dict[str, tuple[float, Principal | None]] = {}
KEY_CACHE_SECONDS = 5.0


def forget_cached_keys() -> None:
    """After a revocation: this process checks every key again at once (others within
    ``KEY_CACHE_SECONDS``)."""
    _key_cache.clear()


runtime.forgets("webkit.api_keys", forget_cached_keys)


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
        if method not in ("GET", "HEAD", "OPTIONS") and not same_token(sent_csrf, login.csrf_token):
            raise HTTPException(403, "CSRF token missing or wrong (send X-CSRF-Token)")
        return principal_for_user(user), login.csrf_token
    finally:
        session.close()


# Declares the API key in the OpenAPI document (so the docs' "Authorize" button sends it); it
# never refuses by itself: ``current_principal`` reads the header and decides, as it always did.
API_KEY = HTTPBearer(
    scheme_name="APIKey",
    description="An API key: `Authorization: Bearer <key>` (create one with `siyu apikey create`).",
    auto_error=False,
)


async def current_principal(
    request: Request,
    _declared: HTTPAuthorizationCredentials | None = Security(API_KEY),
) -> Principal:
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


def posted_from_elsewhere(request: Request) -> bool:
    """True when the browser says a form came from another site: ``Sec-Fetch-Site:
    cross-site``, or an Origin (else a Referer) whose host name is neither the one asked for
    nor the configured public address's. ``Origin: null`` (a sandboxed frame, a privacy
    redirect) counts as elsewhere. A request with neither header (a script, an old client) is
    not judged here. Host names are compared without ports, as cookies are scoped: a proxy's
    ``Host $host`` drops a non-default port the browser's Origin keeps.

    For the forms that come before a session and its CSRF token exists, chiefly the login: a
    page elsewhere could otherwise log a visitor into an account of its choosing, and what they
    then type (a customer's consent, an import) would land in that account."""
    if request.headers.get("sec-fetch-site", "").lower() == "cross-site":
        return True
    source = request.headers.get("origin") or request.headers.get("referer")
    if source is None:
        return False
    came = _host_name(source)
    ours = {
        _host_name(f"//{request.headers.get('host', '')}"),
        _host_name(get_settings().public_url),
    }
    if came is not None and came in ours:
        return False
    security_log.warning(  # so an operator locked out after a proxy change can see why
        "a login form from %r refused: this server is %r (Host, SIYU_PUBLIC_URL)",
        came,
        sorted(h for h in ours if h),
    )
    return True


def _host_name(url: str) -> str | None:
    """The host name of a URL (``//host:port`` too), lower case, without a trailing dot."""
    try:
        name = urlsplit(url).hostname
    except ValueError:
        return None
    return (name or "").rstrip(".") or None


def require(perm: Permission) -> Callable[..., Awaitable[Principal]]:
    async def check(principal: Principal = Depends(current_principal)) -> Principal:
        if not principal.can(perm):
            raise HTTPException(403, f"permission {perm} required")
        return principal

    return check


class BodyLimit:
    """Refuse bodies over the limit before reading them (Content-Length or streamed count).

    ``wider``: paths with a limit of their own (the import page's upload, which counts its
    stream itself and answers in the page's words); here they only have a backstop."""

    def __init__(self, app: ASGIApp, wider: dict[str, int] | None = None) -> None:
        self.app = app
        self.limit = get_settings().request_max_bytes
        self.wider = wider or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.wider.get(scope["path"], self.limit)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await JSONResponse({"detail": f"request body over {limit} bytes"}, 413)(
                scope, receive, send
            )
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise HTTPException(413, f"request body over {limit} bytes")
            return message

        await self.app(scope, counted, send)


# The console's Content-Security-Policy: scripts only from Siyu's own /static files (no inline
# code, no on*= handlers, no javascript: URLs), so markup slipped into a page cannot run.
# Style elements come from /static too; style *attributes* are allowed, because ECharts and
# Swagger UI position and colour their tooltips and panels with them and an attribute cannot
# load anything that img-src/font-src do not allow.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "style-src-attr 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ]
)


class SecurityHeaders:
    """Headers every response carries; the access log omits query strings (they may hold
    phones). Plain ASGI, so it costs next to nothing per request.

    Every answer but the static files is ``Cache-Control: no-store`` unless it says otherwise:
    console pages, exports and API answers show customers' personal data, and a shared or
    stolen computer's cache must not keep them."""

    HEADERS = (
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"same-origin"),
        (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    )
    NO_STORE = (b"cache-control", b"no-store")

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 0
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", []), *self.HEADERS]
                if not static and not any(k.lower() == b"cache-control" for k, _v in headers):
                    headers.append(self.NO_STORE)
                message["headers"] = headers
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


class BlankQueryMeansAbsent:
    """An empty query value (``?brand=&store=``, as a filter form with "all" chosen sends it)
    means the parameter was not given, on every route: it is dropped before routing, so an
    optional number answers "all" rather than 422 and a text filter sees its default. Only
    blanks go (``brand=``, ``brand``, spaces alone); every other pair is kept as it came."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query: bytes = scope.get("query_string", b"") if scope["type"] == "http" else b""
        if query:
            pairs = query.split(b"&")
            kept = [p for p in pairs if not _blank(p)]
            if len(kept) != len(pairs):
                scope = {**scope, "query_string": b"&".join(kept)}
        await self.app(scope, receive, send)


def _blank(pair: bytes) -> bool:
    _key, _sep, value = pair.partition(b"=")
    return not unquote_to_bytes(value.replace(b"+", b" ")).strip()
