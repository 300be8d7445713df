"""/api/v1/campaigns: plan, preview, start, pause, resume, cancel and approve campaigns; their
progress and funnel; frequency caps; the operator's view of ambiguous messages.

Errors: 404 for an unknown campaign or message, 409 for a move the campaign's state does not
allow, 422 for anything wrong with what was sent (a template error names the part and line).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from siyu.accounts.service import Principal
from siyu.config import get_settings
from siyu.customers import CUSTOMERS_READ
from siyu.reach import CAMPAIGNS_WRITE
from siyu.reach.campaigns import queries, service, shapes
from siyu.reach.campaigns.commands import PlanCampaign
from siyu.reach.campaigns.results import campaign_results
from siyu.reach.sending.caps import set_cap
from siyu.untrusted import COST_FEN_MAX
from siyu.webkit import BigId, Id, SessionDep, require

router = APIRouter(prefix="/api/v1", tags=["campaigns"])
SMS_EXAMPLE = {
    "sign_name": "悦颜",
    "template_code": "SMS_000001",
    "text": "${name}您好，${offer}，拒收请回复R",
    "params": {"name": "{{ name }}", "offer": "您买过的{{ last_product }}补货啦"},
    "fallbacks": {"name": "亲"},
}


class Variant(BaseModel):
    key: str = Field(..., min_length=1, max_length=8)
    weight: int = Field(..., ge=1, le=99)
    templates: dict[str, dict[str, Any]]


class CampaignIn(BaseModel):
    name: str = Field(..., min_length=1, max_length=100)
    segment_id: Id | None = Field(None, description="The audience; not for wecom_group.")
    channels: list[str] = Field(..., min_length=1, max_length=4, examples=[["sms"]])
    group_filter: dict[str, Any] = Field(
        default_factory=dict,
        description="wecom_group only: owners (staff userids) and/or name_contains.",
        examples=[{"owners": ["zhangsan"], "name_contains": "会员"}],
    )
    templates: dict[str, dict[str, Any]] = Field(
        default_factory=dict, examples=[{"sms": SMS_EXAMPLE}]
    )
    variants: list[Variant] = Field(default_factory=list, max_length=5)
    purpose: str = Field("marketing", pattern="^(marketing|service)$")
    holdout_pct: int = Field(0, ge=0, le=50)
    holdout_seed: int = Field(0, ge=0, le=1_000_000)
    audience_mode: str = Field("snapshot", pattern="^(snapshot|live)$")
    scheduled_at: datetime | None = None
    recurrence: str = Field("", pattern="^(|daily|weekly)$")
    send_by_hours: int = Field(72, ge=1, le=720)
    cost_fen_per_message: int = Field(0, ge=0, le=COST_FEN_MAX)

    def command(self) -> PlanCampaign:
        return PlanCampaign(
            name=self.name,
            segment_id=self.segment_id,
            channels=self.channels,
            group_filter=self.group_filter,
            templates=self.templates,
            variants=[v.model_dump() for v in self.variants],
            purpose=self.purpose,
            holdout_pct=self.holdout_pct,
            holdout_seed=self.holdout_seed,
            audience_mode=self.audience_mode,
            scheduled_at=self.scheduled_at,
            recurrence=self.recurrence,
            send_by_hours=self.send_by_hours,
            cost_fen_per_message=self.cost_fen_per_message,
        )


class PreviewIn(BaseModel):
    segment_id: Id
    channel: str
    template: dict[str, Any] = Field(..., examples=[SMS_EXAMPLE])
    purpose: str = Field("marketing", pattern="^(marketing|service)$")
    samples: int = Field(5, ge=1, le=20)
    unmask: bool = Field(
        False,
        description="Full names (needs campaigns:write and customers:unmask; audit-logged).",
    )


class CapIn(BaseModel):
    channel: str = Field(..., examples=["sms", "*"])
    period: str = Field(..., pattern="^(day|week|month)$")
    most: int | None = Field(..., ge=0, le=1000, description="null removes the cap")


class SettleIn(BaseModel):
    outcome: str = Field(..., pattern="^(sent|not_sent|failed)$")


@router.get("/campaigns", response_model=list[shapes.CampaignRow])
def get_campaigns(
    session: SessionDep,
    p: Principal = Depends(require(CUSTOMERS_READ)),
) -> list[shapes.CampaignRow]:
    """Campaigns with their progress, counted over the customers the caller may see."""
    return queries.list_campaigns(session, principal=p)


@router.post(
    "/campaigns",
    status_code=201,
    response_model=shapes.CampaignSummary,
    responses={404: {}, 422: {}},
)
def post_campaign(
    session: SessionDep,
    body: CampaignIn,
    p: Principal = Depends(require(CAMPAIGNS_WRITE)),
) -> shapes.CampaignSummary:
    """Plan a campaign (a draft: nothing is sent until it is started)."""
    campaign = service.plan_campaign(session, body.command(), actor=p.actor)
    return queries.summary(campaign)


@router.post(
    "/campaigns/preview",
    response_model=shapes.MessagePreview,
    response_model_exclude_unset=True,
    responses={403: {}, 404: {}, 422: {}},
)
def post_preview(
    session: SessionDep,
    body: PreviewIn,
    p: Principal = Depends(require(CUSTOMERS_READ)),
) -> shapes.MessagePreview:
    """The message as real customers of the segment would get it — members the caller may
    see, names masked unless ``unmask`` (audit-logged); SMS with its length and the number of
    SMS it costs."""
    return service.preview(
        session,
        channel=body.channel,
        template=body.template,
        purpose=body.purpose,
        segment_id=body.segment_id,
        settings=get_settings(),
        samples=body.samples,
        principal=p,
        unmask=body.unmask,
    )


@router.get(
    "/campaigns/{campaign_id}",
    response_model=shapes.CampaignDetail,
    response_model_exclude_unset=True,
    responses={404: {}},
)
def get_campaign(
    session: SessionDep,
    campaign_id: Id,
    p: Principal = Depends(require(CUSTOMERS_READ)),
) -> shapes.CampaignDetail:
    """One campaign's progress and funnel over the customers the caller may see."""
    return queries.detail(session, service.get_campaign(session, campaign_id), p)


@router.get(
    "/campaigns/{campaign_id}/results",
    response_model=shapes.CampaignResults,
    response_model_exclude_unset=True,
    responses={404: {}, 422: {}},
)
def get_results(
    session: SessionDep,
    campaign_id: Id,
    window_days: int = Query(7, ge=1, le=90, description="Attribution window in days."),
    p: Principal = Depends(require(CUSTOMERS_READ)),
) -> shapes.CampaignResults:
    """Funnel to conversions, last-touch revenue, lift vs holdout with its 95 % interval, ROI
    — over the customers the caller may see."""
    return shapes.CampaignResults.model_validate(
        campaign_results(
            session,
            service.get_campaign(session, campaign_id),
            window_days=window_days,
            principal=p,
        )
    )


@router.post(
    "/campaigns/{campaign_id}/{action}",
    response_model=shapes.CampaignDetail,
    response_model_exclude_unset=True,
    responses={404: {}, 409: {}, 422: {}},
)
def post_action(
    session: SessionDep,
    campaign_id: Id,
    action: str,
    p: Principal = Depends(require(CAMPAIGNS_WRITE)),
) -> shapes.CampaignDetail:
    """start | pause | resume | cancel | approve (approve needs campaigns:approve)."""
    campaign = service.get_campaign(session, campaign_id)
    service.act(session, campaign, action, by=p)
    return queries.detail(session, campaign, p)


@router.get("/send-ledger/ambiguous", response_model=list[shapes.AmbiguousRow])
def get_ambiguous(
    session: SessionDep,
    _p: Principal = Depends(require(CAMPAIGNS_WRITE)),
    limit: int = Query(500, ge=1, le=5000),
) -> list[shapes.AmbiguousRow]:
    """Messages that may or may not have arrived and that no provider can be asked about."""
    return queries.ambiguous(session, limit)


@router.post(
    "/send-ledger/{row_id}/settle", response_model=shapes.Settled, responses={404: {}, 409: {}}
)
def post_settle(
    session: SessionDep,
    row_id: BigId,
    body: SettleIn,
    p: Principal = Depends(require(CAMPAIGNS_WRITE)),
) -> shapes.Settled:
    row = service.settle(session, row_id, body.outcome, actor=p.actor)
    return shapes.Settled(id=row.id, state=row.state, reason=row.reason)


@router.get("/send-caps", response_model=list[shapes.CapOut])
def get_caps(
    session: SessionDep,
    _p: Principal = Depends(require(CUSTOMERS_READ)),
) -> list[shapes.CapOut]:
    return queries.caps(session)


@router.put("/send-caps", response_model=list[shapes.CapOut], responses={422: {}})
def put_cap(
    session: SessionDep,
    body: CapIn,
    p: Principal = Depends(require(CAMPAIGNS_WRITE)),
) -> list[shapes.CapOut]:
    set_cap(session, body.channel, body.period, body.most, actor=p.actor)
    session.flush()
    return queries.caps(session)
