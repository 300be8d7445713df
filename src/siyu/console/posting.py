"""A console form's post, from its CSRF token to the commit, shared by the capabilities' pages:
the action makes the change and says where to go next; a refusal is rolled back and the page is
shown again with what was typed and why (never a half-made change). ``page_for`` has checked
the permission before any of this runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from siyu.console.views import csrf_ok
from siyu.console.words import in_words
from siyu.i18n import _
from siyu.refusals import Refusal

FIELDS_MOST = 200  # fields of one post read; the rest are not looked at
CHARS_MOST = 20_000  # characters of one value kept (a builder's lines are the longest)


class Shown(NamedTuple):
    """A form shown again: what was typed, why it was refused, the answer's status."""

    form: dict[str, str]
    error: str
    status: int


async def posted(request: Request, chars: int = CHARS_MOST) -> dict[str, str]:
    """The post's fields, each trimmed and cut to ``chars`` characters."""
    raw = await request.form()
    return {k[:60]: str(v).strip()[:chars] for k, v in list(raw.items())[:FIELDS_MOST]}


def expired(form: dict[str, str]) -> Shown:
    return Shown(form, _("This page has expired; reload it and try again."), 403)


async def submit(
    request: Request,
    ctx: dict[str, Any],
    session: Session,
    act: Callable[[dict[str, str]], str],
    chars: int = CHARS_MOST,
) -> Response | Shown:
    """Check the CSRF token, run ``act`` (it returns where to go next), commit and redirect;
    or roll back and say what to show again."""
    form = await posted(request, chars)
    if not csrf_ok(ctx, form.get("csrf", "")):
        return expired(form)
    try:
        then = act(form)
    except Refusal as exc:
        session.rollback()
        return Shown(form, in_words(request, exc), exc.status)
    session.commit()
    return RedirectResponse(then, status_code=303)
