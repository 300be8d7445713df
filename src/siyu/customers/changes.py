"""Marking customers changed when something hanging off them changes.

A customer's identities, consents and tags carry no change time of their own that a reader
could follow (a removed tag leaves no row behind). Whoever changes them bumps the customer's
``updated_at`` instead; the analytical copy then re-reads those rows for exactly the customers
that changed, and segments re-check exactly those customers.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from siyu import clock
from siyu.bulk import chunks
from siyu.customers.models import Customer
from siyu.db import table_of

CUSTOMER = table_of(Customer)


def touch_customers(conn: Connection | Session, customer_ids: Iterable[int]) -> None:
    """Set ``updated_at`` of these customers to now (in the caller's transaction)."""
    ids = sorted(set(customer_ids))
    now = clock.now()
    for part in chunks(ids, 5000):
        conn.execute(CUSTOMER.update().where(CUSTOMER.c.id.in_(part)).values(updated_at=now))
