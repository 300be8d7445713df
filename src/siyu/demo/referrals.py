"""The demo's referral programme (老带新) on 悦颜会员: members who brought friends over the last
three months through their links, WeCom contact ways and tills, the friends' first orders, and
the checks' outcomes — counted, held for review (one phone signing up several friends), void
(a friend who was a customer already) — with rewards granted after the refund window, pending
inside it and voided by a refund. Run through the real services at the moments they happened
(``clock.replaying_at``), so the console, the member centre and the dashboard's K-factor show
what a running programme shows."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.customers import identifiers as ids
from siyu.customers.resolution import Resolver
from siyu.demo.catalog import GIVEN_F, SURNAMES
from siyu.growth.attribution import attribute
from siyu.growth.fraud import Arrival
from siyu.growth.rewards import follow_orders, grant_due
from siyu.growth.service import code_for, find_code, record_visit, set_rules
from siyu.loyalty.models import Member, Programme

REFERRERS = 60
SOURCE = "demo"


def ensure_referrals(session: Session, secret: bytes, today: date, seed: int = 7) -> list[str]:
    """Referral rules on the demo programme and three months of referrals (nothing when the
    programme already has them)."""
    from siyu.growth.service import settings_of

    programme = session.scalar(sa.select(Programme).where(Programme.code == "vip"))
    if programme is None or settings_of(session, programme.id) is not None:
        return []
    set_rules(
        session,
        "vip",
        "demo",
        referrer_points=200,
        invitee_points=100,
        min_order_fen=9900,
        refund_days=7,
        device_most=2,
    )
    session.commit()
    rng = random.Random(seed)
    members = session.scalars(
        sa.select(Member).where(Member.programme_id == programme.id).order_by(Member.id).limit(400)
    ).all()
    referrers = rng.sample(list(members), min(REFERRERS, len(members)))
    end = datetime.combine(today, time(12), UTC)
    made = held = void = 0
    orders: list[int] = []
    for n, member in enumerate(referrers):
        from siyu.loyalty.queries import member_view

        view = member_view(session, member.id)
        if view is None or not view.active:
            continue
        code = code_for(session, view)
        session.commit()
        referrer = find_code(session, code.code)
        for k in range(rng.choice((0, 1, 1, 2, 3))):
            at = end - timedelta(days=rng.randint(1, 88), hours=rng.randint(0, 10))
            device = f"demo-farm-{n}" if n % 17 == 0 else f"demo-{n}-{k}"
            channel = rng.choice(("centre", "centre", "wecom", "order"))
            with clock.replaying_at(at):
                visit = record_visit(session, referrer, device, f"10.{n}.{k}.1")
                known = n % 13 == 0 and k == 0  # a friend who bought before: void
                invitee = _customer(session, secret, rng, at - timedelta(days=40) if known else at)
                found = attribute(
                    session,
                    referrer,
                    Arrival(
                        invitee_id=invitee,
                        channel=channel,
                        at=at,
                        device=device if channel == "centre" else "",
                        address=f"10.{n}.{k}.1" if channel == "centre" else "",
                        visit_id=visit.id if channel == "centre" else None,
                    ),
                )
                session.commit()
            made += found.status == "attributed"
            held += found.status == "review"
            void += found.status == "void"
            if found.status != "void" and rng.random() < 0.7:
                orders.append(_order(session, rng, invitee, at + timedelta(days=rng.randint(0, 5))))
    session.commit()
    follow_orders(session, orders)
    session.commit()
    refunded = [o for o in orders if rng.random() < 0.1]  # refunded the next day
    for order_id in refunded:
        _refund(session, order_id)
    follow_orders(session, refunded)
    session.commit()
    granted = 0
    while (step := grant_due(session)) > 0:
        granted += step
        if step < 500:
            break
    return [
        f"referral: {made} friends counted, {held} held for review, {void} void; "
        f"{len(orders)} first orders, {granted} rewards granted"
    ]


def _customer(session: Session, secret: bytes, rng: random.Random, at: datetime) -> int:
    """A new customer, made (as the member centre makes one) at ``at``."""
    from siyu.customers.models import Customer

    phone = ids.normalise(ids.Kind.phone, f"1990{rng.randint(0, 9_999_999):07d}")
    with clock.replaying_at(at):
        resolver = Resolver(session.connection(), SOURCE, secret, actor=SOURCE)
        key = (ids.Kind.phone.value, "", phone)
        resolver.prefetch([key])
        found = resolver.resolve([key], {"source": SOURCE}, clock.now())
        resolver.flush()
        cid = int(resolver.customer_for(found.customer_id))
        person = session.get(Customer, cid)
        if person is not None and not person.name:
            person.name = rng.choice(SURNAMES) + rng.choice(GIVEN_F)
    return cid


def _refund(session: Session, order_id: int) -> None:
    from siyu.orders.models import Order

    order = session.get(Order, order_id)
    if order is not None:
        order.status, order.refund_fen = "refunded", order.paid_fen
        order.updated_at = (order.paid_at or clock.now()) + timedelta(days=1)


def _order(session: Session, rng: random.Random, customer_id: int, at: datetime) -> int:
    """The friend's first order."""
    from siyu.brands.models import Brand
    from siyu.orders.models import Order

    brand = session.scalar(sa.select(Brand.id).where(Brand.code == "demo"))
    paid = rng.choice((12900, 19900, 25900, 8900))
    order = Order(
        brand_id=brand,
        platform="pos",
        shop="",
        platform_order_id=f"REF-{customer_id}-{int(at.timestamp())}",
        customer_id=customer_id,
        status="paid",
        total_fen=paid,
        paid_fen=paid,
        refund_fen=0,
        ordered_at=at,
        paid_at=at,
        digest="demo",
        created_at=at,
        updated_at=at,
    )
    session.add(order)
    session.flush()
    return int(order.id)
