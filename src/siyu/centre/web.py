"""What every member-centre page shares: the signed-in customer (from the ``siyu_member``
cookie, never a staff session), the check that a form came from the customer's own page (its
CSRF token), the device cookie, and rendering in the member centre's frame."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from siyu.centre.service import (
    DEVICE_COOKIE,
    MEMBER_COOKIE,
    SESSION_DAYS,
    Visitor,
    device_of,
    new_device,
    visitor,
)
from siyu.config import get_settings
from siyu.console.views import render
from siyu.untrusted import same_token
from siyu.webkit import SessionDep


def signed_in(request: Request, session: SessionDep) -> Visitor | None:
    """The page's customer (a dependency), None for anyone else: the page then answers
    ``to_sign_in()``."""
    return visitor(session, request.cookies.get(MEMBER_COOKIE))


def to_sign_in() -> Response:
    return RedirectResponse("/m/login", status_code=303)


def form_is_theirs(found: Visitor, token: str) -> bool:
    """Whether a form came from the customer's own page (its session's token)."""
    return len(token or "") <= 100 and same_token(token or "", found.csrf_token)


def device(request: Request) -> str | None:
    return device_of(get_settings().secret_key_bytes(), request.cookies.get(DEVICE_COOKIE))


def address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def set_cookie(request: Request, response: Response, name: str, value: str, seconds: int) -> None:
    """One of the member centre's cookies: HttpOnly, SameSite=Lax, under /m, Secure over HTTPS."""
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        max_age=seconds,
        path="/m",
    )


def page(request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    """A member-centre page; a visitor without a device cookie is given one."""
    response = render(request, name, status=status, **ctx)
    if device(request) is None:
        secret = get_settings().secret_key_bytes()
        set_cookie(request, response, DEVICE_COOKIE, new_device(secret), 400 * 86400)
    return response


def keep_session(request: Request, response: Response, token: str) -> Response:
    set_cookie(request, response, MEMBER_COOKIE, token, SESSION_DAYS * 86400)
    return response
