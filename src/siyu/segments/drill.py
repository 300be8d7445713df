"""The customers behind a number: a dashboard chart's bar, cell or row is a rule (source and
first-seen days, RFM class, lifecycle stage, CLV range…); drilling down lists the customers the
rule matches on the analytical copy — the same copy the chart was counted on, so the list's
total is the chart's number — a page at a time, from the system of record. The same rule can
then be saved as a segment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu.accounts.service import Principal
from siyu.config import Settings
from siyu.customers import CUSTOMERS_READ
from siyu.customers.models import Customer
from siyu.customers.queries import customer_rows
from siyu.customers.service import visible_to
from siyu.refusals import Forbidden
from siyu.segments import text as rule_text
from siyu.segments.compiler import compile_rule
from siyu.segments.service import checked_rule, copy_as_of, rule_context, within_scope

PER_PAGE = 50


@dataclass
class DrillPage:
    """One page of the customers a rule matches, with the total and the copy's freshness."""

    total: int
    page: int
    per_page: int
    items: list[dict[str, Any]]
    rule_text: str
    data_as_of: datetime | None


def drill(
    settings: Settings,
    session: Session,
    principal: Principal,
    rule: Any,
    *,
    brand_id: int | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> DrillPage:
    """Customers a rule matches now, newest first; a store guide sees only theirs.

    Raises ``RuleError`` for a rule that does not parse or check (the message names where) and
    ``Forbidden`` without ``customers:read``."""
    if not principal.can(CUSTOMERS_READ):
        raise Forbidden("the customer list needs the customers:read permission")
    node = checked_rule(session, rule)
    per_page = max(1, min(per_page, 200))
    page = max(1, page)
    with rule_context(settings, session, brand_id=brand_id) as ctx:
        hit = ctx.customer.filter(within_scope(ctx, session, principal, compile_rule(node, ctx)))
        total = int(hit.count().to_pyarrow().as_py())
        ids = (
            hit.order_by(hit.id.desc())
            .limit(per_page, offset=(page - 1) * per_page)
            .select("id")
            .to_pyarrow()
            .column(0)
            .to_pylist()
        )
        as_of = copy_as_of(settings, ctx.tables)
    found = {
        c.id: c
        for c in session.scalars(
            sa.select(Customer).where(Customer.id.in_(ids), visible_to(principal))
        )
    }
    people = [found[i] for i in ids if i in found]  # erased or merged since the copy: left out
    return DrillPage(
        total, page, per_page, customer_rows(session, people), rule_text.to_text(node), as_of
    )
