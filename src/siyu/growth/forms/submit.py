"""Taking a form's answers: limits on who may post how often (per client network and device,
counted in the database), the person behind the answer (a personal link, or the phone proved
by an SMS code — the member centre's own code and identity rules), one answer per person or
per day, the consent kept as evidence, the ``form_submitted`` event segments select on, a
referral the link carried, and a survey's follow-ups for a detractor (``followups``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.accounts.throttle import client_network
from siyu.centre.service import check_code, mainland_mobile, signed_in_customer
from siyu.centre.throttle import Limit, count
from siyu.config import get_settings
from siyu.customers import identifiers as ids
from siyu.customers.consent import ConsentStatement, record_consent
from siyu.customers.queries import first_seen
from siyu.db import get_engine
from siyu.events.service import record_track
from siyu.growth.attribution import attribute
from siyu.growth.forms.fields import FormRefused, answer_of, nps_group
from siyu.growth.forms.followups import follow_up
from siyu.growth.forms.models import Form, FormLimit, FormStatus, FormSubmission
from siyu.growth.forms.service import FormClosed
from siyu.growth.fraud import Arrival
from siyu.growth.service import NoSuchCode, find_code
from siyu.privacy.service import family_of, find_person
from siyu.refusals import Conflict, Refusal

log = logging.getLogger("siyu.growth.forms")
SOURCE = "form"
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
UTM_MAX = 100
# a shop's Wi-Fi on a promotion day posts a form for everyone in it; a script does not stop
SUBMIT_LIMITS = (
    Limit("form", "net", 3600, 120),
    Limit("form", "device", 3600, 10),
    Limit("form", "device", 86400, 30),
)


class TooManyAnswers(FormRefused):
    """Too many posts from one network or device: try again later (429)."""

    status = 429

    def __init__(self, template: str, /, retry_at: datetime, **params: object) -> None:
        super().__init__(template, **params)
        self.retry_at = retry_at


class AlreadyAnswered(FormRefused, Conflict):
    """The form takes one answer per person (or per day), and this one has been given."""


@dataclass(frozen=True)
class Entry:
    """What a visitor posted: the answers by field key (a list for a multiple choice), the
    SMS code proving the phone, the customer a personal link named, where it came from."""

    answers: dict[str, Any]
    code: str = ""
    customer_id: int | None = None
    device: str = ""
    address: str = ""
    utm: dict[str, str] = field(default_factory=dict)
    ref: str = ""
    shown_at: datetime | None = None


def utm_of(params: Any) -> dict[str, str]:
    """The link's campaign tags, each cut to 100 characters; anything else is dropped."""
    out = {}
    for key in UTM_KEYS:
        value = params.get(key) if hasattr(params, "get") else None
        if isinstance(value, str) and value.strip():
            out[key] = value.strip()[:UTM_MAX]
    return out


def _throttled(entry: Entry, now: datetime) -> None:
    values = {"net": client_network(entry.address), "device": entry.device}
    over = count(get_engine(), SUBMIT_LIMITS, values, now)
    if over is not None:
        raise TooManyAnswers(
            "too many answers from here; try again after {time}",
            retry_at=over.retry_at,
            time=over.retry_at.astimezone(get_settings().tz).strftime("%H:%M"),
        )


def _answers(form: Form, entry: Entry, known: bool) -> tuple[dict[str, Any], str | None]:
    """Every field's answer (refused on the first wrong one) and the phone typed, if any."""
    out: dict[str, Any] = {}
    phone = None
    for f in form.fields:
        raw = entry.answers.get(f["key"])
        if f["kind"] == "phone":
            if known:  # a personal link named the person: no phone asked
                continue
            value = answer_of(f, raw)
            if value is not None:
                phone = mainland_mobile(str(value))
                out[f["key"]] = ids.mask_phone(phone)
            continue
        value = answer_of(f, raw)
        if value is not None:
            out[f["key"]] = value
    return out, phone


def _once_key(form: Form, who: str, now: datetime) -> str | None:
    if form.once == FormLimit.none:
        return None
    if form.once == FormLimit.day:
        return f"{who}:{now.astimezone(get_settings().tz).date().isoformat()}"
    return who


def _device_used(session: Session, form: Form, device: str, now: datetime) -> bool:
    if form.once == FormLimit.none or not device:
        return False
    where = [FormSubmission.form_id == form.id, FormSubmission.device == device]
    if form.once == FormLimit.day:
        local = now.astimezone(get_settings().tz)
        start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        where.append(FormSubmission.submitted_at >= start)
    return session.scalar(sa.select(FormSubmission.id).where(*where).limit(1)) is not None


def submit(session: Session, form: Form, entry: Entry) -> FormSubmission:
    """Store one answer to a live form. Counted against the network's and device's limits
    first (a refused post still counts); nothing is written before the answers, the SMS code
    and the limits have passed. A number erased at its owner's request is never sent a code,
    so its answer is refused as a wrong code and nothing of it is kept."""
    now = clock.now()
    if form.status != FormStatus.live:
        raise FormClosed("this form is closed")
    _throttled(entry, now)
    customer_id = signed_in_customer(session, entry.customer_id) if entry.customer_id else None
    if entry.customer_id and customer_id is None:
        raise FormRefused("this link is no longer valid")
    answers, phone = _answers(form, entry, customer_id is not None)
    if phone is not None:  # commits the code's spent try (centre's rule); nothing else is written
        customer_id = check_code(session, get_settings(), phone, entry.code, entry.address)
    if _device_used(session, form, entry.device, now):
        raise AlreadyAnswered("you have already answered this form")
    who = f"c{customer_id}" if customer_id else f"d{entry.device}" if entry.device else ""
    consent = next((f for f in form.fields if f["kind"] == "consent"), None)
    ticked = consent is not None and answers.get(consent["key"]) is True
    nps_field = next((f for f in form.fields if f["kind"] == "nps"), None)
    row = FormSubmission(
        form_id=form.id,
        customer_id=customer_id,
        answers=answers,
        nps=answers.get(nps_field["key"]) if nps_field else None,
        consent_text=consent["text"] if ticked and consent else "",
        consent_version=consent["version"] if ticked and consent else "",
        utm=entry.utm,
        ref=entry.ref[:12],
        device=entry.device[:40],
        address=entry.address[:64],
        once_key=_once_key(form, who, now) if who else None,
        submitted_at=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except sa.exc.IntegrityError:
        raise AlreadyAnswered("you have already answered this form") from None
    if customer_id is not None:
        _for_the_customer(session, form, row, customer_id, entry, ticked)
    return row


def _for_the_customer(
    session: Session, form: Form, row: FormSubmission, customer_id: int, entry: Entry, ticked: bool
) -> None:
    if ticked:
        _consent(session, form, row, customer_id)
    summary = {
        k: v for k, v in row.answers.items() if isinstance(v, int | bool) or k in _choices(form)
    }
    record_track(
        session,
        customer_id,
        "form_submitted",
        {"form": form.slug, "kind": form.kind, "nps_group": nps_group(row.nps), "answers": summary},
        source=SOURCE,
        message_id=f"form:{form.id}:{row.id}:{int(row.submitted_at.timestamp())}",
    )
    if entry.ref:
        _referral(session, row, customer_id, entry)
    if nps_group(row.nps) == "detractor" and form.actions:
        row.actions = follow_up(session, form, row, customer_id)


def _choices(form: Form) -> set[str]:
    return {f["key"] for f in form.fields if f["kind"] in ("choice", "date")}


def _consent(session: Session, form: Form, row: FormSubmission, customer_id: int) -> None:
    """The ticked text is the evidence of a marketing consent on the person's phone (by SMS);
    a person without a phone keeps the evidence on the submission alone."""
    statement = ConsentStatement(
        action="grant",
        channel="sms",
        note=row.consent_text,
        reference=f"form {form.slug} v{row.consent_version} #{row.id}"[:100],
        by_member=True,
    )
    try:
        with session.begin_nested():
            record_consent(session, find_person(session, customer_id), statement, SOURCE)
    except Refusal as exc:
        log.info(
            "form %s submission %s: consent kept on the answer only (%s)", form.id, row.id, exc
        )


def _referral(session: Session, row: FormSubmission, customer_id: int, entry: Entry) -> None:
    """A new customer who came by a member's link is attributed to them (channel ``form``);
    the fraud checks run as for any arrival. A customer known before the page was shown is
    not new: nobody is credited."""
    shown = entry.shown_at or row.submitted_at
    first = first_seen(session, family_of(session, customer_id))
    if first is not None and first < shown:
        return
    try:
        referrer = find_code(session, entry.ref)
    except NoSuchCode:
        return
    attribute(
        session,
        referrer,
        Arrival(
            invitee_id=customer_id,
            channel="form",
            at=shown,
            device=entry.device,
            address=entry.address,
        ),
    )
