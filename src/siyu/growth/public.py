"""Referral's customer-facing pages: the short link a poster's QR holds (``/r/{code}``), the
invitation it opens (``/m/invite/{code}``, where the visit is counted with the device and
network it came from) and the member's own page (``/m/referrals``: my code, link and QR, my
invitees and rewards). The invitation sends a new customer to the member centre's sign-up with
the visit named (``via=referral:<visit>``); the sign-up's device must be the visit's for the
arrival to count (``growth.attribution.joined_by_link``)."""

from __future__ import annotations

import io

import segno
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from siyu.centre.service import DEVICE_COOKIE, Visitor, device_of, new_device
from siyu.centre.web import address, page, set_cookie, signed_in, to_sign_in
from siyu.config import get_settings
from siyu.customers.queries import display_names
from siyu.growth import queries, service, sharing
from siyu.growth.poster import PosterUnavailable
from siyu.growth.service import NoSuchCode
from siyu.loyalty.membership import NoProgramme, centre_programme, membership
from siyu.loyalty.queries import MemberView, member_view
from siyu.webkit import SessionDep

router = APIRouter(include_in_schema=False)
DEVICE_DAYS = 400


def link_of(code: str) -> str:
    return sharing.link_of(get_settings(), code)


@router.get("/r/{code}")
def short_link(code: str) -> Response:
    """The link in a poster's QR: on to the invitation (under ``/m``, where the member
    centre's device cookie is read). Anything that cannot be a code goes to the same page,
    which says the invitation is not valid."""
    shown = "".join(ch for ch in code.upper() if ch in service.ALPHABET)[: service.CODE_LENGTH]
    return RedirectResponse(f"/m/invite/{shown or '-'}", status_code=303)


@router.get("/m/invite/{code}")
def invitation(
    request: Request, session: SessionDep, code: str, who: Visitor | None = Depends(signed_in)
) -> Response:
    """The invitation: who invites (their name masked), what the new member gets for a first
    order, and the way to sign up. The visit is counted once a day per device."""
    try:
        referrer = service.find_code(session, code)
    except NoSuchCode:
        return page(request, "m_invite.html", status=404, referrer=None, error=None)
    secret = get_settings().secret_key_bytes()
    cookie = request.cookies.get(DEVICE_COOKIE)
    device = device_of(secret, cookie)
    fresh = None
    if device is None:
        fresh = new_device(secret)
        device = device_of(secret, fresh)
    counted = service.visit_counts(address(request), device or "")
    visit = (
        service.record_visit(session, referrer, device or "", address(request)) if counted else None
    )
    names = display_names(session, [referrer.member.customer_id or 0])
    response = page(
        request,
        "m_invite.html",
        referrer=referrer,
        inviter=queries.masked_name(names.get(referrer.member.customer_id or 0, "")),
        programme=referrer.member.programme_name,
        member=who is not None,
        own=who is not None and who.customer_id == referrer.member.customer_id,
        join=f"/m/login?via=referral:{visit.id}" if visit else "/m/login",
        error=None,
    )
    if fresh is not None:
        set_cookie(request, response, DEVICE_COOKIE, fresh, DEVICE_DAYS * 86400)
    return response


def my_member(session: SessionDep, who: Visitor) -> MemberView | None:
    try:
        programme = centre_programme(session, get_settings().centre_programme)
    except NoProgramme:
        return None
    found = membership(session, programme, who.customer_id)
    return member_view(session, found.id) if found is not None else None


@router.get("/m/referrals")
def my_referrals(
    request: Request, session: SessionDep, who: Visitor | None = Depends(signed_in)
) -> Response:
    """My code, link and QR; my invitees (names masked) with my reward for each, pending,
    granted or void with the reason; and what I got as someone's invitee."""
    if who is None:
        return to_sign_in()
    member = my_member(session, who)
    if member is None:
        return RedirectResponse("/m/", status_code=303)
    rules = service.settings_of(session, member.programme_id)
    code = service.code_for(session, member) if rules is not None and rules.active else None
    return page(
        request,
        "m_referrals.html",
        csrf=who.csrf_token,
        rules=rules,
        code=code.code if code else None,
        link=link_of(code.code) if code else None,
        invitees=queries.my_referrals(session, member.id),
        invited=queries.my_invitation(session, [who.customer_id]),
        error=None,
    )


@router.get("/m/referrals/qr.svg")
def my_qr(session: SessionDep, who: Visitor | None = Depends(signed_in)) -> Response:
    """My referral link as a QR image."""
    if who is None:
        return to_sign_in()
    member = my_member(session, who)
    rules = service.settings_of(session, member.programme_id) if member else None
    if member is None or rules is None or not rules.active:
        return Response(status_code=404)
    code = service.code_for(session, member)
    buf = io.BytesIO()
    segno.make(link_of(code.code), error="m").save(
        buf, kind="svg", scale=6, border=2, xmldecl=False
    )
    return Response(
        buf.getvalue(),
        media_type="image/svg+xml",
        headers={"Cache-Control": "no-store"},
    )


@router.get("/m/referrals/poster.png")
def my_poster(session: SessionDep, who: Visitor | None = Depends(signed_in)) -> Response:
    """My poster to share: drawn the first time (with my own WeCom contact way when I have a
    guide), then served from the cache."""
    if who is None:
        return to_sign_in()
    member = my_member(session, who)
    rules = service.settings_of(session, member.programme_id) if member else None
    if member is None or rules is None or not rules.active:
        return Response(status_code=404)
    try:
        png = sharing.member_poster(session, get_settings(), member)
    except PosterUnavailable as exc:
        return Response(str(exc), status_code=503, headers={"Retry-After": "5"})
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})
