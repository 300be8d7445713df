"""The console's fission page: the campaigns with their stages, and a form to create one. A
stage that would reward shares, scans, adds or invite counts, or a poster promising anything
for sharing, is refused with WeChat's rule said on the page."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from siyu import clock
from siyu.config import get_settings
from siyu.console.posting import Shown, submit
from siyu.console.views import page_for, render
from siyu.growth import GROWTH_MANAGE
from siyu.growth.fission.models import FissionCampaign, FissionStage
from siyu.growth.fission.service import FissionRefused, StageSpec, create_campaign
from siyu.i18n import _
from siyu.loyalty.queries import programme_list
from siyu.untrusted import number
from siyu.webkit import SessionDep
from siyu.wecom.queries import group_code_choices

router = APIRouter(include_in_schema=False)
Ctx = dict[str, Any]


def _page(
    request: Request,
    ctx: Ctx,
    session: Session,
    typed: dict[str, str] | None = None,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    rows = session.scalars(
        sa.select(FissionCampaign).order_by(FissionCampaign.id.desc()).limit(100)
    ).all()
    stages: dict[int, list[FissionStage]] = {}
    for s in session.scalars(
        sa.select(FissionStage)
        .where(FissionStage.campaign_id.in_([c.id for c in rows]))
        .order_by(FissionStage.orders)
    ):
        stages.setdefault(s.campaign_id, []).append(s)
    return render(
        request,
        "growth_fission.html",
        status=status,
        ctx=ctx,
        active_page="growth",
        rows=rows,
        stages=stages,
        programmes=programme_list(session),
        group_codes=dict(group_code_choices(session)),
        typed=typed or {},
        error=error,
        done=_("Campaign created.") if request.query_params.get("done") == "created" else None,
    )


@router.get("/growth/fission")
def fission_page(
    session: SessionDep, request: Request, ctx: Ctx = Depends(page_for(GROWTH_MANAGE))
) -> HTMLResponse:
    """Fission campaigns (任务宝): stages count invitees' paid orders after the refund window."""
    return _page(request, ctx, session)


def _stages(text: str) -> list[StageSpec]:
    """One stage a line: ``orders, points[, coupon]`` (e.g. ``3, 300`` or ``5, 0, c20``)."""
    out = []
    for line in text.replace("，", ",").splitlines()[:20]:
        parts = [p.strip() for p in line.split(",")]
        if not parts or not parts[0]:
            continue
        orders = number(parts[0], least=1, most=1000)
        points = number(parts[1] if len(parts) > 1 else "", most=1_000_000, default=0)
        out.append(StageSpec(orders, points, parts[2][:40] if len(parts) > 2 else ""))
    return out


@router.post("/growth/fission")
async def create_form(
    session: SessionDep, request: Request, ctx: Ctx = Depends(page_for(GROWTH_MANAGE))
) -> Response:

    def act(form: dict[str, str]) -> str:
        tz = get_settings().tz
        start = datetime.combine(clock.now().astimezone(tz).date(), time.min, tz)
        days = number(form.get("days"), least=1, most=366, default=30)
        trigger = form.get("trigger", "paid_orders")
        specs = _stages(form.get("stages", ""))
        if trigger != "paid_orders":
            specs = [StageSpec(s.orders, s.points, s.coupon, trigger) for s in specs] or [
                StageSpec(1, 1, "", trigger)
            ]
        if not specs:
            raise FissionRefused("each stage gives points or a coupon")
        group = form.get("group_code")
        create_campaign(
            session,
            form.get("programme", ""),
            form.get("name", ""),
            specs,
            starts_at=start,
            ends_at=start + timedelta(days=days),
            poster_text=form.get("poster_text", ""),
            group_code_id=number(group, least=1) if group else None,
            actor=ctx["principal"].actor,
        )
        return "/growth/fission?done=created"

    answer = await submit(request, ctx, session, act, 2000)
    if isinstance(answer, Shown):
        return _page(request, ctx, session, answer.form, answer.error, answer.status)
    return answer
