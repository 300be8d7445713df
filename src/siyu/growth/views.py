"""The console's referral page: each programme's referral settings (a form), the referrals with
the reasons the checks gave, and the ones held for review with approve and void. Thin: the
form is parsed here, the rules are the service's, as for the CLI and the API."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from siyu.console.posting import Shown, submit
from siyu.console.views import page_for, render
from siyu.growth import GROWTH_MANAGE, queries, service
from siyu.growth.api import rules_out
from siyu.i18n import N_, _
from siyu.loyalty.queries import programme_list
from siyu.untrusted import number, whole_number
from siyu.webkit import Id, SessionDep

router = APIRouter(include_in_schema=False)
Ctx = dict[str, Any]
STATUSES = ("review", "attributed", "void")
PAGE = 50
CHARS = 2000  # characters of a posted value kept
DONE = {
    "saved": N_("Referral settings saved."),
    "approved": N_("Referral approved."),
    "voided": N_("Referral voided."),
}


def _page(
    request: Request,
    ctx: Ctx,
    session: Session,
    *,
    typed: dict[str, str] | None = None,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    shown = request.query_params.get("status", "review")
    shown = shown if shown in STATUSES else ""
    offset = whole_number(request.query_params.get("offset")) or 0
    total, rows = queries.referrals(
        session,
        status=shown or None,
        offset=offset,
        most=PAGE,
        masked=True,  # the customer's own page unmasks, with its audit
    )
    programmes = []
    for pid, code, name in programme_list(session):
        rules = service.settings_of(session, pid)
        programmes.append(
            {
                "code": code,
                "name": name,
                "rules": rules_out(session, code, rules) if rules else None,
            }
        )
    done = request.query_params.get("done", "")
    return render(
        request,
        "growth_referrals.html",
        status=status,
        ctx=ctx,
        active_page="growth",
        programmes=programmes,
        rows=rows,
        total=total,
        shown=shown,
        offset=offset,
        page=PAGE,
        waiting=queries.waiting_for_review(session),
        typed=typed or {},
        error=error,
        done=_(DONE[done]) if done in DONE else None,
    )


@router.get("/growth/referrals")
def referrals_page(
    session: SessionDep, request: Request, ctx: Ctx = Depends(page_for(GROWTH_MANAGE))
) -> HTMLResponse:
    """Referral settings per programme, and the referrals (held ones first)."""
    return _page(request, ctx, session)


@router.post("/growth/referrals/settings")
async def settings_form(
    session: SessionDep, request: Request, ctx: Ctx = Depends(page_for(GROWTH_MANAGE))
) -> Response:
    """Save a programme's referral settings (points, coupons, minimum order in yuan, refund
    window, caps, thresholds, store networks)."""

    def act(form: dict[str, str]) -> str:
        numbers = {
            name: number(form.get(name), most=high, least=low)
            for name, (low, high) in service.LIMITS.items()
            if name != "min_order_fen" and form.get(name, "") != ""
        }
        if form.get("min_order_yuan", "") != "":
            numbers["min_order_fen"] = number(form.get("min_order_yuan"), most=1_000_000) * 100
        service.set_rules(
            session,
            form.get("programme", ""),
            ctx["principal"].actor,
            referrer_coupon=form.get("referrer_coupon", ""),
            invitee_coupon=form.get("invitee_coupon", ""),
            store_networks=service.network_list(form.get("store_networks", "")),
            active=form.get("active") == "1",
            **numbers,
        )
        return "/growth/referrals?done=saved"

    return _answer(request, ctx, session, await submit(request, ctx, session, act, CHARS))


@router.post("/growth/referrals/{referral_id}/decision")
async def decision_form(
    session: SessionDep,
    request: Request,
    referral_id: Id,
    ctx: Ctx = Depends(page_for(GROWTH_MANAGE)),
) -> Response:
    """Approve or void a held referral."""

    def act(form: dict[str, str]) -> str:
        approve = form.get("approve") == "1"
        service.decide(session, referral_id, approve, ctx["principal"].actor)
        return f"/growth/referrals?done={'approved' if approve else 'voided'}"

    return _answer(request, ctx, session, await submit(request, ctx, session, act, CHARS))


def _answer(request: Request, ctx: Ctx, session: Session, answer: Response | Shown) -> Response:
    if isinstance(answer, Shown):
        return _page(
            request, ctx, session, typed=answer.form, error=answer.error, status=answer.status
        )
    return answer
