"""Campaign use cases: plan one, start it (the ledger is written then, from the audience as it
is at that moment), pause, resume, cancel."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from siyu.accounts.service import record_audit
from siyu.db import utcnow
from siyu.reach.ledger import LedgerError, fan_out
from siyu.reach.models import Campaign
from siyu.segments.models import Segment

CHANNELS = ("sms",)
PURPOSES = ("marketing", "service")


def create_campaign(
    session: Session,
    *,
    name: str,
    segment_id: int,
    channel: str,
    template: dict[str, Any],
    purpose: str = "marketing",
    holdout_pct: int = 0,
    holdout_seed: int = 0,
    actor: str,
) -> Campaign:
    if not name.strip() or len(name) > 100:
        raise LedgerError("name: 1–100 characters")
    if channel not in CHANNELS:
        raise LedgerError(f"channel: one of {', '.join(CHANNELS)} for now")
    if purpose not in PURPOSES:
        raise LedgerError("purpose: marketing or service")
    if session.get(Segment, segment_id) is None:
        raise LedgerError(f"no segment {segment_id}")
    if channel == "sms" and not (template.get("sign_name") and template.get("template_code")):
        raise LedgerError("an SMS needs sign_name and template_code")
    if not 0 <= holdout_pct <= 50:
        raise LedgerError("holdout: 0–50 per cent")
    campaign = Campaign(
        name=name.strip(),
        segment_id=segment_id,
        channel=channel,
        template=template,
        purpose=purpose,
        holdout_pct=holdout_pct,
        holdout_seed=holdout_seed,
        status="draft",
        created_by=actor,
    )
    session.add(campaign)
    session.flush()
    record_audit(session, actor, "campaign.create", "campaign", str(campaign.id), {})
    return campaign


def start(session: Session, campaign: Campaign, *, actor: str) -> dict[str, int]:
    """Write the ledger for the audience as it is now and let the workers send."""
    if campaign.status not in ("draft", "sending"):
        raise LedgerError(f"a {campaign.status} campaign cannot be started")
    out = fan_out(session, campaign)
    campaign.status = "sending"
    campaign.started_at = campaign.started_at or utcnow()
    record_audit(session, actor, "campaign.start", "campaign", str(campaign.id), out)
    return out


def set_status(session: Session, campaign: Campaign, status: str, *, actor: str) -> None:
    """Pause (rows wait), resume, or cancel (rows not yet sent are skipped as cancelled)."""
    allowed = {
        "paused": ("sending",),
        "sending": ("paused",),
        "cancelled": ("sending", "paused", "draft"),
    }
    if status not in allowed or campaign.status not in allowed[status]:
        raise LedgerError(f"a {campaign.status} campaign cannot become {status}")
    campaign.status = status
    record_audit(session, actor, f"campaign.{status}", "campaign", str(campaign.id), {})
