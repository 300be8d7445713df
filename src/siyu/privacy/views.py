"""PIPL requests from the customer page: download everything held about the person (JSON), or
erase them after typing their phone number or 删除. Both audit-logged by the service."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from siyu.capability import Permission
from siyu.config import MissingSecretKey, get_settings
from siyu.console.views import console_user, denied_page, expired_page, render
from siyu.console.words import in_words
from siyu.customers.service import CustomerError, Forbidden, get_visible
from siyu.customers.views import posted, private, show_customer
from siyu.i18n import _
from siyu.privacy import PRIVACY_EXPORT, PRIVACY_MANAGE
from siyu.privacy.service import (
    PrivacyError,
    confirms_erasure,
    erase_customer,
    export_customer,
    find_person,
    finish_erasure,
)
from siyu.webkit import Id, SessionDep

router = APIRouter(include_in_schema=False)
Ctx = dict[str, Any]


async def _checked(
    request: Request, ctx: Ctx, session: Session, customer_id: int, perm: Permission
) -> Response | tuple[dict[str, str], Any]:
    """The permission, the CSRF token and the person (in the reader's scope), or the page that
    says why not."""
    if denied := denied_page(request, ctx, perm):
        return denied
    form = await posted(request, ctx)
    if form is None:
        return expired_page(request, ctx)
    try:
        get_visible(session, ctx["principal"], customer_id)
        return form, find_person(session, customer_id)
    except Forbidden:  # another store's customer looks exactly like a missing one
        session.commit()
        return render(request, "error.html", status=404, ctx=ctx, message=_("Customer not found."))
    except (CustomerError, PrivacyError):
        return render(request, "error.html", status=404, ctx=ctx, message=_("Customer not found."))


@router.post("/customers/{customer_id}/privacy/export")
async def export_download(
    session: SessionDep,
    request: Request,
    customer_id: Id,
    ctx: Ctx = Depends(console_user),
) -> Response:
    """Everything held about the person as a JSON file (PIPL art. 45), audit-logged."""
    checked = await _checked(request, ctx, session, customer_id, PRIVACY_EXPORT)
    if isinstance(checked, Response):
        return checked
    _form, person = checked
    data = export_customer(session, person, ctx["principal"].actor)
    session.commit()
    body = json.dumps(data, ensure_ascii=False, indent=2, default=str)
    return private(
        Response(
            body,
            media_type="application/json",
            headers={"Content-Disposition": f'attachment; filename="customer-{person.id}.json"'},
        )
    )


@router.post("/customers/{customer_id}/privacy/erase")
async def erase_submit(
    session: SessionDep,
    request: Request,
    customer_id: Id,
    ctx: Ctx = Depends(console_user),
) -> Response:
    """Erase the person everywhere once the operator typed their phone number or 删除; the
    page then shows what was removed."""
    checked = await _checked(request, ctx, session, customer_id, PRIVACY_MANAGE)
    if isinstance(checked, Response):
        return checked
    form, person = checked
    if not confirms_erasure(session, person, form.get("confirm", "")[:40]):
        return show_customer(request, ctx, session, customer_id, status=400, erase_error=True)
    try:
        report = erase_customer(session, get_settings(), person, ctx["principal"].actor)
        session.commit()
    except (PrivacyError, MissingSecretKey) as exc:
        session.rollback()
        return show_customer(
            request, ctx, session, customer_id, error=in_words(request, exc), status=409
        )
    finish_erasure(session, get_settings(), report)
    return private(
        render(request, "privacy_erased.html", ctx=ctx, customer_id=person.id, report=report)
    )
