"""The funnels page: the brand's own funnels (AARRR until one is saved), each step an action
within some days of a customer's first day. Thin: permission, CSRF, the funnel service."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from siyu.console.views import console_user, csrf_ok, denied_page, page_for, render
from siyu.console.words import in_words
from siyu.i18n import _
from siyu.metrics import METRICS_READ, METRICS_WRITE
from siyu.metrics.funnels.service import (
    AARRR,
    KINDS,
    MAX_STEPS,
    FunnelError,
    delete_funnel,
    funnels,
    save_funnel,
)
from siyu.untrusted import NotANumber, number
from siyu.webkit import Id, SessionDep

router = APIRouter(include_in_schema=False)
Ctx = dict[str, Any]


def _page(
    request: Request, ctx: Ctx, session: Session, *, error: str | None = None, status: int = 200
) -> HTMLResponse:
    return render(
        request,
        "funnels.html",
        status=status,
        ctx=ctx,
        funnels=funnels(session),
        aarrr=AARRR,
        kinds=KINDS,
        rows=MAX_STEPS,
        error=error,
    )


@router.get("/dashboard/funnels")
def funnels_page(
    session: SessionDep,
    request: Request,
    ctx: Ctx = Depends(page_for(METRICS_READ)),
) -> HTMLResponse:
    """The saved funnels with their steps, a form for each and one for a new funnel."""
    return _page(request, ctx, session)


def _steps(form: Any) -> list[dict[str, Any]]:
    """The form's step rows in order; a row without a name is left out."""
    out = []
    for i in range(MAX_STEPS):
        label = str(form.get(f"label_{i}", "")).strip()
        if not label:
            continue
        out.append(
            {
                "label": label,
                "kind": str(form.get(f"kind_{i}", "")),
                "event": str(form.get(f"event_{i}", "")),
                "from_day": str(form.get(f"from_{i}", "") or "0"),
                "to_day": str(form.get(f"to_{i}", "") or "30"),
                "times": str(form.get(f"times_{i}", "") or "1"),
            }
        )
    return out


async def _posted(request: Request, ctx: Ctx, session: Session) -> Any:
    """The posted form, or the answer instead of it: 403 without metrics:write, the page with
    the reason on a stale CSRF token."""
    if denied := denied_page(request, ctx, METRICS_WRITE):
        return denied
    form = await request.form()
    if not csrf_ok(ctx, str(form.get("csrf", ""))):
        csrf = _("This page has expired; reload and try again.")
        return _page(request, ctx, session, error=csrf, status=400)
    return form


@router.post("/dashboard/funnels")
async def save_funnel_form(
    session: SessionDep,
    request: Request,
    ctx: Ctx = Depends(console_user),
) -> Response:
    """Create a funnel, or change the one named by ``funnel_id``; a refusal re-shows the page
    with the reason and nothing stored changes."""
    form = await _posted(request, ctx, session)
    if isinstance(form, Response):
        return form
    raw_id = str(form.get("funnel_id", ""))
    try:
        row = save_funnel(
            session,
            str(form.get("name", "")),
            _steps(form),
            actor=ctx["principal"].actor,
            funnel_id=number(raw_id, least=1) if raw_id.strip() else None,
        )
        session.commit()
    except (FunnelError, NotANumber) as exc:
        session.rollback()
        return _page(request, ctx, session, error=in_words(request, exc), status=422)
    return RedirectResponse(f"/dashboard?funnel={row.id}#funnel", status_code=303)


@router.post("/dashboard/funnels/{funnel_id}/delete")
async def delete_funnel_form(
    session: SessionDep,
    request: Request,
    funnel_id: Id,
    ctx: Ctx = Depends(console_user),
) -> Response:
    form = await _posted(request, ctx, session)
    if isinstance(form, Response):
        return form
    try:
        delete_funnel(session, funnel_id, actor=ctx["principal"].actor)
        session.commit()
    except FunnelError as exc:
        session.rollback()
        return _page(request, ctx, session, error=in_words(request, exc), status=exc.status)
    return RedirectResponse("/dashboard/funnels", status_code=303)
