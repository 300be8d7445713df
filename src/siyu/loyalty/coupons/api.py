"""POST /api/v1/coupons/{code}/redeem — a till or the mini-program uses a coupon on an order."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from siyu.accounts.service import Principal
from siyu.db import session_scope
from siyu.loyalty import COUPONS_REDEEM
from siyu.webkit import require

router = APIRouter(prefix="/api/v1", tags=["loyalty"])


class RedeemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$")]
    store_code: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f]+$")]
    order_amount_fen: Annotated[int, Field(strict=True, ge=0, le=1_000_000_000)]
    platform: Literal["pos", "miniprogram"] = "pos"  # as the order will be pushed
    brand: Annotated[str, Field(min_length=1, max_length=40)] | None = None  # a shared store code


class RedeemOut(BaseModel):
    code: str
    discount_fen: int
    status: Literal["redeemed"]


@router.post(
    "/coupons/{code}/redeem",
    response_model=RedeemOut,
    responses={
        401: {"description": "no or bad API key"},
        403: {"description": "key lacks coupons:redeem; another brand's coupon or store"},
        404: {"description": "no such coupon"},
        409: {"description": "used by another order, withdrawn, or not valid yet"},
        410: {"description": "the coupon has expired"},
        422: {"description": "invalid body, unknown store, or the order is below the threshold"},
    },
)
async def redeem_coupon(
    body: RedeemIn,
    code: Annotated[str, Path(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9]+$")],
    principal: Principal = Depends(require(COUPONS_REDEEM)),
) -> RedeemOut:
    """Use a coupon on an order: the answer says what it takes off. The same order again gets
    the same answer, so a till may retry after a timeout.

    Async, with the database work in one worker thread: a sync route costs a second thread
    hop for its answer's validation, which at a till's rush is a third of the request."""
    return await run_in_threadpool(redeem_at_till, body, code, principal)


def redeem_at_till(body: RedeemIn, code: str, principal: Principal) -> RedeemOut:
    """The redeem itself, in a worker thread (and in tests, called directly)."""
    from siyu.brands.service import store_and_brand
    from siyu.loyalty.coupons.till import order_key, redeem

    with session_scope() as session:
        store = store_and_brand(session, body.store_code, body.brand)
        if store is None:
            raise HTTPException(422, f"no store {body.store_code!r}")
        if principal.store_id is not None and principal.store_id != store[0]:
            raise HTTPException(403, "this key redeems at its own store only")
        order = order_key(body.platform, body.order_id)
        done = redeem(session, code.upper(), order, store[0], store[1], body.order_amount_fen)
        return RedeemOut(code=done.code, discount_fen=done.discount_fen, status="redeemed")
