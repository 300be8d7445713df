"""The console's forms pages: the list with a new form, one form's builder (its fields as
lines an operator types), its status, its answers with the consent evidence and, for a
survey, its NPS. Thin: the lines are parsed here, every rule is the service's."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from siyu.accounts.service import record_audit
from siyu.console.posting import Shown, submit
from siyu.console.views import page_for, render
from siyu.customers import CUSTOMERS_UNMASK
from siyu.growth import GROWTH_MANAGE
from siyu.growth.forms import nps, queries, service
from siyu.growth.forms.fields import FormRefused
from siyu.growth.forms.models import Form
from siyu.i18n import N_, _
from siyu.refusals import Refusal
from siyu.untrusted import whole_number
from siyu.webkit import SessionDep

router = APIRouter(include_in_schema=False)
Ctx = dict[str, Any]
PAGE = 50
DONE = {"saved": N_("Form saved."), "status": N_("Status changed.")}


def field_lines(text: str) -> list[dict[str, Any]]:
    """Fields typed one a line: ``kind | label | required | options or consent text |
    version``. A choice's options are split on commas (、，,); ``multi`` is a choice of
    several."""
    out: list[dict[str, Any]] = []
    for n, line in enumerate(text.splitlines()[:40], 1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split("|")]
        parts += [""] * (5 - len(parts))
        kind = parts[0].lower()
        field: dict[str, Any] = {
            "kind": "choice" if kind == "multi" else kind,
            "label": parts[1],
            "required": parts[2].lower() in ("1", "y", "yes", "required", "必填", "是"),
        }
        if kind in ("choice", "multi"):
            for sep in ("、", "，"):
                parts[3] = parts[3].replace(sep, ",")
            field["options"] = [o.strip() for o in parts[3].split(",") if o.strip()]
            field["multi"] = kind == "multi"
        elif kind == "consent":
            field["text"], field["version"] = parts[3], parts[4]
        elif kind not in ("text", "phone", "address", "date", "nps"):
            raise FormRefused("line {n}: unknown field kind {kind}", n=n, kind=kind[:20])
        out.append(field)
    return out


def lines_of(form: Form) -> str:
    """A form's fields as the lines the builder shows."""
    lines = []
    for f in form.fields or []:
        kind = "multi" if f.get("multi") else f["kind"]
        extra = ",".join(f.get("options", [])) if f["kind"] == "choice" else f.get("text", "")
        tail = f" | {f.get('version', '')}" if f["kind"] == "consent" else ""
        lines.append(f"{kind} | {f['label']} | {'1' if f.get('required') else ''} | {extra}{tail}")
    return "\n".join(lines)


def _list(request: Request, ctx: Ctx, session: Session, **extra: Any) -> HTMLResponse:
    offset = whole_number(request.query_params.get("offset")) or 0
    total, rows = queries.forms(session, offset=offset, most=PAGE)
    status = extra.pop("status", 200)
    return render(
        request,
        "growth_forms.html",
        status=status,
        ctx=ctx,
        active_page="growth",
        rows=rows,
        total=total,
        offset=offset,
        page=PAGE,
        typed=extra.pop("typed", {}),
        error=extra.pop("error", None),
    )


def _one(request: Request, ctx: Ctx, session: Session, form: Form, **extra: Any) -> HTMLResponse:
    frm, to = nps.local_days(None, None)
    total, rows = queries.submissions(
        session, form, most=PAGE, masked=not ctx["principal"].can(CUSTOMERS_UNMASK)
    )
    has_nps = any(f["kind"] == "nps" for f in form.fields or [])
    done = request.query_params.get("done", "")
    return render(
        request,
        "growth_form.html",
        status=extra.pop("status", 200),
        ctx=ctx,
        active_page="growth",
        form=form,
        lines=extra.pop("lines", lines_of(form)),
        typed=extra.pop("typed", {}),
        rows=rows,
        total=total,
        labels={f["key"]: f["label"] for f in form.fields or []},
        nps=nps.nps_summary(session, frm, to, form_id=form.id) if has_nps else None,
        stores=nps.nps_by_store(session, frm, to, form_id=form.id) if has_nps else {},
        error=extra.pop("error", None),
        done=_(DONE[done]) if done in DONE else None,
    )


@router.get("/growth/forms")
def forms_page(
    session: SessionDep, request: Request, ctx: Ctx = Depends(page_for(GROWTH_MANAGE))
) -> HTMLResponse:
    """Forms and surveys, and a new one."""
    return _list(request, ctx, session)


def _save(session: Session, form: dict[str, str], actor: str, form_id: int | None) -> Form:
    return service.save_form(
        session,
        actor,
        slug=form.get("slug", ""),
        title=form.get("title", ""),
        intro=form.get("intro", ""),
        kind=form.get("kind", "form"),
        once=form.get("once", "none"),
        fields=field_lines(form.get("fields", "")),
        actions=[a for a in form.get("actions", "").split() if a][:10],
        member_centre=form.get("member_centre") == "1",
        form_id=form_id,
    )


@router.post("/growth/forms")
async def create_form(
    session: SessionDep, request: Request, ctx: Ctx = Depends(page_for(GROWTH_MANAGE))
) -> Response:

    def act(form: dict[str, str]) -> str:
        made = _save(session, form, ctx["principal"].actor, None)
        return f"/growth/forms/{made.slug}?done=saved"

    answer = await submit(request, ctx, session, act)
    if isinstance(answer, Shown):
        return _list(
            request, ctx, session, typed=answer.form, status=answer.status, error=answer.error
        )
    return answer


def _named(session: Session, slug: str) -> Form | None:
    try:
        return service.form_named(session, slug[:60])
    except Refusal:
        return None


@router.get("/growth/forms/{slug}")
def form_page(
    session: SessionDep, request: Request, slug: str, ctx: Ctx = Depends(page_for(GROWTH_MANAGE))
) -> Response:
    """One form: its builder, status, answers and NPS."""
    found = _named(session, slug)
    if found is None:
        return _list(request, ctx, session, status=404, error=_("There is no such form."))
    return _one(request, ctx, session, found)


@router.post("/growth/forms/{slug}")
async def save_form(
    session: SessionDep, request: Request, slug: str, ctx: Ctx = Depends(page_for(GROWTH_MANAGE))
) -> Response:
    found = _named(session, slug)
    if found is None:
        return _list(request, ctx, session, status=404, error=_("There is no such form."))

    def act(form: dict[str, str]) -> str:
        saved = _save(session, form, ctx["principal"].actor, found.id)
        return f"/growth/forms/{saved.slug}?done=saved"

    answer = await submit(request, ctx, session, act)
    if isinstance(answer, Shown):
        return _one(
            request,
            ctx,
            session,
            _named(session, slug) or found,
            status=answer.status,
            error=answer.error,
            lines=answer.form.get("fields", ""),
            typed=answer.form,
        )
    return answer


@router.get("/growth/forms/{slug}/answers.csv")
def answers_csv(
    session: SessionDep, request: Request, slug: str, ctx: Ctx = Depends(page_for(GROWTH_MANAGE))
) -> Response:
    """A form's answers as a spreadsheet (masked unless the reader may unmask), audited."""
    found = _named(session, slug)
    if found is None:
        return _list(request, ctx, session, status=404, error=_("There is no such form."))
    principal = ctx["principal"]
    masked = not principal.can(CUSTOMERS_UNMASK)
    text = queries.submissions_csv(session, found, masked=masked)
    record_audit(
        session,
        principal.actor,
        "form.export",
        "growth_form",
        str(found.id),
        {"masked": masked},
    )
    session.commit()
    return Response(
        "\ufeff" + text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="form-{found.slug}.csv"'},
    )


@router.post("/growth/forms/{slug}/status")
async def status_form(
    session: SessionDep, request: Request, slug: str, ctx: Ctx = Depends(page_for(GROWTH_MANAGE))
) -> Response:
    found = _named(session, slug)
    if found is None:
        return _list(request, ctx, session, status=404, error=_("There is no such form."))

    def act(form: dict[str, str]) -> str:
        service.set_status(session, found, form.get("status", ""), ctx["principal"].actor)
        return f"/growth/forms/{found.slug}?done=status"

    answer = await submit(request, ctx, session, act)
    if isinstance(answer, Shown):
        return _one(request, ctx, session, found, status=answer.status, error=answer.error)
    return answer
