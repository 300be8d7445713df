"""The worker's part of loyalty: following orders (``order.changed``) and expiring lots."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from siyu.db import get_engine
from siyu.jobs.service import periodic
from siyu.loyalty.coupons.rules import give_by_rules
from siyu.loyalty.events import settle_events
from siyu.loyalty.expiry import expire_all
from siyu.loyalty.orders import settle_orders
from siyu.loyalty.tiers import review_all


def follow(session: Session, data: dict[str, Any]) -> None:
    """Subscriber of ``order.changed``: settle each order for every programme it belongs to."""
    ids = [int(i) for i in data.get("orders", [])]
    if ids:
        settle_orders(session, ids)


def follow_events(session: Session, data: dict[str, Any]) -> None:
    """Subscriber of ``event.tracked``: points for the events a programme has a rule for."""
    messages = [str(m) for m in data.get("messages", [])]
    if messages:
        settle_events(session, messages)


@periodic("loyalty.expire", 3600)
def expire(session: Session, payload: dict[str, Any]) -> None:
    """Lots whose date has passed, expired within the hour (safe to run again): every member in
    ranges of set statements (``expiry``), not one by one, which at 1M members takes too long."""
    expire_all(get_engine())


@periodic("loyalty.coupon_rules", 300)
def coupon_rules(session: Session, payload: dict[str, Any]) -> None:
    """Coupons of the joined and tier rules for members who qualified since (a tier reached as
    orders settled, a member enrolled by an import or the API); the member centre's joins get
    theirs at once."""
    give_by_rules(session)


@periodic("loyalty.tiers", 86400)
def review_tiers(session: Session, payload: dict[str, Any]) -> None:
    """Every member's tier reviewed once a day: downgrades happen when windows end."""
    review_all(session)
