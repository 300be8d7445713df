"""POST /api/v1/members/identify — a till scans the code on a member's card."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from siyu.accounts.service import Principal
from siyu.brands.service import store_and_brand
from siyu.centre import CENTRE_TILL
from siyu.centre.code import member_of
from siyu.config import get_settings
from siyu.db import session_scope
from siyu.loyalty.membership import at_till
from siyu.webkit import require

router = APIRouter(prefix="/api/v1", tags=["loyalty"])


class IdentifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9-]+$")]
    store_code: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f]+$")]
    brand: Annotated[str, Field(min_length=1, max_length=40)] | None = None  # a shared store code


class IdentifyOut(BaseModel):
    member_id: int
    number: str
    programme: str
    tier: str | None
    spendable: int


@router.post(
    "/members/identify",
    response_model=IdentifyOut,
    responses={
        401: {"description": "no or bad API key"},
        403: {"description": "key lacks members:identify; another store's key or brand's member"},
        404: {"description": "not a member code, or one older than two minutes"},
        422: {"description": "invalid body or unknown store"},
    },
)
def identify_member(
    body: IdentifyIn, principal: Principal = Depends(require(CENTRE_TILL))
) -> IdentifyOut:
    """The member whose card shows this code (it changes every minute): their number, tier and
    spendable points, to redeem coupons or points at the till."""
    with session_scope() as session:
        store = store_and_brand(session, body.store_code, body.brand)
        if store is None:
            raise HTTPException(422, f"no store {body.store_code!r}")
        if principal.store_id is not None and principal.store_id != store[0]:
            raise HTTPException(403, "this key serves its own store only")
        member_id = member_of(get_settings().secret_key_bytes(), body.code)
        found = at_till(session, member_id) if member_id else None
        if found is None:
            raise HTTPException(404, "not a member code, or an old one: ask for the card again")
        if found.brand_id is not None and found.brand_id != store[1]:
            raise HTTPException(403, "this member belongs to another brand's programme")
        return IdentifyOut(
            member_id=found.member_id,
            number=found.number,
            programme=found.programme,
            tier=found.tier,
            spendable=found.spendable,
        )
