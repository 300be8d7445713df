"""The pages customers see: a form or survey at ``/f/{slug}`` (mobile first, Chinese first,
escaped, only the shared static files), the SMS code its phone field asks for, the answer, and
the member centre's list of surveys (``/m/surveys``), whose links name the signed-in customer.

A public form has no session: its posts carry a token signed for the page and the device
cookie (``service.page_token``), and a form from another site is refused by its Origin
(``posted_from_elsewhere``). The device cookie lives under ``/f``, apart from the member
centre's (under ``/m``), in the same signed shape."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from siyu.centre.service import DEVICE_COOKIE, SignInRefused, Visitor, device_of, new_device
from siyu.centre.service import request_code as send_code
from siyu.centre.web import address, page, signed_in, to_sign_in
from siyu.config import get_settings
from siyu.console.views import render
from siyu.console.words import in_words
from siyu.customers import identifiers as ids
from siyu.growth.forms import queries, service
from siyu.growth.forms.models import Form, FormStatus
from siyu.growth.forms.submit import UTM_KEYS, Entry, submit, utm_of
from siyu.i18n import _
from siyu.refusals import Refusal
from siyu.webkit import SessionDep, posted_from_elsewhere

router = APIRouter(include_in_schema=False)
DEVICE_DAYS = 400
VALUE_MAX = 2000  # a posted value is cut here before any rule reads it
HIDDEN = ("t", "ref", *UTM_KEYS)  # what the link said, carried through the form's posts


def _device(request: Request) -> tuple[str, str | None]:
    """The visitor's device id, and a new cookie to set when they had none."""
    secret = get_settings().secret_key_bytes()
    found = device_of(secret, request.cookies.get(DEVICE_COOKIE))
    if found is not None:
        return found, None
    fresh = new_device(secret)
    return device_of(secret, fresh) or "", fresh


def _show(
    request: Request,
    form: Form | None,
    *,
    status: int = 200,
    typed: dict[str, Any] | None = None,
    error: str | None = None,
    sent_to: str | None = None,
    template: str = "f_form.html",
) -> HTMLResponse:
    device, fresh = _device(request)
    typed = typed or {}
    known = None
    if form is not None and typed.get("t"):
        known = service.customer_of_token(form, str(typed["t"]))
    response = render(
        request,
        template,
        status=status,
        form=form,
        closed=form is not None and form.status == FormStatus.closed,
        token=service.page_token(form, device) if form is not None else "",
        typed=typed,
        known=known is not None,
        hidden={k: str(typed.get(k, ""))[:200] for k in HIDDEN if typed.get(k)},
        error=error,
        sent_to=sent_to,
    )
    if fresh is not None:
        response.set_cookie(
            DEVICE_COOKIE,
            fresh,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
            max_age=DEVICE_DAYS * 86400,
            path="/f",
        )
    return response


def _found(session: Session, request: Request, slug: str) -> Form | HTMLResponse:
    try:
        return service.public_form(session, slug[:60])
    except Refusal:
        return _show(request, None, status=404)


@router.get("/f/{slug}")
def form_page(request: Request, session: SessionDep, slug: str) -> Response:
    """A live form (a closed one says it is closed; a draft is not there). The link's
    ``t`` (a personal link), ``ref`` (a member's referral code) and UTM tags are kept in the
    form and stored with the answer."""
    form = _found(session, request, slug)
    if isinstance(form, HTMLResponse):
        return form
    typed: dict[str, Any] = {k: v[:200] for k, v in request.query_params.items() if k in HIDDEN}
    return _show(
        request, form, status=410 if form.status == FormStatus.closed else 200, typed=typed
    )


async def _posted(request: Request) -> dict[str, Any]:
    raw = await request.form()
    out: dict[str, Any] = {}
    for key in list(raw.keys())[:200]:
        values = [str(v)[:VALUE_MAX] for v in raw.getlist(key) if isinstance(v, str)]
        out[key[:20]] = values if len(values) > 1 else (values[0] if values else "")
    return out


def _refused(request: Request, form: Form, typed: dict[str, Any], exc: Refusal) -> HTMLResponse:
    if exc.status == 429:  # the form's own limits, or the SMS code's
        return _show(request, form, status=429, typed=typed, template="f_busy.html")
    return _show(request, form, status=exc.status, typed=typed, error=in_words(request, exc))


def _checked(request: Request, form: Form, typed: dict[str, Any]) -> HTMLResponse | None:
    """The post came from this form's own page in this browser, or a page to show instead."""
    device = device_of(get_settings().secret_key_bytes(), request.cookies.get(DEVICE_COOKIE))
    if posted_from_elsewhere(request) or device is None:
        return _show(
            request, form, status=403, typed=typed, error=_("Open the form's own page to answer.")
        )
    if service.page_shown_at(form, device, str(typed.get("token", ""))) is None:
        return _show(
            request,
            form,
            status=403,
            typed=typed,
            error=_("This page has expired; reload it and try again."),
        )
    return None


@router.post("/f/{slug}/code")
async def ask_for_code(request: Request, session: SessionDep, slug: str) -> Response:
    """Send the SMS code that proves the form's phone number (the member centre's codes,
    with their limits per number, network and device)."""
    form = _found(session, request, slug)
    if isinstance(form, HTMLResponse):
        return form
    typed = await _posted(request)
    stop = _checked(request, form, typed)
    if stop is not None:
        return stop
    phone_field = next((f for f in form.fields if f["kind"] == "phone"), None)
    device = device_of(get_settings().secret_key_bytes(), request.cookies.get(DEVICE_COOKIE))
    if phone_field is None or form.status != FormStatus.live:
        return _show(request, form, status=409, typed=typed)
    try:
        sent = send_code(
            session,
            get_settings(),
            str(typed.get(phone_field["key"], "")),
            address(request),
            device or "",
        )
    except SignInRefused as exc:
        session.rollback()
        return _refused(request, form, typed, exc)
    session.commit()
    return _show(request, form, typed=typed, sent_to=ids.mask_phone(sent.phone))


@router.post("/f/{slug}")
async def answer(request: Request, session: SessionDep, slug: str) -> Response:
    """Take an answer. A filled honeypot (a field people never see) is thanked and dropped."""
    form = _found(session, request, slug)
    if isinstance(form, HTMLResponse):
        return form
    typed = await _posted(request)
    stop = _checked(request, form, typed)
    if stop is not None:
        return stop
    if typed.get("website"):
        return _show(request, form, template="f_thanks.html")
    device = device_of(get_settings().secret_key_bytes(), request.cookies.get(DEVICE_COOKIE))
    customer = service.customer_of_token(form, str(typed.get("t", ""))) if typed.get("t") else None
    if typed.get("t") and customer is None:
        return _show(
            request, form, status=403, typed=typed, error=_("This link is not valid any more.")
        )
    entry = Entry(
        answers={k: v for k, v in typed.items() if k.startswith("q")},
        code=str(typed.get("code", ""))[:20],
        customer_id=customer,
        device=device or "",
        address=address(request),
        utm=utm_of(typed),
        ref=str(typed.get("ref", ""))[:12],
        shown_at=service.page_shown_at(form, device or "", str(typed.get("token", ""))),
    )
    try:
        submit(session, form, entry)
    except Refusal as exc:
        session.rollback()
        return _refused(request, form, typed, exc)
    session.commit()
    return RedirectResponse(f"/f/{form.slug}/thanks", status_code=303)


@router.get("/f/{slug}/thanks")
def thanks(request: Request, session: SessionDep, slug: str) -> Response:
    form = _found(session, request, slug)
    if isinstance(form, HTMLResponse):
        return form
    return _show(request, form, template="f_thanks.html")


@router.get("/m/surveys")
def my_surveys(
    request: Request, session: SessionDep, who: Visitor | None = Depends(signed_in)
) -> Response:
    """Live surveys for the signed-in member, each with a link that names them (no phone
    asked on the form), marked when answered."""
    if who is None:
        return to_sign_in()
    surveys = queries.live_surveys(session)
    done = queries.answered_by(session, who.customer_id, [s.id for s in surveys])
    rows = [
        {
            "title": s.title,
            "link": f"/f/{s.slug}?t={service.personal_token(s, who.customer_id)}",
            "done": s.id in done,
        }
        for s in surveys
    ]
    return page(request, "m_surveys.html", csrf=who.csrf_token, tab="me", rows=rows)
