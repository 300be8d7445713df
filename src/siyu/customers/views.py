"""The customer page and the settings staff record on it: do-not-disturb and marketing consent.
Thin: check the permission and CSRF, call the service, redirect (or show the page with the
reason). Merges are in ``merging.views``, PIPL export and erasure in ``siyu.privacy.views``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from siyu.brands.models import Brand
from siyu.capability import Permission
from siyu.config import get_settings
from siyu.console.views import (
    console_user,
    csrf_ok,
    denied_page,
    expired_page,
    refused_page,
    render,
)
from siyu.console.words import in_words
from siyu.customers import CUSTOMERS_CONSENT, CUSTOMERS_UNMASK, CUSTOMERS_WRITE
from siyu.customers import identifiers as ids
from siyu.customers.consent import (
    ConsentStatement,
    consent_addresses,
    record_consent,
    set_do_not_disturb,
)
from siyu.customers.models import Customer
from siyu.customers.queries import customer_detail
from siyu.customers.service import CustomerError, NoSuchCustomer, get_visible
from siyu.i18n import _
from siyu.privacy import PRIVACY_EXPORT, PRIVACY_MANAGE
from siyu.untrusted import whole_number
from siyu.webkit import Id, SessionDep

router = APIRouter(include_in_schema=False)
Ctx = dict[str, Any]
DONE = {
    "dnd_on",
    "dnd_off",
    "consent_grant",
    "consent_withdraw",
    "unchanged",
    "merged",
    "unmerged",
}


def private(response: Response) -> Response:
    """Pages with personal data are not kept by browsers or proxies."""
    response.headers["Cache-Control"] = "no-store"
    return response


def show_customer(
    request: Request,
    ctx: Ctx,
    session: Session,
    customer_id: int,
    *,
    unmask: bool = False,
    error: str | None = None,
    status: int = 200,
    erase_error: bool = False,
) -> Response:
    """The customer page (the 360 and what staff may do on it), or the error page."""
    principal = ctx["principal"]
    try:
        data = customer_detail(session, principal, customer_id, unmask=unmask)
    except NoSuchCustomer as exc:  # another store's customer looks exactly like a missing one
        return refused_page(request, ctx, session, exc, not_found=_("Customer not found."))
    done = request.query_params.get("done")
    show = data["unmasked"]
    addresses = [
        (
            i,
            channel,
            value if show else ids.mask_identity("phone" if channel == "sms" else "email", value),
        )
        for i, channel, value in consent_addresses(session, customer_id)
    ]
    brands = session.execute(sa.select(Brand.id, Brand.name).order_by(Brand.id)).all()
    can = {
        "unmask": principal.can(CUSTOMERS_UNMASK),
        "consent": principal.can(CUSTOMERS_CONSENT),
        "write": principal.can(CUSTOMERS_WRITE),
        "export": principal.can(PRIVACY_EXPORT),
        "erase": principal.can(PRIVACY_MANAGE),
    }
    return private(
        render(
            request,
            "customer.html",
            status=status,
            ctx=ctx,
            c=data,
            can=can,
            can_unmask=can["unmask"],
            addresses=addresses,
            brands=brands,
            done=done if done in DONE else None,
            error=error,
            erase_error=erase_error,
        )
    )


@router.api_route("/customers/{customer_id}", methods=["GET", "POST"])
async def customer_page(
    session: SessionDep,
    request: Request,
    customer_id: Id,
    ctx: Ctx = Depends(console_user),
) -> Response:
    """The customer 360; a POST with the CSRF token and ``unmask=1`` shows it unmasked."""
    unmask = False
    if request.method == "POST":
        form = await request.form()
        unmask = csrf_ok(ctx, str(form.get("csrf", ""))) and form.get("unmask") == "1"
    return show_customer(request, ctx, session, customer_id, unmask=unmask)


async def posted(request: Request, ctx: Ctx) -> dict[str, str] | None:
    """The posted form as text, or None when its CSRF token is missing or stale."""
    form = await request.form()
    if not csrf_ok(ctx, str(form.get("csrf", ""))):
        return None
    return {k: str(v) for k, v in form.items()}


async def customer_action(
    request: Request,
    ctx: Ctx,
    session: Session,
    customer_id: Id,
    perm: Permission,
    change: Callable[[Customer, dict[str, str]], str],
) -> Response:
    """One form on the customer page: permission, CSRF, the customer in the reader's scope,
    the change (which answers the ``done`` key), commit and back to the page; a refusal shows
    the page again with the reason."""
    if denied := denied_page(request, ctx, perm):
        return denied
    form = await posted(request, ctx)
    if form is None:
        return expired_page(request, ctx)
    try:
        customer = get_visible(session, ctx["principal"], customer_id)
        done = change(customer, form)
        session.commit()
    except NoSuchCustomer as exc:  # another store's customer looks exactly like a missing one
        return refused_page(request, ctx, session, exc, not_found=_("Customer not found."))
    except CustomerError as exc:
        session.rollback()
        return show_customer(
            request, ctx, session, customer_id, error=in_words(request, exc), status=409
        )
    return RedirectResponse(f"/customers/{customer_id}?done={done}", status_code=303)


@router.post("/customers/{customer_id}/do-not-disturb")
async def do_not_disturb(
    session: SessionDep,
    request: Request,
    customer_id: Id,
    ctx: Ctx = Depends(console_user),
) -> Response:
    """Turn do-not-disturb on or off, with the reason (source ``operator``)."""

    def change(customer: Customer, form: dict[str, str]) -> str:
        on = form.get("on") == "1"
        changed = set_do_not_disturb(
            session,
            customer,
            on,
            source="operator",
            actor=ctx["principal"].actor,
            reason=form.get("reason"),
        )
        return ("dnd_on" if on else "dnd_off") if changed else "unchanged"

    return await customer_action(request, ctx, session, customer_id, CUSTOMERS_CONSENT, change)


@router.post("/customers/{customer_id}/consents")
async def consents(
    session: SessionDep,
    request: Request,
    customer_id: Id,
    ctx: Ctx = Depends(console_user),
) -> Response:
    """Record a grant (with evidence) or a withdrawal of marketing consent."""

    def change(customer: Customer, form: dict[str, str]) -> str:
        action = form.get("action", "")
        stmt = ConsentStatement(
            action=action,
            consent_id=_number(form.get("consent_id")),
            identity_id=_number(form.get("identity_id")),
            brand_id=_number(form.get("brand_id")),
            note=form.get("note"),
            reference=form.get("reference"),
            given_at=_local_time(form.get("given_at")),
            over_withdrawal=form.get("over_withdrawal") == "1",
        )
        done = record_consent(session, customer, stmt, ctx["principal"].actor)
        return f"consent_{action}" if done.changed else "unchanged"

    return await customer_action(request, ctx, session, customer_id, CUSTOMERS_CONSENT, change)


def _number(text: str | None) -> int | None:
    """A posted id: None when left empty, -1 (nobody's) when it is not one."""
    text = (text or "").strip()
    if not text:
        return None
    value = whole_number(text)
    return -1 if value is None else value


def _local_time(text: str | None) -> datetime | None:
    """A ``datetime-local`` field (Beijing time, no zone) as an aware time; empty: None."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise CustomerError("the time of consent is not a date and time") from None
    return value if value.tzinfo else value.replace(tzinfo=get_settings().tz)
