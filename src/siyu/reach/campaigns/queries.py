"""Read paths for campaigns: the list, one campaign's progress and funnel with the reasons
behind every message that did not go, and the operator's view of ambiguous messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu.accounts.service import Principal
from siyu.customers.service import only_visible, sees_whole_pool
from siyu.reach.campaigns.shapes import (
    AmbiguousRow,
    CampaignDetail,
    CampaignRow,
    CampaignSummary,
    CapOut,
    Funnel,
    GroupReach,
    Progress,
    VariantOut,
)
from siyu.reach.models import Campaign, GroupSend, SendOrigin, SendRow, SendState
from siyu.reach.sending.caps import current_caps
from siyu.reach.sending.ledger import OPEN, campaign_rows
from siyu.wecom.contacts.models import WecomGroupChat

SETTLED = (SendState.sent, SendState.failed, SendState.skipped, SendState.held_out)


def summary(c: Campaign, audience_size: int | None = None) -> CampaignSummary:
    """A campaign as lists show it; ``audience_size`` replaces the stored one for a viewer who
    sees only part of the pool (``scoped``)."""
    return CampaignSummary(
        id=c.id,
        name=c.name,
        purpose=c.purpose,
        segment_id=c.segment_id,
        channels=list(c.channels or [c.channel]),
        status=c.status,
        holdout_pct=c.holdout_pct,
        variants=[VariantOut(key=v["key"], weight=v["weight"]) for v in c.variants or ()],
        audience_mode=c.audience_mode,
        group_filter=c.group_filter or {},
        scheduled_at=c.scheduled_at.isoformat() if c.scheduled_at else None,
        recurrence=c.recurrence,
        runs=c.runs,
        next_run_at=c.next_run_at.isoformat() if c.next_run_at else None,
        audience_size=c.audience_size if audience_size is None else audience_size,
        scoped=audience_size is not None,
        approved_by=c.approved_by,
        created_by=c.created_by,
        created_at=c.created_at.isoformat(),
        started_at=c.started_at.isoformat() if c.started_at else None,
        finished_at=c.finished_at.isoformat() if c.finished_at else None,
    )


def mine(principal: Principal | None) -> sa.ColumnElement[bool]:
    """Ledger rows of the customers ``principal`` may see (the one visibility rule)."""
    return only_visible(principal, SendRow.customer_id)


def my_groups(principal: Principal | None) -> sa.ColumnElement[bool]:
    """Group sends a viewer may see: every group for the whole pool, a guide's own groups
    (they own them at WeCom) otherwise."""
    if sees_whole_pool(principal):
        return sa.true()
    assert principal is not None
    if not principal.wecom_userid:
        return sa.false()
    return GroupSend.group_id.in_(
        sa.select(WecomGroupChat.id).where(WecomGroupChat.owner_userid == principal.wecom_userid)
    )


def list_campaigns(
    session: Session, limit: int = 200, principal: Principal | None = None
) -> list[CampaignRow]:
    """The latest campaigns with their progress, counted over what ``principal`` may see."""
    rows = session.scalars(sa.select(Campaign).order_by(Campaign.id.desc()).limit(limit))
    campaigns = list(rows)
    states: dict[int, dict[str, int]] = {c.id: {} for c in campaigns}
    audience: dict[int, int] | None = None if sees_whole_pool(principal) else {}
    if campaigns:
        q = (
            sa.select(SendRow.origin_id, SendRow.state, sa.func.count())
            .where(
                SendRow.origin == SendOrigin.campaign,
                SendRow.origin_id.in_(list(states)),
                mine(principal),
            )
            .group_by(SendRow.origin_id, SendRow.state)
        )
        for cid, state, n in session.execute(q):
            states[cid][state] = int(n)
        if audience is not None:
            audience.update(
                (cid, int(n))
                for cid, n in session.execute(
                    sa.select(SendRow.origin_id, sa.func.count(sa.distinct(SendRow.customer_id)))
                    .where(
                        SendRow.origin == SendOrigin.campaign,
                        SendRow.origin_id.in_(list(states)),
                        mine(principal),
                    )
                    .group_by(SendRow.origin_id)
                )
            )
        groups = [c.id for c in campaigns if c.channel == "wecom_group"]
        if groups:
            g = (
                sa.select(GroupSend.campaign_id, GroupSend.state, sa.func.count())
                .where(GroupSend.campaign_id.in_(groups), my_groups(principal))
                .group_by(GroupSend.campaign_id, GroupSend.state)
            )
            for cid, state, n in session.execute(g):
                states[cid][state] = int(n)
    return [
        CampaignRow(
            **summary(c, None if audience is None else audience.get(c.id, 0)).model_dump(),
            progress=_progress(states[c.id]),
        )
        for c in campaigns
    ]


def _progress(by_state: dict[str, int]) -> Progress:
    total = sum(by_state.values())
    done = sum(by_state.get(s, 0) for s in SETTLED)
    return Progress(
        total=total,
        settled=done,
        percent=round(100 * done / total, 1) if total else 0.0,
        by_state=by_state,
    )


def detail(
    session: Session, campaign: Campaign, principal: Principal | None = None
) -> CampaignDetail:
    """Progress, the funnel (targeted → held out / eligible → sent) and skip reasons, per
    variant when the campaign has variants, and the messages by channel, counted over the
    customers ``principal`` may see. A customer-group campaign counts groups (and the members
    of the groups it reached)."""
    if campaign.channel == "wecom_group":
        return _group_detail(session, campaign, principal)
    ours = sa.and_(campaign_rows(campaign.id), mine(principal))
    by_state = {
        state: int(n)
        for state, n in session.execute(
            sa.select(SendRow.state, sa.func.count()).where(ours).group_by(SendRow.state)
        )
    }
    reasons = {
        str(reason): int(n)
        for reason, n in session.execute(
            sa.select(SendRow.reason, sa.func.count())
            .where(ours, SendRow.state.in_((SendState.skipped, SendState.deferred)))
            .group_by(SendRow.reason)
            .order_by(sa.func.count().desc())
        )
    }
    per_variant: dict[str, dict[str, int]] = {}
    per_channel: dict[str, int] = {}
    for variant, channel, state, n in session.execute(
        sa.select(SendRow.variant, SendRow.channel, SendRow.state, sa.func.count())
        .where(ours)
        .group_by(SendRow.variant, SendRow.channel, SendRow.state)
    ):
        v = per_variant.setdefault(variant or "", {})
        v[state] = v.get(state, 0) + int(n)
        if state == SendState.sent:
            per_channel[channel] = per_channel.get(channel, 0) + int(n)
    targeted = sum(by_state.values())
    held = by_state.get(SendState.held_out, 0)
    skipped = by_state.get(SendState.skipped, 0)
    funnel = Funnel(
        targeted=targeted,
        held_out=held,
        eligible=targeted - held - skipped,
        sent=by_state.get(SendState.sent, 0),
        failed=by_state.get(SendState.failed, 0),
        ambiguous=by_state.get(SendState.ambiguous, 0),
        waiting=sum(by_state.get(s, 0) for s in (*OPEN, SendState.claimed)),
    )
    audience = None
    if not sees_whole_pool(principal):
        audience = session.scalar(
            sa.select(sa.func.count(sa.distinct(SendRow.customer_id))).where(ours)
        )
    return CampaignDetail(
        **summary(campaign, None if audience is None else int(audience or 0)).model_dump(),
        templates=campaign.templates or {campaign.channel: campaign.template},
        progress=_progress(by_state),
        funnel=funnel,
        skip_reasons=reasons,
        variants_funnel=per_variant if campaign.variants else {},
        sent_by_channel=per_channel,
    )


def groups_sent(session: Session, campaign_id: int) -> int:
    """How many customer groups a group campaign's messages reached, every run of a recurring
    one and every owner's groups (the dashboard's campaign rows are brand-wide, like their
    revenue; the campaign page counts what the viewer may see)."""
    sent = sa.and_(GroupSend.campaign_id == campaign_id, GroupSend.state == "sent")
    return int(session.scalar(sa.select(sa.func.count()).select_from(GroupSend).where(sent)) or 0)


def _group_detail(
    session: Session, campaign: Campaign, principal: Principal | None
) -> CampaignDetail:
    by_state: dict[str, int] = {}
    reasons: dict[str, int] = {}
    reached = 0
    for state, reason, n, members in session.execute(
        sa.select(
            GroupSend.state, GroupSend.reason, sa.func.count(), sa.func.sum(GroupSend.members)
        )
        .where(GroupSend.campaign_id == campaign.id, my_groups(principal))
        .group_by(GroupSend.state, GroupSend.reason)
    ):
        by_state[state] = by_state.get(state, 0) + int(n)
        if state == "skipped" or (state == "pending" and reason):
            reasons[str(reason)] = reasons.get(str(reason), 0) + int(n)
        if state == "sent":
            reached += int(members or 0)
    targeted = sum(by_state.values())
    funnel = Funnel(
        targeted=targeted,
        held_out=0,
        eligible=targeted - by_state.get("skipped", 0),
        sent=by_state.get("sent", 0),
        failed=by_state.get("failed", 0),
        ambiguous=0,
        waiting=by_state.get("pending", 0) + by_state.get("submitted", 0),
    )
    return CampaignDetail(
        **summary(campaign, None if sees_whole_pool(principal) else 0).model_dump(),
        templates={campaign.channel: campaign.template},
        progress=_progress(by_state),
        funnel=funnel,
        skip_reasons=reasons,
        variants_funnel={},
        sent_by_channel={campaign.channel: funnel.sent},
        groups=GroupReach(by_state=by_state, members_reached=reached),
    )


def ambiguous(session: Session, limit: int = 500) -> list[AmbiguousRow]:
    """Messages that may or may not have left, on channels that cannot be asked (email,
    webhooks) or not yet settled: an operator decides, nothing resends them on its own."""
    rows = session.execute(
        sa.select(SendRow, Campaign.name)
        .join(Campaign, Campaign.id == SendRow.campaign_id)
        .where(SendRow.state == SendState.ambiguous)
        .order_by(SendRow.id)
        .limit(limit)
    )
    return [
        AmbiguousRow(
            id=r.id,
            campaign_id=r.campaign_id,
            campaign=name,
            customer_id=r.customer_id,
            channel=r.channel,
            reason=r.reason,
            error=r.error,
            since=(r.finished_at or r.created_at).isoformat(),
        )
        for r, name in rows
    ]


def caps(session: Session) -> list[CapOut]:
    return [CapOut(channel=c, period=p, most=n) for c, p, n in current_caps(session)]


def channel_rates(session: Session, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Per channel, the messages sent in [start, end) and how many were delivered (a receipt
    said so), clicked and replied to — the rates seed 001 compares across channels. A channel
    that sent no receipt at all (mail without a provider's webhook) has no delivered rate:
    ``None``, not a 0 % that reads as every message lost."""
    rows = session.execute(
        sa.select(
            SendRow.channel,
            sa.func.count(),
            sa.func.sum(sa.case((SendRow.delivered.is_(True), 1), else_=0)),
            sa.func.count(SendRow.delivered),
            sa.func.count(SendRow.clicked_at),
            sa.func.count(SendRow.replied_at),
        )
        .where(
            SendRow.origin == SendOrigin.campaign,  # campaigns' messages, not sign-in codes
            SendRow.state == SendState.sent,
            SendRow.finished_at >= start,
            SendRow.finished_at < end,
        )
        .group_by(SendRow.channel)
        .order_by(SendRow.channel)
    ).all()
    return [
        {
            "channel": channel,
            "sent": int(sent),
            "delivered": int(delivered or 0),
            "clicked": int(clicked),
            "replied": int(replied),
            "delivered_rate": round(int(delivered or 0) / sent, 4) if receipts else None,
            "click_rate": round(int(clicked) / sent, 4),
            "reply_rate": round(int(replied) / sent, 4),
        }
        for channel, sent, delivered, receipts, clicked, replied in rows
    ]


def campaigns_started(
    session: Session, start: datetime, end: datetime, limit: int = 10
) -> list[Campaign]:
    """The latest campaigns started in [start, end) (for their results on the dashboard)."""
    return list(
        session.scalars(
            sa.select(Campaign)
            .where(Campaign.started_at >= start, Campaign.started_at < end)
            .order_by(Campaign.started_at.desc())
            .limit(limit)
        )
    )
