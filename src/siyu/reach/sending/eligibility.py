"""Who may get a ledger row's message now, and on which channel: the campaign's channel
priority (the first channel the customer can be reached on), policy at send time, frequency
caps and per-number limits. The answer either names the channel and address to send on (and
the row then counts against the caps) or is a recorded reason: skipped, or deferred to a time.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.reach.models import Campaign, SendRow
from siyu.reach.sending.caps import capped, lock_customer, sms_room_at, wecom_quota_used
from siyu.reach.sending.ledger import Claimed
from siyu.reach.sending.policy import Decision, address_of, check

# reasons that concern one channel only: the next channel in the priority list is tried
FALL_THROUGH = ("no_address", "no_consent", "consent_withdrawn", "not_following")


@dataclass(frozen=True)
class Go:
    channel: str
    address: str
    template: dict[str, Any]


def channel_order(campaign: Campaign) -> list[str]:
    return list(campaign.channels or [campaign.channel])


def template_for(campaign: Campaign, channel: str, variant: str = "") -> dict[str, Any]:
    """The template a row is sent with: its A/B variant's for the channel, else the campaign's."""
    for v in campaign.variants or ():
        if v.get("key") == variant and (v.get("templates") or {}).get(channel):
            return dict(v["templates"][channel])
    if (campaign.templates or {}).get(channel):
        return dict(campaign.templates[channel])
    return dict(campaign.template) if channel == campaign.channel else {}


def all_templates(campaign: Campaign) -> list[tuple[str, dict[str, Any]]]:
    """Every (channel, template) the campaign may send, variants included."""
    out = [(ch, template_for(campaign, ch)) for ch in channel_order(campaign)]
    for v in campaign.variants or ():
        out += [(ch, dict(t)) for ch, t in (v.get("templates") or {}).items()]
    return [(ch, t) for ch, t in out if t]


def decide(
    session: Session,
    *,
    row: Claimed,
    variant: str,
    campaign: Campaign,
    configured: Collection[str],
    caps: Sequence[tuple[str, str, int]],
    now: datetime,
    settings: Settings,
) -> Go | Decision:
    """Go (and mark the row as counted) or a Decision not to send now. Commit afterwards: on
    PostgreSQL the per-customer lock taken here is held until then."""
    # only marketing caps must hold exactly under parallel workers; the other limits are
    # guards the provider enforces too, so they need no lock and no mark before the call
    exact = campaign.purpose == "marketing" and bool(caps)
    if exact:
        lock_customer(session, row.customer_id)
    facts = _RowFacts(session, row.customer_id, campaign, variant, caps, now, settings)
    picked = pick_channel(channel_order(campaign), row.channel, configured, campaign.purpose, facts)
    if isinstance(picked, Decision):
        return picked
    channel, address = picked
    if exact or channel != row.channel:
        session.execute(
            sa.update(SendRow)
            .where(SendRow.id == row.id, SendRow.claimed_by.is_not(None))
            .values(checked_at=now if exact else None, channel=channel)
        )
    return Go(channel, address, template_for(campaign, channel, variant))


class ChannelFacts(Protocol):
    """What ``pick_channel`` asks about one customer; each answer may cost a query, so each is
    asked only when the rule gets to it."""

    def address(self, channel: str) -> str | None: ...

    def policy(self, channel: str, address: str | None) -> Decision: ...

    def cap(self, channel: str) -> str | None:
        """The marketing cap a message on ``channel`` would break (``cap:sms/day``), or None."""

    def wecom_quota_used(self) -> bool: ...

    def sms_room_at(self) -> datetime | None:
        """None if an SMS may go to the number now, else when the per-number limits allow."""


def pick_channel(
    order: Sequence[str],
    row_channel: str,
    configured: Collection[str],
    purpose: str,
    facts: ChannelFacts,
) -> tuple[str, str] | Decision:
    """The channel and address to send on, trying the campaign's channels in order from the
    row's own; or the Decision not to send now. A reason that concerns one channel only (not
    configured, no address or consent there, its own cap, WeCom's monthly quota) tries the next
    channel and is the answer if none is left; any other no (suppressed, do not disturb, quiet
    hours, the cap over all channels, the SMS per-number limit) is the answer at once."""
    start = order.index(row_channel) if row_channel in order else 0
    first_reason: str | None = None
    for channel in order[start:]:
        if channel not in configured:
            first_reason = first_reason or "channel_not_configured"
            continue
        address = facts.address(channel)
        decision = facts.policy(channel, address)
        if not decision.send:
            if decision.reason in FALL_THROUGH:
                first_reason = first_reason or decision.reason
                continue
            return decision
        if purpose == "marketing":
            cap = facts.cap(channel)
            if cap is not None:
                if not cap.startswith("cap:all/"):
                    first_reason = first_reason or cap
                    continue
                return Decision(False, cap)
        if channel == "wecom" and facts.wecom_quota_used():
            first_reason = first_reason or "wecom_monthly_quota"
            continue
        if channel == "sms":
            room = facts.sms_room_at()
            if room is not None:
                return Decision(False, "sms_number_limit", room)
        assert address is not None
        return channel, address
    return Decision(False, first_reason or "no_channel")


@dataclass(frozen=True)
class _RowFacts:
    """``ChannelFacts`` from the database, for one ledger row's customer."""

    session: Session
    customer_id: int
    campaign: Campaign
    variant: str
    caps: Sequence[tuple[str, str, int]]
    now: datetime
    settings: Settings

    def address(self, channel: str) -> str | None:
        template = template_for(self.campaign, channel, self.variant)
        return address_of(self.session, self.customer_id, channel, template)

    def policy(self, channel: str, address: str | None) -> Decision:
        return check(
            self.session,
            customer_id=self.customer_id,
            channel=channel,
            purpose=self.campaign.purpose,
            address=address,
            now=self.now,
            settings=self.settings,
        )

    def cap(self, channel: str) -> str | None:
        return capped(
            self.session,
            customer_id=self.customer_id,
            channel=channel,
            now=self.now,
            settings=self.settings,
            caps=self.caps,
        )

    def wecom_quota_used(self) -> bool:
        return wecom_quota_used(self.session, self.customer_id, self.now, self.settings)

    def sms_room_at(self) -> datetime | None:
        return sms_room_at(self.session, self.customer_id, self.now)
