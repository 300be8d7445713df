"""POST /api/v1/orders — a POS or the mini-program pushes an order as it happens.

The order goes through the same writer as an import's batch (identity resolution, products,
stores, ``order.changed`` for the capabilities that follow orders), so a pushed order and an
imported one are the same thing. Idempotent on (platform, shop, order id): the same body again
is ``unchanged``; a later state of the order (paid, refunded) updates it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.accounts.service import Principal
from siyu.brands.service import resolve_brand, store_id_of
from siyu.bulk import utc_text
from siyu.config import get_settings
from siyu.customers import identifiers as ids
from siyu.db import get_engine
from siyu.ingest import ORDERS_WRITE
from siyu.ingest.columns import OrderColumns
from siyu.ingest.parse import ParsedOrder, RowError, settle
from siyu.ingest.service import ImportSummary
from siyu.orders.queries import ORDER_STATUSES
from siyu.webkit import require

router = APIRouter(prefix="/api/v1", tags=["orders"])

AMOUNT_MAX = 1_000_000_000  # fen: ten million yuan on one order
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"  # no control characters in any text


Text = Annotated[str, Field(min_length=1, max_length=100, pattern=PRINTABLE)]
Name = Annotated[str, Field(min_length=1, max_length=300, pattern=PRINTABLE)]
Shop = Annotated[str, Field(max_length=100, pattern=PRINTABLE)]
Code = Annotated[str, Field(min_length=1, max_length=64, pattern=PRINTABLE)]
Key = Annotated[str, Field(max_length=64, pattern=PRINTABLE)]
Fen = Annotated[int, Field(strict=True, ge=-AMOUNT_MAX, le=AMOUNT_MAX)]


class LineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: Text | None = None
    name: Name | None = None
    category: Text | None = None
    quantity: Annotated[int, Field(strict=True, ge=1, le=1_000_000)] = 1
    amount_fen: Fen


class BuyerIn(BaseModel):
    """Who bought: at least one of phone, member number, unionid."""

    model_config = ConfigDict(extra="forbid")
    phone: Annotated[str, Field(max_length=30, pattern=PRINTABLE)] | None = None
    member_id: Key | None = None
    unionid: Key | None = None
    name: Annotated[str, Field(max_length=50, pattern=PRINTABLE)] | None = None


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: Text
    platform: Literal["pos", "miniprogram"] = "pos"
    shop: Shop = ""
    brand: Annotated[str, Field(min_length=1, max_length=40, pattern=PRINTABLE)] | None = None
    store_code: Code | None = None
    status: Literal[ORDER_STATUSES]  # type: ignore[valid-type]
    total_fen: Fen | None = None
    paid_fen: Fen
    refund_fen: Annotated[int, Field(strict=True, ge=0, le=AMOUNT_MAX)] = 0
    ordered_at: datetime
    paid_at: datetime | None = None
    buyer: BuyerIn
    lines: Annotated[list[LineIn], Field(max_length=500)] = []
    # a referral code the buyer gave at the till or in the mini-program (老带新): a new
    # customer's first order with it attributes them to the code's member (growth checks it)
    referral_code: Annotated[str, Field(max_length=20, pattern=PRINTABLE)] | None = None

    @field_validator("ordered_at", "paid_at")
    @classmethod
    def _plausible(cls, value: datetime | None) -> datetime | None:
        if value is not None and not 2000 <= value.year <= 2100:
            raise ValueError("a time between the years 2000 and 2100")
        return value


class OrderOut(BaseModel):
    id: int
    status: Literal["created", "updated", "unchanged"]
    customer_id: int | None


EXAMPLE = {
    "order_id": "POS-20261207-0001",
    "platform": "pos",
    "shop": "徐汇店",
    "store_code": "SH001",
    "status": "paid",
    "total_fen": 29900,
    "paid_fen": 26900,
    "ordered_at": "2026-12-07T10:00:00+08:00",
    "paid_at": "2026-12-07T10:01:00+08:00",
    "buyer": {"phone": "13812345678"},
    "lines": [{"sku": "SK-1001", "name": "面霜", "category": "护肤", "amount_fen": 29900}],
}


@router.post(
    "/orders",
    response_model=OrderOut,
    responses={
        401: {"description": "no or bad API key"},
        403: {"description": "key lacks orders:write, or the store is not the key's store"},
        409: {"description": "the same order was pushed at the same moment; retry"},
        422: {"description": "invalid order; `detail` says which field and why"},
    },
)
def post_order(body: OrderIn, principal: Principal = Depends(require(ORDERS_WRITE))) -> OrderOut:
    """Push an order (new or a later state of it: paid, shipped, refunded)."""
    from siyu.ingest.orders import OrderWriter

    settings = get_settings()
    parsed = _parsed(body, ZoneInfo(settings.timezone))
    engine = get_engine()
    with engine.connect() as conn:
        brand_id, brand_code = resolve_brand(conn, body.brand)  # a refusal answers 422
        conn.commit()
    parsed.keys = buyer_keys(body.buyer, brand_code)
    summary = ImportSummary(source=body.platform)
    writer = OrderWriter(
        engine, settings, summary, brand_id, body.platform, body.shop, principal.actor
    )
    if principal.store_id is not None:
        with Session(engine) as session:
            store = store_id_of(session, body.store_code, brand_id) if body.store_code else None
        before = writer.stored(body.order_id)
        if store != principal.store_id or (before and before[2] != principal.store_id):
            raise HTTPException(403, "this key may push orders of its own store only")
    try:
        writer.write(OrderColumns.of([parsed]))
    except IntegrityError:
        raise HTTPException(409, "the same order was pushed at the same moment; retry") from None
    stored = writer.stored(body.order_id)
    assert stored is not None  # written just now
    pk, customer, _store = stored
    if body.referral_code and customer is not None:
        _told_of_referral(pk, customer, body.referral_code)
    status = "created" if summary.inserted else "updated" if summary.updated else "unchanged"
    return OrderOut(id=pk, status=status, customer_id=customer)


def _told_of_referral(order_id: int, customer_id: int, code: str) -> None:
    """Tell the capabilities that care (growth) which referral code came with the order. The
    order's writer has committed by now; this is its own small transaction after."""
    from siyu.db import session_scope
    from siyu.reactions import Topic, publish

    with session_scope() as session:
        publish(
            session,
            Topic.order_referred,
            {"order": order_id, "customer": customer_id, "code": code},
        )


def _time(value: datetime | None, tz: ZoneInfo) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)  # a till's local time
    return utc_text(value.astimezone(UTC))


def _parsed(body: OrderIn, tz: ZoneInfo) -> ParsedOrder:
    try:
        status, refund, paid_at = settle(
            body.platform,
            body.status,
            body.paid_fen,
            body.refund_fen,
            _time(body.ordered_at, tz),
            _time(body.paid_at, tz),
            None,
        )
    except RowError as exc:
        raise HTTPException(422, str(exc)) from None
    if refund > max(body.paid_fen, 0):
        raise HTTPException(422, "refund_fen is more than paid_fen")
    text = json.dumps(body.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return ParsedOrder(
        line_no=0,
        order_id=body.order_id,
        keys=[],
        profile={"name": body.buyer.name, "province": None, "city": None},
        status=status,
        total_fen=body.total_fen if body.total_fen is not None else body.paid_fen,
        paid_fen=body.paid_fen,
        refund_fen=refund,
        ordered_at=_time(body.ordered_at, tz),
        paid_at=paid_at,
        store=(body.store_code, body.store_code) if body.store_code else None,
        lines=[(ln.sku, ln.name, ln.category, ln.quantity, ln.amount_fen) for ln in body.lines],
        digest=hashlib.blake2b(text.encode(), digest_size=12).hexdigest(),
    )


def buyer_keys(buyer: BuyerIn, brand_code: str) -> list[tuple[str, str, str]]:
    specs: list[tuple[str | None, ids.Kind, str]] = [
        (buyer.member_id, ids.Kind.member_id, brand_code),
        (buyer.phone, ids.Kind.phone, ""),
        (buyer.unionid, ids.Kind.unionid, "wechat"),
    ]
    keys, problems = [], []
    for raw, kind, namespace in specs:
        if raw is None:
            continue
        try:
            keys.append((kind.value, namespace, ids.NORMALISERS[kind](raw)))
        except ids.Rejected as exc:
            problems.append(f"buyer.{kind.value}: {exc}")
    if problems or not keys:
        raise HTTPException(422, "; ".join(problems) or "buyer needs a phone, member_id or unionid")
    return keys
