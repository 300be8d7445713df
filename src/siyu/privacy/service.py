"""PIPL (个人信息保护法) rights: what we hold about a person, and erasing it.

Erasure removes the person from every table, from the rejects files the importers wrote, and
from the database file itself (SQLite: secure_delete + WAL truncation; PostgreSQL: VACUUM of the
touched tables). It keeps one suppression entry per identity — an HMAC under SIYU_SECRET_KEY —
so a re-import or a replayed event cannot re-create a marketable profile. Capabilities that keep
their own copies (the analytical copy, message logs…) register an eraser in ``ERASERS``.
"""

from __future__ import annotations

import csv
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu.accounts.models import AuditLog
from siyu.accounts.service import record_audit
from siyu.config import Settings
from siyu.customers import identifiers as ids
from siyu.customers.models import Consent, Customer, Identity, IdentityConflict, MergeLog
from siyu.db import plain_value, table_of
from siyu.events.models import Event
from siyu.orders.models import Order, OrderLine
from siyu.privacy.digest import identity_digest
from siyu.privacy.models import Suppression


class PrivacyError(ValueError):
    pass


@dataclass
class ErasureContext:
    customer_ids: list[int]
    identities: list[tuple[str, str, str]]
    settings: Settings


# Erasers of other capabilities: called inside the erasure transaction with the context.
ERASERS: list[Callable[[Session, ErasureContext], int]] = []
# Modules that register an eraser when imported; erasure imports them all first.
ERASER_MODULES = (
    "siyu.traits.service",
    "siyu.tags.service",
    "siyu.segments.membership",
    "siyu.wecom.privacy",
    "siyu.oa.privacy",
)


@dataclass
class ErasureReport:
    customers: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    suppressed_identities: int = 0
    reject_rows_removed: int = 0
    storage: str = ""


def find_by_phone(session: Session, phone: str) -> Customer:
    try:
        value = ids.phone(phone)
    except ids.Rejected as exc:
        raise PrivacyError(f"{phone!r} is not a usable phone number: {exc}") from None
    cid = session.scalar(
        sa.select(Identity.customer_id).where(
            Identity.kind == "phone", Identity.namespace == "", Identity.value == value
        )
    )
    if cid is None:
        raise PrivacyError("no customer holds this phone number")
    customer = session.get(Customer, cid)
    assert customer is not None
    return customer


def _family(session: Session, customer_id: int) -> list[int]:
    """The customer and every profile merged into it (their shells still hold a snapshot)."""
    found, frontier = {customer_id}, [customer_id]
    while frontier:
        rows = session.scalars(
            sa.select(Customer.id).where(Customer.merged_into_id.in_(frontier))
        ).all()
        frontier = [r for r in rows if r not in found]
        found.update(frontier)
    return sorted(found)


def export_person(session: Session, phone: str, actor: str) -> dict[str, Any]:
    """Everything Siyu holds about the person with this phone, unmasked (PIPL art. 45)."""
    customer = find_by_phone(session, phone)
    family = _family(session, customer.id)
    profile_cols = [c.key for c in table_of(Customer).columns]
    profiles = [
        {k: plain_value(getattr(c, k)) for k in profile_cols}
        for c in session.scalars(sa.select(Customer).where(Customer.id.in_(family)))
    ]
    orders = session.scalars(
        sa.select(Order).where(Order.customer_id.in_(family)).order_by(Order.id)
    ).all()
    lines = (
        session.scalars(
            sa.select(OrderLine).where(OrderLine.order_id.in_([o.id for o in orders]))
        ).all()
        if orders
        else []
    )
    data = {
        "customer_id": customer.id,
        "profiles": profiles,
        "identities": _rows(session, Identity, Identity.customer_id.in_(family)),
        "consents": _rows(session, Consent, Consent.customer_id.in_(family)),
        "orders": [
            {**_row(o), "lines": [_row(ln) for ln in lines if ln.order_id == o.id]} for o in orders
        ],
        "events": _rows(session, Event, Event.customer_id.in_(family)),
        "merges": _rows(
            session, MergeLog, sa.or_(MergeLog.winner_id.in_(family), MergeLog.loser_id.in_(family))
        ),
    }
    record_audit(session, actor, "privacy.export", "customer", str(customer.id))
    return data


def erase_person(session: Session, settings: Settings, phone: str, actor: str) -> ErasureReport:
    """Remove the person everywhere and suppress their identities. The caller commits, then
    calls ``scrub_storage`` so deleted pages do not keep the data readable."""
    customer = find_by_phone(session, phone)
    family = _family(session, customer.id)
    secret = settings.secret_key_bytes()
    identities = [
        (i.kind, i.namespace, i.value)
        for i in session.scalars(sa.select(Identity).where(Identity.customer_id.in_(family)))
    ]
    report = ErasureReport(customers=len(family))
    existing = set(session.scalars(sa.select(Suppression.digest)))
    for kind, ns, value in identities:
        digest = identity_digest(secret, kind, ns, value)
        if digest not in existing:
            session.add(Suppression(digest=digest, kind=kind, reason="erased"))
            existing.add(digest)
            report.suppressed_identities += 1
    ctx = ErasureContext(family, identities, settings)
    for module in ERASER_MODULES:
        importlib.import_module(module)
    for eraser in ERASERS:
        report.counts[eraser.__name__] = eraser(session, ctx)
    order_ids = sa.select(Order.id).where(Order.customer_id.in_(family))
    steps: list[tuple[str, Any]] = [
        ("order_line", sa.delete(OrderLine).where(OrderLine.order_id.in_(order_ids))),
        ("order", sa.delete(Order).where(Order.customer_id.in_(family))),
        ("event", sa.delete(Event).where(Event.customer_id.in_(family))),
        ("consent", sa.delete(Consent).where(Consent.customer_id.in_(family))),
        (
            "identity_conflict",
            sa.delete(IdentityConflict).where(
                sa.or_(
                    IdentityConflict.customer_id.in_(family),
                    IdentityConflict.other_customer_id.in_(family),
                )
            ),
        ),
        (
            "merge_log",
            sa.delete(MergeLog).where(
                sa.or_(MergeLog.winner_id.in_(family), MergeLog.loser_id.in_(family))
            ),
        ),
        ("identity", sa.delete(Identity).where(Identity.customer_id.in_(family))),
    ]
    for name, stmt in steps:
        report.counts[name] = int(getattr(session.execute(stmt), "rowcount", 0) or 0)
    session.execute(
        sa.update(Customer).where(Customer.merged_into_id.in_(family)).values(merged_into_id=None)
    )
    report.counts["customer"] = int(
        getattr(session.execute(sa.delete(Customer).where(Customer.id.in_(family))), "rowcount", 0)
        or 0
    )
    # Audit entries about the person keep the fact (who erased whom, when) but no details.
    session.execute(
        sa.update(AuditLog)
        .where(AuditLog.target_type == "customer", AuditLog.target_id.in_([str(f) for f in family]))
        .values(details={})
    )
    report.reject_rows_removed = scrub_rejects(settings.data_dir / "rejects", identities)
    record_audit(
        session,
        actor,
        "privacy.erase",
        "customer",
        str(customer.id),
        {"profiles": len(family), "suppressed_identities": report.suppressed_identities},
    )
    return report


def scrub_rejects(folder: Path, identities: list[tuple[str, str, str]]) -> int:
    """Drop rows of the importers' rejects files that carry any of the person's identities."""
    if not folder.is_dir():
        return 0
    values = {v for _k, _ns, v in identities}
    values |= {v[3:] for v in values if v.startswith("+86")}
    removed = 0
    for path in sorted(folder.glob("*.csv")):
        with path.open(encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.reader(fh))
        keep = [r for r in rows if not _mentions(r, values)]
        if len(keep) != len(rows):
            removed += len(rows) - len(keep)
            tmp = path.with_suffix(".tmp")
            with tmp.open("w", encoding="utf-8-sig", newline="") as fh:
                csv.writer(fh).writerows(keep)
            tmp.replace(path)
    return removed


def _mentions(row: list[str], values: set[str]) -> bool:
    for cell in row:
        text = cell.strip().lstrip("'")
        if text in values or text.lower() in values:
            return True
        digits = "".join(ch for ch in text if ch.isdigit())
        if len(digits) >= 11 and (digits in values or digits[-11:] in values):
            return True
    return False


def scrub_storage(session: Session) -> str:
    """Make deleted rows unreadable in the database files themselves."""
    from siyu.db import get_engine

    bind = get_engine()
    if bind.dialect.name == "sqlite":
        with bind.connect() as conn:
            busy = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").first()
        if busy and busy[0]:
            return "sqlite: WAL still in use by another process; it is truncated at its next checkpoint"
        return "sqlite: secure_delete zeroed the freed content; WAL checkpointed and truncated"
    tables = [
        "order_line",
        "order",
        "event",
        "consent",
        "identity",
        "merge_log",
        "customer",
        "audit_log",
    ]
    with bind.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for t in tables:
            conn.exec_driver_sql(f'VACUUM "{t}"')
    return "postgresql: VACUUM ran on the touched tables"


def _row(obj: Any) -> dict[str, Any]:
    return {c.key: plain_value(getattr(obj, c.key)) for c in table_of(obj).columns}


def _rows(session: Session, model: Any, where: Any) -> list[dict[str, Any]]:
    return [_row(o) for o in session.scalars(sa.select(model).where(where).order_by(model.id))]
