"""Campaign use cases: plan one, start it (the ledger is written then, from the audience as it
is at that moment), pause, resume, cancel."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.accounts.service import Principal, record_audit
from siyu.config import Settings, get_settings
from siyu.customers import CUSTOMERS_UNMASK
from siyu.customers.identifiers import mask_name
from siyu.customers.service import only_visible, withdraw_marketing
from siyu.db import rowcount
from siyu.reach import CAMPAIGNS_APPROVE, CAMPAIGNS_WRITE
from siyu.reach.campaigns.commands import PlanCampaign
from siyu.reach.campaigns.shapes import MessagePreview, PreviewSample
from siyu.reach.channels.webhook import UnsafeTarget, parse_allow, resolve_target
from siyu.reach.channels.wecom_groups import audience as group_audience
from siyu.reach.channels.wecom_groups import cancel_groups, check_filter, fan_out_groups
from siyu.reach.models import Campaign, CampaignStatus, SendRow, SendState
from siyu.reach.sending.ledger import (
    OPEN,
    LedgerError,
    NotInLedger,
    WrongState,
    campaign_rows,
    cancel_open,
    fan_out,
)
from siyu.reach.sending.policy import address_of
from siyu.reach.sending.templates import (
    MissingVariable,
    TemplateProblem,
    check_template,
    render,
    sms_content,
    sms_parts,
)
from siyu.reach.sending.variables import load_variables
from siyu.refusals import Forbidden, require_permission
from siyu.segments.models import Segment, SegmentMember
from siyu.untrusted import COST_FEN_MAX, FIRST_DAY, LAST_DAY

CHANNELS = ("wecom", "wecom_app", "sms", "email", "oa", "webhook")  # to customers
GROUP_CHANNEL = "wecom_group"  # to customer groups: a campaign of its own kind
PURPOSES = ("marketing", "service")
RECURRENCES = {"": None, "daily": timedelta(days=1), "weekly": timedelta(days=7)}


def plan_campaign(session: Session, command: PlanCampaign, *, actor: str) -> Campaign:
    """Plan a campaign (``PlanCampaign`` says what may be asked). Every template is checked
    now, so a typo is refused with its line before anyone is messaged; anything else wrong is
    refused too, whichever entry point asked."""
    if not command.name.strip() or len(command.name) > 100:
        raise LedgerError("name: 1–100 characters")
    order = list(command.channels or ([command.channel] if command.channel else []))
    if not order or len(set(order)) != len(order):
        raise LedgerError("channels: one or more, each once")
    groups = GROUP_CHANNEL in order
    if groups:
        if order != [GROUP_CHANNEL] or command.variants or command.holdout_pct:
            raise LedgerError(
                "a customer-group campaign has the one channel wecom_group, no A/B variants "
                "and no holdout (a group is shared, not one customer)"
            )
        if command.segment_id is not None:
            raise LedgerError(
                "a customer-group campaign is aimed at groups (group filter), not a segment"
            )
        if command.audience_mode != "snapshot":
            raise LedgerError("a customer-group campaign takes the groups as they are when it runs")
    else:
        unknown = [c for c in order if c not in CHANNELS]
        if unknown:
            raise LedgerError(
                "channel {channel}: one of {choices} (or {group} alone)",
                channel=unknown[0],
                choices=", ".join(CHANNELS),
                group=GROUP_CHANNEL,
            )
        if check_filter(command.group_filter):
            raise LedgerError("a group filter is for customer-group campaigns (wecom_group)")
        if command.segment_id is None or session.get(Segment, command.segment_id) is None:
            raise NotInLedger("no segment {id}", id=command.segment_id)
    if command.purpose not in PURPOSES:
        raise LedgerError("purpose: marketing or service")
    if not 0 <= command.holdout_pct <= 50:
        raise LedgerError("holdout: 0–50 per cent")
    if command.audience_mode not in ("snapshot", "live"):
        raise LedgerError("audience: snapshot (the segment when sending starts) or live")
    if command.recurrence not in RECURRENCES:
        raise LedgerError("recurrence: none, daily or weekly")
    if command.recurrence and command.scheduled_at is None:
        raise LedgerError("a recurring campaign needs its first time (scheduled_at)")
    if (
        command.scheduled_at is not None
        and not FIRST_DAY.year <= command.scheduled_at.year <= LAST_DAY.year
    ):
        raise LedgerError("scheduled time: from {first} to {last}", first=FIRST_DAY, last=LAST_DAY)
    if not 1 <= command.send_by_hours <= 24 * 30:
        raise LedgerError("send_by_hours: 1–720")
    if not 0 <= command.cost_fen_per_message <= COST_FEN_MAX:
        raise LedgerError("cost per message: 0 to {most} fen", most=COST_FEN_MAX)
    by_channel = dict(command.templates or {})
    if command.template is not None:
        by_channel.setdefault(order[0], command.template)
    _check_templates(order, by_channel, command.purpose, required=not command.variants)
    _check_variants(order, command.variants or [], command.purpose)
    campaign = Campaign(
        name=command.name.strip(),
        segment_id=command.segment_id,
        group_filter=check_filter(command.group_filter) if groups else {},
        channel=order[0],
        channels=order,
        template=by_channel.get(order[0], {}),
        templates=by_channel,
        variants=command.variants or [],
        purpose=command.purpose,
        holdout_pct=command.holdout_pct,
        holdout_seed=command.holdout_seed,
        audience_mode=command.audience_mode,
        scheduled_at=command.scheduled_at,
        recurrence=command.recurrence,
        send_by_hours=command.send_by_hours,
        cost_fen_per_message=command.cost_fen_per_message,
        status=CampaignStatus.draft,
        created_by=actor,
    )
    session.add(campaign)
    session.flush()
    record_audit(session, actor, "campaign.create", "campaign", str(campaign.id), {})
    return campaign


def _check_templates(
    order: list[str], by_channel: dict[str, Any], purpose: str, *, required: bool
) -> None:
    for ch in by_channel:
        if ch not in order:
            raise LedgerError(
                "a template for {channel}, which is not one of the channels", channel=ch
            )
    for ch in order:
        if ch not in by_channel:
            if required:
                raise LedgerError("no template for {channel}", channel=ch)
            continue
        try:
            check_template(ch, by_channel[ch], purpose=purpose)
        except TemplateProblem as exc:
            raise LedgerError("template {channel} {reason}", channel=ch, reason=exc) from None
        if ch == "webhook":
            try:
                resolve_target(
                    str(by_channel[ch]["url"]), *parse_allow(get_settings().webhook_allow)
                )
            except UnsafeTarget as exc:
                raise LedgerError("webhook: {reason}", reason=exc) from None


def _check_variants(order: list[str], variants: list[dict[str, Any]], purpose: str) -> None:
    if not variants:
        return
    keys = [str(v.get("key") or "") for v in variants]
    if (
        len(variants) < 2
        or len(set(keys)) != len(keys)
        or not all(k.isalnum() and len(k) <= 8 for k in keys)
    ):
        raise LedgerError("variants: two or more, each with its own short key (A, B, …)")
    weights = [v.get("weight") for v in variants]
    if not all(isinstance(w, int) and w > 0 for w in weights) or sum(weights) != 100:  # type: ignore[arg-type]
        raise LedgerError("variant weights: whole per cents that add up to 100")
    for v in variants:
        templates = v.get("templates") or {}
        try:
            _check_templates(order, templates, purpose, required=True)
        except LedgerError as exc:
            raise LedgerError("variant {key}: {reason}", key=v["key"], reason=exc) from None


def start(
    session: Session, campaign: Campaign, *, actor: str, settings: Settings | None = None
) -> dict[str, Any]:
    """Send now (the ledger is written for the audience as it is), or at the scheduled time.
    A campaign larger than ``reach_approval_above`` waits for a second person's approval."""
    settings = settings or get_settings()
    if campaign.status not in (
        CampaignStatus.draft,
        CampaignStatus.sending,
        CampaignStatus.scheduled,
        CampaignStatus.awaiting_approval,
    ):
        raise WrongState("a {status} campaign cannot be started", status=campaign.status)
    if campaign.approved_at is None and campaign.status != "sending":
        size = audience_size(session, campaign)
        if size == 0 and campaign.channel == GROUP_CHANNEL:
            if group_audience(session, campaign)[0] == 0:
                raise LedgerError("no customer group matches the group filter")
        elif size == 0:
            raise LedgerError("the audience segment is empty: nobody would get this")
        if size > settings.reach_approval_above:
            campaign.status = CampaignStatus.awaiting_approval
            campaign.audience_size = size
            record_audit(session, actor, "campaign.submit", "campaign", str(campaign.id), {})
            return {"status": campaign.status, "audience": size}
    now = clock.now()
    if campaign.scheduled_at is not None and campaign.scheduled_at > now and campaign.runs == 0:
        campaign.status, campaign.next_run_at = CampaignStatus.scheduled, campaign.scheduled_at
        record_audit(session, actor, "campaign.schedule", "campaign", str(campaign.id), {})
        return {"status": campaign.status, "at": campaign.scheduled_at.isoformat()}
    out = run(session, campaign, now)
    record_audit(session, actor, "campaign.start", "campaign", str(campaign.id), out)
    return {"status": campaign.status, **out}


ACTIONS = ("start", "approve", "pause", "resume", "cancel")


def get_campaign(session: Session, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotInLedger("no campaign {id}", id=campaign_id)
    return campaign


def act(session: Session, campaign: Campaign, action: str, *, by: Principal) -> None:
    """One of the operator's moves on a campaign, by name (API, CLI and console share it);
    ``by`` is who acts: approving needs campaigns:approve."""
    actor = by.actor
    if action not in ACTIONS:
        raise NotInLedger(
            "no action {action}: {choices}", action=action, choices=", ".join(ACTIONS)
        )
    if action == "start":
        start(session, campaign, actor=actor)
    elif action == "approve":
        approve(session, campaign, by=by)
    elif action in ("pause", "resume", "cancel"):
        status = {
            "pause": CampaignStatus.paused,
            "resume": CampaignStatus.sending,
            "cancel": CampaignStatus.cancelled,
        }[action]
        set_status(session, campaign, status, actor=actor)


def run(session: Session, campaign: Campaign, now: datetime) -> dict[str, int]:
    """One run: fan the audience out into the ledger as the next step; a recurring campaign
    is due again at its next slot after now (runs missed while the clock jumped are skipped)."""
    step = campaign.runs
    if campaign.channel == GROUP_CHANNEL:
        out = fan_out_groups(session, campaign, now, step)
    else:
        out = fan_out(session, campaign, now, step=step)
    if out["added"] + out["already"] == 0 and step == 0:
        raise LedgerError("the audience is empty: nobody would get this")
    campaign.runs = step + 1
    campaign.status = "sending"
    campaign.started_at = campaign.started_at or now
    every = RECURRENCES[campaign.recurrence]
    if every is None:
        campaign.next_run_at = None
    else:
        slot = campaign.next_run_at or campaign.scheduled_at or now
        while slot <= now:
            slot += every
        campaign.next_run_at = slot
    return out


def approve(session: Session, campaign: Campaign, *, by: Principal) -> dict[str, Any]:
    """A second person, one who may approve (campaigns:approve), approves a large send; it
    then starts (or waits for its time)."""
    require_permission(by, CAMPAIGNS_APPROVE)
    actor = by.actor
    if campaign.status != CampaignStatus.awaiting_approval:
        raise WrongState("a {status} campaign is not waiting for approval", status=campaign.status)
    if actor == campaign.created_by:
        raise LedgerError("a campaign is approved by someone other than who planned it")
    campaign.approved_by, campaign.approved_at = actor, clock.now()
    record_audit(session, actor, "campaign.approve", "campaign", str(campaign.id), {})
    campaign.status = CampaignStatus.draft
    return start(session, campaign, actor=actor)


def audience_size(session: Session, campaign: Campaign) -> int:
    """Customers the campaign would reach now (for a group campaign: the groups' members)."""
    if campaign.channel == GROUP_CHANNEL:
        return group_audience(session, campaign)[1]
    return int(
        session.scalar(
            sa.select(sa.func.count()).where(SegmentMember.segment_id == campaign.segment_id)
        )
        or 0
    )


def set_status(session: Session, campaign: Campaign, status: CampaignStatus, *, actor: str) -> None:
    """Pause (rows wait), resume, or cancel (rows not yet sent are skipped as cancelled)."""
    allowed = {
        CampaignStatus.paused: (CampaignStatus.sending, CampaignStatus.scheduled),
        CampaignStatus.sending: (CampaignStatus.paused,),
        CampaignStatus.cancelled: (
            CampaignStatus.sending,
            CampaignStatus.paused,
            CampaignStatus.draft,
            CampaignStatus.scheduled,
            CampaignStatus.awaiting_approval,
        ),
    }
    if status not in allowed or campaign.status not in allowed[status]:
        raise WrongState(
            "a {status} campaign cannot become {to}", status=campaign.status, to=status
        )
    if status == CampaignStatus.sending and campaign.runs == 0:
        # resumed before its first run: it waits for its time again
        status = CampaignStatus.scheduled
    campaign.status = status
    if status == CampaignStatus.cancelled:
        cancel_open(session, campaign.id)
        cancel_groups(session, campaign.id)
        campaign.next_run_at = None
    record_audit(session, actor, f"campaign.{status}", "campaign", str(campaign.id), {})


def run_due(session: Session, now: datetime | None = None) -> int:
    """The scheduler's round (every worker may run it; a campaign is taken by one): start the
    campaigns whose time has come, and keep live-audience campaigns in step with their
    segment (new members get a row, members who left are skipped). Returns runs started."""
    now = now or clock.now()
    due = sa.select(Campaign.id).where(
        Campaign.status.in_((CampaignStatus.scheduled, CampaignStatus.sending)),
        Campaign.next_run_at <= now,
    )
    started = 0
    for cid in list(session.scalars(due)):
        campaign = _take(session, cid)
        if campaign is None or campaign.next_run_at is None or campaign.next_run_at > now:
            session.rollback()
            continue
        out = run(session, campaign, now)
        record_audit(session, "scheduler", "campaign.run", "campaign", str(cid), out)
        session.commit()
        started += 1
    live = sa.select(Campaign.id).where(
        Campaign.status == "sending", Campaign.audience_mode == "live", Campaign.runs > 0
    )
    for cid in list(session.scalars(live)):
        campaign = _take(session, cid)
        if campaign is not None and campaign.status == "sending":
            fan_out(session, campaign, now, step=campaign.runs - 1)
            skip_departed(session, campaign, now)
        session.commit()
    return started


def _take(session: Session, campaign_id: int) -> Campaign | None:
    """The campaign row, locked for this scheduler (another one skips it) on PostgreSQL."""
    q = sa.select(Campaign).where(Campaign.id == campaign_id)
    if session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    return session.scalars(q).first()


def skip_departed(session: Session, campaign: Campaign, now: datetime) -> int:
    """Live audience: rows still waiting for customers no longer in the segment are skipped."""
    member = sa.select(SegmentMember.customer_id).where(
        SegmentMember.segment_id == campaign.segment_id,
        SegmentMember.customer_id == SendRow.customer_id,
    )
    return rowcount(
        session.execute(
            sa.update(SendRow)
            .where(
                campaign_rows(campaign.id),
                SendRow.state.in_(OPEN),
                ~member.exists(),
            )
            .values(state=SendState.skipped, reason="left_segment", finished_at=now)
            .execution_options(synchronize_session=False)
        )
    )


def may_preview_unmasked(principal: Principal | None) -> bool:
    """Who may see a preview with full names: those who plan campaigns and may unmask. Store
    guides and analysts see masked names only (a guide unmasks one customer at a time, on the
    customer's page)."""
    return principal is not None and all(
        principal.can(p) for p in (CAMPAIGNS_WRITE, CUSTOMERS_UNMASK)
    )


def preview(
    session: Session,
    *,
    channel: str,
    template: dict[str, Any],
    purpose: str,
    segment_id: int,
    settings: Settings,
    samples: int = 5,
    principal: Principal | None = None,
    unmask: bool = False,
) -> MessagePreview:
    """The message as real customers of the audience would get it, before anything is sent:
    for SMS the text on the phone and how many SMS it costs; a customer the template cannot
    address (a missing variable under the skip policy) shows the reason instead.

    The samples are members ``principal`` may see (the one visibility rule). Names are masked
    unless ``unmask`` is asked, which is refused to those who may not (``may_preview_unmasked``);
    every customer shown unmasked is audit-logged as an unmask, as on the customer's page."""
    if unmask and not may_preview_unmasked(principal):
        raise Forbidden("permissions campaigns:write and customers:unmask required")
    try:
        checked = check_template(channel, template, purpose=purpose)
    except TemplateProblem as exc:
        raise LedgerError("template {reason}", reason=exc) from None
    show = unmask
    ids = list(
        session.scalars(
            sa.select(SegmentMember.customer_id)
            .where(
                SegmentMember.segment_id == segment_id,
                only_visible(principal, SegmentMember.customer_id),
            )
            .order_by(SegmentMember.customer_id)
            .limit(samples)
        )
    )
    today = clock.now().astimezone(settings.tz).date()
    variables = load_variables(session, ids, today=today, wanted=checked.variables | {"name"})
    out = []
    for cid in ids:
        values = dict(variables[cid])
        if not show:
            values["name"] = mask_name(values.get("name"))
        elif principal is not None:
            record_audit(
                session,
                principal.actor,
                "customer.unmask",
                "customer",
                str(cid),
                {"via": "campaign.preview", "segment_id": segment_id},
            )
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
    return MessagePreview(
        variables=sorted(checked.variables),
        unmasked=show,
        samples=[PreviewSample.model_validate(item) for item in out],
    )


SETTLE_OUTCOMES = ("sent", "not_sent", "failed")


def settle(session: Session, row_id: int, outcome: str, *, actor: str) -> SendRow:
    """An operator settles an ambiguous message after checking with the provider or the
    customer: it arrived (sent), it did not (not_sent: it goes out again), or give up (failed).
    Only ambiguous rows can be settled; nothing else is ever resent by hand."""
    if outcome not in SETTLE_OUTCOMES:
        raise LedgerError("outcome: one of {choices}", choices=", ".join(SETTLE_OUTCOMES))
    row = session.get(SendRow, row_id)
    if row is None:
        raise NotInLedger("no message {id}", id=row_id)
    if row.state != SendState.ambiguous:
        raise WrongState("message {id} is {state}, not ambiguous", id=row_id, state=row.state)
    now = clock.now()
    if outcome == "not_sent":
        row.state, row.due_at, row.reason = SendState.pending, now, "settled_not_sent"
        row.claimed_by = row.lease_until = row.checked_at = None
    else:
        row.state, row.reason, row.finished_at = SendState(outcome), "settled_by_operator", now
        if outcome == SendState.failed:
            row.checked_at = None
    record_audit(session, actor, "send.settle", "send_ledger", str(row_id), {"outcome": outcome})
    return row


def unsubscribe(session: Session, row_id: int) -> list[int]:
    """The unsubscribe link of a message was used: marketing on that channel to that address
    stops now (every brand's consent withdrawn, with the message as evidence)."""
    row = session.get(SendRow, row_id)
    if row is None:
        raise NotInLedger("no message {id}", id=row_id)
    campaign = session.get(Campaign, row.campaign_id) if row.campaign_id is not None else None
    address = address_of(session, row.customer_id, row.channel)
    if campaign is None or address is None:
        return []
    return withdraw_marketing(
        session,
        channel=row.channel,
        address=address,
        source="unsubscribe",
        evidence=f"unsubscribe link of message {row_id} (campaign {campaign.id})",
        customer_id=row.customer_id,
    )
