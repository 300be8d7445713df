"""The member centre's pages for visitors not signed in: sign-in with a phone and an SMS code
(``/m/login``), signing out, and the WeChat domain-verification files at the site's root.
Thin: each route checks where the form came from, calls ``service`` and renders."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response

from siyu.centre import service, wechat
from siyu.centre.models import VerifyFile
from siyu.centre.service import MEMBER_COOKIE, SignInRefused
from siyu.centre.verify import NAME
from siyu.centre.web import address, device, keep_session, page, set_cookie
from siyu.config import get_settings
from siyu.console.views import request_lang
from siyu.console.words import said_in
from siyu.customers import identifiers as ids
from siyu.i18n import _
from siyu.loyalty.membership import VIA, NoProgramme, centre_programme
from siyu.oa.service import OaConfigError
from siyu.oa.webauth import WebAuthRefused, authorize_url, exchange_code
from siyu.untrusted import same_token
from siyu.webkit import SessionDep, posted_from_elsewhere

router = APIRouter(include_in_schema=False)


def _via(text: str) -> str:
    """Where the sign-in link came from, if it names a source (anything else is dropped: an
    odd or huge value is not the customer's problem, and never an error page)."""
    return text if len(text) <= 40 and VIA.fullmatch(text) else ""


def _login(
    request: Request, *, status: int = 200, error: str | None = None, **ctx: object
) -> Response:
    ctx.setdefault("step", "phone")
    ctx.setdefault("phone", "")
    ctx.setdefault("shown", None)
    ctx.setdefault("minutes", service.CODE_MINUTES)
    ctx.setdefault("wechat", bool(get_settings().oa_appid))
    ctx.setdefault("note", None)
    ctx.setdefault("via", "")
    ctx.setdefault("linking", False)  # continuing a first WeChat sign-in: the forms say so
    ctx.setdefault("terms_url", get_settings().centre_terms_url)
    ctx.setdefault("privacy_url", get_settings().centre_privacy_url)
    return page(request, "m_login.html", status=status, error=error, **ctx)


@router.get("/m/login")
def login_page(request: Request, via: str = Query("")) -> Response:
    """The sign-in page; ``via`` names where the link came from (``live_code:12`` in a WeCom
    live code's welcome message), kept through the sign-in as the join channel. Opened afresh,
    it forgets a WeChat reader waiting to be bound in this browser: whoever signs in next (a
    shared phone) is not that reader."""
    response = _login(request, via=_via(via))
    response.delete_cookie(wechat.BIND_COOKIE, path="/m")
    return response


@router.post("/m/login/code")
def ask_for_code(
    session: SessionDep,
    request: Request,
    phone: str = Form(""),
    via: str = Form(""),
    linking: str = Form("", alias="wechat"),
) -> Response:
    """Send a sign-in code. A form from another site, or from a browser that never opened the
    sign-in page (no device cookie), sends nothing."""
    again = partial(_login, request, via=_via(via), linking=linking == "1")
    if posted_from_elsewhere(request):
        return again(
            status=403,
            error=_("Open the member centre's own page to sign in."),
        )
    found_device = device(request)
    if found_device is None:
        return again(
            status=400,
            error=_("Your browser did not keep our cookie; reload the page and try again."),
        )
    try:
        sent = service.request_code(session, get_settings(), phone, address(request), found_device)
    except SignInRefused as exc:
        session.rollback()
        return again(
            status=exc.status,
            error=said_in(request_lang(request), exc),
            phone=phone[:40],
        )
    return again(
        step="code",
        phone=sent.phone[3:],
        shown=ids.mask_phone(sent.phone),
        minutes=service.CODE_MINUTES,
    )


@router.post("/m/login")
def sign_in(
    session: SessionDep,
    request: Request,
    phone: str = Form(""),
    code: str = Form(""),
    agree: str = Form(""),
    via: str = Form(""),
    linking: str = Form("", alias="wechat"),
) -> Response:
    """Check the code and open a customer session; a customer who is not a member yet joins
    the programme, with the terms they ticked kept as evidence."""
    again = partial(_login, request, via=_via(via), linking=linking == "1")
    lang = request_lang(request)
    shown, phone = phone[:40], phone[:40]
    if posted_from_elsewhere(request):
        return again(
            status=403,
            error=_("Open the member centre's own page to sign in."),
        )
    if agree != "yes":
        return again(
            status=422,
            step="code",
            phone=shown,
            error=_("Please read and accept the membership terms and privacy policy."),
        )
    settings = get_settings()
    try:
        programme = centre_programme(session, settings.centre_programme)
        customer_id = service.check_code(session, settings, phone, code, address(request))
    except (SignInRefused, NoProgramme) as exc:
        session.rollback()
        return again(
            status=exc.status,
            step="code",
            phone=shown,
            error=said_in(lang, exc),
        )
    reader = wechat.unseal(
        settings.secret_key_bytes(),
        "bind",
        request.cookies.get(wechat.BIND_COOKIE),
        wechat.BIND_SECONDS,
    )
    method, read_by = "sms", ""
    if reader and settings.oa_appid and linking == "1":  # the reader who came from WeChat
        openid, unionid = wechat.reader_of(reader)
        customer_id = wechat.bind(
            session, settings, service.mainland_mobile(phone), settings.oa_appid, openid, unionid
        )
        method, read_by = "wechat", service.reader_key(f"{settings.oa_appid}:{openid}")
    service.join_if_new(
        session, programme, customer_id, via, device(request) or "", address(request), read_by
    )
    service.close_session(session, request.cookies.get(MEMBER_COOKIE))  # a shared phone
    token = service.open_session(session, customer_id, method, device(request) or "")
    response = keep_session(request, RedirectResponse("/m/", status_code=303), token)
    response.delete_cookie(wechat.BIND_COOKIE, path="/m")
    return response


@router.get("/m/wechat")
def wechat_sign_in(request: Request) -> Response:
    """Off to WeChat's authorisation (SIYU_CENTRE_WECHAT_SCOPE: ``snsapi_base``, the openid
    asked silently, or ``snsapi_userinfo``, with the unionid), with a state that only this
    browser can bring back."""
    settings = get_settings()
    if not settings.oa_appid:
        return _login(request, status=404, error=_("Signing in with WeChat is not set up."))
    state = wechat.new_state()
    back = settings.public_url.rstrip("/") + "/m/wechat/back"
    response = RedirectResponse(
        authorize_url(settings, back, settings.centre_wechat_scope, state), status_code=303
    )
    sealed = wechat.seal(settings.secret_key_bytes(), "state", state)
    set_cookie(request, response, wechat.STATE_COOKIE, sealed, wechat.STATE_SECONDS)
    return response


@router.get("/m/wechat/back")
def wechat_back(
    session: SessionDep,
    request: Request,
    code: str = Query(""),
    state: str = Query(""),
) -> Response:
    """WeChat's callback: a reader bound before is signed in; a new one is asked for an SMS
    code once, which binds them. A snapshot reader (快照页) is refused: their openid is
    virtual."""
    settings = get_settings()
    secret = settings.secret_key_bytes()
    kept = wechat.unseal(
        secret, "state", request.cookies.get(wechat.STATE_COOKIE), wechat.STATE_SECONDS
    )
    if not kept or not same_token(state, kept):
        return _login(
            request,
            status=400,
            error=_("The WeChat sign-in expired or came from elsewhere; try again."),
        )
    try:
        answer = exchange_code(settings, code)
    except (WebAuthRefused, OaConfigError) as exc:
        return _login(request, status=exc.status, error=said_in(request_lang(request), exc))
    if answer.snapshot:
        return _login(
            request,
            status=403,
            error=_("Open the page in full in WeChat (not the preview) to sign in."),
        )
    who = wechat.member_reader(session, settings, answer.appid, answer.openid)
    if who is not None:
        service.close_session(session, request.cookies.get(MEMBER_COOKIE))  # a shared phone
        token = service.open_session(session, who, "wechat", device(request) or "")
        return keep_session(request, RedirectResponse("/m/", status_code=303), token)
    response = _login(
        request, linking=True, note=_("First time with WeChat: confirm your mobile number once.")
    )
    sealed = wechat.seal(secret, "bind", wechat.reader_value(answer.openid, answer.unionid))
    set_cookie(request, response, wechat.BIND_COOKIE, sealed, wechat.BIND_SECONDS)
    return response


@router.post("/m/logout")
def sign_out(session: SessionDep, request: Request) -> Response:
    if posted_from_elsewhere(request):
        return RedirectResponse("/m/", status_code=303)
    service.close_session(session, request.cookies.get(MEMBER_COOKIE))
    response = RedirectResponse("/m/login", status_code=303)
    response.delete_cookie(MEMBER_COOKIE, path="/m")
    return response


@router.get("/MP_verify_{token}.txt")
def verify_file(token: str, session: SessionDep) -> Response:
    """A WeChat domain-verification file, as the official account's admin page fetches it."""
    name = f"MP_verify_{token}.txt"
    if not NAME.fullmatch(name):
        return Response(status_code=404)
    row = session.get(VerifyFile, name)
    if row is None:
        return Response(status_code=404)
    return PlainTextResponse(row.content)
