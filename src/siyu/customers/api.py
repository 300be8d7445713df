"""GET /api/v1/customers and /api/v1/customers/{id}: masked unless the caller may unmask."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from siyu.accounts.permissions import Perm
from siyu.accounts.service import Principal
from siyu.customers.queries import CustomerFilter, customer_detail, list_customers
from siyu.customers.service import CustomerError, Forbidden, merge, unmerge
from siyu.webkit import Id, Refused, db_session, require

router = APIRouter(prefix="/api/v1", tags=["customers"])


@router.get("/customers")
def get_customers(
    q: str | None = Query(None, max_length=100, description="Phone, name prefix or member number."),
    source: str | None = Query(None, max_length=32),
    store_id: Id | None = None,
    page: int = Query(1, ge=1, le=100000),
    per_page: int = Query(50, ge=1, le=200),
    principal: Principal = Depends(require(Perm.customers_read)),
    session: Session = Depends(db_session, scope="function"),
) -> dict[str, Any]:
    """Search the pool. Phones and names are masked (138****1234)."""
    return list_customers(session, principal, CustomerFilter(q, source, store_id, page, per_page))


@router.get(
    "/customers/{customer_id}",
    responses={
        403: {"description": "unmask asked without customers:unmask"},
        404: {"description": "no such customer, or another store's (answered alike)"},
    },
)
def get_customer(
    customer_id: Id,
    unmask: bool = Query(False, description="Full personal data; needs customers:unmask; audited."),
    principal: Principal = Depends(require(Perm.customers_read)),
    session: Session = Depends(db_session, scope="function"),
) -> dict[str, Any]:
    """Profile, identities, consent, orders and events of one customer."""
    if unmask and not principal.can(Perm.customers_unmask):
        raise HTTPException(403, "permission customers:unmask required")
    try:
        return customer_detail(session, principal, customer_id, unmask=unmask)
    except Forbidden as exc:
        session.commit()  # keep the audit entry of the refused look-up
        raise Refused(404, exc) from None
    except CustomerError as exc:
        raise Refused(404, exc) from None


class MergeIn(BaseModel):
    winner_id: Id = Field(..., description="The customer that stays.")
    loser_id: Id = Field(..., description="The customer folded into the winner.")
    force: bool = Field(False, description="Merge even though they hold different strong ids.")


@router.post("/customers/merge", responses={409: {"description": "refused: conflicting ids"}})
def post_merge(
    body: MergeIn,
    principal: Principal = Depends(require(Perm.customers_write)),
    session: Session = Depends(db_session, scope="function"),
) -> dict[str, int]:
    """Merge two profiles (logged; undo with /customers/unmerge/{merge_id})."""
    try:
        merge_id = merge(session, body.winner_id, body.loser_id, principal.actor, force=body.force)
    except CustomerError as exc:
        raise Refused(409, exc) from None
    return {"merge_id": merge_id}


@router.post("/customers/unmerge/{merge_id}", responses={409: {"description": "cannot be undone"}})
def post_unmerge(
    merge_id: Id,
    principal: Principal = Depends(require(Perm.customers_write)),
    session: Session = Depends(db_session, scope="function"),
) -> dict[str, int]:
    """Undo a merge; orders and events follow the identity that brought them."""
    try:
        log = unmerge(session, merge_id, principal.actor)
    except CustomerError as exc:
        raise Refused(409, exc) from None
    return {"restored_customer_id": log.loser_id}
