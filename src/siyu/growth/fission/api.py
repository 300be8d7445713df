"""The fission API: create a campaign (refused, with the rule, when a stage would reward a
share, scan, add or invite count, or the poster promises anything for sharing) and list them."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from siyu.accounts.service import Principal
from siyu.db import session_scope
from siyu.growth.api import manager
from siyu.growth.fission.models import FissionCampaign, FissionStage
from siyu.growth.fission.service import StageSpec, create_campaign
from siyu.untrusted import ID_MAX

router = APIRouter(prefix="/api/v1/growth", tags=["growth"])


class StageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # what the stage counts: only paid_orders is accepted (shares, scans, adds and invite
    # counts are refused with WeChat's rule); the others are named so the refusal can say why
    trigger: Annotated[str, Field(max_length=20)] = "paid_orders"
    orders: Annotated[int, Field(ge=1, le=1000)]
    points: Annotated[int, Field(ge=0, le=1_000_000)] = 0
    coupon: Annotated[str, Field(max_length=40)] = ""


class CampaignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    programme: Annotated[str, Field(min_length=1, max_length=40)]
    name: Annotated[str, Field(min_length=1, max_length=100)]
    poster_text: Annotated[str, Field(max_length=200)] = ""
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    # group fission: the group live code whose QR a participant's new friend is welcomed with
    group_code_id: Annotated[int | None, Field(ge=1, le=ID_MAX)] = None
    stages: Annotated[list[StageIn], Field(min_length=1, max_length=10)]


class StageOut(BaseModel):
    orders: int
    points: int
    coupon_template_id: int | None


class CampaignOut(BaseModel):
    id: int
    name: str
    poster_text: str
    starts_at: str
    ends_at: str
    active: bool
    group_code_id: int | None
    stages: list[StageOut]


def _out(session: Session, c: FissionCampaign) -> CampaignOut:
    stages = session.scalars(
        sa.select(FissionStage)
        .where(FissionStage.campaign_id == c.id)
        .order_by(FissionStage.orders)
    ).all()
    return CampaignOut(
        id=c.id,
        name=c.name,
        poster_text=c.poster_text,
        starts_at=c.starts_at.isoformat(),
        ends_at=c.ends_at.isoformat(),
        active=c.active,
        group_code_id=c.group_code_id,
        stages=[
            StageOut(orders=s.orders, points=s.points, coupon_template_id=s.coupon_template_id)
            for s in stages
        ],
    )


@router.post(
    "/fission",
    response_model=CampaignOut,
    status_code=201,
    responses={
        401: {"description": "no or bad API key"},
        403: {"description": "key lacks growth:manage, or is bound to a store"},
        404: {"description": "no such loyalty programme"},
        422: {
            "description": "a stage rewarding shares, scans, adds or invite counts; a poster "
            "promising anything for sharing; bad dates or stages; no such group live code"
        },
    },
)
def create(body: CampaignIn, principal: Principal = Depends(manager)) -> CampaignOut:
    """Create a fission campaign whose stages count invitees' paid orders after the refund
    window."""
    with session_scope() as session:
        made = create_campaign(
            session,
            body.programme,
            body.name,
            [StageSpec(s.orders, s.points, s.coupon, s.trigger) for s in body.stages],
            starts_at=body.starts_at,
            ends_at=body.ends_at,
            poster_text=body.poster_text,
            group_code_id=body.group_code_id,
            actor=principal.actor,
        )
        return _out(session, made)


@router.get(
    "/fission",
    response_model=list[CampaignOut],
    responses={
        401: {"description": "no or bad API key"},
        403: {"description": "key lacks growth:manage"},
    },
)
def campaigns(principal: Principal = Depends(manager)) -> list[CampaignOut]:
    """Every campaign, newest first."""
    with session_scope() as session:
        return campaign_list(session)


def campaign_list(session: Session) -> list[CampaignOut]:
    rows = session.scalars(
        sa.select(FissionCampaign).order_by(FissionCampaign.id.desc()).limit(200)
    ).all()
    return [_out(session, c) for c in rows]
