"""The customer pool over HTTP: search and the 360 (masked unless the caller may unmask),
merge and unmerge, do-not-disturb and consent recorded by staff, identity conflicts."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from siyu.accounts.service import Principal
from siyu.customers import CUSTOMERS_CONSENT, CUSTOMERS_READ, CUSTOMERS_UNMASK, CUSTOMERS_WRITE
from siyu.customers.consent import (
    NOTE_MAX,
    REASON_MAX,
    REFERENCE_MAX,
    ConsentStatement,
    record_consent,
    set_do_not_disturb,
)
from siyu.customers.merging.service import keep_apart, list_conflicts, merge_conflict
from siyu.customers.queries import CustomerFilter, customer_detail, list_customers
from siyu.customers.service import get_visible, merge_for, unmerge_for
from siyu.customers.shapes import (
    ConflictPageOut,
    CustomerDetail,
    CustomerPage,
    KeptApart,
    MergeDone,
    UnmergeDone,
)
from siyu.refusals import require_permission
from siyu.webkit import Id, SessionDep, require

router = APIRouter(prefix="/api/v1", tags=["customers"])


@router.get("/customers", response_model=CustomerPage)
def get_customers(
    session: SessionDep,
    q: str | None = Query(None, max_length=100, description="Phone, name prefix or member number."),
    source: str | None = Query(None, max_length=32),
    store_id: Id | None = None,
    page: int = Query(1, ge=1, le=100000),
    per_page: int = Query(50, ge=1, le=200),
    principal: Principal = Depends(require(CUSTOMERS_READ)),
) -> CustomerPage:
    """Search the pool. Phones and names are masked (138****1234)."""
    return CustomerPage.model_validate(
        list_customers(session, principal, CustomerFilter(q, source, store_id, page, per_page))
    )


@router.get(
    "/customers/{customer_id}",
    response_model=CustomerDetail,
    responses={
        403: {"description": "unmask asked without customers:unmask"},
        404: {"description": "no such customer, or another store's (answered alike)"},
    },
)
def get_customer(
    session: SessionDep,
    customer_id: Id,
    unmask: bool = Query(False, description="Full personal data; needs customers:unmask; audited."),
    principal: Principal = Depends(require(CUSTOMERS_READ)),
) -> CustomerDetail:
    """Profile, identities, consent, orders and events of one customer."""
    if unmask:
        require_permission(principal, CUSTOMERS_UNMASK)
    return CustomerDetail.model_validate(
        customer_detail(session, principal, customer_id, unmask=unmask)
    )


class MergeIn(BaseModel):
    winner_id: Id = Field(..., description="The customer that stays.")
    loser_id: Id = Field(..., description="The customer folded into the winner.")
    force: bool = Field(False, description="Merge even though they hold different strong ids.")


@router.post(
    "/customers/merge",
    response_model=MergeDone,
    responses={
        404: {"description": "no such customer"},
        409: {"description": "refused: conflicting ids"},
    },
)
def post_merge(
    session: SessionDep,
    body: MergeIn,
    principal: Principal = Depends(require(CUSTOMERS_WRITE)),
) -> MergeDone:
    """Merge two profiles (logged; undo with /customers/unmerge/{merge_id})."""
    merge_id = merge_for(session, principal, body.winner_id, body.loser_id, force=body.force)
    return MergeDone(merge_id=merge_id)


@router.post(
    "/customers/unmerge/{merge_id}",
    response_model=UnmergeDone,
    responses={404: {"description": "no such customer"}, 409: {"description": "cannot be undone"}},
)
def post_unmerge(
    session: SessionDep,
    merge_id: Id,
    principal: Principal = Depends(require(CUSTOMERS_WRITE)),
) -> UnmergeDone:
    """Undo a merge; orders and events follow the identity that brought them."""
    log = unmerge_for(session, principal, merge_id)
    return UnmergeDone(restored_customer_id=log.loser_id)


class DoNotDisturbIn(BaseModel):
    on: bool = Field(..., description="true: send this customer no marketing.")
    reason: str = Field(
        ...,
        min_length=1,
        max_length=REASON_MAX,
        description="What the customer asked, and when (kept with the setting, audit-logged).",
    )


class DoNotDisturbOut(BaseModel):
    customer_id: int
    do_not_disturb: bool
    source: str | None
    reason: str | None
    by: str | None
    at: datetime | None
    changed: bool


@router.put(
    "/customers/{customer_id}/do-not-disturb",
    response_model=DoNotDisturbOut,
    responses={
        404: {"description": "no such customer, or another store's (answered alike)"},
        409: {},
    },
)
def put_do_not_disturb(
    session: SessionDep,
    customer_id: Id,
    body: DoNotDisturbIn,
    principal: Principal = Depends(require(CUSTOMERS_CONSENT)),
) -> DoNotDisturbOut:
    """Set or clear do-not-disturb as staff (source ``operator``); send policy honours it at
    once for every marketing message not yet sent."""
    customer = get_visible(session, principal, customer_id)
    changed = set_do_not_disturb(
        session, customer, body.on, source="operator", actor=principal.actor, reason=body.reason
    )
    return DoNotDisturbOut(
        customer_id=customer.id,
        do_not_disturb=customer.do_not_disturb,
        source=customer.do_not_disturb_source,
        reason=customer.do_not_disturb_reason,
        by=customer.do_not_disturb_by,
        at=customer.do_not_disturb_at,
        changed=changed,
    )


class ConsentIn(BaseModel):
    action: Literal["grant", "withdraw"]
    channel: Literal["sms", "email"]
    purpose: Literal["marketing"] = "marketing"
    brand: str | None = Field(
        None,
        max_length=32,
        description="Brand code; default: the brand the customer first bought from.",
    )
    address: str | None = Field(
        None,
        max_length=200,
        description="The phone or e-mail address (one of the customer's); default: their own.",
    )
    note: str | None = Field(
        None, max_length=NOTE_MAX, description="How the customer consented or withdrew."
    )
    reference: str | None = Field(
        None, max_length=REFERENCE_MAX, description="Where the proof is kept, e.g. a form number."
    )
    given_at: datetime | None = Field(
        None, description="A grant: when the customer consented (with its zone; default now)."
    )
    over_withdrawal: bool = Field(
        False,
        description="A grant over a recorded withdrawal: the customer consented again after it.",
    )


class ConsentOut(BaseModel):
    customer_id: int
    brand_id: int
    channel: str
    purpose: str
    status: str
    source: str
    recorded_at: datetime
    recorded_by: str | None
    changed: bool


@router.post(
    "/customers/{customer_id}/consents",
    response_model=ConsentOut,
    responses={
        404: {"description": "no such customer, or another store's (answered alike)"},
        409: {},
    },
)
def post_consent(
    session: SessionDep,
    customer_id: Id,
    body: ConsentIn,
    principal: Principal = Depends(require(CUSTOMERS_CONSENT)),
) -> ConsentOut:
    """Record a grant (evidence required: a note and/or a reference) or a withdrawal of
    marketing consent. A withdrawal stops sending at once; a grant never silently replaces a
    withdrawal (older: refused; newer: only with ``over_withdrawal``)."""
    customer = get_visible(session, principal, customer_id)
    stmt = ConsentStatement(
        action=body.action,
        channel=body.channel,
        purpose=body.purpose,
        brand_code=body.brand,
        address=body.address,
        note=body.note,
        reference=body.reference,
        given_at=body.given_at,
        over_withdrawal=body.over_withdrawal,
    )
    done = record_consent(session, customer, stmt, principal.actor)
    c = done.consent
    return ConsentOut(
        customer_id=c.customer_id,
        brand_id=c.brand_id,
        channel=c.channel,
        purpose=c.purpose,
        status=c.status,
        source=c.source,
        recorded_at=c.recorded_at,
        recorded_by=c.recorded_by,
        changed=done.changed,
    )


@router.get("/identity-conflicts", response_model=ConflictPageOut)
def get_identity_conflicts(
    session: SessionDep,
    unmask: bool = Query(False, description="Full personal data; needs customers:unmask; audited."),
    page: int = Query(1, ge=1, le=100000),
    per_page: int = Query(20, ge=1, le=100),
    principal: Principal = Depends(require(CUSTOMERS_WRITE)),
) -> ConflictPageOut:
    """Pairs of profiles the resolver linked but would not merge (different strong ids), with
    both profiles, waiting for a merge or keep-apart."""
    if unmask:
        require_permission(principal, CUSTOMERS_UNMASK)
    found = list_conflicts(session, principal, unmask=unmask, page=page, per_page=per_page)
    return ConflictPageOut(
        total=found.total,
        page=found.page,
        per_page=found.per_page,
        unmasked=found.unmasked,
        items=found.items,
    )


class ConflictMergeIn(BaseModel):
    keep: Id | None = Field(
        None, description="The customer that stays; default the conflict's first customer."
    )


class ConflictApartIn(BaseModel):
    reason: str | None = Field(None, max_length=REASON_MAX)


@router.post(
    "/identity-conflicts/{conflict_id}/merge",
    response_model=MergeDone,
    responses={
        404: {"description": "no such customer, or another store's (answered alike)"},
        409: {},
    },
)
def post_conflict_merge(
    session: SessionDep,
    conflict_id: Id,
    body: ConflictMergeIn,
    principal: Principal = Depends(require(CUSTOMERS_WRITE)),
) -> MergeDone:
    """They are one person: merge them (logged; undo with /customers/unmerge/{merge_id})."""
    merge_id = merge_conflict(session, principal, conflict_id, body.keep)
    return MergeDone(merge_id=merge_id)


@router.post(
    "/identity-conflicts/{conflict_id}/keep-apart",
    response_model=KeptApart,
    responses={
        404: {"description": "no such customer, or another store's (answered alike)"},
        409: {},
    },
)
def post_conflict_keep_apart(
    session: SessionDep,
    conflict_id: Id,
    body: ConflictApartIn,
    principal: Principal = Depends(require(CUSTOMERS_WRITE)),
) -> KeptApart:
    """They are two people: the pair leaves the list and is not raised or merged again."""
    closed = keep_apart(session, principal, conflict_id, body.reason)
    return KeptApart(closed=closed)
