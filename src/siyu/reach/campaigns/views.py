"""The campaign console pages: list, a form with a live preview on real customers, and one
campaign's funnel, skip reasons and lift against its holdout; the ambiguous-message view.
Thin: parse the form, call the reach services, render."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from siyu.config import get_settings
from siyu.console.views import (
    csrf_ok,
    page_for,
    refused_page,
    render,
)
from siyu.console.words import in_words
from siyu.customers import CUSTOMERS_READ
from siyu.i18n import _
from siyu.reach import CAMPAIGNS_WRITE
from siyu.reach.campaigns import queries, service
from siyu.reach.campaigns.commands import PlanCampaign
from siyu.reach.campaigns.results import campaign_results
from siyu.reach.models import Campaign
from siyu.reach.sending.ledger import LedgerError
from siyu.refusals import Forbidden
from siyu.untrusted import COST_FEN_MAX, number
from siyu.webkit import BigId, Id, SessionDep

if TYPE_CHECKING:
    from siyu.segments.queries import SegmentOut

router = APIRouter(include_in_schema=False)
Ctx = dict[str, Any]
# the new-campaign form's fields, shown empty until typed
NEW_FORM = dict.fromkeys(
    [
        "name",
        "segment_id",
        "channel",
        "fallback",
        "group_owners",
        "group_name",
        "audience_mode",
        "scheduled_at",
        "recurrence",
        "purpose",
        "holdout",
        "cost_fen",
        "sign_name",
        "template_code",
        "sms_text",
        "params",
        "subject",
        "url",
        "body",
        "variant_b_body",
        "variant_b_params",
        "split_b",
    ],
    "",
)


def _lines(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip():
            out[name.strip()] = value.strip()
    return out


def template_from_form(channel: str, form: dict[str, str]) -> dict[str, Any]:
    """The channel's template from the form's fields (SMS params and official-account fields
    one ``name=template`` a line; the template code field holds the template id)."""
    if channel == "sms":
        return {
            "sign_name": form.get("sign_name", ""),
            "template_code": form.get("template_code", ""),
            "text": form.get("sms_text", ""),
            "params": _lines(form.get("params", "")),
        }
    if channel == "oa":
        return {
            "template_id": form.get("template_code", ""),
            "data": _lines(form.get("params", "")),
            "url": form.get("url", ""),
        }
    if channel == "email":
        return {"subject": form.get("subject", ""), "text": form.get("body", "")}
    if channel == "webhook":
        return {"url": form.get("url", ""), "text": form.get("body", "")}
    return {"text": form.get("body", "")}


def campaign_from_form(form: dict[str, str], tz: Any) -> PlanCampaign:
    """The campaign the console form plans: its name, the channel and an optional
    fallback channel (each with its template from the same fields), a schedule in Shanghai
    time, and an optional variant B (another body or other SMS values, with its share)."""
    channel = form.get("channel", "sms")
    order = [channel]
    if form.get("fallback") and form["fallback"] != channel:
        order.append(form["fallback"])
    templates = {ch: template_from_form(ch, form) for ch in order}
    kwargs: dict[str, Any] = {
        "channels": order,
        "templates": templates,
        "audience_mode": form.get("audience_mode") or "snapshot",
        "recurrence": form.get("recurrence", ""),
    }
    if channel == "wecom_group":  # aimed at groups: by owner and name, not a segment
        owners = [o.strip() for o in form.get("group_owners", "").replace("，", ",").split(",")]
        kwargs["group_filter"] = {
            "owners": [o for o in owners if o],
            "name_contains": form.get("group_name", ""),
        }
        kwargs["segment_id"] = None
    else:
        kwargs["segment_id"] = number(form.get("segment_id"), least=1, default=0)
    if form.get("scheduled_at"):
        try:
            local = datetime.fromisoformat(form["scheduled_at"])
        except ValueError:
            raise LedgerError("scheduled time: YYYY-MM-DD HH:MM") from None
        kwargs["scheduled_at"] = local.replace(tzinfo=tz) if local.tzinfo is None else local
    if form.get("variant_b_body") or form.get("variant_b_params"):
        share = number(form.get("split_b"), least=1, most=99, default=50)
        other = dict(form)
        other["body"] = form.get("variant_b_body") or form.get("body", "")
        other["params"] = form.get("variant_b_params") or form.get("params", "")
        kwargs["variants"] = [
            {"key": "A", "weight": 100 - share, "templates": templates},
            {
                "key": "B",
                "weight": share,
                "templates": {ch: template_from_form(ch, other) for ch in order},
            },
        ]
    return PlanCampaign(
        name=form.get("name", ""),
        **kwargs,
        purpose=form.get("purpose", "marketing"),
        holdout_pct=number(form.get("holdout"), most=50, default=0),
        cost_fen_per_message=number(form.get("cost_fen"), most=COST_FEN_MAX, default=0),
    )


def _segments(session: Session, ctx: Ctx) -> list[SegmentOut]:
    from siyu.segments.queries import list_segments

    return list_segments(session, ctx["principal"])


@router.get("/campaigns")
def campaigns_page(
    session: SessionDep,
    request: Request,
    ctx: Ctx = Depends(page_for(CUSTOMERS_READ)),
) -> HTMLResponse:
    rows = queries.list_campaigns(session, principal=ctx["principal"])
    return render(request, "campaigns.html", ctx=ctx, rows=rows)


@router.api_route("/campaigns/new", methods=["GET", "POST"])
async def campaign_new_page(
    session: SessionDep,
    request: Request,
    ctx: Ctx = Depends(page_for(CAMPAIGNS_WRITE)),
) -> Response:
    """GET: the form. POST: save as a draft (errors shown in the form, nothing lost)."""
    form: dict[str, str] = {"channel": "sms", "purpose": "marketing", "holdout": "10"}
    error = None
    if request.method == "POST":
        raw = await request.form()
        form = {k: str(v).strip() for k, v in raw.items()}
        if not csrf_ok(ctx, form.get("csrf", "")):
            error = "csrf"
        else:
            try:
                plan = campaign_from_form(form, get_settings().tz)
                campaign = service.plan_campaign(session, plan, actor=ctx["principal"].actor)
                session.commit()
                return RedirectResponse(f"/campaigns/{campaign.id}", status_code=303)
            except (LedgerError, ValueError) as exc:
                session.rollback()
                error = in_words(request, exc)
    return render(
        request,
        "campaign_new.html",
        ctx=ctx,
        form={**NEW_FORM, **form},
        segments=_segments(session, ctx),
        error=error,
    )


@router.post("/campaigns/preview")
async def campaign_preview_fragment(
    session: SessionDep,
    request: Request,
    ctx: Ctx = Depends(page_for(CAMPAIGNS_WRITE)),
) -> HTMLResponse:
    """The form's live preview (HTMX): the message for real customers of the segment, only for
    those who may plan campaigns. It runs as the operator types, so names stay masked here;
    the API's preview unmasks on request, audit-logged."""
    raw = await request.form()
    form = {k: str(v).strip() for k, v in raw.items()}
    channel = form.get("channel", "sms")
    try:
        shown = service.preview(
            session,
            channel=channel,
            template=template_from_form(channel, form),
            purpose=form.get("purpose", "marketing"),
            segment_id=number(form.get("segment_id"), least=1, default=0),
            settings=get_settings(),
            samples=3,
            principal=ctx["principal"],
        )
        error = None
    except (LedgerError, ValueError) as exc:
        shown, error = None, in_words(request, exc)
    return render(request, "campaign_preview.html", ctx=ctx, shown=shown, error=error)


@router.get("/campaigns/ambiguous")
def ambiguous_page(
    session: SessionDep,
    request: Request,
    ctx: Ctx = Depends(page_for(CAMPAIGNS_WRITE)),
) -> HTMLResponse:
    return render(request, "campaign_ambiguous.html", ctx=ctx, rows=queries.ambiguous(session))


@router.post("/campaigns/ambiguous/{row_id}")
async def settle_page(
    session: SessionDep,
    request: Request,
    row_id: BigId,
    ctx: Ctx = Depends(page_for(CAMPAIGNS_WRITE)),
) -> Response:
    raw = await request.form()
    if csrf_ok(ctx, str(raw.get("csrf", ""))):
        try:
            service.settle(
                session, row_id, str(raw.get("outcome", "")), actor=ctx["principal"].actor
            )
            session.commit()
        except LedgerError:
            session.rollback()
    return RedirectResponse("/campaigns/ambiguous", status_code=303)


def _detail_page(
    request: Request, ctx: Ctx, session: Session, campaign: Campaign, error: str | None = None
) -> HTMLResponse:
    return render(
        request,
        "campaign.html",
        ctx=ctx,
        c=queries.detail(session, campaign, ctx["principal"]),
        r=campaign_results(session, campaign, window_days=7, principal=ctx["principal"]),
        error=error,
    )


@router.get("/campaigns/{campaign_id}")
def campaign_page(
    session: SessionDep,
    request: Request,
    campaign_id: Id,
    ctx: Ctx = Depends(page_for(CUSTOMERS_READ)),
) -> HTMLResponse:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        return render(request, "error.html", status=404, ctx=ctx, message=_("Campaign not found."))
    return _detail_page(request, ctx, session, campaign)


@router.post("/campaigns/{campaign_id}/{action}")
async def campaign_action(
    session: SessionDep,
    request: Request,
    campaign_id: Id,
    action: str,
    ctx: Ctx = Depends(page_for(CAMPAIGNS_WRITE)),
) -> Response:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or action not in service.ACTIONS:
        return render(request, "error.html", status=404, ctx=ctx, message=_("Campaign not found."))
    raw = await request.form()
    if not csrf_ok(ctx, str(raw.get("csrf", ""))):
        return _detail_page(request, ctx, session, campaign, "csrf")
    try:
        service.act(session, campaign, action, by=ctx["principal"])
        session.commit()
    except Forbidden as exc:  # approving needs campaigns:approve (the service says so)
        return refused_page(request, ctx, session, exc)
    except LedgerError as exc:
        session.rollback()
        return _detail_page(request, ctx, session, campaign, in_words(request, exc))
    return RedirectResponse(f"/campaigns/{campaign_id}", status_code=303)
