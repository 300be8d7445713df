"""Reaching customers: campaigns and the send ledger (DESIGN §5).

The ledger is what makes "every eligible recipient gets exactly one message, or a recorded
reason why not" hold: one row per (campaign step, customer, channel) under a unique key,
written before any provider is called; workers claim rows under a lease and record the
provider's answer afterwards. A claim whose lease ran out without an answer is *ambiguous* —
the message may or may not have left — and is reconciled through the provider, never resent
blindly.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db import Base, UTCDateTime, utcnow


class CampaignStatus(StrEnum):
    """Where a campaign is in its life. A draft is started (or sent for approval when it is
    large and its planner may not approve it), waits for its time when scheduled, sends, may be
    paused and resumed or cancelled, and is done when every message is settled (a recurring
    campaign goes back to scheduled for its next run)."""

    draft = "draft"
    awaiting_approval = "awaiting_approval"
    scheduled = "scheduled"
    sending = "sending"
    paused = "paused"
    cancelled = "cancelled"
    done = "done"


class Campaign(Base):
    """A message to an audience (a segment), on a channel, for a purpose (marketing needs
    marketing consent and respects quiet hours; service messages are transactional). A holdout
    share of the audience is drawn reproducibly (``holdout_seed``) and gets nothing, so the
    campaign's lift can be measured against it."""

    __tablename__ = "campaign"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    purpose: Mapped[str] = mapped_column(sa.String(12), default="marketing")  # or service
    segment_id: Mapped[int | None] = mapped_column(sa.ForeignKey("segment.id"))
    channel: Mapped[str] = mapped_column(sa.String(12))  # sms | email | wecom | oa | webhook
    # channel priority: the first one a customer can be reached on (e.g. wecom, then sms)
    channels: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    template: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    # per channel when several: {"sms": {...}, "email": {...}}; ``template`` is the first's
    templates: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    # A/B: [{"key": "A", "weight": 50, "templates": {channel: template}}, …]; empty = one
    variants: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    holdout_pct: Mapped[int] = mapped_column(sa.Integer, default=0)  # 0–50
    holdout_seed: Mapped[int] = mapped_column(sa.Integer, default=0)
    audience_mode: Mapped[str] = mapped_column(sa.String(8), default="snapshot")  # or live
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None: when started
    recurrence: Mapped[str] = mapped_column(sa.String(8), default="")  # "" | daily | weekly
    runs: Mapped[int] = mapped_column(sa.Integer, default=0)  # fan-outs so far (= steps)
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # a customer-group campaign (channel wecom_group) is aimed at groups, not a segment:
    # {"owners": [userid, …], "name_contains": "…"}; empty = every group still standing
    group_filter: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    cost_fen_per_message: Mapped[int] = mapped_column(sa.Integer, default=0)
    approved_by: Mapped[str | None] = mapped_column(sa.String(100))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(sa.String(20), default="draft")  # a CampaignStatus
    send_by_hours: Mapped[int] = mapped_column(sa.Integer, default=72)
    audience_size: Mapped[int] = mapped_column(sa.Integer, default=0)
    created_by: Mapped[str] = mapped_column(sa.String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


def _campaign_id(context: Any) -> Any:
    """A row written without ``origin_id`` is a campaign's: its campaign's id."""
    return context.get_current_parameters().get("campaign_id")


class SendOrigin(StrEnum):
    """What a ledger row belongs to: a campaign's step, a journey's step, or a transactional
    message (a sign-in code, a service notice) asked for by another capability or an operator."""

    campaign = "campaign"
    journey = "journey"
    transactional = "transactional"


class SendState(StrEnum):
    """Where one ledger row is (``SendRow``'s docstring says what each means)."""

    pending = "pending"
    claimed = "claimed"
    submitted = "submitted"  # in a WeCom task, until WeCom reports
    sent = "sent"
    failed = "failed"
    deferred = "deferred"
    skipped = "skipped"
    held_out = "held_out"
    ambiguous = "ambiguous"


class SendRow(Base):
    """One intended message. States (``SendState``): ``pending`` (due at ``due_at``),
    ``claimed`` (a worker holds it until ``lease_until``), ``sent``, ``failed`` (permanent
    error), ``deferred`` (policy said later: quiet hours, a cap; due again at ``due_at``),
    ``skipped`` (with ``reason``: no consent, suppressed, expired past ``send_by``…),
    ``held_out`` (the campaign's control group), ``ambiguous`` (the provider may or may not
    have it), ``submitted`` (in a WeCom task until WeCom reports).

    The unique key is (``origin``, ``origin_id``, ``step``, customer, channel): the ledger is
    not only campaigns'. A campaign's rows have origin ``campaign`` and its id as ``origin_id``;
    a journey's will have its own; a transactional message's ``origin_id`` is derived from the
    key its sender names it by (``reach.transactional.origin_id``), and the row carries its
    template in ``message``, since no campaign or journey defines it.

    ``campaign_id`` stays beside ``origin_id``, set on campaign rows only (NULL otherwise): it
    keeps the foreign key to ``campaign`` (a campaign's rows cannot point at nothing), and every
    campaign query — progress, funnel, results, the WeCom batches, the caps' join on the
    campaign's purpose — keeps reading it and so keeps its answers, transactional rows left out
    by the NULL."""

    __tablename__ = "send_ledger"
    __table_args__ = (
        sa.UniqueConstraint("origin", "origin_id", "step", "customer_id", "channel"),
        sa.Index("ix_send_ledger_due", "state", "due_at"),
        sa.Index("ix_send_ledger_customer_checked", "customer_id", "checked_at"),
        # only WeCom rows have a batch: the index leaves out the others (cheaper fan-out)
        sa.Index(
            "ix_send_ledger_batch_id",
            "batch_id",
            postgresql_where=sa.text("batch_id IS NOT NULL"),
            sqlite_where=sa.text("batch_id IS NOT NULL"),
        ),
        # the transactional pump finds its few due rows without walking a campaign's million
        sa.Index(
            "ix_send_ledger_transactional_due",
            "state",
            "due_at",
            postgresql_where=sa.text("origin = 'transactional'"),
            sqlite_where=sa.text("origin = 'transactional'"),
        ),
    )
    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    origin: Mapped[str] = mapped_column(sa.String(16), default=SendOrigin.campaign)
    origin_id: Mapped[int] = mapped_column(sa.BigInteger, default=_campaign_id)
    campaign_id: Mapped[int | None] = mapped_column(sa.ForeignKey("campaign.id"))
    step: Mapped[int] = mapped_column(sa.Integer, default=0)
    customer_id: Mapped[int] = mapped_column(sa.Integer)
    channel: Mapped[str] = mapped_column(sa.String(12))
    variant: Mapped[str] = mapped_column(sa.String(8), default="")
    state: Mapped[str] = mapped_column(sa.String(10), default=SendState.pending)  # a SendState
    reason: Mapped[str | None] = mapped_column(sa.String(40))
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    # when policy last said yes: from then the message counts against frequency caps
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # a WeCom mass-send task the message is part of (state ``submitted`` until WeCom reports)
    batch_id: Mapped[int | None] = mapped_column(sa.ForeignKey("wecom_mass_batch.id"))
    claimed_by: Mapped[str | None] = mapped_column(sa.String(100))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    send_by: Mapped[datetime] = mapped_column(UTCDateTime)
    provider_ref: Mapped[str | None] = mapped_column(sa.String(100))
    error: Mapped[str | None] = mapped_column(sa.String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # what came back afterwards: the provider's receipt, the first click, the first reply
    delivered: Mapped[bool | None] = mapped_column(sa.Boolean)
    receipt_code: Mapped[str | None] = mapped_column(sa.String(40))
    receipt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    clicked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # a transactional message's template for its channel (erased with the customer)
    message: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)


class TrackedLink(Base):
    """An address a campaign's messages link to, with its UTM tags; each recipient gets a short
    link of their own (``/l/<token>``) that names the message, so a click is theirs."""

    __tablename__ = "tracked_link"
    __table_args__ = (sa.UniqueConstraint("campaign_id", "url"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaign.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(sa.String(2000))  # with utm_source/medium/campaign
    clicks: Mapped[int] = mapped_column(sa.Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SendCap(Base):
    """A frequency cap on marketing: at most ``most`` messages per customer on ``channel``
    (``*``: all channels together) per calendar ``period`` (day, week from Monday, month) in
    the deployment's time zone. Service messages are not capped."""

    __tablename__ = "send_cap"
    __table_args__ = (sa.UniqueConstraint("channel", "period"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(sa.String(12))
    period: Mapped[str] = mapped_column(sa.String(8))  # day | week | month
    most: Mapped[int] = mapped_column(sa.Integer)
    updated_by: Mapped[str] = mapped_column(sa.String(100), default="system")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WecomMassBatch(Base):
    """A WeCom customer mass-send task (企业群发): one ``add_msg_template`` for one staff member
    and the customers whose messages share its text. WeCom gives such a call no idempotency
    key, so the batch is written (``creating``) before the call; an answer that never came
    leaves it ``ambiguous``, settled by finding the task in ``get_groupmsg_list_v2``, never by
    creating a second one. The staff member confirms in WeCom; ``get_groupmsg_send_result``
    then says, per customer, sent / not a friend / over WeCom's quota."""

    __tablename__ = "wecom_mass_batch"
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaign.id"), index=True)
    step: Mapped[int] = mapped_column(sa.Integer, default=0)
    corp_id: Mapped[int] = mapped_column(sa.ForeignKey("wecom_corp.id"))
    sender: Mapped[str] = mapped_column(sa.String(64))
    chat_type: Mapped[str] = mapped_column(sa.String(8), default="single")  # or group
    text: Mapped[str] = mapped_column(sa.Text)
    # creating | created | ambiguous | done | failed
    state: Mapped[str] = mapped_column(sa.String(12), default="creating")
    msgid: Mapped[str | None] = mapped_column(sa.String(100))
    recipients: Mapped[int] = mapped_column(sa.Integer, default=0)
    error: Mapped[str | None] = mapped_column(sa.String(300))
    send_by: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class GroupSend(Base):
    """One customer group's message in a group campaign (客户群群发): the ledger row of a group,
    under the same unique-key-before-the-call rule as ``SendRow``. Rows go to WeCom in one
    ``add_msg_template`` (chat_type group) per group owner, recorded as a ``WecomMassBatch``
    first; the owner confirms in WeCom and ``get_groupmsg_send_result`` reports each group.
    States: pending (due at ``due_at``; quiet hours move it) → submitted → sent, or skipped
    (``reason``: not_confirmed, wecom_limit, not_owner, cancelled…), failed."""

    __tablename__ = "group_send"
    __table_args__ = (sa.UniqueConstraint("campaign_id", "step", "group_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaign.id"), index=True)
    step: Mapped[int] = mapped_column(sa.Integer, default=0)
    group_id: Mapped[int] = mapped_column(sa.ForeignKey("wecom_group_chat.id"))
    batch_id: Mapped[int | None] = mapped_column(sa.ForeignKey("wecom_mass_batch.id"), index=True)
    members: Mapped[int] = mapped_column(sa.Integer, default=0)  # when the row was written
    state: Mapped[str] = mapped_column(sa.String(10), default="pending")
    reason: Mapped[str | None] = mapped_column(sa.String(40))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
