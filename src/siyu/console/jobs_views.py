"""The console's job list (后台任务): imports, recomputes, campaign sends and the worker's queue,
each shown to whoever may start that kind of job; the page refreshes itself while anything runs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from siyu.accounts.permissions import Perm
from siyu.console.views import console_user, denied_page, render
from siyu.jobs import queries
from siyu.webkit import db_session

router = APIRouter(include_in_schema=False)

# who sees which list: the permission that starts that kind of job
SECTIONS = {
    "imports": Perm.imports_run,
    "recomputes": Perm.traits_run,
    "campaigns": Perm.campaigns_write,
    "queue": Perm.users_manage,
}


@router.get("/jobs")
def jobs_page(
    request: Request,
    ctx: dict[str, Any] = Depends(console_user),
    session: Session = Depends(db_session, scope="function"),
) -> HTMLResponse:
    """How far the long jobs have got."""
    principal = ctx["principal"]
    allowed = [name for name, perm in SECTIONS.items() if principal.can(perm)]
    if not allowed:
        return denied_page(request, ctx, Perm.imports_run) or HTMLResponse(status_code=403)
    shown: dict[str, Any] = {}
    if "imports" in allowed:
        shown["imports"] = queries.import_runs(session)
    if "recomputes" in allowed:
        shown["recomputes"] = queries.recomputes(session)
    if "campaigns" in allowed:
        shown["campaigns"] = queries.sending_campaigns(session)
    if "queue" in allowed:
        shown["queue"] = queries.queue(session)
    running = (
        any(r["status"] == "running" for r in shown.get("imports", []))
        or any(r["status"] == "running" for r in shown.get("recomputes", []))
        or any(c["status"] == "sending" for c in shown.get("campaigns", []))
        or any(w["status"] == "running" for w in shown.get("queue", {}).get("waiting", []))
    )
    return render(request, "jobs.html", ctx=ctx, shown=shown, running=running)
