"""PIPL (个人信息保护法) rights: what we hold about a person, and erasing it.

Erasure removes the person from every table, from the rejects files the importers wrote, and
from the database file itself (SQLite: secure_delete + WAL truncation; PostgreSQL: VACUUM of the
touched tables). It keeps one suppression entry per identity — an HMAC under SIYU_SECRET_KEY —
so a re-import or a replayed event cannot re-create a marketable profile. Capabilities that keep
their own copies (message logs…) register an eraser in ``ERASERS``.

The analytical copy (DuckDB) is erased in two steps: the rows leave it inside the transaction,
and after the commit ``finish_erasure`` rebuilds its file without them (DuckDB keeps deleted
rows' bytes in free blocks) and searches the new file for the person's values; see
``analytics.erasure``. Callers: ``erase_person``, commit, ``finish_erasure``.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import csvsafe
from siyu.accounts.service import forget_audit_details, record_audit
from siyu.analytics import erasure as copy_erasure
from siyu.bulk import rows_where_in, session_reads
from siyu.capabilities import provided
from siyu.config import Settings
from siyu.customers import identifiers as ids
from siyu.customers.models import Consent, Customer, Identity, IdentityConflict, MergeLog
from siyu.db import plain_value, table_of
from siyu.events.queries import events_of
from siyu.events.service import erase_events
from siyu.orders.queries import orders_with_lines
from siyu.orders.service import erase_orders
from siyu.privacy.digest import identity_digest
from siyu.privacy.models import Suppression
from siyu.reactions import Topic, publish_parts
from siyu.refusals import NotFound, Refusal


class PrivacyError(Refusal):
    """A PIPL request that cannot be carried out (nobody holds the phone, no such customer)."""


class NoSuchPerson(PrivacyError, NotFound):
    """Nobody holds the phone number, or there is no such customer."""


@dataclass
class ErasureContext:
    customer_ids: list[int]
    identities: list[tuple[str, str, str]]
    settings: Settings


# Other capabilities' erasers (their manifests' ``erasers``) run inside the erasure's
# transaction with the context: ``(session, context) -> rows removed``.
Eraser = Callable[[Session, ErasureContext], int]


@dataclass
class ErasureReport:
    customers: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    suppressed_identities: int = 0
    reject_rows_removed: int = 0
    storage: str = ""
    analytical_copy: dict[str, Any] = field(default_factory=dict)
    # what ``finish_erasure`` needs after the commit; held in memory only, never reported
    _customer_ids: list[int] = field(default_factory=list, repr=False)
    _values: list[str] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, Any]:
        """What the CLI prints and the API answers."""
        return {
            "erased_profiles": self.customers,
            "rows_deleted": self.counts,
            "suppressed_identities": self.suppressed_identities,
            "reject_rows_removed": self.reject_rows_removed,
            "storage": self.storage,
            "analytical_copy": self.analytical_copy,
        }


def find_by_phone(session: Session, phone: str) -> Customer:
    try:
        value = ids.phone(phone)
    except ids.Rejected as exc:
        raise PrivacyError(
            "{phone!r} is not a usable phone number: {reason}", phone=phone, reason=str(exc)
        ) from None
    cid = session.scalar(
        sa.select(Identity.customer_id).where(
            Identity.kind == "phone", Identity.namespace == "", Identity.value == value
        )
    )
    if cid is None:
        raise NoSuchPerson("no customer holds this phone number")
    customer = session.get(Customer, cid)
    assert customer is not None
    return customer


def find_person(session: Session, customer_id: int) -> Customer:
    """The profile that holds the person now: a merged profile's request goes to the profile
    it was merged into (which holds its identities, orders and consents)."""
    customer, seen = session.get(Customer, customer_id), set()
    while customer is not None and customer.merged_into_id and customer.id not in seen:
        seen.add(customer.id)
        customer = session.get(Customer, customer.merged_into_id)
    if customer is None:
        raise NoSuchPerson("no customer {id}", id=customer_id)
    return customer


def confirms_erasure(session: Session, customer: Customer, typed: str) -> bool:
    """Whether what the operator typed confirms erasing this person: 删除 (or DELETE), or one
    of the person's phone numbers."""
    text = (typed or "").strip()
    if text in ("删除", "DELETE"):
        return True
    try:
        phone = ids.phone(text)
    except ids.Rejected:
        return False
    held = session.scalar(
        sa.select(Identity.id).where(
            Identity.customer_id.in_(_family(session, customer.id)),
            Identity.kind == "phone",
            Identity.value == phone,
        )
    )
    return held is not None


def family_of(session: Session, customer_id: int) -> list[int]:
    """The customer and every profile merged into it (what belongs to the person now)."""
    return _family(session, customer_id)


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
    return export_customer(session, find_by_phone(session, phone), actor)


def export_customer(session: Session, customer: Customer, actor: str) -> dict[str, Any]:
    """Everything Siyu holds about this customer and the profiles merged into it, unmasked;
    audit-logged."""
    family = _family(session, customer.id)
    profile_cols = [c.key for c in table_of(Customer).columns]
    profiles = [
        {k: plain_value(getattr(c, k)) for k in profile_cols}
        for c in session.scalars(sa.select(Customer).where(Customer.id.in_(family)))
    ]
    data = {
        "customer_id": customer.id,
        "profiles": profiles,
        "identities": _rows(session, Identity, Identity.customer_id.in_(family)),
        "consents": _rows(session, Consent, Consent.customer_id.in_(family)),
        "orders": orders_with_lines(session, family),
        "events": events_of(session, family),
        "merges": [
            # a merge undone since, or of a profile no longer this person's, is not theirs
            m if m["loser_id"] in family else {**m, "loser_snapshot": None}
            for m in _rows(
                session,
                MergeLog,
                sa.and_(
                    MergeLog.undone_at.is_(None),
                    sa.or_(MergeLog.winner_id.in_(family), MergeLog.loser_id.in_(family)),
                ),
            )
        ],
    }
    data["held_elsewhere"] = {
        f"{cap.name}.{section}": rows  # what other capabilities hold (loyalty, centre…)
        for cap, exporter in provided("exporters")
        for section, rows in exporter(session, family).items()
    }
    record_audit(session, actor, "privacy.export", "customer", str(customer.id))
    return data


def erase_person(session: Session, settings: Settings, phone: str, actor: str) -> ErasureReport:
    """Remove the person everywhere and suppress their identities. The caller commits, then
    calls ``scrub_storage`` so deleted pages do not keep the data readable."""
    return erase_customer(session, settings, find_by_phone(session, phone), actor)


def erase_customer(
    session: Session, settings: Settings, customer: Customer, actor: str
) -> ErasureReport:
    """``erase_person`` for a customer found by id (through ``find_person``)."""
    family = _family(session, customer.id)
    secret = settings.secret_key_bytes()
    identities = [
        (i.kind, i.namespace, i.value)
        for i in session.scalars(sa.select(Identity).where(Identity.customer_id.in_(family)))
    ]
    names = session.scalars(
        sa.select(Customer.name).where(Customer.id.in_(family), Customer.name.is_not(None))
    ).all()
    report = ErasureReport(customers=len(family), _customer_ids=list(family))
    report._values = stored_forms(identities, [n for n in names if n])
    existing = set(session.scalars(sa.select(Suppression.digest)))
    for kind, ns, value in identities:
        digest = identity_digest(secret, kind, ns, value)
        if digest not in existing:
            session.add(Suppression(digest=digest, kind=kind, reason="erased"))
            existing.add(digest)
            report.suppressed_identities += 1
    ctx = ErasureContext(family, identities, settings)
    for _cap, eraser in provided("erasers"):
        report.counts[eraser.__name__] = eraser(session, ctx)
    copy_rows = copy_erasure.forget(settings, family)
    report.analytical_copy = {"state": "pending", "rows_removed": copy_rows}
    report.counts.update(erase_orders(session, family))
    report.counts["event"] = erase_events(session, family)
    steps: list[tuple[str, Any]] = [
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
    forget_audit_details(session, "customer", [str(f) for f in family])
    publish_parts(session, Topic.customer_erased, "customers", sorted(family))
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


def finish_erasure(session: Session, settings: Settings, report: ErasureReport) -> ErasureReport:
    """After the erasure's commit: make the deleted rows unreadable in the database files
    (``scrub_storage``), rebuild the analytical copy without the person and search it for their
    values, and drop the dashboard's cached aggregates. Fills in ``report`` and returns it."""
    from siyu.metrics.cache import clear

    report.storage = scrub_storage(session)
    done = copy_erasure.purge(settings, report._customer_ids, report._values)
    early = report.analytical_copy.get("rows_removed", {})
    rows = {t: early.get(t, 0) + done.rows_removed.get(t, 0) for t in {*early, *done.rows_removed}}
    report.analytical_copy = {**done.as_dict(), "rows_removed": dict(sorted(rows.items()))}
    cached = clear(settings)
    if cached:
        report.analytical_copy["files_removed"] = [
            *done.files_removed,
            f"{cached} cached dashboard answers",
        ]
    report._values = []
    return report


def stored_forms(identities: list[tuple[str, str, str]], names: list[str]) -> list[str]:
    """The person's values in the forms Siyu or its inputs store them: identity values as
    normalised (a phone in E.164), a mainland phone also as its national digits and as people
    write it (139 5712 4680, 139-5712-4680), and the names on the profiles."""
    forms = set(names)
    for kind, _ns, value in identities:
        forms.add(value)
        if kind == ids.Kind.phone.value and value.startswith("+86") and len(value) == 14:
            d = value[3:]
            forms |= {d, f"{d[:3]} {d[3:7]} {d[7:]}", f"{d[:3]}-{d[3:7]}-{d[7:]}"}
        elif kind == ids.Kind.phone.value:
            forms.add(value.lstrip("+"))
    return sorted(f for f in forms if f)


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
                # cells as the importer wrote them: the formula guard taken off, put back once
                csvsafe.writer(fh).writerows([[csvsafe.unquote(c) for c in r] for r in keep])
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


def families_of(session: Session, customer_ids: Collection[int]) -> dict[int, list[int]]:
    """``family_of`` for many customers in a few queries (one per level of merges)."""
    parent: dict[int, int] = {}
    frontier = set(customer_ids)
    found = set(frontier)
    conn = session_reads(session) if frontier else None
    while frontier and conn is not None:
        rows = rows_where_in(
            conn,
            "SELECT id, merged_into_id FROM customer WHERE merged_into_id IN ({in})",
            (),
            sorted(frontier),
        )
        frontier = set()
        for child, into in rows:
            if child not in found:
                parent[int(child)] = int(into)
                found.add(int(child))
                frontier.add(int(child))
    out: dict[int, list[int]] = {cid: [cid] for cid in customer_ids}
    for child in parent:
        up = parent[child]
        while True:  # every requested profile above it holds it
            if up in out:
                out[up].append(child)
            if up not in parent:
                break
            up = parent[up]
    return {cid: sorted(members) if len(members) > 1 else members for cid, members in out.items()}
