"""A tiny shop for analytics tests: brands, customers and paid orders written directly, with
paid times given as Asia/Shanghai local dates."""

from __future__ import annotations

from datetime import date, datetime, time
from itertools import count
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from siyu.brands.models import Brand
from siyu.customers.identifiers import Kind
from siyu.customers.models import Customer, Identity
from siyu.orders.models import Order, OrderLine

SHANGHAI = ZoneInfo("Asia/Shanghai")
_ids = count(1)


def brand(session: Session, code: str) -> int:
    b = Brand(code=code, name=code.upper())
    session.add(b)
    session.flush()
    return b.id


def customer(session: Session, city: str | None = "上海") -> int:
    c = Customer(city=city, source="test")
    session.add(c)
    session.flush()
    return c.id


def phone(session: Session, customer_id: int, e164: str) -> int:
    """Give a customer a phone identity (already normalised); returns its id."""
    ident = Identity(
        customer_id=customer_id, kind=Kind.phone.value, namespace="", value=e164, source="test"
    )
    session.add(ident)
    session.flush()
    return ident.id


def order(
    session: Session,
    brand_id: int,
    customer_id: int,
    day: date,
    yuan: int,
    status: str = "completed",
    category: str | None = "护肤",
    refund_yuan: int = 0,
    at: time = time(20, 30),
    product: str | None = None,
) -> int:
    """One paid order (status decides whether it counts); ``at`` is the local time of day."""
    paid = datetime.combine(day, at, SHANGHAI)
    o = Order(
        brand_id=brand_id,
        platform="csv",
        shop="",
        platform_order_id=f"T{next(_ids)}",
        customer_id=customer_id,
        status=status,
        total_fen=yuan * 100,
        paid_fen=yuan * 100,
        refund_fen=refund_yuan * 100,
        ordered_at=paid,
        paid_at=paid if status != "pending" else None,
        digest="x",
    )
    session.add(o)
    session.flush()
    session.add(
        OrderLine(
            order_id=o.id,
            line_no=1,
            product_name=product,
            category=category,
            quantity=1,
            amount_fen=yuan * 100,
        )
    )
    return o.id
