"""Two profiles side by side: what a merge would do, and the identity conflicts the resolver
recorded for an operator to merge or keep apart.

Profiles are masked unless the reader may unmask and asks to; every unmasked look is
audit-logged like the customer page's. Only customers the reader may see are shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from siyu.accounts.service import Principal, record_audit
from siyu.brands.models import Store
from siyu.customers import CUSTOMERS_UNMASK
from siyu.customers import identifiers as ids
from siyu.customers.consent import clean_text
from siyu.customers.models import Consent, Customer, Identity, IdentityConflict
from siyu.customers.pairs import KEPT_APART, resolve_pair
from siyu.customers.resolution import clashing_kind, identities_of
from siyu.customers.service import (
    CustomerError,
    NoSuchCustomer,
    active_customer,
    get_visible,
    merge_for,
    visible_to,
)
from siyu.events.models import Event
from siyu.orders.models import Order
from siyu.tags.models import CustomerTag

PROFILE_FIELDS = ("name", "gender", "province", "city", "store_id")


def may_unmask(
    session: Session, principal: Principal, unmask: bool, customer_ids: list[int]
) -> bool:
    """Whether to show these customers unmasked; each look (or a refused ask) is audit-logged."""
    if not unmask:
        return False
    show = principal.can(CUSTOMERS_UNMASK)
    action = "customer.unmask" if show else "customer.unmask.denied"
    for cid in customer_ids:
        record_audit(session, principal.actor, action, "customer", str(cid), {"via": "review"})
    return show


def profile_card(session: Session, customer: Customer, *, show: bool) -> dict[str, Any]:
    """What tells two profiles apart: masked name and identities, store, source, orders."""
    idents = session.execute(
        sa.select(Identity.kind, Identity.namespace, Identity.value)
        .where(Identity.customer_id == customer.id)
        .order_by(Identity.id)
    ).all()
    orders, spend = session.execute(
        sa.select(
            sa.func.count(), sa.func.coalesce(sa.func.sum(Order.paid_fen - Order.refund_fen), 0)
        ).where(Order.customer_id == customer.id)
    ).one()
    store = session.get(Store, customer.store_id) if customer.store_id else None
    return {
        "id": customer.id,
        "status": customer.status,
        "name": customer.name if show else ids.mask_name(customer.name),
        "city": customer.city,
        "source": customer.source,
        "store": store.name if store else None,
        "first_seen_at": customer.first_seen_at,
        "do_not_disturb": customer.do_not_disturb,
        "suppressed": customer.suppressed,
        "orders": int(orders),
        "spend_fen": int(spend),
        "identities": [
            {
                "kind": kind,
                "namespace": ns,
                "value": value if show else ids.mask_identity(kind, value),
            }
            for kind, ns, value in idents
        ],
    }


def merge_preview(
    session: Session, principal: Principal, winner_id: int, loser_id: int, *, unmask: bool = False
) -> dict[str, Any]:
    """What merging ``loser_id`` into ``winner_id`` would do, refused as the merge would be
    (itself, another store's, missing, merged or erased)."""
    if winner_id == loser_id:
        raise CustomerError("cannot merge a customer into itself")
    get_visible(session, principal, winner_id)
    get_visible(session, principal, loser_id)
    winner, loser = active_customer(session, winner_id), active_customer(session, loser_id)
    show = may_unmask(session, principal, unmask, [winner.id, loser.id])
    held = identities_of(session.connection(), [winner.id, loser.id])
    winner_tags = sa.select(CustomerTag.tag_id).where(CustomerTag.customer_id == winner.id)

    def count(model: Any, *where: Any) -> int:
        return int(
            session.scalar(
                sa.select(sa.func.count())
                .select_from(model)
                .where(model.customer_id == loser.id, *where)
            )
            or 0
        )

    return {
        "winner": profile_card(session, winner, show=show),
        "loser": profile_card(session, loser, show=show),
        "unmasked": show,
        "clash": clashing_kind(held[winner.id], held[loser.id]),
        "moves": {
            "identities": len(held[loser.id]),
            "consents": count(Consent),
            "orders": count(Order),
            "events": count(Event),
            "tags": count(
                CustomerTag, CustomerTag.source != "rule", CustomerTag.tag_id.not_in(winner_tags)
            ),
        },
        "fills": [
            f
            for f in PROFILE_FIELDS
            if getattr(winner, f) is None and getattr(loser, f) is not None
        ],
        "carries_do_not_disturb": loser.do_not_disturb and not winner.do_not_disturb,
        "carries_suppression": loser.suppressed and not winner.suppressed,
    }


@dataclass
class ConflictPage:
    total: int
    page: int
    per_page: int
    unmasked: bool
    items: list[dict[str, Any]]


def _open_conflicts(principal: Principal) -> sa.Select[IdentityConflict, Customer, Customer]:
    """Open conflicts whose two profiles are both active and both visible to the reader."""
    a, b = aliased(Customer), aliased(Customer)
    c = IdentityConflict
    return (
        sa.select(c, a, b)
        .join(a, a.id == c.customer_id)
        .join(b, b.id == c.other_customer_id)
        .where(
            c.resolved_at.is_(None),
            a.status == "active",
            b.status == "active",
            a.id.in_(sa.select(Customer.id).where(visible_to(principal))),
            b.id.in_(sa.select(Customer.id).where(visible_to(principal))),
        )
    )


def list_conflicts(
    session: Session,
    principal: Principal,
    *,
    unmask: bool = False,
    page: int = 1,
    per_page: int = 20,
) -> ConflictPage:
    """The conflicts waiting for review, oldest first, each with both profiles."""
    stmt = _open_conflicts(principal)
    total = session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery())) or 0
    per_page, page = max(1, min(per_page, 100)), max(1, page)
    rows = session.execute(
        stmt.order_by(IdentityConflict.id).limit(per_page).offset((page - 1) * per_page)
    ).all()
    shown = sorted({x.id for _c, a, b in rows for x in (a, b)})
    show = may_unmask(session, principal, unmask, shown)
    items = [
        {
            "id": c.id,
            "kind": c.kind,
            "source": c.source,
            "created_at": c.created_at,
            "a": profile_card(session, a, show=show),
            "b": profile_card(session, b, show=show),
        }
        for c, a, b in rows
    ]
    return ConflictPage(int(total), page, per_page, show, items)


def open_conflict(session: Session, principal: Principal, conflict_id: int) -> IdentityConflict:
    """An open conflict the reader may act on (both profiles visible and still active)."""
    found = session.execute(
        _open_conflicts(principal).where(IdentityConflict.id == conflict_id)
    ).first()
    if found is None:
        conflict = session.get(IdentityConflict, conflict_id)
        if conflict is None:
            raise NoSuchCustomer("no identity conflict {id}", id=conflict_id)
        if conflict.resolved_at is None:  # a profile gone, merged, or not the reader's
            for cid in (conflict.customer_id, conflict.other_customer_id):
                get_visible(session, principal, cid)
                active_customer(session, cid)
        raise CustomerError(
            "identity conflict {id} was already settled ({resolution})",
            id=conflict_id,
            resolution=conflict.resolution or "-",
        )
    return found[0]


def keep_apart(
    session: Session, principal: Principal, conflict_id: int, reason: str | None = None
) -> int:
    """The two profiles are two people: the pair leaves the list, and the resolver neither
    raises it again nor merges it by itself. Returns how many conflict entries it closed."""
    conflict = open_conflict(session, principal, conflict_id)
    why = clean_text(reason)
    if len(why) > 200:
        raise CustomerError("reason: at most {n} characters", n=200)
    a, b = conflict.customer_id, conflict.other_customer_id
    closed = resolve_pair(session.connection(), a, b, KEPT_APART, principal.actor)
    record_audit(
        session,
        principal.actor,
        "identity_conflict.keep_apart",
        "customer",
        str(a),
        {"other": b, "conflict": conflict_id, "kind": conflict.kind, "reason": why},
    )
    session.flush()
    session.expire_all()
    return closed


def merge_conflict(
    session: Session, principal: Principal, conflict_id: int, keep: int | None = None
) -> int:
    """Merge the pair (the operator has checked they are one person, so different strong ids
    do not stop it); ``keep`` is the profile that stays, by default the resolver's first."""
    conflict = open_conflict(session, principal, conflict_id)
    pair = (conflict.customer_id, conflict.other_customer_id)
    winner = pair[0] if keep is None else keep
    if winner not in pair:
        raise CustomerError(
            "keep one of the two customers of the conflict: {a} or {b}", a=pair[0], b=pair[1]
        )
    loser = pair[1] if winner == pair[0] else pair[0]
    return merge_for(session, principal, winner, loser, force=True)
