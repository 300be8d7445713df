"""Sending what the ledger holds: claim due rows, check policy at send time, render, call the
channel, record its answer. The write transaction is committed before every provider call, so
no database lock is held while waiting on a network (and a crash in between leaves a claimed
row whose lease runs out: ambiguous, settled by ``reconcile``, never resent blindly).

Template variables are loaded once per claimed batch (``variables.load_variables``), only those
the batch's templates use.

``reconcile`` settles ambiguous rows of channels that can be asked (SMS, by its OutId — the
ledger row id): found → sent; still unknown after ``ABSENT_AFTER`` → it never left, and the row
goes back to pending (a resend the provider has confirmed is safe) — but only where the
provider lists every message it took (Aliyun); Tencent lists a message only once its receipt
is in, so there an unknown row waits for an operator. Channels that cannot be
asked (SMTP, webhooks) leave their ambiguous rows to an operator (``queries.ambiguous``).
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.config import Settings
from siyu.db import is_sqlite
from siyu.reach.channels.base import Channel, Outgoing, SendResult
from siyu.reach.channels.wecom_mass import submit_mass
from siyu.reach.channels.wecom_tasks import submit_tasks
from siyu.reach.models import Campaign, CampaignStatus, SendOrigin, SendRow, SendState
from siyu.reach.sending.caps import current_caps
from siyu.reach.sending.eligibility import Go, all_templates, decide, template_for
from siyu.reach.sending.ledger import Claimed, claim, finish_if_done, record
from siyu.reach.sending.policy import address_of
from siyu.reach.sending.templates import MissingVariable, TemplateProblem, check_template, render
from siyu.reach.sending.variables import load_variables
from siyu.reach.tracking.links import unsubscribe_url
from siyu.reach.tracking.service import Linker

MAX_ATTEMPTS = 8
MAX_BACKOFF = 3600.0
ABSENT_AFTER = timedelta(minutes=5)


def configured_channels(settings: Settings) -> dict[str, Channel]:
    """The channels this deployment can send on, by name (the capabilities' ``channels``
    factories; one left out by its settings keeps its rows waiting in the ledger)."""
    from siyu.capabilities import provided

    out: dict[str, Channel] = {}
    for _cap, factory in provided("channels"):
        channel = factory(settings)
        if channel is not None:
            out[channel.name] = channel
    return out


def out_id(row_id: int) -> str:
    return f"L{row_id}"


WECOM_CLAIM = 10_000  # WeCom messages are claimed many at a time: one task per staff member
WECOM_LEASE_SECONDS = 900


def dispatch_once(
    session: Session,
    worker: str,
    settings: Settings,
    channels: Mapping[str, Channel],
    limit: int = 100,
) -> int:
    """One round: claim, send and record up to ``limit`` messages (WeCom mass messages and
    guide tasks: up to ``WECOM_CLAIM``, grouped into one task or list per staff member);
    returns how many."""
    if not channels:
        return 0
    done = 0
    batched = tuple(c for c in ("wecom", "wecom_app") if c in channels)
    if batched:
        done += _round(
            session, worker, settings, channels, WECOM_CLAIM, batched, WECOM_LEASE_SECONDS
        )
    others = tuple(c for c in channels if c not in batched)
    if others:
        done += _round(
            session, worker, settings, channels, limit, others, settings.reach_lease_seconds
        )
    return done


def _round(
    session: Session,
    worker: str,
    settings: Settings,
    channels: Mapping[str, Channel],
    limit: int,
    claim_channels: tuple[str, ...],
    lease_seconds: int,
) -> int:
    rows = claim(session, worker, limit, lease_seconds, claim_channels)
    if not rows:
        return 0
    campaigns: dict[int | None, Campaign | None] = {None: None}
    for row in rows:
        if row.campaign_id not in campaigns:
            campaigns[row.campaign_id] = session.get(Campaign, row.campaign_id)
    variables = _batch_variables(session, rows, campaigns, settings)
    caps = current_caps(session)
    linker = Linker(session, settings)
    mass: list[tuple[Claimed, Outgoing]] = []
    tasks: list[tuple[Claimed, Outgoing]] = []
    for row in rows:
        message = _prepare(
            session,
            worker,
            settings,
            channels,
            campaigns[row.campaign_id],
            row,
            variables.get(row.customer_id),
            caps,
            linker,
        )
        if message is None:
            continue
        if message.channel == "wecom":
            mass.append((row, message))
        elif message.channel == "wecom_app":
            tasks.append((row, message))
        else:
            deliver(session, worker, channels, row, message)
    if mass:
        submit_mass(session, worker, settings, mass)
    if tasks:
        submit_tasks(session, worker, tasks)
    for campaign in campaigns.values():
        if campaign is not None:
            finish_if_done(session, campaign)
    session.commit()
    return len(rows)


def _batch_variables(
    session: Session,
    rows: list[Claimed],
    campaigns: Mapping[int | None, Campaign | None],
    settings: Settings,
) -> dict[int, dict[str, Any]]:
    wanted: set[str] = set()
    for c in campaigns.values():
        if c is None:
            continue
        for channel, template in all_templates(c):
            # a template that no longer checks: each of its rows is skipped when rendered
            with contextlib.suppress(TemplateProblem):
                wanted |= check_template(channel, template, purpose=c.purpose).variables
    if not wanted:
        return {}
    today = clock.now().astimezone(settings.tz).date()
    return load_variables(session, [r.customer_id for r in rows], today=today, wanted=wanted)


def _prepare(
    session: Session,
    worker: str,
    settings: Settings,
    channels: Mapping[str, Channel],
    campaign: Campaign | None,
    row: Claimed,
    variables: dict[str, Any] | None,
    caps: list[tuple[str, str, int]],
    linker: Linker,
) -> Outgoing | None:
    """The rendered message for a row that may go now, or None once the reason it may not is
    recorded (skipped, or deferred to a time)."""
    now = clock.now()
    if campaign is None or campaign.status == CampaignStatus.cancelled:
        record(session, row.id, worker, SendState.skipped, reason="cancelled")
        session.commit()
        return None
    if campaign.status == CampaignStatus.paused:
        record(
            session,
            row.id,
            worker,
            SendState.deferred,
            reason="paused",
            due_at=now + timedelta(minutes=1),
        )
        session.commit()
        return None
    go = decide(
        session,
        row=row,
        variant=row.variant,
        campaign=campaign,
        configured=channels.keys(),
        caps=caps,
        now=now,
        settings=settings,
    )
    if not isinstance(go, Go):
        state = SendState.deferred if go.due_at else SendState.skipped
        record(session, row.id, worker, state, reason=go.reason, due_at=go.due_at)
        session.commit()
        return None
    try:
        # a WeCom mass message is one text for many: its links are the campaign's, not a row's
        link = linker.for_row(0 if go.channel == "wecom" else row.id, campaign.id, go.channel)
        parts = render(go.channel, go.template, variables or {}, link=link)
    except MissingVariable as exc:
        record(session, row.id, worker, SendState.skipped, reason=f"missing:{exc.name}"[:40])
        session.commit()
        return None
    except TemplateProblem as exc:  # the sandbox refused this render (time, size)
        record(session, row.id, worker, SendState.skipped, reason="template_error", error=str(exc))
        session.commit()
        return None
    return Outgoing(
        ref=out_id(row.id),
        channel=go.channel,
        row_id=row.id,
        campaign_id=campaign.id,
        customer_id=row.customer_id,
        address=go.address,
        parts=parts,
        template=go.template,
        purpose=campaign.purpose,
        extra={"unsubscribe": unsubscribe_url(settings, row.id)}
        if go.channel == "email" and campaign.purpose == "marketing"
        else {},
    )


def deliver(
    session: Session, worker: str, channels: Mapping[str, Channel], row: Claimed, message: Outgoing
) -> None:
    """Commit, call the channel, record its answer (every origin's rows go out this way)."""
    if row.send_until is not None and clock.now() > row.send_until:
        # the claim is running out (a slow batch): give the row back unsent, never risk a
        # call that lands after another worker has settled the row as not sent
        record(
            session, row.id, worker, SendState.deferred, reason="lease_short", due_at=clock.now()
        )
        session.commit()
        return
    session.commit()  # nothing is held while the provider answers (the cap lock neither)
    result = channels[message.channel].send(message)
    if not is_sqlite(session):
        # the provider has answered; if PostgreSQL crashed before flushing this commit, the row
        # would still be claimed, its lease would lapse and it would be reconciled, not resent,
        # so the record need not wait for the disk (the send rate depends on it)
        session.execute(sa.text("SET LOCAL synchronous_commit TO OFF"))
    _record_result(session, worker, row, result)
    session.commit()


def _record_result(session: Session, worker: str, row: Claimed, result: SendResult) -> None:
    entry = ledger_entry(result, row.attempts, clock.now(), random.random())
    record(
        session,
        row.id,
        worker,
        entry.state,
        reason=entry.reason,
        provider_ref=entry.provider_ref,
        error=entry.error,
        due_at=entry.due_at,
    )


@dataclass(frozen=True)
class Entry:
    """What the ledger records for a channel's answer (``ledger.record``'s arguments)."""

    state: str
    reason: str | None = None
    provider_ref: str | None = None
    error: str | None = None
    due_at: datetime | None = None


def ledger_entry(result: SendResult, attempts: int, now: datetime, jitter: float) -> Entry:
    """The ledger's record of ``result`` for a row claimed ``attempts`` times (this claim
    included). A failure worth retrying waits 5 s × 2^attempts or what the provider asked,
    at most ``MAX_BACKOFF``, stretched by up to a quarter (``jitter`` in [0, 1)) so rows that
    failed together do not return together; after ``MAX_ATTEMPTS`` it has failed for good."""
    if result.outcome == "sent":
        return Entry(SendState.sent, provider_ref=result.provider_ref)
    if result.outcome in ("failed", "ambiguous"):
        return Entry(SendState(result.outcome), reason=result.code[:40], error=result.error)
    if attempts >= MAX_ATTEMPTS:
        return Entry(SendState.failed, reason="too_many_attempts", error=result.error)
    wait = min(MAX_BACKOFF, max(result.retry_after or 0, 5 * 2**attempts))
    due = now + timedelta(seconds=wait * (1 + jitter / 4))
    return Entry(SendState.deferred, reason=f"retry:{result.code}"[:40], due_at=due)


def reconcile(
    session: Session, channels: Mapping[str, Channel], settings: Settings, limit: int = 200
) -> int:
    """Settle ambiguous rows through the providers that can be asked; returns how many."""
    now = clock.now()
    askable = [name for name, ch in channels.items() if ch.reconcilable]
    if not askable:
        return 0
    rows = session.scalars(
        sa.select(SendRow)
        .where(SendRow.state == SendState.ambiguous, SendRow.channel.in_(askable))
        .order_by(SendRow.id)
        .limit(limit)
    ).all()
    settled = 0
    for row in rows:
        address = address_of(session, row.customer_id, row.channel, _template_of(session, row))
        if address is None:
            continue
        since: datetime = row.finished_at or row.lease_until or row.created_at
        found = channels[row.channel].delivery(
            address, out_id(row.id), since.astimezone(settings.tz)
        )
        if found.found:
            row.state, row.provider_ref, row.reason = (
                SendState.sent,
                found.provider_ref,
                "reconciled",
            )
            row.finished_at = row.finished_at or now
            settled += 1
        elif now - since > ABSENT_AFTER and channels[row.channel].absence_proves_unsent:
            row.state, row.reason, row.due_at = SendState.pending, "reconciled_absent", now
            row.claimed_by = row.lease_until = None
            settled += 1
    session.commit()
    return settled


def _template_of(session: Session, row: SendRow) -> dict[str, Any]:
    """The template a row was sent with: a transactional row carries it, a campaign's row
    takes its campaign's."""
    if row.origin == SendOrigin.transactional:
        return dict(row.message or {})
    campaign = session.get(Campaign, row.campaign_id) if row.campaign_id is not None else None
    return template_for(campaign, row.channel, row.variant) if campaign else {}
