"""The worker's part of loyalty: following orders (``order.changed``) and expiring lots."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from siyu.db import get_engine
from siyu.jobs.service import periodic
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


@periodic("loyalty.tiers", 86400)
def review_tiers(session: Session, payload: dict[str, Any]) -> None:
    """Every member's tier reviewed once a day: downgrades happen when windows end."""
    review_all(session)
