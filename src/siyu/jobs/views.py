"""The console's job list (后台任务): imports, recomputes, campaign sends and the worker's queue,
each shown to whoever may start that kind of job; the page refreshes itself while anything runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from siyu.accounts import USERS_MANAGE
from siyu.capability import Permission
from siyu.console.views import console_user, forbidden_page, render
from siyu.ingest import IMPORTS_RUN
from siyu.jobs import queries
from siyu.reach import CAMPAIGNS_WRITE
from siyu.traits import TRAITS_RUN
from siyu.webkit import SessionDep

router = APIRouter(include_in_schema=False)

# each list, for who holds the permission that starts that kind of job
SECTIONS: dict[str, tuple[Permission, Callable[[Session], Any]]] = {
    "imports": (IMPORTS_RUN, queries.import_runs),
    "recomputes": (TRAITS_RUN, queries.recomputes),
    "campaigns": (CAMPAIGNS_WRITE, queries.sending_campaigns),
    "queue": (USERS_MANAGE, queries.queue),
}


@router.get("/jobs")
def jobs_page(
    session: SessionDep,
    request: Request,
    ctx: dict[str, Any] = Depends(console_user),
) -> HTMLResponse:
    """How far the long jobs have got."""
    principal = ctx["principal"]
    shown = {name: load(session) for name, (perm, load) in SECTIONS.items() if principal.can(perm)}
    if not shown:
        return forbidden_page(request, ctx)
    return render(request, "jobs.html", ctx=ctx, shown=shown, running=queries.running(shown))
