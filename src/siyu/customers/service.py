"""Customer pool use cases: manual merge and unmerge, scoped look-ups for a principal."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.accounts.permissions import Role
from siyu.accounts.service import Principal, record_audit
from siyu.brands.models import Brand
from siyu.customers import CUSTOMERS_READ
from siyu.customers.changes import touch_customers
from siyu.customers.models import Consent, Customer, Identity, MergeLog
from siyu.customers.pairs import MERGED, resolve_pair
from siyu.customers.resolution import DND_FIELDS, clashing_kind, identities_of, merge_profiles
from siyu.events.models import Event
from siyu.orders.models import Order
from siyu.refusals import Refusal
from siyu.tags.models import CustomerTag


class CustomerError(Refusal):
    """A customer operation that cannot be done (no such customer, a merge that would be
    wrong); the message says why."""


class Forbidden(CustomerError):
    """Another store's customer, refused in the very words of a missing one ("no customer
    {id}"), so a store guide cannot tell which ids exist elsewhere; the look-up is audit-logged
    (callers commit before answering)."""


def merge(
    session: Session, winner_id: int, loser_id: int, actor: str, *, force: bool = False
) -> int:
    """Merge B into A by hand. Refused when they hold different strong ids of one kind, unless
    ``force`` (the operator has checked they are one person)."""
    if winner_id == loser_id:
        raise CustomerError("cannot merge a customer into itself")
    winner, loser = active_customer(session, winner_id), active_customer(session, loser_id)
    session.flush()
    held = identities_of(session.connection(), [winner.id, loser.id])
    clash = clashing_kind(held[winner.id], held[loser.id])
    if clash and not force:
        raise CustomerError(
            "customers {a} and {b} hold different {kind} values; "
            "merge with --force only if you have checked they are the same person",
            a=winner.id,
            b=loser.id,
            kind=clash,
        )
    merge_id = merge_profiles(session.connection(), winner.id, loser.id, "manual", actor)
    resolve_pair(session.connection(), winner.id, loser.id, MERGED, actor)
    record_audit(
        session,
        actor,
        "customer.merge",
        "customer",
        str(winner.id),
        {"loser": loser.id, "merge_id": merge_id, "forced": bool(clash)},
    )
    session.flush()
    session.expire_all()
    return merge_id


def unmerge(session: Session, merge_id: int, actor: str) -> MergeLog:
    """Undo a merge: the loser's identities and consents go back, and every order and event
    follows the identity that brought it — including ones added after the merge."""
    log = session.get(MergeLog, merge_id)
    if log is None:
        raise CustomerError("no merge {id}", id=merge_id)
    if log.undone_at is not None:
        raise CustomerError("merge {id} was already undone", id=merge_id)
    winner = session.get(Customer, log.winner_id)
    if winner is None or winner.status != "active":
        later = session.scalar(
            sa.select(MergeLog.id).where(
                MergeLog.loser_id == log.winner_id, MergeLog.undone_at.is_(None)
            )
        )
        raise CustomerError(
            "customer {id} was merged again later; undo merge {later} first",
            id=log.winner_id,
            later=later,
        )
    moved = log.moved
    ident_ids = [
        i
        for i in moved.get("identities", [])
        if session.scalar(sa.select(Identity.customer_id).where(Identity.id == i)) == log.winner_id
    ]
    loser = log.loser_id
    if ident_ids:
        session.execute(
            sa.update(Identity).where(Identity.id.in_(ident_ids)).values(customer_id=loser)
        )
        session.execute(
            sa.update(Order)
            .where(Order.identity_id.in_(ident_ids), Order.customer_id == log.winner_id)
            .values(customer_id=loser, updated_at=clock.now())
        )
        session.execute(
            sa.update(Event)
            .where(Event.identity_id.in_(ident_ids), Event.customer_id == log.winner_id)
            .values(customer_id=loser)
        )
    moved_rows: tuple[tuple[Any, str], ...] = (
        (Consent, "consents"),
        (Order, "orders"),
        (Event, "events"),
        (CustomerTag, "tags"),
    )
    for moved_model, key in moved_rows:
        ids = moved.get(key, [])
        if ids:
            values: dict[str, Any] = {"customer_id": loser}
            if moved_model is Order:  # the analytical copy follows updated_at
                values["updated_at"] = clock.now()
            session.execute(
                sa.update(moved_model)
                .where(moved_model.id.in_(ids), moved_model.customer_id == log.winner_id)
                .values(**values)
            )
    session.execute(
        sa.update(Customer)
        .where(Customer.id == loser)
        .values(status="active", merged_into_id=None, updated_at=clock.now())
    )
    if "do_not_disturb_at" in moved:
        _take_back_do_not_disturb(session, log.winner_id, moved["do_not_disturb_at"])
    touch_customers(session, [log.winner_id])  # identities, consents and tags left it
    log.undone_at = clock.now()
    log.undone_by = actor
    record_audit(session, actor, "customer.unmerge", "customer", str(loser), {"merge_id": merge_id})
    session.flush()
    session.expire_all()
    return log


def _take_back_do_not_disturb(session: Session, winner_id: int, carried_at: str | None) -> None:
    """The winner's do-not-disturb came with the loser at the merge: it leaves with it, unless
    someone set it again since."""
    winner = session.get(Customer, winner_id)
    if winner is None or not winner.do_not_disturb:
        return
    now_at = winner.do_not_disturb_at.isoformat() if winner.do_not_disturb_at else None
    if now_at == carried_at:
        winner.do_not_disturb = False
        for f in DND_FIELDS:
            setattr(winner, f, None)
        session.flush()


def merge_for(
    session: Session, principal: Principal, winner_id: int, loser_id: int, *, force: bool = False
) -> int:
    """``merge`` by someone who must be able to see both customers (a store's staff only
    theirs)."""
    if winner_id == loser_id:
        raise CustomerError("cannot merge a customer into itself")
    get_visible(session, principal, winner_id)
    get_visible(session, principal, loser_id)
    return merge(session, winner_id, loser_id, principal.actor, force=force)


def unmerge_for(session: Session, principal: Principal, merge_id: int) -> MergeLog:
    """``unmerge`` by someone who must be able to see both customers of the merge."""
    log = session.get(MergeLog, merge_id)
    if log is None:
        raise CustomerError("no merge {id}", id=merge_id)
    get_visible(session, principal, log.winner_id)
    get_visible(session, principal, log.loser_id)
    return unmerge(session, merge_id, principal.actor)


def active_customer(session: Session, customer_id: int) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise CustomerError("no customer {id}", id=customer_id)
    if customer.status != "active":
        raise CustomerError("customer {id} is {status}", id=customer_id, status=customer.status)
    return customer


def sees_whole_pool(principal: Principal | None) -> bool:
    """Whether the principal's scope is every customer. ``None`` is the system itself (the
    worker, the machine's operator at the CLI); store guides see their scope only."""
    if principal is None:
        return True
    return principal.can(CUSTOMERS_READ) and principal.role != Role.store_guide


def visible_to(principal: Principal) -> sa.ColumnElement[bool]:
    """The one visibility rule, as a row filter on ``customer``: store guides see only their
    store's customers (home store or bought there) and their own WeCom friends (a friendship
    not since deleted, with the guide's userid); nobody without ``customers:read`` sees any.
    Every read of customers goes through it, directly or through ``only_visible``, and on the
    analytical copy through its twin ``segments.service.guide_scope``."""
    if not principal.can(CUSTOMERS_READ):
        return sa.false()
    if sees_whole_pool(principal):
        return sa.true()
    friends: sa.ColumnElement[bool] = sa.false()
    if principal.wecom_userid:
        friends = Customer.id.in_(_friends_of(principal.wecom_userid))
    if principal.store_id is None:
        return friends
    bought_there = sa.exists().where(
        Order.customer_id == Customer.id, Order.store_id == principal.store_id
    )
    return sa.or_(Customer.store_id == principal.store_id, bought_there, friends)


def only_visible(
    principal: Principal | None, customer_id: sa.ColumnElement[Any] | Any
) -> sa.ColumnElement[bool]:
    """``visible_to`` for any table with a customer id column (tags, segment members, the send
    ledger, WeCom friendships, replies…): counts and lists read through it cover only the
    customers the principal may see. A row without a customer belongs to nobody's scope."""
    if sees_whole_pool(principal):
        return sa.true()
    assert principal is not None
    return customer_id.in_(sa.select(Customer.id).where(visible_to(principal)))


def wecom_friends(session: Session, principal: Principal) -> list[int]:
    """The customers who are a guide's current WeCom friends (the copy holds no friendships:
    its row filter takes them from here, so counts agree with the lists)."""
    if principal.role != "store_guide" or not principal.wecom_userid:
        return []
    return [i for i in session.scalars(_friends_of(principal.wecom_userid).distinct()) if i]


def _friends_of(staff_userid: str) -> sa.Select[int | None]:
    """Customers who are this staff member's WeCom friends now (not since deleted)."""
    from siyu.wecom.contacts.models import WecomContact

    return sa.select(WecomContact.customer_id).where(
        WecomContact.staff_userid == staff_userid,
        WecomContact.deleted_at.is_(None),
        WecomContact.customer_id.is_not(None),
    )


def get_visible(session: Session, principal: Principal, customer_id: int) -> Customer:
    customer = session.scalar(
        sa.select(Customer).where(Customer.id == customer_id, visible_to(principal))
    )
    if customer is None:
        exists = session.get(Customer, customer_id) is not None
        if exists:
            record_audit(session, principal.actor, "customer.denied", "customer", str(customer_id))
            raise Forbidden("no customer {id}", id=customer_id)
        raise CustomerError("no customer {id}", id=customer_id)
    return customer


def withdraw_marketing(
    session: Session,
    *,
    channel: str,
    address: str,
    source: str,
    evidence: str,
    customer_id: int | None = None,
) -> list[int]:
    """A customer says no more marketing on ``channel`` to ``address`` (an unsubscribe link, an
    SMS reply R/退订): every brand's consent for it is withdrawn at once, with the evidence, and
    a withdrawal is recorded even where no consent was held, so a later import cannot grant
    one silently. Returns the customers it concerned."""
    now = clock.now()
    rows = list(
        session.scalars(
            sa.select(Consent).where(
                Consent.channel == channel,
                Consent.purpose == "marketing",
                Consent.address == address,
            )
        )
    )
    for c in rows:
        c.status, c.source, c.evidence, c.recorded_at = "withdrawn", source, evidence, now
    owners = {c.customer_id for c in rows}
    if customer_id is not None and not rows:
        brand = session.scalar(
            sa.select(sa.func.min(Order.brand_id)).where(Order.customer_id == customer_id)
        ) or session.scalar(sa.select(sa.func.min(Brand.id)))
        if brand is not None:
            session.add(
                Consent(
                    customer_id=customer_id,
                    brand_id=brand,
                    channel=channel,
                    purpose="marketing",
                    address=address,
                    status="withdrawn",
                    source=source,
                    evidence=evidence,
                    recorded_at=now,
                )
            )
            owners.add(customer_id)
    if owners:
        touch_customers(session, owners)
        record_audit(
            session,
            source,
            "consent.withdraw",
            "customer",
            ",".join(map(str, sorted(owners))),
            {"channel": channel},
        )
    return sorted(owners)
