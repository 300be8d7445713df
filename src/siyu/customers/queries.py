"""Read paths for the customer pool: list/search and the customer detail, masked by default."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu.accounts.service import Principal, record_audit
from siyu.brands.models import Store
from siyu.bulk import chunks, from_db_time, rows_where_in, session_reads
from siyu.capability import TemplateVariables
from siyu.customers import CUSTOMERS_UNMASK
from siyu.customers import identifiers as ids
from siyu.customers.insight import insight, order_summary
from siyu.customers.masking import mask_optional, mask_properties, mask_text
from siyu.customers.models import Consent, Customer, Identity, IdentityConflict, MergeLog
from siyu.customers.service import get_visible, visible_to
from siyu.events.models import Event
from siyu.orders.models import Order, OrderLine


@dataclass
class CustomerFilter:
    q: str | None = None  # phone, name or member number
    source: str | None = None
    store_id: int | None = None
    page: int = 1
    per_page: int = 50


def _phone_key(q: str) -> str | None:
    try:
        return ids.phone(q)
    except ids.Rejected:
        return None


def _matching(principal: Principal, f: CustomerFilter) -> sa.Select[Any]:
    """Active customers the principal may see that match the filter."""
    stmt = sa.select(Customer).where(Customer.status == "active", visible_to(principal))
    if f.q:
        q = f.q.strip()
        phone = _phone_key(q)
        by_identity = sa.select(Identity.customer_id).where(
            sa.or_(
                sa.and_(Identity.kind == "phone", Identity.value == phone) if phone else sa.false(),
                sa.and_(Identity.kind.in_(["member_id", "buyer_id", "email"]), Identity.value == q),
            )
        )
        stmt = stmt.where(
            sa.or_(Customer.id.in_(by_identity), Customer.name.like(f"{_escape(q)}%", escape="\\"))
        )
    if f.source:
        stmt = stmt.where(Customer.source == f.source)
    if f.store_id:
        stmt = stmt.where(Customer.store_id == f.store_id)
    return stmt


def customer_ids(session: Session, principal: Principal, f: CustomerFilter) -> list[int]:
    """Every id the filter matches (for bulk actions such as tagging), not just one page."""
    return list(session.scalars(_matching(principal, f).with_only_columns(Customer.id)))


def list_customers(session: Session, principal: Principal, f: CustomerFilter) -> dict[str, Any]:
    stmt = _matching(principal, f)
    total = session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery())) or 0
    per_page = max(1, min(f.per_page, 200))
    page = max(1, f.page)
    rows = session.scalars(
        stmt.order_by(Customer.id.desc()).limit(per_page).offset((page - 1) * per_page)
    ).all()
    items = customer_rows(session, rows)
    return {"total": total, "page": page, "per_page": per_page, "items": items}


def customer_rows(session: Session, customers: Sequence[Customer]) -> list[dict[str, Any]]:
    """The customer list's rows (masked name and phone), in the order given."""
    phones = phones_of(session, [c.id for c in customers])
    stores = _store_names(session, {c.store_id for c in customers if c.store_id})
    return [
        {
            "id": c.id,
            "name": ids.mask_name(c.name),
            "phone": ids.mask_phone(phones.get(c.id)),
            "city": mask_optional(c.city),
            "source": c.source,
            "store": stores.get(c.store_id) if c.store_id else None,
            "first_seen_at": c.first_seen_at,
            "suppressed": c.suppressed,
        }
        for c in customers
    ]


def filter_choices(session: Session) -> tuple[list[tuple[int, str]], list[str]]:
    """The stores and acquisition sources the customer list can be filtered by."""
    stores = [
        (sid, name)
        for sid, name in session.execute(sa.select(Store.id, Store.name).order_by(Store.name))
    ]
    sources = [
        source
        for source in session.scalars(
            sa.select(Customer.source)
            .where(Customer.source.is_not(None))
            .distinct()
            .order_by(Customer.source)
        )
        if source
    ]
    return stores, sources


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def phones_of(session: Session, customer_ids: Iterable[int]) -> dict[int, str]:
    """Each customer's first phone number. Looked up by customer id alone and filtered here:
    with ``kind = 'phone'`` in the query, SQLite without statistics walks every phone in the
    (kind, namespace, value) index instead — seconds at a million customers."""
    out: dict[int, str] = {}
    for part in chunks(sorted(set(customer_ids)), 5000):
        rows = session.execute(
            sa.select(Identity.customer_id, Identity.kind, Identity.value, Identity.id).where(
                Identity.customer_id.in_(part)
            )
        )
        for cid, kind, value, _id in sorted(rows, key=lambda r: r[3]):
            if kind == ids.Kind.phone.value:
                out.setdefault(cid, value)
    return out


def _store_names(session: Session, store_ids: set[int | None]) -> dict[int, str]:
    if not store_ids:
        return {}
    rows = session.execute(sa.select(Store.id, Store.name).where(Store.id.in_(store_ids)))
    return {sid: name for sid, name in rows}


def customer_detail(
    session: Session, principal: Principal, customer_id: int, *, unmask: bool = False
) -> dict[str, Any]:
    """Everything the console shows on a customer page; unmasking needs the permission and is
    audit-logged."""
    c = get_visible(session, principal, customer_id)
    show = unmask and principal.can(CUSTOMERS_UNMASK)
    if unmask and not show:
        record_audit(session, principal.actor, "customer.unmask.denied", "customer", str(c.id))
    if show:
        record_audit(session, principal.actor, "customer.unmask", "customer", str(c.id))
    idents = session.scalars(
        sa.select(Identity).where(Identity.customer_id == c.id).order_by(Identity.id)
    ).all()
    consents = session.scalars(
        sa.select(Consent)
        .where(Consent.customer_id == c.id)
        .order_by(Consent.channel, Consent.brand_id, Consent.id)
    ).all()
    orders = session.scalars(
        sa.select(Order)
        .where(Order.customer_id == c.id)
        .order_by(Order.paid_at.desc().nulls_last(), Order.id.desc())
        .limit(100)
    ).all()
    lines: dict[int, list[dict[str, Any]]] = {}
    if orders:
        for line in session.scalars(
            sa.select(OrderLine)
            .where(OrderLine.order_id.in_([o.id for o in orders]))
            .order_by(OrderLine.line_no)
        ):
            lines.setdefault(line.order_id, []).append(
                {
                    "sku": line.sku,
                    "product": line.product_name,
                    "category": line.category,
                    "quantity": line.quantity,
                    "amount_fen": line.amount_fen,
                }
            )
    events = session.scalars(
        sa.select(Event)
        .where(Event.customer_id == c.id)
        .order_by(Event.occurred_at.desc())
        .limit(100)
    ).all()
    merges = session.scalars(
        sa.select(MergeLog)
        .where(sa.or_(MergeLog.winner_id == c.id, MergeLog.loser_id == c.id))
        .order_by(MergeLog.id)
    ).all()
    store = session.get(Store, c.store_id) if c.store_id else None
    summary = order_summary(session, c.id)

    def masked(kind: str, value: str) -> str:
        return value if show else ids.mask_identity(kind, value)

    detail: dict[str, Any] = {
        "id": c.id,
        "status": c.status,
        "name": c.name if show else ids.mask_name(c.name),
        "gender": c.gender,
        "birthday": c.birthday.isoformat()
        if c.birthday and show
        else (f"****-{c.birthday:%m-%d}" if c.birthday else None),
        "province": c.province if show else mask_optional(c.province),
        "city": c.city if show else mask_optional(c.city),
        "source": c.source,
        "store": store.name if store else None,
        "first_seen_at": _iso(c.first_seen_at),
        "suppressed": c.suppressed,
        "do_not_disturb": c.do_not_disturb,
        "do_not_disturb_source": c.do_not_disturb_source,
        "do_not_disturb_reason": c.do_not_disturb_reason if show else None,
        "do_not_disturb_by": c.do_not_disturb_by,
        "do_not_disturb_at": _iso(c.do_not_disturb_at),
        "merged_into_id": c.merged_into_id,
        "unmasked": show,
        "order_count": summary["orders"],
        "spend_fen": summary["net_spend_fen"],
        "identities": [
            {
                "kind": i.kind,
                "namespace": i.namespace,
                "value": masked(i.kind, i.value),
                "verified": i.verified,
                "source": i.source,
                "created_at": _iso(i.created_at),
            }
            for i in idents
        ],
        "consents": [
            {
                "id": k.id,
                "brand_id": k.brand_id,
                "channel": k.channel,
                "purpose": k.purpose,
                "address": masked("phone" if k.channel == "sms" else "email", k.address),
                "status": k.status,
                "source": k.source,
                "evidence": k.evidence if show else None,
                "evidence_ref": k.evidence_ref if show else None,
                "recorded_by": k.recorded_by,
                "recorded_at": _iso(k.recorded_at),
            }
            for k in consents
        ],
        "orders": [
            {
                "id": o.id,
                "platform": o.platform,
                "order_id": o.platform_order_id,
                "status": o.status,
                "paid_fen": o.paid_fen,
                "refund_fen": o.refund_fen,
                "paid_at": _iso(o.paid_at),
                "store_id": o.store_id,
                "lines": lines.get(o.id, []),
            }
            for o in orders
        ],
        "events": [
            {
                "id": e.id,
                "type": e.type,
                "name": e.name if show or not e.name else mask_text(e.name),
                "occurred_at": _iso(e.occurred_at),
                "properties": e.properties if show else mask_properties(e.properties),
            }
            for e in events
        ],
        "merges": [
            {
                "id": m.id,
                "winner_id": m.winner_id,
                "loser_id": m.loser_id,
                "reason": m.reason,
                "actor": m.actor,
                "created_at": _iso(m.created_at),
                "undone_at": _iso(m.undone_at),
            }
            for m in merges
        ],
    }
    return detail | insight(
        session, c.id, detail["city"], summary, detail["orders"], detail["events"]
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def customers_by_phones(session: Session, phones: Iterable[str]) -> tuple[list[int], list[str]]:
    """Customer ids for phone numbers as people type them; the ones not found come back too,
    in the order given."""
    typed: list[tuple[str, str | None]] = []
    for raw in phones:
        try:
            typed.append((raw, ids.NORMALISERS[ids.Kind.phone](raw)))
        except ids.Rejected:
            typed.append((raw, None))
    owner: dict[str, int] = {}
    for part in chunks(sorted({v for _r, v in typed if v}), 5000):
        rows = session.execute(
            sa.select(Identity.value, Identity.customer_id).where(
                Identity.kind == ids.Kind.phone.value,
                Identity.namespace == "",
                Identity.value.in_(part),
            )
        )
        owner.update((value, cid) for value, cid in rows)
    found = sorted({owner[v] for _r, v in typed if v in owner})
    return found, [raw for raw, v in typed if v not in owner]


def customers_by_identity(
    session: Session, kind: str, namespace: str | None, raws: Iterable[str]
) -> dict[str, int]:
    """Customer ids by an identity as written (a phone, a member number), normalised as the
    importers normalise it; ``namespace`` None: in any namespace (one owner, else left out)."""
    normalise = ids.NORMALISERS[ids.Kind(kind)]
    typed: dict[str, str] = {}
    for raw in raws:
        try:
            typed[raw] = normalise(raw)
        except ids.Rejected:
            continue
    owner: dict[str, set[int]] = {}
    for part in chunks(sorted(set(typed.values())), 5000):
        where = [Identity.kind == kind, Identity.value.in_(part)]
        if namespace is not None:
            where.append(Identity.namespace == namespace)
        for value, cid in session.execute(
            sa.select(Identity.value, Identity.customer_id).where(*where)
        ):
            owner.setdefault(value, set()).add(int(cid))
    return {raw: next(iter(owner[v])) for raw, v in typed.items() if len(owner.get(v, ())) == 1}


def profile_variables(
    session: Session,
    ids: Sequence[int],
    out: dict[int, dict[str, Any]],
    _today: date,
    _wanted: Collection[str] | None,
) -> None:
    """Template variables from the profile: name, city, province, the store's name."""
    rows = session.execute(
        sa.select(Customer.id, Customer.name, Customer.city, Customer.province, Store.name)
        .outerjoin(Store, Store.id == Customer.store_id)
        .where(Customer.id.in_(ids))
    )
    for cid, name, city, province, store in rows:
        out[cid].update(name=name, city=city, province=province, store=store)


TEMPLATE_VARIABLES = (
    TemplateVariables(
        labels={"name": "姓名", "city": "城市", "province": "省份", "store": "门店"},
        samples={"name": "王芳", "city": "上海", "province": "上海", "store": "南京西路店"},
        load=profile_variables,
        personal=frozenset({"name"}),
    ),
)


def first_seen(session: Session, customer_ids: Collection[int]) -> datetime | None:
    """When the first of these profiles was made (a referral's invitee made before the link
    was opened is not new)."""
    return session.scalar(
        sa.select(sa.func.min(Customer.created_at)).where(Customer.id.in_(list(customer_ids)))
    )


def linked(session: Session, these: Collection[int], those: Collection[int]) -> bool:
    """Whether the pool found two groups of profiles sharing a strong identity (a phone, a
    unionid, a buyer id) it would not merge by itself, whichever way round."""
    if not these or not those:
        return False
    a, b = list(these), list(those)
    pair = sa.or_(
        sa.and_(IdentityConflict.customer_id.in_(a), IdentityConflict.other_customer_id.in_(b)),
        sa.and_(IdentityConflict.customer_id.in_(b), IdentityConflict.other_customer_id.in_(a)),
    )
    return session.scalar(sa.select(IdentityConflict.id).where(pair).limit(1)) is not None


def display_names(session: Session, customer_ids: Collection[int]) -> dict[int, str]:
    """Customers' names as saved (empty when unknown), for pages that mask them."""
    return {
        cid: name or ""
        for cid, name in session.execute(
            sa.select(Customer.id, Customer.name).where(Customer.id.in_(list(customer_ids)))
        )
    }


def first_seen_each(session: Session, customer_ids: Collection[int]) -> dict[int, datetime]:
    """When each profile was made."""
    rows = rows_where_in(
        session_reads(session),
        "SELECT id, created_at FROM customer WHERE id IN ({in})",
        (),
        sorted(set(customer_ids)),
    )
    return {int(cid): from_db_time(at) for cid, at in rows}  # type: ignore[misc]


def openids_each(session: Session, customer_ids: Collection[int]) -> dict[int, set[str]]:
    """Each profile's WeChat openids, as ``appid:openid`` (an openid is one per account)."""
    rows = rows_where_in(
        session_reads(session),
        "SELECT customer_id, namespace, value FROM identity WHERE kind = 'openid' "
        "AND customer_id IN ({in})",
        (),
        sorted(set(customer_ids)),
    )
    out: dict[int, set[str]] = {}
    for cid, namespace, value in rows:
        out.setdefault(int(cid), set()).add(f"{namespace}:{value}")
    return out


def linked_pairs(session: Session, customer_ids: Collection[int]) -> set[frozenset[int]]:
    """Pairs of these profiles the pool found sharing a strong identity it would not merge by
    itself (an identity conflict), either way round."""
    ids = sorted(set(customer_ids))
    conn = session_reads(session)
    out: set[frozenset[int]] = set()
    for column in ("customer_id", "other_customer_id"):  # each by its own index
        sql = f"SELECT customer_id, other_customer_id FROM identity_conflict WHERE {column} IN ({{in}})"  # noqa: S608 - names are ours
        for a, b in rows_where_in(conn, sql, (), ids):
            out.add(frozenset((int(a), int(b))))
    return out


def home_stores(session: Session, customer_ids: Collection[int]) -> dict[int, int | None]:
    """Each customer's home store (None: none set), for figures broken down by store."""
    out: dict[int, int | None] = {}
    for part in chunks(list(customer_ids), 1000):
        rows = session.execute(
            sa.select(Customer.id, Customer.store_id).where(Customer.id.in_(part))
        )
        out.update((cid, store) for cid, store in rows)
    return out
