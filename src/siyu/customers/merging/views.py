"""Merging by hand: the preview of what a merge will do, the merge, its undo, and the identity
conflicts the resolver recorded (merge or keep apart). Thin: permission, CSRF, service."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from siyu.console.views import (
    expired_page,
    page_for,
    refused_page,
    render,
)
from siyu.console.words import in_words
from siyu.customers import CUSTOMERS_UNMASK, CUSTOMERS_WRITE
from siyu.customers.merging.service import keep_apart, list_conflicts, merge_preview
from siyu.customers.queries import CustomerFilter, list_customers
from siyu.customers.service import (
    CustomerError,
    NoSuchCustomer,
    NotVisible,
    merge_for,
    unmerge_for,
)
from siyu.customers.views import posted, private, show_customer
from siyu.i18n import _
from siyu.webkit import Id, Page, SessionDep

router = APIRouter(include_in_schema=False)
Ctx = dict[str, Any]
CUSTOMER_ID = re.compile(r"#?([0-9]{1,9})")  # a phone number has 11 digits: that is a search


def _customer_id(text: str) -> int | None:
    found = CUSTOMER_ID.fullmatch(text.strip())
    return int(found.group(1)) if found else None


def _refused(request: Request, ctx: Ctx, session: Session, exc: CustomerError) -> Response:
    """Another store's customer reads as a missing one: 404 (its audit entry kept)."""
    return refused_page(request, ctx, session, exc, not_found=_("Customer not found."))


def _missing(exc: CustomerError, customer_id: object = None) -> bool:
    """The page's own customer (or merge, or conflict) is not there, or not the reader's."""
    if isinstance(exc, NotVisible):
        return True
    wanted = customer_id is None or str(exc.params.get("id")) == str(customer_id)
    return isinstance(exc, NoSuchCustomer) and wanted


@router.get("/customers/{customer_id}/merge")
def merge_page(
    session: SessionDep,
    request: Request,
    customer_id: Id,
    other: str = "",
    conflict: Id | None = None,
    ctx: Ctx = Depends(page_for(CUSTOMERS_WRITE)),
) -> Response:
    """Find the other customer (by id, phone, name or member number), then show both side by
    side and what the merge will do; nothing changes until it is confirmed."""
    principal = ctx["principal"]
    other = other.strip()[:100]
    base: dict[str, Any] = {"customer_id": customer_id, "other": other, "conflict": conflict}
    other_id = _customer_id(other)
    if other_id is None:
        items: list[dict[str, Any]] = []
        if other:
            found = list_customers(session, principal, CustomerFilter(q=other, per_page=20))
            items = [c for c in found["items"] if c["id"] != customer_id]
        return private(render(request, "customer_merge.html", ctx=ctx, candidates=items, **base))
    try:
        preview = merge_preview(session, principal, customer_id, other_id)
    except CustomerError as exc:
        if _missing(exc, customer_id):
            return _refused(request, ctx, session, exc)
        session.rollback()
        return private(
            render(
                request,
                "customer_merge.html",
                status=409,
                ctx=ctx,
                candidates=None,
                error=in_words(request, exc),
                **base,
            )
        )
    return private(render(request, "customer_merge.html", ctx=ctx, pv=preview, **base))


@router.post("/customers/{customer_id}/merge")
async def merge_submit(
    session: SessionDep,
    request: Request,
    customer_id: Id,
    ctx: Ctx = Depends(page_for(CUSTOMERS_WRITE)),
) -> Response:
    """Merge the other customer into this one (refused when they hold different strong ids,
    unless the operator ticked that they checked)."""
    form = await posted(request, ctx)
    if form is None:
        return expired_page(request, ctx)
    other = form.get("other", "").strip()[:20]
    conflict = form.get("conflict", "").strip()[:12]
    try:
        other_id = _customer_id(other)
        if other_id is None:
            raise NoSuchCustomer("no customer {id}", id=other)
        merge_for(session, ctx["principal"], customer_id, other_id, force=form.get("force") == "1")
        session.commit()
    except CustomerError as exc:
        if _missing(exc, customer_id):
            return _refused(request, ctx, session, exc)
        session.rollback()
        return private(
            render(
                request,
                "customer_merge.html",
                status=409,
                ctx=ctx,
                candidates=None,
                error=in_words(request, exc),
                customer_id=customer_id,
                other=other,
                conflict=conflict,
            )
        )
    if conflict:
        return RedirectResponse("/identity-conflicts?done=merged", status_code=303)
    return RedirectResponse(f"/customers/{customer_id}?done=merged", status_code=303)


@router.post("/customers/{customer_id}/unmerge/{merge_id}")
async def unmerge_submit(
    session: SessionDep,
    request: Request,
    customer_id: Id,
    merge_id: Id,
    ctx: Ctx = Depends(page_for(CUSTOMERS_WRITE)),
) -> Response:
    """Undo a merge from the customer's merge history."""
    if await posted(request, ctx) is None:
        return expired_page(request, ctx)
    try:
        unmerge_for(session, ctx["principal"], merge_id)
        session.commit()
    except CustomerError as exc:
        if _missing(exc):
            return _refused(request, ctx, session, exc)
        session.rollback()
        return show_customer(
            request, ctx, session, customer_id, error=in_words(request, exc), status=409
        )
    return RedirectResponse(f"/customers/{customer_id}?done=unmerged", status_code=303)


@router.api_route("/identity-conflicts", methods=["GET", "POST"])
async def conflicts_page(
    session: SessionDep,
    request: Request,
    page: Page = 1,
    ctx: Ctx = Depends(page_for(CUSTOMERS_WRITE)),
) -> Response:
    """The pairs waiting for review, both profiles side by side (a POST with the CSRF token
    and ``unmask=1`` shows them unmasked, audit-logged)."""
    unmask = False
    if request.method == "POST":
        form = await posted(request, ctx)
        unmask = form is not None and form.get("unmask") == "1"
    found = list_conflicts(session, ctx["principal"], unmask=unmask, page=max(1, min(page, 10000)))
    done = request.query_params.get("done")
    return private(
        render(
            request,
            "identity_conflicts.html",
            ctx=ctx,
            found=found,
            can_unmask=ctx["principal"].can(CUSTOMERS_UNMASK),
            done=done if done in ("merged", "kept_apart") else None,
            error=None,
        )
    )


@router.post("/identity-conflicts/{conflict_id}/keep-apart")
async def keep_apart_submit(
    session: SessionDep,
    request: Request,
    conflict_id: Id,
    ctx: Ctx = Depends(page_for(CUSTOMERS_WRITE)),
) -> Response:
    """The two are different people: off the list, never raised or merged again."""
    form = await posted(request, ctx)
    if form is None:
        return expired_page(request, ctx)
    try:
        keep_apart(session, ctx["principal"], conflict_id, form.get("reason"))
        session.commit()
    except CustomerError as exc:
        if _missing(exc):
            return _refused(request, ctx, session, exc)
        session.rollback()
        found = list_conflicts(session, ctx["principal"])
        return private(
            render(
                request,
                "identity_conflicts.html",
                status=409,
                ctx=ctx,
                found=found,
                can_unmask=ctx["principal"].can(CUSTOMERS_UNMASK),
                done=None,
                error=in_words(request, exc),
            )
        )
    return RedirectResponse("/identity-conflicts?done=kept_apart", status_code=303)
