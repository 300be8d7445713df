"""POST /api/v1/members — a till or the mini-program enrols a customer, with how they agreed."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from siyu import clock
from siyu.accounts.service import Principal
from siyu.brands.service import brand_code_of, store_and_brand
from siyu.config import get_settings
from siyu.db import session_scope
from siyu.ingest.api import BuyerIn, buyer_keys
from siyu.loyalty import LOYALTY_ENROL
from siyu.loyalty.membership import at_till, enrol_at_store
from siyu.loyalty.models import Programme
from siyu.webkit import require

router = APIRouter(prefix="/api/v1", tags=["loyalty"])
PRINTABLE = r"^[^\x00-\x1f\x7f]+$"


class ConsentIn(BaseModel):
    """How the customer agreed to join: the terms' version, when, and how (a signed form's
    number, the mini-program's checkbox)."""

    model_config = ConfigDict(extra="forbid")
    terms_version: Annotated[str, Field(min_length=1, max_length=20, pattern=PRINTABLE)]
    agreed_at: AwareDatetime
    how: Annotated[str, Field(min_length=1, max_length=120, pattern=PRINTABLE)]


class EnrolIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    programme: Annotated[str, Field(min_length=1, max_length=40, pattern=PRINTABLE)]
    store_code: Annotated[str, Field(min_length=1, max_length=64, pattern=PRINTABLE)]
    brand: Annotated[str, Field(min_length=1, max_length=40)] | None = None  # a shared store code
    customer: BuyerIn
    consent: ConsentIn


class EnrolOut(BaseModel):
    member_id: int
    number: str
    tier: str | None
    created: bool


@router.post(
    "/members",
    response_model=EnrolOut,
    responses={
        401: {"description": "no or bad API key"},
        403: {"description": "key lacks members:enrol; another store's key or brand's programme"},
        404: {"description": "no such programme"},
        422: {"description": "invalid body, unknown store, or a customer erased at their request"},
    },
)
def enrol_member(body: EnrolIn, principal: Principal = Depends(require(LOYALTY_ENROL))) -> EnrolOut:
    """Enrol the customer (found by phone, member number or unionid; created when new) at a
    store; the same customer again answers their membership with ``created`` false."""
    with session_scope() as session:
        store = store_and_brand(session, body.store_code, body.brand)
        if store is None:
            raise HTTPException(422, f"no store {body.store_code!r}")
        if principal.store_id is not None and principal.store_id != store[0]:
            raise HTTPException(403, "this key enrols at its own store only")
        programme = session.scalar(sa.select(Programme).where(Programme.code == body.programme))
        if programme is None:
            raise HTTPException(404, f"no programme {body.programme!r}")
        if programme.brand_id is not None and programme.brand_id != store[1]:
            raise HTTPException(403, "this programme belongs to another brand")
        if body.consent.agreed_at > clock.now():
            raise HTTPException(422, "consent.agreed_at is in the future")
        keys = buyer_keys(body.customer, brand_code_of(session, store[1]))
        evidence = (
            f"store {body.store_code}: terms {body.consent.terms_version} agreed at "
            f"{body.consent.agreed_at.isoformat()}; {body.consent.how}"
        )
        member, created = enrol_at_store(
            session, get_settings(), programme, keys, store[0], evidence
        )
        seen = at_till(session, member.id)
        assert seen is not None
        return EnrolOut(member_id=member.id, number=seen.number, tier=seen.tier, created=created)
