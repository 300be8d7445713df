"""Administration pages: users and their roles, API keys, the audit log. Thin: check the
permission, check CSRF on forms, call the accounts service, render."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from siyu.accounts import APIKEYS_MANAGE, AUDIT_READ, USERS_MANAGE
from siyu.accounts.permissions import API_KEY_SCOPES, ROLE_LABELS, Role
from siyu.accounts.queries import AuditFilter, audit_csv, audit_page, list_api_keys, list_users
from siyu.accounts.service import (
    AccountError,
    create_api_key,
    create_user,
    record_audit,
    revoke_api_key,
    update_user,
)
from siyu.brands.models import Store
from siyu.capability import Permission
from siyu.config import get_settings
from siyu.console.views import console_user, csrf_ok, denied_page, page_for, render
from siyu.console.words import in_words
from siyu.untrusted import FIRST_DAY, LAST_DAY, NotANumber, day, number
from siyu.webkit import Id, Page, SessionDep, forget_cached_keys

router = APIRouter(include_in_schema=False)
Ctx = dict[str, Any]


def _admin_page(
    request: Request,
    ctx: Ctx,
    session: Session,
    *,
    error: str | None = None,
    new_key: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    stores = session.execute(sa.select(Store.id, Store.name).order_by(Store.name)).all()
    return render(
        request,
        "admin.html",
        status=status,
        ctx=ctx,
        users=list_users(session),
        keys=list_api_keys(session),
        stores=stores,
        roles=[(r.value, ROLE_LABELS[r]) for r in Role],
        scopes=sorted(API_KEY_SCOPES),
        error=error,
        new_key=new_key,
    )


@router.get("/admin")
def admin_page(
    session: SessionDep,
    request: Request,
    ctx: Ctx = Depends(page_for(USERS_MANAGE)),
) -> HTMLResponse:
    """Who may log in, with which role and store; the machines' API keys."""
    return _admin_page(request, ctx, session)


async def _form(request: Request, ctx: Ctx) -> dict[str, Any] | None:
    """The posted form, or None when its CSRF token is stale."""
    form = await request.form()
    if not csrf_ok(ctx, str(form.get("csrf", ""))):
        return None
    return {k: (form.getlist(k) if k == "scope" else str(v).strip()) for k, v in form.items()}


def _store(text: str | None) -> int | None:
    """The store chosen: None when left empty, NotANumber when it is not a store's number."""
    return number(text, least=1) if text else None


async def _change(
    request: Request,
    ctx: Ctx,
    session: Session,
    perm: Permission,
    change: Callable[[dict[str, Any], str], str | None],
    *,
    missing: int = 400,
) -> Response:
    """One administration form: permission, CSRF, the change (which may answer with a key to
    show once), commit; a refused change re-shows the page with the reason."""
    if denied := denied_page(request, ctx, perm):
        return denied
    form = await _form(request, ctx)
    if form is None:
        return _admin_page(request, ctx, session, error="csrf", status=400)
    try:
        shown = change(form, ctx["principal"].actor)
        session.commit()
    except (AccountError, NotANumber) as exc:
        session.rollback()
        return _admin_page(request, ctx, session, error=in_words(request, exc), status=missing)
    if shown:
        return _admin_page(request, ctx, session, new_key=shown)
    return RedirectResponse("/admin", status_code=303)


@router.post("/admin/users")
async def add_user(
    session: SessionDep,
    request: Request,
    ctx: Ctx = Depends(console_user),
) -> Response:
    def change(form: dict[str, Any], actor: str) -> None:
        user = create_user(
            session,
            get_settings(),
            form.get("username", ""),
            form.get("password", ""),
            form.get("role", ""),
            display_name=form.get("display_name") or None,
            store_id=_store(form.get("store_id")),
            wecom_userid=form.get("wecom_userid") or None,
        )
        record_audit(session, actor, "user.create", "user", str(user.id))

    return await _change(request, ctx, session, USERS_MANAGE, change)


@router.post("/admin/users/{user_id}")
async def change_user(
    session: SessionDep,
    request: Request,
    user_id: Id,
    ctx: Ctx = Depends(console_user),
) -> Response:
    def change(form: dict[str, Any], actor: str) -> None:
        update_user(
            session,
            user_id,
            actor=actor,
            role=form.get("role") or None,
            store_id=_store(form.get("store_id")),
            active={"1": True, "0": False}.get(form.get("active", "")),
            wecom_userid=form.get("wecom_userid"),  # blank: none
        )

    return await _change(request, ctx, session, USERS_MANAGE, change)


@router.post("/admin/apikeys")
async def add_api_key(
    session: SessionDep,
    request: Request,
    ctx: Ctx = Depends(console_user),
) -> Response:
    """A new key: shown once on the page that answers, stored only as a hash."""

    def change(form: dict[str, Any], actor: str) -> str:
        name = str(form.get("name", ""))[:100]
        if not name:
            raise AccountError("name the key after what uses it (e.g. 小程序事件)")
        key, secret = create_api_key(session, name, list(form.get("scope") or []))
        record_audit(session, actor, "apikey.create", "api_key", key.prefix, {"scopes": key.scopes})
        return secret

    return await _change(request, ctx, session, APIKEYS_MANAGE, change)


@router.post("/admin/apikeys/{prefix}/revoke")
async def revoke_key(
    session: SessionDep,
    request: Request,
    prefix: str,
    ctx: Ctx = Depends(console_user),
) -> Response:
    def change(_form: dict[str, Any], actor: str) -> None:
        revoke_api_key(session, prefix)
        record_audit(session, actor, "apikey.revoke", "api_key", prefix)

    answer = await _change(request, ctx, session, APIKEYS_MANAGE, change, missing=404)
    forget_cached_keys()  # this process refuses the key at once (others within seconds)
    return answer


def _audit_filter(
    actor: str | None, action: str | None, start: str | None, end: str | None, page: int
) -> AuditFilter | None:
    """The filter asked, or None when a day is not a YYYY-MM-DD from ``FIRST_DAY`` to
    ``LAST_DAY`` (the day after 9999-12-31, which the query needs, is no date)."""
    first, last = day(start) if start else None, day(end) if end else None
    if (start and first is None) or (end and last is None):
        return None
    return AuditFilter(actor or None, action or None, first, last, max(page, 1))


@router.get("/admin/audit")
def audit_log_page(
    session: SessionDep,
    request: Request,
    actor: str | None = None,
    action: str | None = None,
    start: str | None = None,
    end: str | None = None,
    page: Page = 1,
    ctx: Ctx = Depends(page_for(AUDIT_READ)),
) -> HTMLResponse:
    """Who saw or changed personal data, and when: filter by person, action and days."""
    params = {"actor": actor or "", "action": action or "", "start": start or "", "end": end or ""}
    f = _audit_filter(actor, action, start, end, page)
    result = audit_page(session, f, get_settings().tz) if f else None
    return render(
        request,
        "admin_audit.html",
        status=200 if f else 400,
        ctx=ctx,
        result=result,
        params=params,
        qs=lambda p: urlencode({**params, "page": p}),
        export=urlencode(params),
        first_day=FIRST_DAY,
        last_day=LAST_DAY,
    )


@router.get("/admin/audit.csv")
def audit_log_csv(
    session: SessionDep,
    request: Request,
    actor: str | None = None,
    action: str | None = None,
    start: str | None = None,
    end: str | None = None,
    ctx: Ctx = Depends(page_for(AUDIT_READ)),
) -> Response:
    """The audit log as a spreadsheet (UTF-8 with BOM); the export is itself audit-logged."""
    f = _audit_filter(actor, action, start, end, 1)
    if f is None:
        days = f"dates as YYYY-MM-DD, from {FIRST_DAY} to {LAST_DAY}\n"
        return Response(days, status_code=400, media_type="text/plain")
    text, n = audit_csv(session, f, get_settings().tz)
    filters = {
        k: v for k, v in {"actor": actor, "action": action, "start": start, "end": end}.items() if v
    }
    record_audit(
        session, ctx["principal"].actor, "audit.export", None, None, {"rows": n, **filters}
    )
    session.commit()
    return Response(
        "\ufeff" + text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="siyu-audit-log.csv"'},
    )
