"""Campaign use cases: plan one, start it (the ledger is written then, from the audience as it
is at that moment), pause, resume, cancel."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu.accounts.service import record_audit
from siyu.config import Settings
from siyu.customers.identifiers import mask_name
from siyu.db import utcnow
from siyu.reach.ledger import LedgerError, fan_out
from siyu.reach.models import Campaign
from siyu.reach.templates import (
    MissingVariable,
    TemplateProblem,
    check_template,
    render,
    sms_content,
    sms_parts,
)
from siyu.reach.variables import load_variables
from siyu.segments.models import Segment, SegmentMember

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
    try:
        check_template(channel, template, purpose=purpose)
    except TemplateProblem as exc:
        raise LedgerError(f"template {exc}") from None
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


def preview(
    session: Session,
    *,
    channel: str,
    template: dict[str, Any],
    purpose: str,
    segment_id: int,
    settings: Settings,
    samples: int = 5,
    unmask: bool = False,
) -> dict[str, Any]:
    """The message as real customers of the audience would get it, before anything is sent:
    for SMS the text on the phone and how many SMS it costs; a customer the template cannot
    address (a missing variable under the skip policy) shows the reason instead. Names are
    masked unless the viewer may see personal data."""
    try:
        checked = check_template(channel, template, purpose=purpose)
    except TemplateProblem as exc:
        raise LedgerError(f"template {exc}") from None
    ids = list(
        session.scalars(
            sa.select(SegmentMember.customer_id)
            .where(SegmentMember.segment_id == segment_id)
            .order_by(SegmentMember.customer_id)
            .limit(samples)
        )
    )
    today = utcnow().astimezone(settings.tz).date()
    variables = load_variables(session, ids, today=today, wanted=checked.variables | {"name"})
    out = []
    for cid in ids:
        values = dict(variables[cid])
        if not unmask:
            values["name"] = mask_name(values.get("name"))
        item: dict[str, Any] = {"customer_id": cid, "name": values.get("name")}
        try:
            parts = render(channel, template, values)
        except MissingVariable as exc:
            item["skipped"] = f"missing:{exc.name}"
        except TemplateProblem as exc:
            item["skipped"] = f"template_error: {exc}"
        else:
            item["parts"] = parts
            if channel == "sms":
                content = sms_content(template, parts)
                item.update(content=content, chars=len(content), sms_count=sms_parts(content))
        out.append(item)
    return {"variables": sorted(checked.variables), "samples": out}
