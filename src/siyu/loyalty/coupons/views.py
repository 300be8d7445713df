"""Console pages for coupon templates: the programme's templates with how many were issued and
redeemed, a form to create one, one to issue a template to a segment's members or to one
member, once per batch (the CLI's ``--source``), and the rules that give coupons by themselves. Thin, as the other loyalty pages."""

from __future__ import annotations

import re
from collections.abc import Callable

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from siyu.console.posting import Shown, submit
from siyu.console.views import page_for
from siyu.i18n import _
from siyu.loyalty import LOYALTY_MANAGE
from siyu.loyalty.coupons.models import CouponTemplate
from siyu.loyalty.coupons.queries import members_among, templates
from siyu.loyalty.coupons.rules import rules_of, set_rule
from siyu.loyalty.coupons.service import (
    CouponError,
    CouponLimit,
    NoSuchCoupon,
    create_template,
    issue,
)
from siyu.loyalty.models import Programme
from siyu.loyalty.tiers import tiers_of
from siyu.loyalty.views import Ctx, audit, not_found, show
from siyu.untrusted import number
from siyu.webkit import Id, SessionDep

router = APIRouter(include_in_schema=False)
ISSUE_MOST = 5000  # members one form issues to while the operator waits
YUAN = re.compile(r"(\d{1,7})(?:\.(\d{1,2}))?", re.ASCII)  # up to ¥9,999,999.99


def _coupons_page(
    request: Request, ctx: Ctx, session: Session, programme: Programme, shown: Shown | None = None
) -> HTMLResponse:
    from siyu.segments.queries import list_segments

    return show(
        request,
        "loyalty_coupons.html",
        ctx,
        shown,
        programme=programme,
        rows=templates(session, programme.id),
        segments=list_segments(session, ctx["principal"]),
        rules=rules_of(session, programme.id),
        tiers=tiers_of(session, programme.id),
    )


async def _coupons_form(
    request: Request,
    ctx: Ctx,
    session: Session,
    programme_id: int,
    act: Callable[[Programme, dict[str, str]], str],
) -> Response:
    """One of the coupons page's forms: ``act`` does it and says where to go; a refusal shows
    the page again with what was typed."""
    programme = session.get(Programme, programme_id)
    if programme is None:
        return not_found(request, ctx, _("Programme not found."))
    answer = await submit(request, ctx, session, lambda form: act(programme, form))
    if isinstance(answer, Shown):
        return _coupons_page(request, ctx, session, programme, answer)
    return answer


@router.get("/loyalty/programmes/{programme_id}/coupons")
def coupons_page(
    session: SessionDep,
    request: Request,
    programme_id: Id,
    ctx: Ctx = Depends(page_for(LOYALTY_MANAGE)),
) -> HTMLResponse:
    """The programme's coupon templates, their terms, issued and redeemed."""
    programme = session.get(Programme, programme_id)
    if programme is None:
        return not_found(request, ctx, _("Programme not found."))
    return _coupons_page(request, ctx, session, programme)


@router.post("/loyalty/programmes/{programme_id}/coupons")
async def create_form(
    session: SessionDep,
    request: Request,
    programme_id: Id,
    ctx: Ctx = Depends(page_for(LOYALTY_MANAGE)),
) -> Response:
    """Create a coupon template (amounts in yuan; the service checks the terms by kind)."""

    def act(programme: Programme, form: dict[str, str]) -> str:
        code = form.get("code", "")
        create_template(
            session,
            programme,
            code,
            form.get("name", ""),
            form.get("kind", ""),
            amount_fen=_fen(form.get("amount")),
            percent_off=number(form.get("percent"), most=99, default=0),
            cap_fen=_fen(form.get("cap")),
            threshold_fen=_fen(form.get("threshold")),
            gift=form.get("gift", ""),
            valid_days=number(form.get("valid_days"), least=1, most=3660, default=30),
            per_member=number(form.get("per_member"), most=1000, default=1),
            total=number(form.get("total"), most=100_000_000, default=0),
            points_price=number(form.get("points_price"), most=100_000_000, default=0),
            claimable=form.get("claimable") == "1",
            return_on_refund=form.get("keep_on_refund") != "1",
        )
        audit(session, ctx, "loyalty.coupon_create", programme.code, {"coupon": code})
        return f"/loyalty/programmes/{programme_id}/coupons?done=created"

    return await _coupons_form(request, ctx, session, programme_id, act)


@router.post("/loyalty/programmes/{programme_id}/coupons/issue")
async def issue_form(
    session: SessionDep,
    request: Request,
    programme_id: Id,
    ctx: Ctx = Depends(page_for(LOYALTY_MANAGE)),
) -> Response:
    """Issue a template to one member, or to the members among a segment's customers (those
    not enrolled are left out; those over a limit are counted, not refused), once per batch."""

    def act(programme: Programme, form: dict[str, str]) -> str:
        code, batch = form.get("coupon", ""), form.get("batch", "")
        template = session.scalar(
            sa.select(CouponTemplate).where(
                CouponTemplate.programme_id == programme.id, CouponTemplate.code == code
            )
        )
        if template is None:
            raise NoSuchCoupon("no coupon {code}", code=code)
        if not 0 < len(batch) <= 100:
            raise CouponError("a batch name of 1–100 characters (the same batch again issues none)")
        source, before = ("manual", batch), template.issued
        details: dict[str, object] = {"coupon": code, "batch": batch}
        if form.get("to") == "segment":
            segment_id = number(form.get("segment"), least=1)
            members = _segment_members(session, ctx, programme.id, segment_id)
            details["segment"] = segment_id
            for member_id in members:
                try:
                    issue(session, template, member_id, source)
                except CouponLimit:  # this member's limit, or the last of the total: counted
                    continue
        else:
            member_id = number(form.get("member"), least=1)
            members = [member_id]
            issue(session, template, member_id, source)
            details["member"] = member_id
        session.refresh(template)
        issued = template.issued - before
        audit(session, ctx, "loyalty.coupons_issue", programme.code, {**details, "new": issued})
        counts = f"issued={issued}&skipped={len(members) - issued}"
        return f"/loyalty/programmes/{programme_id}/coupons?done=issued&{counts}"

    return await _coupons_form(request, ctx, session, programme_id, act)


@router.post("/loyalty/programmes/{programme_id}/coupons/rules")
async def rule_form(
    session: SessionDep,
    request: Request,
    programme_id: Id,
    ctx: Ctx = Depends(page_for(LOYALTY_MANAGE)),
) -> Response:
    """Set a rule that gives a coupon by itself: on joining, on reaching a tier, on an event
    (from now on; switched off, it keeps its figures)."""

    def act(programme: Programme, form: dict[str, str]) -> str:
        trigger = form.get("trigger", "")
        on = {"tier": f"tier:{form.get('tier', '')}", "event": f"event:{form.get('event', '')}"}
        code, coupon = form.get("code", ""), form.get("coupon", "")
        active = form.get("off") != "1"
        set_rule(session, programme, code, coupon, on.get(trigger, trigger), active=active)
        details = {"rule": code, "coupon": coupon, "on": on.get(trigger, trigger), "active": active}
        audit(session, ctx, "loyalty.coupon_rule", programme.code, details)
        return f"/loyalty/programmes/{programme_id}/coupons?done=coupon_rule"

    return await _coupons_form(request, ctx, session, programme_id, act)


def _segment_members(session: Session, ctx: Ctx, programme_id: int, segment_id: int) -> list[int]:
    """The programme's members among the segment's customers the reader may see."""
    from siyu.segments.queries import member_rows
    from siyu.segments.service import get_segment

    get_segment(session, segment_id)  # a refusal when there is none
    customers = []
    for row in member_rows(session, segment_id, unmask=False, principal=ctx["principal"]):
        customers.append(row["customer_id"])
        if len(customers) > ISSUE_MOST:
            raise CouponError(
                "segment {id} has more customers than one form issues coupons to ({most}); "
                "use a smaller segment",
                id=segment_id,
                most=ISSUE_MOST,
            )
    return members_among(session, programme_id, customers)


def _fen(text: str | None) -> int:
    """An amount in yuan as typed (``20``, ``19.9``), in fen; empty: 0."""
    text = (text or "").strip().lstrip("¥￥")
    if not text:
        return 0
    found = YUAN.fullmatch(text)
    if found is None:
        raise CouponError("{text!r} is not an amount in yuan such as 20 or 19.90", text=text[:30])
    return int(found.group(1)) * 100 + int((found.group(2) or "0").ljust(2, "0"))
