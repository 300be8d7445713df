"""The import page (导入数据): upload an order or member export, watch it import, read its
summary, download its rejects. Thin: the form streams in (``upload_form``), the ingest
service queues the run and the worker imports it (``ingest.uploads``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from siyu.accounts.service import record_audit
from siyu.brands.models import Brand
from siyu.config import Settings, get_settings
from siyu.console.upload_form import FORM_SLACK, UploadRefused, receive_form, size_text
from siyu.console.views import console_user, denied_page, page_for, render
from siyu.console.words import in_words
from siyu.db import new_session, session_scope
from siyu.i18n import _
from siyu.ingest import IMPORTS_RUN, uploads
from siyu.jobs import queries
from siyu.refusals import Refusal
from siyu.webkit import Id, SessionDep

router = APIRouter(include_in_schema=False)
UPLOAD_PATH = "/imports"
NO_STORE = {"Cache-Control": "no-store"}
Ctx = dict[str, Any]


def upload_body_limit(settings: Settings) -> int:
    """The request-size backstop for the upload route (the route counts the stream itself)."""
    return settings.upload_max_bytes + 2 * FORM_SLACK


def _page(
    request: Request,
    ctx: Ctx,
    session: Session,
    *,
    status: int = 200,
    error: str | None = None,
    chosen: dict[str, str] | None = None,
) -> HTMLResponse:
    response = render(
        request,
        "imports.html",
        status=status,
        ctx=ctx,
        kinds={k: uploads.sources(k) for k in ("orders", "customers")},
        brands=session.execute(sa.select(Brand.code, Brand.name).order_by(Brand.code)).all(),
        runs=queries.import_runs(session, limit=10),
        limit=size_text(get_settings().upload_max_bytes),
        error=error,
        chosen=chosen or dict.fromkeys(("what", "brand", "shop"), ""),
    )
    response.headers.update(NO_STORE)
    return response


@router.get(UPLOAD_PATH)
def imports_page(
    session: SessionDep,
    request: Request,
    ctx: Ctx = Depends(console_user),
) -> HTMLResponse:
    """The upload form and the latest imports."""
    if denied := denied_page(request, ctx, IMPORTS_RUN):
        return denied
    return _page(request, ctx, session)


def _who(request: Request) -> Ctx:
    """The logged-in user, in a session closed at once: an upload may stream for minutes and
    must not hold a database connection (or a transaction) while it does."""
    session = new_session()
    try:
        ctx = console_user(request, session)
        session.expunge_all()  # the user's loaded fields stay readable for the page
        return ctx
    finally:
        session.rollback()
        session.close()


@router.post(UPLOAD_PATH)
async def upload(request: Request) -> Response:
    """Stream the file in, queue its import, show its run. The permission is checked before a
    byte of the body is read."""
    ctx = await run_in_threadpool(_who, request)
    if denied := denied_page(request, ctx, IMPORTS_RUN):
        return denied
    settings = get_settings()
    try:
        got = await receive_form(
            request, settings, limit=settings.upload_max_bytes, csrf=ctx["csrf"]
        )
    except UploadRefused as exc:
        return await run_in_threadpool(_refused, request, ctx, exc.status, exc.reason, {})
    kind, _sep, source = got.fields.get("what", "").partition(":")
    form = uploads.UploadRequest(
        kind=kind,
        source=source,
        mapping_text=got.mapping,
        brand=got.fields.get("brand", "").strip(),
        shop=got.fields.get("shop", "").strip(),
    )
    chosen = {k: got.fields.get(k, "") for k in ("what", "brand", "shop")}
    try:
        if got.file is None:
            raise uploads.UploadError("choose the export file to upload")
        run_id = await run_in_threadpool(_queue, settings, form, got, ctx["principal"].actor)
    except Refusal as exc:
        got.discard()
        return await run_in_threadpool(_refused, request, ctx, 400, exc, chosen)
    except BaseException:
        got.discard()
        raise
    return RedirectResponse(f"/imports/{run_id}", status_code=303)


def _queue(settings: Settings, form: uploads.UploadRequest, got: Any, actor: str) -> int:
    with session_scope() as session:
        return uploads.queue_import(
            session, settings, form, stored=got.file, file_name=got.file_name, actor=actor
        )


def _refused(
    request: Request, ctx: Ctx, status: int, reason: BaseException, chosen: dict[str, str]
) -> HTMLResponse:
    with session_scope() as session:
        return _page(
            request, ctx, session, status=status, error=in_words(request, reason), chosen=chosen
        )


@router.get("/imports/{run_id}")
def import_page(
    session: SessionDep,
    request: Request,
    run_id: Id,
    ctx: Ctx = Depends(page_for(IMPORTS_RUN)),
) -> HTMLResponse:
    """One import: progress while it runs, then its summary and the rejects to download."""
    run = queries.import_run(session, run_id)
    if run is None:
        return render(request, "error.html", status=404, ctx=ctx, message=_("Customer not found."))
    said = run["error"]
    if run["refused"]:
        refusal = Refusal(run["refused"]["template"], **(run["refused"].get("params") or {}))
        said = in_words(request, refusal)
    response = render(request, "import_run.html", ctx=ctx, r=run, error=said)
    response.headers.update(NO_STORE)
    return response


@router.get("/imports/{run_id}/rejects.csv")
def rejects_download(
    session: SessionDep,
    request: Request,
    run_id: Id,
    ctx: Ctx = Depends(page_for(IMPORTS_RUN)),
) -> Response:
    """The run's rejected rows (only that run's file, written with cells a spreadsheet would
    run as a formula guarded). Audit-logged: the rows hold personal data."""
    try:
        _run, path = uploads.rejects_file(session, get_settings(), run_id)
    except uploads.UploadError:
        return render(request, "error.html", status=404, ctx=ctx, message=_("Customer not found."))
    record_audit(
        session, ctx["principal"].actor, "import.rejects_download", "import_run", str(run_id)
    )
    session.commit()

    def rows() -> Iterator[bytes]:
        yield from uploads.rejects_bytes(path)

    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={
            **NO_STORE,
            "Content-Disposition": f'attachment; filename="import-{run_id}-rejects.csv"',
        },
    )
