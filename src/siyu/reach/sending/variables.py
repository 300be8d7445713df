"""What a message template knows about each customer, loaded for a whole batch of recipients in
a few queries, never one query per message.

Each capability that knows something about a customer declares its variables in its manifest
(``template_variables``: profile fields from customers, RFM tier and stage from traits, last and
recommended product from orders); a batch asks only those whose variables the template uses. A
value the pool does not hold is None; the template's missing-variable policy decides what
happens then (a fallback text, or the customer is skipped with the variable as the reason).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from siyu.bulk import chunks
from siyu.capability import TemplateVariables


def load_variables(
    session: Session,
    customer_ids: Sequence[int],
    *,
    today: date,
    wanted: Collection[str] | None = None,
) -> dict[int, dict[str, Any]]:
    """Template variables per customer id (``wanted`` narrows the work to what is used)."""
    want = set(wanted) if wanted is not None else None
    out: dict[int, dict[str, Any]] = {cid: {} for cid in customer_ids}
    groups = [g for g in providers() if want is None or want & set(g.labels)]
    for part in chunks(list(customer_ids), 500):
        for group in groups:
            group.load(session, part, out, today, want)
    return out


def providers() -> tuple[TemplateVariables, ...]:
    """Every capability's template variables (manifests' ``template_variables``)."""
    from siyu.capabilities import each

    return tuple(each("template_variables"))


def labels() -> dict[str, str]:
    """Every variable a template may use, with its label for the template editor."""
    return {name: label for g in providers() for name, label in g.labels.items()}


def samples() -> dict[str, Any]:
    return {name: value for g in providers() for name, value in g.samples.items()}


def personal() -> frozenset[str]:
    return frozenset(name for g in providers() for name in g.personal)
