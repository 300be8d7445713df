"""Do-not-disturb and marketing consent, as staff (and later the member) record them.

Send policy reads both at send time (``reach.policy``): a customer marked do-not-disturb gets no
marketing, and a withdrawn consent stops marketing on that channel to that address at once.

Consent is keyed to (brand, channel, purpose, address) and holds the newest statement: who said
it (source), when, and the evidence. Staff record a grant only with evidence (a note and/or a
reference such as a signed form's number); a withdrawal needs none and always takes effect now.
A grant never replaces a withdrawal silently: one older than the withdrawal is refused, and one
newer needs the operator to confirm that the customer consented again after withdrawing.

Do-not-disturb keeps who set it: an ``operator`` (with a reason), an ``import`` column, or the
``member`` themself. An import can set it, and clear only what an import set.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.accounts.service import record_audit
from siyu.brands.models import Brand
from siyu.config import get_settings
from siyu.customers import identifiers as ids
from siyu.customers.changes import touch_customers
from siyu.customers.models import Consent, Customer, Identity
from siyu.customers.service import CustomerError
from siyu.orders.models import Order

DND_SOURCES = ("operator", "import", "member")
# Channels whose marketing needs the customer's own yes, and the identity that is the address.
CONSENT_CHANNELS = {"sms": ids.Kind.phone.value, "email": ids.Kind.email.value}
REASON_MAX, NOTE_MAX, REFERENCE_MAX = 200, 500, 100
CLOCK_SKEW = timedelta(minutes=5)  # a grant "given" a little ahead of our clock is still now


def set_do_not_disturb(
    session: Session,
    customer: Customer,
    on: bool,
    *,
    source: str,
    actor: str,
    reason: str | None = None,
) -> bool:
    """Turn the customer's do-not-disturb on or off; returns whether anything changed.

    ``source`` says who asked: ``operator`` (a reason is required), ``import`` or ``member``.
    An import never clears a do-not-disturb an operator or the member set."""
    if source not in DND_SOURCES:
        raise CustomerError(
            "do-not-disturb source: one of {choices}", choices=", ".join(DND_SOURCES)
        )
    if customer.status != "active":
        raise CustomerError("customer {id} is {status}", id=customer.id, status=customer.status)
    why = clean_text(reason)
    if len(why) > REASON_MAX:
        raise CustomerError("reason: at most {n} characters", n=REASON_MAX)
    if source == "operator" and not why:
        raise CustomerError("give the reason for the change (what the customer asked, and when)")
    held = customer.do_not_disturb_source
    if customer.do_not_disturb == on and not (
        on and source != "import" and held in (None, "import")
    ):
        return False  # as asked already (a person confirming a file's mark takes it over)
    if not on and source == "import" and held != "import":
        return False  # the customer or staff said so (or nobody knows who); a file does not undo it
    was = {"source": customer.do_not_disturb_source, "at": _iso(customer.do_not_disturb_at)}
    customer.do_not_disturb = on
    customer.do_not_disturb_source = source
    customer.do_not_disturb_reason = why or None
    customer.do_not_disturb_by = actor
    customer.do_not_disturb_at = clock.now()
    record_audit(
        session,
        actor,
        "customer.do_not_disturb",
        "customer",
        str(customer.id),
        {"on": on, "source": source, "reason": why, "was": was},
    )
    session.flush()
    return True


@dataclass(frozen=True)
class ConsentStatement:
    """What staff record: grant or withdraw marketing consent on one address.

    The address is named by an existing consent row (``consent_id``), by one of the customer's
    identities (``identity_id``), by its value (``address`` with ``channel``), or left to the
    customer's own address for ``channel`` (a verified one first)."""

    action: str  # grant | withdraw
    channel: str | None = None
    address: str | None = None
    identity_id: int | None = None
    consent_id: int | None = None
    brand_id: int | None = None
    brand_code: str | None = None
    purpose: str = "marketing"
    note: str | None = None
    reference: str | None = None
    given_at: datetime | None = None  # a grant: when the customer consented (default now)
    over_withdrawal: bool = False  # a grant: the customer consented again after withdrawing
    by_member: bool = False  # the customer themself, signed in to the member centre


@dataclass(frozen=True)
class ConsentResult:
    consent: Consent
    changed: bool


def record_consent(
    session: Session, customer: Customer, stmt: ConsentStatement, actor: str
) -> ConsentResult:
    """Record a grant or a withdrawal by staff, audit-logged; see the module's rules."""
    if stmt.action not in ("grant", "withdraw"):
        raise CustomerError("action: grant or withdraw")
    if stmt.purpose != "marketing":
        raise CustomerError(
            "purpose: marketing (service messages follow their own rule, not consent)"
        )
    if customer.status != "active":
        raise CustomerError("customer {id} is {status}", id=customer.id, status=customer.status)
    note, reference = clean_text(stmt.note), clean_text(stmt.reference)
    if len(note) > NOTE_MAX:
        raise CustomerError("evidence note: at most {n} characters", n=NOTE_MAX)
    if len(reference) > REFERENCE_MAX:
        raise CustomerError("evidence reference: at most {n} characters", n=REFERENCE_MAX)
    now = clock.now()
    brand_id, channel, address = _key(session, customer, stmt)
    row = session.scalar(
        sa.select(Consent).where(
            Consent.brand_id == brand_id,
            Consent.channel == channel,
            Consent.purpose == stmt.purpose,
            Consent.address == address,
        )
    )
    shown = ids.mask_identity(CONSENT_CHANNELS[channel], address)
    if stmt.action == "withdraw":
        at = now
        if row is not None and row.status == "withdrawn":
            return ConsentResult(row, False)
    else:
        if not (note or reference):
            raise CustomerError(
                "a grant needs evidence: a note of how the customer consented and/or a "
                "reference such as a signed form's number"
            )
        at = stmt.given_at or now
        if at.tzinfo is None:
            raise CustomerError("the time of consent needs its time zone")
        if at > now + CLOCK_SKEW:
            raise CustomerError("the time of consent is in the future")
        at = min(at, now)
        if row is not None and row.status == "withdrawn":
            if row.recorded_at >= at:
                raise CustomerError(
                    "{channel} consent for {address} was withdrawn at {withdrawn}, after the "
                    "consent given at {given}; a grant must be newer than the withdrawal",
                    channel=channel,
                    address=shown,
                    withdrawn=_local(row.recorded_at),
                    given=_local(at),
                )
            if not (stmt.over_withdrawal or stmt.by_member):
                raise CustomerError(
                    "{channel} consent for {address} was withdrawn at {withdrawn}; record a new "
                    "grant only if the customer consented again after that, and confirm it",
                    channel=channel,
                    address=shown,
                    withdrawn=_local(row.recorded_at),
                )
        elif row is not None and row.recorded_at >= at:
            return ConsentResult(row, False)  # already granted, as recently or more
    status = "granted" if stmt.action == "grant" else "withdrawn"
    was = None if row is None else {"status": row.status, "source": row.source}
    if row is None:
        row = Consent(
            customer_id=customer.id,
            brand_id=brand_id,
            channel=channel,
            purpose=stmt.purpose,
            address=address,
        )
        session.add(row)
    row.customer_id = customer.id
    row.status, row.recorded_at = status, at
    row.source = "member" if stmt.by_member else "operator"
    row.evidence = note or None
    row.evidence_ref = reference or None
    row.recorded_by = actor
    touch_customers(session, [customer.id])  # the analytical copy re-reads its consents
    record_audit(
        session,
        actor,
        f"consent.{stmt.action}",
        "customer",
        str(customer.id),
        {
            "brand_id": brand_id,
            "channel": channel,
            "purpose": stmt.purpose,
            "address": shown,
            "reference": reference,
            "at": at.isoformat(),
            "was": was,
            "over_withdrawal": bool(stmt.over_withdrawal and was and was["status"] == "withdrawn"),
        },
    )
    session.flush()
    return ConsentResult(row, True)


@dataclass(frozen=True)
class AddressConsent:
    """One of a customer's addresses and where its marketing consent stands for a brand
    (what the member centre's preferences page shows the customer)."""

    identity_id: int
    channel: str
    shown: str  # masked
    status: str  # granted | withdrawn | none


def consents_for(session: Session, customer_id: int, brand_id: int) -> list[AddressConsent]:
    held = {
        (c.channel, c.address): c.status
        for c in session.scalars(
            sa.select(Consent).where(
                Consent.customer_id == customer_id,
                Consent.brand_id == brand_id,
                Consent.purpose == "marketing",
            )
        )
    }
    return [
        AddressConsent(
            ident,
            channel,
            ids.mask_identity(CONSENT_CHANNELS[channel], value),
            held.get((channel, value), "none"),
        )
        for ident, channel, value in consent_addresses(session, customer_id)
    ]


def consent_addresses(session: Session, customer_id: int) -> list[tuple[int, str, str]]:
    """The customer's addresses consent can be recorded for: (identity id, channel, value)."""
    by_kind = {kind: channel for channel, kind in CONSENT_CHANNELS.items()}
    rows = session.execute(
        sa.select(Identity.id, Identity.kind, Identity.value)
        .where(
            Identity.customer_id == customer_id,
            Identity.kind.in_(list(by_kind)),
            Identity.namespace == "",
        )
        .order_by(Identity.verified.desc(), Identity.id)
    )
    return [(i, by_kind[kind], value) for i, kind, value in rows]


def _key(session: Session, customer: Customer, stmt: ConsentStatement) -> tuple[int, str, str]:
    """(brand id, channel, address) the statement is about, checked to be the customer's."""
    if stmt.consent_id is not None:
        row = session.get(Consent, stmt.consent_id)
        if row is None or row.customer_id != customer.id:
            raise CustomerError(
                "customer {id} has no consent record {consent}",
                id=customer.id,
                consent=stmt.consent_id,
            )
        if row.channel not in CONSENT_CHANNELS:
            raise CustomerError("channel: one of {choices}", choices=", ".join(CONSENT_CHANNELS))
        return row.brand_id, row.channel, row.address
    channel, address = stmt.channel, None
    if stmt.identity_id is not None:
        found = {i: (ch, value) for i, ch, value in consent_addresses(session, customer.id)}
        if stmt.identity_id not in found:
            raise CustomerError(
                "customer {id} has no phone or e-mail address {identity}",
                id=customer.id,
                identity=stmt.identity_id,
            )
        ch, address = found[stmt.identity_id]
        if channel not in (None, "", ch):
            raise CustomerError("that address cannot be reached by {channel}", channel=channel)
        channel = ch
    if channel not in CONSENT_CHANNELS:
        raise CustomerError("channel: one of {choices}", choices=", ".join(CONSENT_CHANNELS))
    kind = CONSENT_CHANNELS[channel]
    own = [value for _i, ch, value in consent_addresses(session, customer.id) if ch == channel]
    if address is None and stmt.address:
        try:
            address = ids.normalise(kind, stmt.address)
        except ids.Rejected:
            address = None
        if address not in own:
            raise CustomerError(
                "that {kind} is not one of customer {id}'s addresses", kind=kind, id=customer.id
            )
    if address is None:
        if not own:
            raise CustomerError(
                "customer {id} has no {kind} to record consent for", id=customer.id, kind=kind
            )
        address = own[0]
    return _brand(session, customer.id, stmt), channel, address


def _brand(session: Session, customer_id: int, stmt: ConsentStatement) -> int:
    """The brand named, else the brand the customer first bought from, else the first brand."""
    if stmt.brand_id is not None or stmt.brand_code:
        where = (
            Brand.id == stmt.brand_id
            if stmt.brand_id is not None
            else Brand.code == stmt.brand_code
        )
        found = session.scalar(sa.select(Brand.id).where(where))
        if found is None:
            raise CustomerError("no brand {brand}", brand=stmt.brand_code or stmt.brand_id)
        return int(found)
    brand = session.scalar(
        sa.select(Order.brand_id)
        .where(Order.customer_id == customer_id)
        .order_by(Order.paid_at.asc().nulls_last(), Order.id)
        .limit(1)
    ) or session.scalar(sa.select(sa.func.min(Brand.id)))
    if brand is None:
        raise CustomerError("no brand yet: create one first (siyu brands add)")
    return int(brand)


def clean_text(text: str | None) -> str:
    """Staff-typed text as stored: trimmed, line ends unified; control characters (a NUL
    would fail on PostgreSQL) refused. Callers bound the length."""
    value = (text or "").replace("\r\n", "\n").strip()
    if any(ord(ch) < 32 and ch not in "\n\t" for ch in value):
        raise CustomerError("text may not hold control characters")
    return value


def _local(at: datetime) -> str:
    return at.astimezone(get_settings().tz).strftime("%Y-%m-%d %H:%M")


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None
