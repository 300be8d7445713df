"""Console pages for loyalty: the programmes with their earn rules and tiers (and the forms that
change them), and the members — listed within the customer list's scope — with their points,
lots, tier history and coupons, and a manual adjustment. Coupon templates are in
``coupons.views``. Thin: parse the form, call the same services as the CLI, render or redirect.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from siyu import clock
from siyu.accounts.service import record_audit
from siyu.brands.service import brand_id_of
from siyu.console.posting import Shown, submit
from siyu.console.views import page_for, refused_page, render
from siyu.customers import CUSTOMERS_READ
from siyu.customers.queries import customer_rows, filter_choices
from siyu.customers.service import NoSuchCustomer, get_visible, sees_whole_pool
from siyu.i18n import N_, _, say
from siyu.loyalty import LOYALTY_MANAGE, listing, queries
from siyu.loyalty.coupons.queries import wallet
from siyu.loyalty.models import Member, Programme
from siyu.loyalty.rules import POINTS_PER_EVENT_MAX, RATE_MAX, set_event_rule, set_spend_rule
from siyu.loyalty.service import POINTS_MAX, LoyaltyError, deduct, earn
from siyu.loyalty.tiers import THRESHOLD_MAX, TIERS_MAX, configure, set_tier
from siyu.untrusted import number, whole_number
from siyu.webkit import Id, Page, SessionDep

router = APIRouter(include_in_schema=False)
Ctx = dict[str, Any]
# what a form did, said on the page it redirects to (``?done=``)
DONE = {
    "rule": N_("Earn rule saved."),
    "tier": N_("Tier saved."),
    "qualification": N_("How members qualify for tiers is saved."),
    "adjusted": N_("Points adjusted."),
    "again": N_("This adjustment was recorded before; nothing changed."),
    "created": N_("Coupon template created."),
    "issued": N_("Coupons issued: {issued} new, {skipped} not (given before, over a limit)."),
    "coupon_rule": N_("Coupon rule saved."),
}
# the words for the programmes' stored codes
WORDS: dict[str, dict[str, str]] = {
    "refund_rule": {
        "negative": N_("Balance goes below zero until later earnings cover it"),
        "deduct_later": N_("Balance shows zero; later earnings pay the debt first"),
    },
    "tier_measure": {
        "points": N_("Points earned"),
        "spend_fen": N_("Money spent"),
        "orders": N_("Paid orders"),
    },
    "tier_window": {"rolling": N_("Rolling window"), "calendar": N_("Calendar year")},
    "tier_downgrade": {
        "one_level": N_("Down one level"),
        "by_measure": N_("Down to the level reached"),
    },
    "tier_reason": {
        "join": N_("Joined"),
        "upgrade": N_("Upgrade"),
        "downgrade": N_("Downgrade"),
        "import": N_("Imported"),
        "manual": N_("Set by staff"),
    },
    "coupon_kind": {
        "amount_off": N_("Amount off"),
        "percent_off": N_("Percent off"),
        "gift": N_("Gift"),
        "free_shipping": N_("Free shipping"),
    },
}


def word(group: str, code: str | None) -> str:
    """A stored code in the reader's language (the code itself where there is no word)."""
    found = WORDS.get(group, {}).get(code or "")
    return say(found) if found else code or "-"


def show(
    request: Request, name: str, ctx: Ctx, shown: Shown | None = None, **values: Any
) -> HTMLResponse:
    """A loyalty page, with the form shown again (``typed``, ``error``) or what was done."""
    done = request.query_params.get("done", "")
    said = None
    if done in DONE:
        counts = {k: whole_number(request.query_params.get(k)) or 0 for k in ("issued", "skipped")}
        said = say(DONE[done], **counts)
    return render(
        request,
        name,
        status=shown.status if shown else 200,
        ctx=ctx,
        typed=shown.form if shown else {},
        error=shown.error if shown else None,
        done=said,
        word=word,
        **values,
    )


def not_found(request: Request, ctx: Ctx, message: str) -> HTMLResponse:
    return render(request, "error.html", status=404, ctx=ctx, message=message)


def audit(session: Session, ctx: Ctx, action: str, code: str, details: dict[str, Any]) -> None:
    """The change in the audit log, under the programme's code (as the CLI's bulk commands)."""
    record_audit(session, ctx["principal"].actor, action, "loyalty_programme", code, details)


# -- programmes -------------------------------------------------------------------------------
@router.get("/loyalty")
def programmes_page(
    session: SessionDep, request: Request, ctx: Ctx = Depends(page_for(LOYALTY_MANAGE))
) -> HTMLResponse:
    """Every programme, with links to its terms, members and coupons."""
    return show(request, "loyalty_programmes.html", ctx, rows=listing.programmes(session))


def _programme_page(
    request: Request, ctx: Ctx, session: Session, programme_id: int, shown: Shown | None = None
) -> HTMLResponse:
    terms = listing.programme_terms(session, programme_id)
    if terms is None:
        return not_found(request, ctx, _("Programme not found."))
    stores = filter_choices(session)[0]
    return show(
        request, "loyalty_programme.html", ctx, shown, t=terms, stores=stores, store=dict(stores)
    )


@router.get("/loyalty/programmes/{programme_id}")
def programme_page(
    session: SessionDep,
    request: Request,
    programme_id: Id,
    ctx: Ctx = Depends(page_for(LOYALTY_MANAGE)),
) -> HTMLResponse:
    """A programme's terms: earn rules, tiers and how members qualify, expiry, refunds."""
    return _programme_page(request, ctx, session, programme_id)


async def _change_programme(
    request: Request,
    ctx: Ctx,
    session: Session,
    programme_id: int,
    change: Callable[[Programme, dict[str, str]], str],
) -> Response:
    """One of the programme page's forms: ``change`` says what was done (``?done=``)."""
    programme = session.get(Programme, programme_id)
    if programme is None:
        return not_found(request, ctx, _("Programme not found."))

    def act(form: dict[str, str]) -> str:
        return f"/loyalty/programmes/{programme_id}?done={change(programme, form)}"

    answer = await submit(request, ctx, session, act)
    if isinstance(answer, Shown):
        return _programme_page(request, ctx, session, programme_id, answer)
    return answer


@router.post("/loyalty/programmes/{programme_id}/rules")
async def rule_form(
    session: SessionDep,
    request: Request,
    programme_id: Id,
    ctx: Ctx = Depends(page_for(LOYALTY_MANAGE)),
) -> Response:
    """Add or change an earn rule: spend (points per 100 yuan, for the programme or one brand,
    store or category) or an event (points each)."""

    def change(programme: Programme, form: dict[str, str]) -> str:
        if form.get("basis") == "event":
            points = number(form.get("points"), most=POINTS_PER_EVENT_MAX)
            set_event_rule(session, programme, form.get("event", ""), points)
            scope: dict[str, Any] = {"event": form.get("event", ""), "points": points}
        else:
            brand = form.get("brand") or None
            store = number(form.get("store"), least=1) if form.get("store") else None
            if store is not None and store not in dict(filter_choices(session)[0]):
                raise LoyaltyError("no store {id}", id=store)
            scope = {
                "rate": number(form.get("rate"), most=RATE_MAX),
                "brand_id": brand_id_of(session, brand) if brand else None,
                "store_id": store,
                "category": form.get("category") or None,
            }
            set_spend_rule(session, programme, **scope)
        audit(session, ctx, "loyalty.rule", programme.code, scope)
        return "rule"

    return await _change_programme(request, ctx, session, programme_id, change)


@router.post("/loyalty/programmes/{programme_id}/tiers")
async def tier_form(
    session: SessionDep,
    request: Request,
    programme_id: Id,
    ctx: Ctx = Depends(page_for(LOYALTY_MANAGE)),
) -> Response:
    """Add a tier, or change the one with the code given."""

    def change(programme: Programme, form: dict[str, str]) -> str:
        terms = {
            "rank": number(form.get("rank"), most=TIERS_MAX - 1),
            "threshold": number(form.get("threshold"), most=THRESHOLD_MAX),
            "multiplier_pct": number(form.get("multiplier"), least=10, most=1000, default=100),
        }
        code = form.get("code", "")
        set_tier(session, programme, code, form.get("name", ""), **terms)
        audit(session, ctx, "loyalty.tier", programme.code, {"tier": code, **terms})
        return "tier"

    return await _change_programme(request, ctx, session, programme_id, change)


@router.post("/loyalty/programmes/{programme_id}/qualification")
async def qualification_form(
    session: SessionDep,
    request: Request,
    programme_id: Id,
    ctx: Ctx = Depends(page_for(LOYALTY_MANAGE)),
) -> Response:
    """How members qualify for tiers: the measure, the window, how they go down, the grace."""

    def change(programme: Programme, form: dict[str, str]) -> str:
        terms: dict[str, Any] = {
            "measure": form.get("measure") or None,
            "window": form.get("window") or None,
            "months": number(form.get("months"), least=1, most=36),
            "downgrade": form.get("downgrade") or None,
            "grace_days": number(form.get("grace_days"), most=365, default=0),
        }
        configure(session, programme, **terms)
        audit(session, ctx, "loyalty.tiers_configure", programme.code, terms)
        return "qualification"

    return await _change_programme(request, ctx, session, programme_id, change)


# -- members ------------------------------------------------------------------------------------
@router.get("/loyalty/members")
def members_page(
    session: SessionDep,
    request: Request,
    q: str | None = None,
    programme: str | None = None,
    tier: str | None = None,
    page: Page = 1,
    ctx: Ctx = Depends(page_for(CUSTOMERS_READ)),
) -> HTMLResponse:
    """Members the reader may see (a store guide: their store's customers and WeCom friends),
    found by phone, member card number or member number, by programme and tier."""
    q = (q or "").strip()[:100] or None
    found = listing.MemberFilter(q, whole_number(programme), whole_number(tier), page)
    params = {"q": q or "", "programme": programme or "", "tier": tier or ""}
    programmes, tiers = listing.member_choices(session)
    return show(
        request,
        "loyalty_members.html",
        ctx,
        result=listing.list_members(session, ctx["principal"], found),
        params=params,
        programmes=programmes,
        tiers=tiers,
        filtered=bool(q or found.programme_id or found.tier_id),
        qs=lambda n: urlencode({**params, "page": n}),
    )


def _in_sight(
    request: Request, ctx: Ctx, session: Session, member: Member | None
) -> dict[str, Any] | HTMLResponse | None:
    """The member's customer as the customer list shows them (None: erased), or the 404 page
    when there is no such member or the reader may not see their customer — alike, so a store
    guide cannot tell another store's members from missing ones (the look-up is audited)."""
    missing = _("Member not found.")
    if member is None or (member.customer_id is None and not sees_whole_pool(ctx["principal"])):
        return not_found(request, ctx, missing)
    if member.customer_id is None:
        return None
    try:
        customer = get_visible(session, ctx["principal"], member.customer_id)
    except NoSuchCustomer as exc:
        return refused_page(request, ctx, session, exc, not_found=missing)
    return customer_rows(session, [customer])[0]


def _member_page(
    request: Request, ctx: Ctx, session: Session, member_id: int, shown: Shown | None = None
) -> HTMLResponse:
    person = _in_sight(request, ctx, session, session.get(Member, member_id))
    if isinstance(person, HTMLResponse):
        return person
    return show(
        request,
        "loyalty_member.html",
        ctx,
        shown,
        m=listing.member_view(session, member_id),
        person=person,
        p=queries.member_points(session, member_id),
        coupons=wallet(session, member_id),
        # a double submit of the adjustment form writes once: its request id is the source
        request_id=(shown.form.get("request") if shown else None) or secrets.token_urlsafe(12),
    )


@router.get("/loyalty/members/{member_id}")
def member_page(
    session: SessionDep,
    request: Request,
    member_id: Id,
    ctx: Ctx = Depends(page_for(CUSTOMERS_READ)),
) -> HTMLResponse:
    """A member's balance (spendable, pending, owed), lots with expiry, ledger, tier history
    and coupons; the manual adjustment for those who run the programme."""
    return _member_page(request, ctx, session, member_id)


@router.post("/loyalty/members/{member_id}/adjust")
async def adjust_form(
    session: SessionDep,
    request: Request,
    member_id: Id,
    ctx: Ctx = Depends(page_for(LOYALTY_MANAGE)),
) -> Response:
    """Add points (spendable at once) or deduct them, with a reason, once per request id (the
    audit entry keeps the points, not the reason: an erasure blanks reasons in the ledger)."""
    member = session.get(Member, member_id)
    if isinstance(refused := _in_sight(request, ctx, session, member), HTMLResponse):
        return refused

    def act(form: dict[str, str]) -> str:
        points, reason = _signed(form.get("points")), form.get("reason", "")
        request_id = form.get("request", "")
        if not reason:
            raise LoyaltyError("an adjustment needs a reason")
        source = ("adjustment", request_id)
        if points > 0:  # spendable at once: there is no refund to wait for
            moved = earn(
                session, member_id, source, points, available_at=clock.now(), reason=reason
            )
        else:
            moved = deduct(session, member_id, request_id, -points, reason=reason)
        if moved.again:
            return f"/loyalty/members/{member_id}?done=again"
        details, actor = {"points": points, "request": request_id}, ctx["principal"].actor
        record_audit(session, actor, "loyalty.adjust", "loyalty_member", str(member_id), details)
        return f"/loyalty/members/{member_id}?done=adjusted"

    answer = await submit(request, ctx, session, act)
    if isinstance(answer, Shown):
        return _member_page(request, ctx, session, member_id, answer)
    return answer


def _signed(text: str | None) -> int:
    """A form's signed number of points: ``+50``, ``50`` or ``-50`` (never 0)."""
    text = (text or "").strip().replace("−", "-")
    sign = -1 if text[:1] == "-" else 1
    return sign * number(text[1:] if text[:1] in "+-" else text, least=1, most=POINTS_MAX)
