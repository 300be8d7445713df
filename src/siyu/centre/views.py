"""The member centre's pages for a signed-in customer: my card (with the till's rotating member
code), my points, my coupons, my orders, my preferences, my data. Each reads only what belongs
to the customer the session names; an id a form sends (a coupon template) is checked to be
one the customer may take."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import segno
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from siyu.centre import code as member_code
from siyu.centre.service import MEMBER_COOKIE, Visitor
from siyu.centre.web import form_is_theirs, page, signed_in, to_sign_in
from siyu.config import get_settings
from siyu.console.views import request_lang
from siyu.console.words import said_in
from siyu.customers.consent import (
    ConsentStatement,
    consents_for,
    record_consent,
    set_do_not_disturb,
)
from siyu.customers.service import CustomerError
from siyu.i18n import _
from siyu.loyalty.benefits.service import benefits_for, claim_benefit
from siyu.loyalty.coupons.queries import wallet
from siyu.loyalty.ledger import LoyaltyError
from siyu.loyalty.membership import (
    NoProgramme,
    card,
    centre_programme,
    claim_offer,
    membership,
    offers,
    tier_history,
)
from siyu.loyalty.queries import member_points
from siyu.orders.queries import orders_of
from siyu.privacy.service import erase_customer, export_customer, find_person, finish_erasure
from siyu.untrusted import whole_number
from siyu.webkit import SessionDep

router = APIRouter(prefix="/m", include_in_schema=False)
Who = Visitor | None


def _member(session: SessionDep, who: Visitor) -> Any:
    """(programme, membership); (None, None) while the centre has no programme to show (an
    operator's set-up, which the customer sees as "not a member" rather than an error)."""
    try:
        programme = centre_programme(session, get_settings().centre_programme)
    except NoProgramme:
        return None, None
    return programme, membership(session, programme, who.customer_id)


def _signed_member(session: SessionDep, who: Who) -> tuple[Any, Any] | Response:
    """The signed-in customer's (programme, membership), or where to send them instead: the
    sign-in page, or their card when they are not a member."""
    if who is None:
        return to_sign_in()
    programme, member = _member(session, who)
    if member is None:
        return RedirectResponse("/m/", status_code=303)
    return programme, member


def _claim(
    request: Request,
    session: SessionDep,
    who: Who,
    csrf: str,
    take: Callable[[Any], object],
    again: Callable[[Visitor, Any, Any, int, str], Response],
    done: str,
) -> Response:
    """A member's claim form (a coupon, a benefit): the page's token checked, ``take`` done,
    then ``done``; a refusal shows the page ``again`` with it, nothing kept."""
    found = _signed_member(session, who)
    if isinstance(found, Response):
        return found
    programme, member = found
    assert who is not None
    if not form_is_theirs(who, csrf):
        return again(who, programme, member, 403, _("This page has expired; open it again."))
    try:
        take(member)
    except LoyaltyError as exc:
        session.rollback()
        return again(who, programme, member, exc.status, said_in(request_lang(request), exc))
    return RedirectResponse(done, status_code=303)


def _frame(request: Request, name: str, who: Visitor, status: int = 200, **ctx: Any) -> Response:
    ctx.setdefault("error", None)
    return page(request, name, status=status, csrf=who.csrf_token, **ctx)


@router.get("/")
def my_card(request: Request, session: SessionDep, who: Who = Depends(signed_in)) -> Response:
    if who is None:
        return to_sign_in()
    programme, member = _member(session, who)
    if member is None:
        shown = programme.name if programme else ""
        return _frame(request, "m_card.html", who, programme=shown, card=None)
    return _card(request, session, who, programme, member)


def _card(
    request: Request,
    session: SessionDep,
    who: Visitor,
    programme: Any,
    member: Any,
    status: int = 200,
    error: str | None = None,
) -> Response:
    return _frame(
        request,
        "m_card.html",
        who,
        status=status,
        error=error,
        programme=programme.name,
        card=card(session, member),
        points=member_points(session, member.id, history=0),
        benefits=benefits_for(session, member),
        rotate=member_code.WINDOW_SECONDS,
    )


@router.post("/benefits/claim")
def claim_a_benefit(
    request: Request,
    session: SessionDep,
    who: Who = Depends(signed_in),
    benefit: str = Form(""),
    csrf: str = Form(""),
) -> Response:
    """The member takes up a benefit of their tier (once a period; a coupon one issues it)."""
    return _claim(
        request,
        session,
        who,
        csrf,
        lambda member: claim_benefit(session, member, whole_number(benefit) or 0),
        lambda visitor, programme, member, status, error: _card(
            request, session, visitor, programme, member, status, error
        ),
        "/m/",
    )


@router.get("/code.svg")
def my_code(session: SessionDep, who: Who = Depends(signed_in)) -> Response:
    """The member code the till scans, as a QR image; it changes every minute, so a photo of
    it is of no use for long."""
    if who is None:
        return to_sign_in()
    _programme, member = _member(session, who)
    if member is None:
        return Response(status_code=404)
    text = member_code.current(get_settings().secret_key_bytes(), member.id)
    buf = io.BytesIO()
    segno.make(text, error="m").save(buf, kind="svg", scale=6, border=2, xmldecl=False)
    return Response(
        buf.getvalue(), media_type="image/svg+xml", headers={"Cache-Control": "no-store"}
    )


@router.get("/points")
def my_points(request: Request, session: SessionDep, who: Who = Depends(signed_in)) -> Response:
    found = _signed_member(session, who)
    if isinstance(found, Response):
        return found
    _programme, member = found
    assert who is not None
    return _frame(
        request,
        "m_points.html",
        who,
        points=member_points(session, member.id),
        tiers=tier_history(session, member),
    )


@router.get("/coupons")
def my_coupons(request: Request, session: SessionDep, who: Who = Depends(signed_in)) -> Response:
    found = _signed_member(session, who)
    if isinstance(found, Response):
        return found
    assert who is not None
    return _coupons(request, session, who, found[1])


def _coupons(
    request: Request,
    session: SessionDep,
    who: Visitor,
    member: Any,
    status: int = 200,
    error: str | None = None,
) -> Response:
    return _frame(
        request,
        "m_coupons.html",
        who,
        status=status,
        error=error,
        coupons=wallet(session, member.id),
        offers=offers(session, member),
    )


@router.post("/coupons/claim")
def claim_coupon(
    request: Request,
    session: SessionDep,
    who: Who = Depends(signed_in),
    template: str = Form(""),
    csrf: str = Form(""),
) -> Response:
    return _claim(
        request,
        session,
        who,
        csrf,
        lambda member: claim_offer(session, member, whole_number(template) or 0),
        lambda visitor, _programme, member, status, error: _coupons(
            request, session, visitor, member, status, error
        ),
        "/m/coupons",
    )


@router.get("/orders")
def my_orders(request: Request, session: SessionDep, who: Who = Depends(signed_in)) -> Response:
    if who is None:
        return to_sign_in()
    return _frame(request, "m_orders.html", who, orders=orders_of(session, who.customer_id))


def _profile(
    request: Request,
    session: SessionDep,
    who: Visitor,
    status: int = 200,
    error: str | None = None,
    saved: bool = False,
) -> Response:
    programme, _member_row = _member(session, who)
    customer = find_person(session, who.customer_id)
    brand_id = programme.brand_id if programme else None
    return _frame(
        request,
        "m_profile.html",
        who,
        status=status,
        error=error,
        saved=saved,
        do_not_disturb=customer.do_not_disturb,
        consents=consents_for(session, who.customer_id, brand_id) if brand_id else [],
    )


@router.get("/profile")
def my_profile(request: Request, session: SessionDep, who: Who = Depends(signed_in)) -> Response:
    if who is None:
        return to_sign_in()
    return _profile(request, session, who, saved=request.query_params.get("saved") == "1")


@router.post("/profile")
async def save_profile(
    request: Request, session: SessionDep, who: Who = Depends(signed_in)
) -> Response:
    """The customer's own choices: marketing per address (consent, recorded as said by the
    member with the session as evidence) and do-not-disturb."""
    if who is None:
        return to_sign_in()
    form = await request.form()
    if not form_is_theirs(who, str(form.get("csrf", ""))[:100]):
        return _profile(request, session, who, 403, _("This page has expired; open it again."))
    programme, _m = _member(session, who)
    customer = find_person(session, who.customer_id)
    evidence = f"member centre, signed in (session {who.session_id})"
    try:
        if programme is not None and programme.brand_id:
            for held in consents_for(session, who.customer_id, programme.brand_id):
                wanted = form.get(f"consent_{held.identity_id}") == "yes"
                if wanted == (held.status == "granted"):
                    continue
                record_consent(
                    session,
                    customer,
                    ConsentStatement(
                        action="grant" if wanted else "withdraw",
                        identity_id=held.identity_id,
                        brand_id=programme.brand_id,
                        note=evidence,
                        by_member=True,
                    ),
                    actor=f"member:{who.customer_id}",
                )
        set_do_not_disturb(
            session,
            customer,
            form.get("do_not_disturb") == "yes",
            source="member",
            actor=f"member:{who.customer_id}",
            reason=evidence,
        )
    except CustomerError as exc:
        session.rollback()
        return _profile(request, session, who, exc.status, said_in(request_lang(request), exc))
    return RedirectResponse("/m/profile?saved=1", status_code=303)


@router.get("/privacy")
def my_data(request: Request, who: Who = Depends(signed_in)) -> Response:
    if who is None:
        return to_sign_in()
    return _frame(request, "m_privacy.html", who)


@router.post("/privacy/export")
def download_my_data(
    request: Request, session: SessionDep, who: Who = Depends(signed_in), csrf: str = Form("")
) -> Response:
    """Everything Siyu holds about the customer, as a file (PIPL art. 45), audit-logged.
    WeChat's own browser saves no downloads: there the same data comes as a page to read or
    copy, with how to open it in a browser that saves it."""
    if who is None:
        return to_sign_in()
    if not form_is_theirs(who, csrf):
        return Response(_("This page has expired; open it again."), status_code=403)
    data = export_customer(
        session, find_person(session, who.customer_id), f"member:{who.customer_id}"
    )
    body = json.dumps(data, ensure_ascii=False, indent=1, default=str)
    if "micromessenger" in request.headers.get("user-agent", "").lower():
        return page(request, "m_data.html", data=body)
    return Response(
        body,
        media_type="application/json; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="my-data.json"'},
    )


@router.post("/privacy/delete")
def delete_my_account(
    request: Request,
    session: SessionDep,
    who: Who = Depends(signed_in),
    csrf: str = Form(""),
    confirm: str = Form(""),
) -> Response:
    """The customer deletes their account: the erasure an operator would run, once they typed
    删除; their points stay in the ledger under a tombstone, without their data."""
    if who is None:
        return to_sign_in()
    if not form_is_theirs(who, csrf):
        return _frame(
            request,
            "m_privacy.html",
            who,
            status=403,
            error=_("This page has expired; open it again."),
        )
    if confirm[:40].strip() not in ("删除", "DELETE"):
        return _frame(request, "m_privacy.html", who, status=400, error=_("Type 删除 to confirm."))
    settings = get_settings()
    person = find_person(session, who.customer_id)
    report = erase_customer(session, settings, person, f"member:{person.id}")
    session.commit()
    finish_erasure(session, settings, report)
    response = page(request, "m_deleted.html")
    response.delete_cookie(MEMBER_COOKIE, path="/m")
    return response
