"""Sending what the ledger holds: claim due rows, check policy at send time, render, call the
channel, record its answer. The write transaction is committed before every provider call, so
no database lock is held while waiting on a network (and a crash in between leaves a claimed
row whose lease runs out: ambiguous, settled by ``reconcile``, never resent blindly).

``reconcile`` settles ambiguous SMS rows by asking the gateway for the message by its OutId
(the ledger row id): found → sent; still unknown after ``ABSENT_AFTER`` → it never left, and the
row goes back to pending (a resend the provider has confirmed is safe).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.customers.models import Customer
from siyu.db import is_sqlite, utcnow
from siyu.reach.channels.base import SendResult
from siyu.reach.channels.sms import AliyunSms
from siyu.reach.ledger import OPEN, Claimed, claim, record
from siyu.reach.models import Campaign, SendRow
from siyu.reach.policy import address_of, check

MAX_ATTEMPTS = 8
MAX_BACKOFF = 3600.0
ABSENT_AFTER = timedelta(minutes=5)
_ENV = SandboxedEnvironment(autoescape=False, undefined=StrictUndefined)


def sms_channel(settings: Settings) -> AliyunSms | None:
    if not (settings.sms_access_key_id and settings.sms_access_key_secret):
        return None
    return AliyunSms(
        settings.sms_access_key_id, settings.sms_access_key_secret, settings.sms_endpoint
    )


def out_id(row_id: int) -> str:
    return f"L{row_id}"


def render_params(template: dict[str, Any], customer: Customer) -> dict[str, str]:
    """The SMS template's parameters for one customer (Jinja2 sandbox, unknown variables are
    an error, each value capped at 35 characters as Aliyun's variables are)."""
    variables = {"name": customer.name or "", "city": customer.city or ""}
    return {
        str(k): _ENV.from_string(str(v)).render(**variables)[:35]
        for k, v in (template.get("params") or {}).items()
    }


def dispatch_once(
    session: Session, worker: str, settings: Settings, sms: AliyunSms | None, limit: int = 100
) -> int:
    """One round: claim, send and record up to ``limit`` messages; returns how many."""
    channels = ("sms",) if sms is not None else ()
    if not channels:
        return 0
    rows = claim(session, worker, limit, settings.reach_lease_seconds, channels)
    campaigns: dict[int, Campaign | None] = {}
    for row in rows:
        if row.campaign_id not in campaigns:
            campaigns[row.campaign_id] = session.get(Campaign, row.campaign_id)
        _one(session, worker, settings, sms, campaigns[row.campaign_id], row)
    for campaign in campaigns.values():
        if campaign is not None:
            finish_if_done(session, campaign)
    session.commit()
    return len(rows)


def _one(
    session: Session,
    worker: str,
    settings: Settings,
    sms: AliyunSms | None,
    campaign: Campaign | None,
    row: Claimed,
) -> None:
    now = utcnow()
    if campaign is None or campaign.status == "cancelled":
        record(session, row.id, worker, "skipped", reason="cancelled")
        session.commit()
        return
    if campaign.status == "paused":
        record(
            session, row.id, worker, "deferred", reason="paused", due_at=now + timedelta(minutes=1)
        )
        session.commit()
        return
    address = address_of(session, row.customer_id, row.channel)
    decision = check(
        session,
        customer_id=row.customer_id,
        channel=row.channel,
        purpose=campaign.purpose,
        address=address,
        now=now,
        settings=settings,
    )
    if not decision.send:
        state = "deferred" if decision.due_at else "skipped"
        record(session, row.id, worker, state, reason=decision.reason, due_at=decision.due_at)
        session.commit()
        return
    customer = session.get(Customer, row.customer_id)
    assert customer is not None and address is not None and sms is not None
    try:
        params = render_params(campaign.template, customer)
    except TemplateError as exc:  # a missing variable, bad syntax, a sandbox refusal
        record(session, row.id, worker, "skipped", reason="template_error", error=str(exc))
        session.commit()
        return
    session.commit()  # nothing is held while the provider answers
    result = sms.send(
        address,
        str(campaign.template.get("sign_name", "")),
        str(campaign.template.get("template_code", "")),
        params,
        out_id(row.id),
    )
    if not is_sqlite(session):
        # the provider has answered; if PostgreSQL crashed before flushing this commit, the row
        # would still be claimed, its lease would lapse and it would be reconciled, not resent,
        # so the record need not wait for the disk (the send rate depends on it)
        session.execute(sa.text("SET LOCAL synchronous_commit TO OFF"))
    _record_result(session, worker, row, result)
    session.commit()


def _record_result(session: Session, worker: str, row: Claimed, result: SendResult) -> None:
    if result.outcome == "sent":
        record(session, row.id, worker, "sent", provider_ref=result.provider_ref)
    elif result.outcome == "failed":
        record(session, row.id, worker, "failed", reason=result.code[:40], error=result.error)
    elif result.outcome == "ambiguous":
        record(session, row.id, worker, "ambiguous", reason=result.code[:40], error=result.error)
    elif row.attempts >= MAX_ATTEMPTS:
        record(session, row.id, worker, "failed", reason="too_many_attempts", error=result.error)
    else:
        wait = min(MAX_BACKOFF, max(result.retry_after or 0, 5 * 2**row.attempts))
        due = utcnow() + timedelta(seconds=wait * (1 + random.random() / 4))
        record(session, row.id, worker, "deferred", reason=f"retry:{result.code}"[:40], due_at=due)


def finish_if_done(session: Session, campaign: Campaign) -> None:
    """A sending campaign with nothing left to send (or to settle) is done."""
    if campaign.status != "sending":
        return
    left = session.scalar(
        sa.select(SendRow.id)
        .where(
            SendRow.campaign_id == campaign.id,
            SendRow.state.in_((*OPEN, "claimed", "ambiguous")),
        )
        .limit(1)
    )
    if left is None:
        campaign.status, campaign.finished_at = "done", utcnow()


def reconcile(session: Session, sms: AliyunSms, settings: Settings, limit: int = 200) -> int:
    """Settle ambiguous SMS rows through the gateway; returns how many were settled."""
    now = utcnow()
    rows = session.scalars(
        sa.select(SendRow)
        .where(SendRow.state == "ambiguous", SendRow.channel == "sms")
        .order_by(SendRow.id)
        .limit(limit)
    ).all()
    settled = 0
    for row in rows:
        address = address_of(session, row.customer_id, "sms")
        if address is None:
            continue
        since: datetime = row.finished_at or row.lease_until or row.created_at
        found = sms.delivery(address, out_id(row.id), since.astimezone(settings.tz))
        if found.found:
            row.state, row.provider_ref, row.reason = "sent", found.provider_ref, "reconciled"
            row.finished_at = row.finished_at or now
            settled += 1
        elif now - since > ABSENT_AFTER:
            row.state, row.reason, row.due_at = "pending", "reconciled_absent", now
            row.claimed_by = row.lease_until = None
            settled += 1
    session.commit()
    return settled
