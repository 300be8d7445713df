"""A referral programme to test with: a loyalty programme with referral settings, customers
made as the member centre makes them (by phone), members, visits and orders pushed as a till
pushes them, and the worker's reactions run in place."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from siyu import clock

T0 = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
_orders = itertools.count(1)
_phones = itertools.count(1)


def phone() -> str:
    return f"139{next(_phones):08d}"


def programme(session: Any, **rules: Any) -> Any:
    from siyu.growth.service import set_rules
    from siyu.loyalty.service import create_programme

    made = create_programme(session, "vip", "悦颜会员", pending_days=7)
    settings = {"referrer_points": 100, "invitee_points": 50, "refund_days": 7, **rules}
    set_rules(session, "vip", "test", **settings)
    session.commit()
    return made


def customer(session: Any, number: str, name: str = "王芳") -> int:
    """A customer holding ``number``, made as the member centre makes one (now)."""
    from siyu.config import get_settings
    from siyu.customers import identifiers as ids
    from siyu.customers.models import Customer
    from siyu.customers.resolution import Resolver

    resolver = Resolver(session.connection(), "test", get_settings().secret_key_bytes(), actor="t")
    key = (ids.Kind.phone.value, "", ids.normalise(ids.Kind.phone, number))
    resolver.prefetch([key])
    found = resolver.resolve([key], {"source": "test"}, clock.now())
    resolver.flush()
    cid = int(resolver.customer_for(found.customer_id))
    session.get(Customer, cid).name = name
    session.commit()
    return cid


def member(session: Any, programme: Any, customer_id: int) -> Any:
    from siyu.loyalty.queries import member_view
    from siyu.loyalty.service import enrol

    made = enrol(session, programme, customer_id, channel="member_centre")
    session.commit()
    view = member_view(session, made.id)
    assert view is not None
    return view


def referrer(session: Any, programme: Any, name: str = "王芳", at: datetime | None = None) -> Any:
    """An old member with a code (joined a month before T0), and their Referrer."""
    from siyu.growth.service import code_for, find_code

    with clock.frozen(at or T0 - timedelta(days=30)):
        view = member(session, programme, customer(session, phone(), name))
        code = code_for(session, view)
        session.commit()
    return find_code(session, code.code)


def arrive(
    session: Any,
    programme: Any,
    ref: Any,
    *,
    device: str = "dev-b",
    address: str = "10.0.0.1",
    at: datetime | None = None,
    number: str | None = None,
    name: str = "李雷",
    wechat: str = "",
) -> tuple[Any, int]:
    """A new customer opens the link on ``device`` and signs up through the member centre a
    minute later; returns (the referral or None, the invitee's customer id)."""
    from siyu.growth.attribution import joined_by_link
    from siyu.growth.service import record_visit

    at = at or T0
    with clock.frozen(at):
        visit = record_visit(session, ref, device, address)
        session.commit()
    with clock.frozen(at + timedelta(minutes=1)):
        invitee = customer(session, number or phone(), name)
        joined = member(session, programme, invitee)
        found = joined_by_link(
            session,
            {
                "member": joined.id,
                "via": f"referral:{visit.id}",
                "device": device,
                "address": address,
                "wechat": wechat,
            },
        )
        session.commit()
    return found, invitee


def push_order(number: str, **fields: Any) -> Any:
    """A till pushes an order of the customer holding ``number`` (paid now by default)."""
    from siyu.accounts.service import Principal
    from siyu.ingest import ORDERS_WRITE
    from siyu.ingest.api import OrderIn, post_order

    now = clock.now().isoformat()
    body = {
        "order_id": f"R{next(_orders)}",
        "status": "paid",
        "paid_fen": 20000,
        "ordered_at": now,
        "paid_at": now,
        "buyer": {"phone": number},
        **fields,
    }
    return post_order(
        OrderIn.model_validate(body), Principal("pos", "api", frozenset({ORDERS_WRITE}))
    )


def deliver() -> None:
    from siyu.jobs import service as jobs

    while jobs.run_once("w1"):
        pass


def phone_of(session: Any, customer_id: int) -> str:
    from siyu.customers.queries import phones_of

    return phones_of(session, [customer_id])[customer_id]
