"""Transactional messages — a sign-in code, a service notice — to one customer on one channel,
asked for by another capability (the member centre's sign-in, loyalty's and journeys' notices)
or by an operator, sent through the same ledger as campaigns (DESIGN §5): a row under the
ledger's unique key written in the caller's transaction (nothing leaves if it rolls back),
claimed under a lease by a pump of its own (``tasks.send_transactional``: a code never waits
behind a campaign's million rows), sent through the same channels and recorded the same way —
an answer that never came leaves the row ambiguous, reconciled through the provider, never
resent blindly.

What differs from a campaign's message, and why:

- No marketing consent, frequency caps or quiet hours: the customer asked for the message or
  needs it (DESIGN §4: transactional messages follow their own rule). Except a guide task: it
  waits for the quiet hours to end, and a customer who asked not to be disturbed is not called
  (the guide's campaigns skip them too). Do-not-disturb is a
  customer's no to marketing and does not stop a code they asked for or a notice about their
  own order, as it does not stop a service campaign (``policy.decision_for``).
- Still never to a person erased, merged away or suppressed, nor on a channel where they have
  no address (or an openid known to have unfollowed the official account); the SMS per-number
  limits hold too, since the provider would refuse the message anyway.
- Never deferred: a "no" skips the message with its reason at once, and ``send_by`` is its
  expiry — past it the row is skipped ``expired``, even if it was waiting to be tried again
  after a provider's passing failure. A code that arrives late is worse than none.
- Channels: SMS, email and official-account template messages (which WeChat allows for service
  notices only), and guide tasks (``wecom_app``): a note to the customer's guide through the
  corp's app asking them to reach out in person — a survey's unhappy customer to call back.
  Never a WeCom message to the customer: WeCom sends nothing to a customer by itself (DESIGN
  §12). Guide tasks of one round go to each guide as one list (``wecom_tasks.submit_tasks``).
  Not webhooks.
- A template marked ``secret`` (a sign-in code) keeps its parameters only until the message is
  sent or skipped: the ledger then holds ``******`` in their place.
- Idempotent on the sender's key: each message is named by a key of the sender's own
  (``signin:<request id>``, ``order_shipped:<order id>``); ``origin_id`` is a 63-bit hash of it,
  so numbers of different senders never collide, and the same key for the same customer and
  channel twice writes one row.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from siyu import clock
from siyu.accounts.service import record_audit
from siyu.config import Settings, get_settings
from siyu.db import is_sqlite
from siyu.reach.channels.base import Channel, Outgoing
from siyu.reach.channels.wecom_tasks import submit_tasks
from siyu.reach.models import SendOrigin, SendRow, SendState
from siyu.reach.sending.caps import sms_room_at
from siyu.reach.sending.dispatch import deliver, out_id
from siyu.reach.sending.ledger import KEY, Claimed, LedgerError, claim, record
from siyu.reach.sending.policy import address_of, check, standing_of
from siyu.reach.sending.templates import MissingVariable, TemplateProblem, check_template, render
from siyu.reach.sending.variables import load_variables

CHANNELS = ("sms", "email", "oa", "wecom_app")
PURPOSE = "service"  # what the policy and the channels are told
EXPIRES_MAX_MINUTES = 7 * 24 * 60
KEY_MAX = 100
ROUND = 50  # rows claimed at a time: few, so each round is quick


def origin_id(key: str) -> int:
    """The ledger's ``origin_id`` for a sender's key: the first 63 bits of its BLAKE2b hash
    (a positive BIGINT)."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


@dataclass(frozen=True)
class Queued:
    """The ledger row of a transactional message; ``created`` False when the key had already
    written it (nothing new was queued)."""

    id: int
    state: str
    send_by: datetime
    created: bool


def send_transactional(
    session: Session,
    *,
    key: str,
    customer_id: int,
    channel: str,
    template: Mapping[str, Any],
    expires_minutes: int,
    actor: str | None = None,
    now: datetime | None = None,
    not_before: datetime | None = None,
) -> Queued:
    """Queue one transactional message in the caller's transaction (commit to send it).
    ``template`` is the channel's template, as a campaign's (an SMS's ``sign_name``,
    ``template_code``, approved ``text`` and ``params``; an email's ``subject`` and ``text``;
    an official-account message's ``template_id`` and ``data``), checked here; it may use the
    customer's variables. ``not_before`` holds a message nobody is waiting for (a reward's
    notice, a guide's task) until then — the end of the quiet hours — and its expiry counts
    from then. Raises LedgerError (or TemplateProblem) for what cannot be sent."""
    key = key.strip()
    if not key or len(key) > KEY_MAX:
        raise LedgerError("key: 1–{most} characters, naming the message", most=KEY_MAX)
    if channel not in CHANNELS:
        raise LedgerError(
            "channel: one of {channels} for a transactional message", channels=", ".join(CHANNELS)
        )
    if not 1 <= expires_minutes <= EXPIRES_MAX_MINUTES:
        raise LedgerError("expires in 1–{most} minutes", most=EXPIRES_MAX_MINUTES)
    if standing_of(session, customer_id) is None:
        raise LedgerError("no customer {id}", id=customer_id)
    check_template(channel, template, purpose=PURPOSE)
    now = now or clock.now()
    if channel == "wecom_app" and not_before is None:  # a guide's task waits for the morning
        settings = get_settings()
        not_before = settings.quiet_hours.until(now, settings.tz)
    due = max(now, not_before) if not_before is not None else now
    send_by = due + timedelta(minutes=expires_minutes)
    ident = origin_id(key)
    insert = sqlite_insert if is_sqlite(session) else pg_insert
    written = session.execute(
        insert(SendRow)
        .values(
            origin=SendOrigin.transactional.value,
            origin_id=ident,
            campaign_id=None,
            step=0,
            customer_id=customer_id,
            channel=channel,
            variant="",
            state=SendState.pending.value,
            attempts=0,
            due_at=due,
            send_by=send_by,
            created_at=now,
            message=dict(template),
        )
        .on_conflict_do_nothing(index_elements=KEY)
        .returning(SendRow.id)
    ).scalar()
    row = session.execute(
        sa.select(SendRow.id, SendRow.state, SendRow.send_by).where(
            SendRow.origin == SendOrigin.transactional,
            SendRow.origin_id == ident,
            SendRow.step == 0,
            SendRow.customer_id == customer_id,
            SendRow.channel == channel,
        )
    ).one()
    if written is not None and actor is not None:
        record_audit(
            session,
            actor,
            "send.transactional",
            "send_ledger",
            str(row.id),
            {"key": key, "customer_id": customer_id, "channel": channel},
        )
    return Queued(row.id, row.state, row.send_by, created=written is not None)


def dispatch_transactional(
    session: Session,
    worker: str,
    settings: Settings,
    channels: Mapping[str, Channel],
    limit: int = ROUND,
) -> int:
    """One round: claim due transactional rows of the configured channels under a lease, check
    each at send time, send and record; returns how many rows were claimed."""
    mine = tuple(c for c in CHANNELS if c in channels)
    if not mine:
        return 0
    rows = claim(
        session,
        worker,
        limit,
        settings.reach_lease_seconds,
        mine,
        origin=SendOrigin.transactional,
    )
    if not rows:
        return 0
    templates: dict[int, dict[str, Any]] = {
        row_id: dict(message or {})
        for row_id, message in session.execute(
            sa.select(SendRow.id, SendRow.message).where(SendRow.id.in_([r.id for r in rows]))
        )
    }
    variables = _variables(session, rows, templates, settings)
    tasks: list[tuple[Claimed, Outgoing]] = []
    for row in rows:
        template = templates.get(row.id, {})
        message = _prepare(
            session, worker, settings, row, template, variables.get(row.customer_id, {})
        )
        if message is not None and row.channel == "wecom_app":
            tasks.append((row, message))
        elif message is not None:
            deliver(session, worker, channels, row, message)
        if template.get("secret"):  # a sign-in code: once sent (or not), the ledger forgets it
            forgotten = {k: "******" for k in (template.get("params") or {})}
            session.execute(
                sa.update(SendRow)
                .where(SendRow.id == row.id)
                .values(message={**template, "params": forgotten})
            )
    if tasks:
        submit_tasks(session, worker, tasks)
    session.commit()
    return len(rows)


def _variables(
    session: Session,
    rows: list[Claimed],
    templates: Mapping[int, Mapping[str, Any]],
    settings: Settings,
) -> dict[int, dict[str, Any]]:
    wanted: set[str] = set()
    for row in rows:
        with contextlib.suppress(TemplateProblem):  # its row is skipped when rendered
            wanted |= check_template(
                row.channel, templates.get(row.id, {}), purpose=PURPOSE
            ).variables
    if not wanted:
        return {}
    today = clock.now().astimezone(settings.tz).date()
    return load_variables(session, [r.customer_id for r in rows], today=today, wanted=wanted)


def _prepare(
    session: Session,
    worker: str,
    settings: Settings,
    row: Claimed,
    template: dict[str, Any],
    variables: Mapping[str, Any],
) -> Outgoing | None:
    """The rendered message, or None once the reason it may not go is recorded (skipped: a
    transactional message is never deferred)."""
    now = clock.now()
    address = address_of(session, row.customer_id, row.channel, template)
    decision = check(
        session,
        customer_id=row.customer_id,
        channel=row.channel,
        purpose=PURPOSE,
        address=address,
        now=now,
        settings=settings,
    )
    reason = decision.reason if not decision.send else None
    if reason is None and row.channel == "sms" and sms_room_at(session, row.customer_id, now):
        reason = "sms_number_limit"
    if reason is None and row.channel == "wecom_app":  # a guide is not asked to bother them
        standing = standing_of(session, row.customer_id)
        if standing is not None and standing.do_not_disturb:
            reason = "do_not_disturb"
    parts: dict[str, str] = {}
    error = None
    if reason is None:
        try:
            parts = render(row.channel, template, variables)
        except MissingVariable as exc:
            reason = f"missing:{exc.name}"[:40]
        except TemplateProblem as exc:
            reason, error = "template_error", str(exc)
    if reason is not None or address is None:
        record(
            session, row.id, worker, SendState.skipped, reason=reason or "no_address", error=error
        )
        session.commit()
        return None
    return Outgoing(
        ref=out_id(row.id),
        channel=row.channel,
        row_id=row.id,
        campaign_id=None,
        customer_id=row.customer_id,
        address=address,
        parts=parts,
        template=template,
        purpose=PURPOSE,
    )
