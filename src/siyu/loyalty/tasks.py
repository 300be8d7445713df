"""The worker's part of loyalty: following orders (``order.changed``) and expiring lots."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from siyu.jobs.service import periodic
from siyu.loyalty.orders import settle_orders
from siyu.loyalty.service import expire_due
from siyu.loyalty.tiers import review_all


def follow(session: Session, data: dict[str, Any]) -> None:
    """Subscriber of ``order.changed``: settle each order for every programme it belongs to."""
    ids = [int(i) for i in data.get("orders", [])]
    if ids:
        settle_orders(session, ids)


@periodic("loyalty.expire", 3600)
def expire(session: Session, payload: dict[str, Any]) -> None:
    """Lots whose date has passed, expired within the hour (safe to run again)."""
    expire_due(session)


@periodic("loyalty.tiers", 86400)
def review_tiers(session: Session, payload: dict[str, Any]) -> None:
    """Every member's tier reviewed once a day: downgrades happen when windows end."""
    review_all(session)
