"""At the till: a coupon redeemed once, by one order, idempotent on that order, and given back
when that order is refunded.

A redeem decides from the coupon's row and then writes with a guarded UPDATE (``WHERE status =
'issued'``): of two tills redeeming the same code at once one wins, the other reads the winner's
row and is answered as a replay (the same order) or refused (another order). The statements are
built once: a till's rush pays for their execution only.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.db import rowcount
from siyu.loyalty.coupons.models import Coupon, CouponKind, CouponStatus, CouponTemplate
from siyu.loyalty.coupons.service import (
    CouponError,
    CouponExpired,
    CouponUsed,
    ForeignCoupon,
    NoSuchCoupon,
)
from siyu.loyalty.models import Programme


class Worth(Protocol):
    """What a coupon's template says it takes off (a template, or a row read with the coupon)."""

    kind: str
    amount_fen: int
    percent_off: int
    cap_fen: int


def discount(template: Worth, amount_fen: int) -> int:
    """What the coupon takes off an order of ``amount_fen`` (never more than the order)."""
    if template.kind == CouponKind.amount_off:
        off = template.amount_fen
    elif template.kind == CouponKind.percent_off:
        off = amount_fen * template.percent_off // 100
        if template.cap_fen:
            off = min(off, template.cap_fen)
    else:
        off = 0  # a gift or free shipping takes nothing off the order's amount
    return max(0, min(off, amount_fen))


class Redeemed(NamedTuple):
    """A till's answer: the coupon and what it takes off the order."""

    code: str
    discount_fen: int


_C = Coupon.__table__.c
_T = CouponTemplate.__table__.c
# Built once: a till's rush pays for the two statements' execution only (building an ORM
# statement and loading objects cost twice the database's own time here).
_FIND_FOR_TILL = (
    sa.select(
        _C.id,
        _C.status,
        _C.redeemed_order,
        _C.redeemed_store_id,
        _C.valid_from,
        _C.valid_until,
        _C.discount_fen,
        _T.kind,
        _T.amount_fen,
        _T.percent_off,
        _T.cap_fen,
        _T.threshold_fen,
        Programme.__table__.c.brand_id,
    )
    .select_from(Coupon.__table__)
    .join(CouponTemplate.__table__, _T.id == _C.template_id)
    .join(Programme.__table__, Programme.__table__.c.id == _T.programme_id)
    .where(_C.code == sa.bindparam("code"))
)
_USE_AT_TILL = (
    sa.update(cast(sa.Table, Coupon.__table__))
    .where(_C.id == sa.bindparam("coupon"), _C.status == CouponStatus.issued.value)
    .values(
        status=CouponStatus.redeemed.value,
        redeemed_at=sa.bindparam("at"),
        redeemed_order=sa.bindparam("order"),
        redeemed_store_id=sa.bindparam("store"),
        order_amount_fen=sa.bindparam("amount"),
        discount_fen=sa.bindparam("off"),
    )
)


def redeem(
    session: Session,
    code: str,
    order_id: str,
    store_id: int | None,
    store_brand_id: int | None,
    amount_fen: int,
) -> Redeemed:
    """Use the coupon ``code`` on an order. The same order again gets the same answer; another
    order, an expired or voided coupon, another brand's coupon are refused (409, 410, 403)."""
    conn = session.connection()
    for _attempt in range(2):
        row = conn.execute(_FIND_FOR_TILL, {"code": code}).first()
        if row is None:
            raise NoSuchCoupon("no coupon {code}", code=code)
        if row.brand_id is not None and store_brand_id not in (None, row.brand_id):
            raise ForeignCoupon("coupon {code} is another brand's", code=code)
        if row.status == CouponStatus.redeemed:
            if row.redeemed_order == order_id and row.redeemed_store_id == store_id:
                return Redeemed(code, row.discount_fen or 0)
            raise CouponUsed("coupon {code} was used by another order", code=code)
        if row.status == CouponStatus.void:
            raise CouponUsed("coupon {code} was withdrawn", code=code)
        now = clock.now()
        if row.valid_until is not None and row.valid_until <= now:
            raise CouponExpired("coupon {code} expired", code=code)
        if row.valid_from > now:
            raise CouponUsed("coupon {code} is valid from {start}", code=code, start=row.valid_from)
        if amount_fen < row.threshold_fen:
            raise CouponError(
                "coupon {code} needs an order of at least {fen} fen",
                code=code,
                fen=row.threshold_fen,
            )
        off = discount(row, amount_fen)
        won = conn.execute(
            _USE_AT_TILL,
            {
                "coupon": row.id,
                "at": now,
                "order": order_id,
                "store": store_id,
                "amount": amount_fen,
                "off": off,
            },
        )
        if rowcount(won):
            return Redeemed(code, off)
    raise CouponUsed("coupon {code} was used by another order", code=code)


def order_key(platform: str, order_id: str) -> str:
    """How a coupon names the order that redeemed it: a POS order and a mini-program order may
    share a number."""
    return f"{platform}:{order_id}"


def return_coupons(session: Session, platform: str, order_id: str, store_id: int | None) -> int:
    """The order was refunded or cancelled: coupons it redeemed whose template returns them
    are usable again (until their own date). Returns how many."""
    found = list(
        session.scalars(
            sa.select(Coupon)
            .join(CouponTemplate, CouponTemplate.id == Coupon.template_id)
            .where(
                Coupon.redeemed_order == order_key(platform, order_id),
                Coupon.redeemed_store_id.is_(None)
                if store_id is None
                else Coupon.redeemed_store_id == store_id,
                Coupon.status == CouponStatus.redeemed,
                CouponTemplate.return_on_refund.is_(True),
            )
        )
    )
    for coupon in found:
        coupon.status = CouponStatus.issued
        coupon.redeemed_at = coupon.redeemed_order = None
        coupon.redeemed_store_id = coupon.order_amount_fen = coupon.discount_fen = None
    session.flush()
    return len(found)
