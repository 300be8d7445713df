"""Console pages (server-rendered Jinja2 + HTMX). Thin: parse, call a query or service, render."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import StrictUndefined
from pydantic import Field
from sqlalchemy.orm import Session

from siyu import i18n
from siyu.accounts.service import (
    LoginRefused,
    Principal,
    login,
    logout,
    principal_for_user,
    session_user,
)
from siyu.capability import NavEntry, Permission
from siyu.config import DEMO_ADMIN_PASSWORD, DEMO_ADMIN_USERNAME, get_settings
from siyu.console.labels import label, source_label
from siyu.customers import CUSTOMERS_READ
from siyu.customers.queries import CustomerFilter, filter_choices, list_customers
from siyu.i18n import LANGUAGE_COOKIE, LANGUAGES, N_, _, console_language
from siyu.refusals import Forbidden, NotFound, Refusal
from siyu.segments import SEGMENTS_WRITE
from siyu.traits.queries import overview
from siyu.untrusted import ID_MAX, same_token, whole_number
from siyu.webkit import (
    SESSION_COOKIE,
    Id,
    Page,
    SessionDep,
    posted_from_elsewhere,
)

HERE = Path(__file__).parent


def _template_dirs() -> list[Path]:
    """The shell's templates, then each capability's own ``templates`` folders beside its pages
    (its sub-features' too: a page's template is found wherever its capability keeps it)."""
    from siyu.capabilities import CAPABILITIES

    own = [d for cap in CAPABILITIES for d in sorted(cap.folder.glob("**/templates"))]
    return [HERE / "templates", *(d for d in own if d.is_dir())]


templates = Jinja2Templates(directory=_template_dirs())
# a name a page does not pass is an error, not an empty string ("is defined" where optional)
templates.env.undefined = StrictUndefined
templates.env.add_extension("jinja2.ext.i18n")
# _(), gettext(), pgettext() in the templates say their English in the language being spoken
# (the request's: ``webkit.ReadersLanguage``; ``render`` says the page's too).
templates.env.install_gettext_callables(  # type: ignore[attr-defined]
    gettext=i18n.gettext,
    ngettext=i18n.ngettext,
    pgettext=i18n.pgettext,
    npgettext=i18n.npgettext,
    newstyle=False,  # values are filled in by str.format, as in the Python code
)


@dataclass(frozen=True)
class NavLink:
    key: str
    text: str
    href: str


@cache
def _nav_entries() -> tuple[NavEntry, ...]:
    """Every capability's navigation entries in bar order (the manifests never change while the
    process runs: sorted once, not on every page)."""
    from siyu.capabilities import CAPABILITIES

    return tuple(sorted((e for cap in CAPABILITIES for e in cap.nav), key=lambda e: e.order))


def navigation(principal: Principal) -> list[NavLink]:
    """The navigation bar for ``principal``: every capability's entries (their manifests'
    ``nav``) in their order, each with the first link the reader may open, in the language
    being spoken."""
    out = []
    for entry in _nav_entries():
        href = next((h for perm, h in entry.links if perm is None or principal.can(perm)), None)
        if href is not None:
            out.append(NavLink(entry.key, i18n.say(entry.label), href))
    return out


templates.env.globals.update(label=label, source_label=source_label, navigation=navigation)
router = APIRouter(include_in_schema=False)


def request_lang(request: Request) -> str:
    return console_language(request)


def _fmt_time(value: Any) -> str:
    if not value:
        return "-"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return str(value.astimezone(get_settings().tz).strftime("%Y-%m-%d %H:%M"))


templates.env.filters["localtime"] = _fmt_time
templates.env.filters["json_zh"] = lambda v: json.dumps(v, ensure_ascii=False)
templates.env.filters["yuan"] = i18n.yuan
templates.env.filters["number"] = i18n.number
templates.env.filters["compact"] = i18n.compact
templates.env.filters["compact_yuan"] = i18n.compact_yuan


def render(request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    lang = request_lang(request)
    with i18n.speaking(lang):
        return templates.TemplateResponse(request, name, {"lang": lang, **ctx}, status_code=status)


# What the login page says for each ``LoginRefused.code``.
LOGIN_REFUSED = {
    "locked": N_("Too many failed logins; wait 15 minutes and try again."),
    "wrong": N_("Wrong username or password, or the account is switched off."),
    "demo_password": N_(
        "The demo password is refused outside demo mode; ask an administrator for a new one."
    ),
}


class LoginRequired(Exception):
    pass


def console_user(request: Request, session: SessionDep) -> dict[str, Any]:
    found = session_user(session, request.cookies.get(SESSION_COOKIE))
    if found is None:
        raise LoginRequired()
    user, login_row = found
    return {"user": user, "principal": principal_for_user(user), "csrf": login_row.csrf_token}


class PageForbidden(Exception):
    """Raised by ``page_for``'s check with the 403 page, drawn while the reader's session is
    still open (the request's unit of work is rolled back before the app answers)."""

    def __init__(self, page: HTMLResponse) -> None:
        super().__init__("forbidden")
        self.page = page


def page_for(perm: Permission) -> Callable[..., Awaitable[dict[str, Any]]]:
    """A console page's dependency that says who may open it: ``ctx = Depends(page_for(PERM))``
    gives the signed-in reader's context, or the 403 page to one without ``perm`` (the login
    page to nobody signed in). The permission matrix test reads the permission from here, as it
    reads ``webkit.require`` on the API, so a page declared this way needs no entry there."""

    async def check(
        request: Request, ctx: dict[str, Any] = Depends(console_user)
    ) -> dict[str, Any]:
        if not ctx["principal"].can(perm):
            raise PageForbidden(forbidden_page(request, ctx))
        return ctx

    return check


def forbidden_page(request: Request, ctx: dict[str, Any]) -> HTMLResponse:
    """The 403 page: the signed-in user may not see this."""
    return render(
        request,
        "error.html",
        status=403,
        ctx=ctx,
        message=_("You do not have permission to see this."),
    )


def expired_page(request: Request, ctx: dict[str, Any]) -> HTMLResponse:
    """The answer to a form whose CSRF token no longer holds (or never did)."""
    return render(
        request,
        "error.html",
        status=403,
        ctx=ctx,
        message=_("This page has expired; reload it and try again."),
    )


def refused_page(
    request: Request,
    ctx: dict[str, Any],
    session: Session,
    exc: Refusal,
    *,
    not_found: str | None = None,
) -> HTMLResponse:
    """The page for a refusal that ends a console request (a form that can be re-shown says
    the refusal in it instead, with ``in_words``): what was written before is dropped, or kept
    where the refusal says so (a refused look-up's audit entry); the status is the refusal's
    own, and the reason is said in the reader's language — or, for something not found, in the
    page's own words ``not_found`` ("Customer not found.")."""
    from siyu.console.words import in_words

    if exc.keeps_writes:
        session.commit()
    else:
        session.rollback()
    if isinstance(exc, Forbidden):
        return forbidden_page(request, ctx)
    message = not_found if not_found and isinstance(exc, NotFound) else in_words(request, exc)
    return render(request, "error.html", status=exc.status, ctx=ctx, message=message)


def denied_page(request: Request, ctx: dict[str, Any], perm: Permission) -> HTMLResponse | None:
    """The 403 page when the logged-in user lacks ``perm``, else None."""
    if ctx["principal"].can(perm):
        return None
    return forbidden_page(request, ctx)


def csrf_ok(ctx: dict[str, Any], token: str) -> bool:
    """Whether a console form's token is the page's own (every capability's form posts check
    it before acting)."""
    return same_token(token or "", ctx["csrf"])


@router.get("/login")
def login_page(request: Request, next: str = "/customers") -> HTMLResponse:
    settings = get_settings()
    demo = (DEMO_ADMIN_USERNAME, DEMO_ADMIN_PASSWORD) if settings.is_demo else None
    return render(request, "login.html", next=_safe_next(next), demo=demo, error=None)


@router.post("/login")
def login_submit(
    session: SessionDep,
    request: Request,
    username: str = Form(..., max_length=64),
    password: str = Form(..., max_length=200),
    next: str = Form("/customers"),
) -> Response:
    settings = get_settings()
    address = request.client.host if request.client else "unknown"
    demo = (DEMO_ADMIN_USERNAME, DEMO_ADMIN_PASSWORD) if settings.is_demo else None
    if posted_from_elsewhere(request):  # login CSRF: nothing checked, nothing counted
        error = _(
            "This login came from another site and was refused. "
            "Open this system's own login page to log in."
        )
        nxt = _safe_next(next)
        return render(request, "login.html", status=403, next=nxt, demo=demo, error=error)
    try:
        token, _row = login(session, settings, username, password, address)
    except LoginRefused as exc:  # the attempt and its audit entry are already stored
        return render(
            request,
            "login.html",
            status=401,
            next=_safe_next(next),
            demo=demo,
            error=_(LOGIN_REFUSED.get(exc.code, LOGIN_REFUSED["wrong"])),
        )
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        max_age=settings.session_hours * 3600,
    )
    return response


def _safe_next(target: str) -> str:
    """Only a path on this site: browsers read ``//host`` and ``/\\host`` as another site."""
    safe = target.startswith("/") and not target.startswith(("//", "/\\"))
    return target if safe and target.isprintable() else "/customers"


@router.post("/logout")
def logout_submit(request: Request, session: SessionDep) -> Response:
    """Ends the login on the server and clears the cookie, with or without the form's CSRF
    token: a logout that only cleared the cookie left a session that a copied cookie still
    opened. A forged cross-site logout can do no more than log someone out (and SameSite=Lax
    keeps the cookie off cross-site POSTs anyway), so checking the token here guards nothing
    worth a session that stays alive; there is still no logout by GET."""
    logout(session, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/lang/{lang}")
def switch_language(lang: str, next: str = "/customers") -> Response:
    response = RedirectResponse(_safe_next(next), status_code=303)
    if lang in LANGUAGES:
        response.set_cookie(LANGUAGE_COOKIE, lang, samesite="lax", max_age=365 * 86400)
    return response


@router.get("/")
def home() -> Response:
    return RedirectResponse("/customers", status_code=303)


@router.get("/customers")
def customers_page(
    session: SessionDep,
    request: Request,
    q: str | None = None,
    source: str | None = None,
    store_id: str | None = None,
    page: Page = 1,
    ctx: dict[str, Any] = Depends(console_user),
) -> HTMLResponse:
    principal = ctx["principal"]
    if not principal.can(CUSTOMERS_READ):
        return forbidden_page(request, ctx)
    store = whole_number(store_id)  # not a store's number: no store filter
    q = (q or "").strip()[:100] or None
    result = list_customers(
        session, principal, CustomerFilter(q, source or None, store, max(page, 1))
    )
    stores, sources = filter_choices(session)
    params = {"q": q or "", "source": source or "", "store_id": store_id or ""}
    template = "customers_rows.html" if request.headers.get("hx-request") else "customers.html"
    return render(
        request,
        template,
        ctx=ctx,
        result=result,
        stores=stores,
        sources=sources,
        params=params,
        filtered=bool(q or source or store),
        qs=lambda p: urlencode({**params, "page": p}),
    )


@router.get("/insight")
def insight_page(
    session: SessionDep,
    request: Request,
    scope: Annotated[int, Field(ge=0, le=ID_MAX)] = 0,
    ctx: dict[str, Any] = Depends(console_user),
) -> HTMLResponse:
    """Distribution of RFM classes, lifecycle stages and CLV, and how they move over time."""
    if not ctx["principal"].can(CUSTOMERS_READ):
        return forbidden_page(request, ctx)
    data = overview(session, get_settings(), scope, ctx["principal"])
    return render(request, "insight.html", ctx=ctx, o=data)


@router.get("/segments")
def segments_page(
    session: SessionDep,
    request: Request,
    ctx: dict[str, Any] = Depends(console_user),
) -> HTMLResponse:
    """Every segment with its size, kind, rule and freshness."""
    from siyu.segments.queries import list_segments

    if not ctx["principal"].can(CUSTOMERS_READ):
        return forbidden_page(request, ctx)
    rows = list_segments(session, ctx["principal"])
    return render(request, "segments.html", ctx=ctx, rows=rows)


@router.get("/segments/new")
def segment_builder_page(
    request: Request, rule: str = "", name: str = "", ctx: dict[str, Any] = Depends(console_user)
) -> HTMLResponse:
    """The visual rule builder: fields from the catalogue API, a live count and preview. A rule
    given in JSON (a dashboard drill-down saved as a segment) opens ready to save."""
    if not ctx["principal"].can(SEGMENTS_WRITE):
        return forbidden_page(request, ctx)
    from siyu.segments.rules import RuleError, from_json, loads

    try:  # a rule that is not one (not JSON, nested past the limit…) opens an empty builder
        given = loads(rule) if rule else None
        if isinstance(given, dict):
            from_json(given)
    except RuleError:
        given = None
    if not isinstance(given, dict):
        given = None
    return render(request, "segment_builder.html", ctx=ctx, rule=given, segment_name=name[:100])


@router.get("/segments/{segment_id}")
def segment_page(
    session: SessionDep,
    request: Request,
    segment_id: Id,
    ctx: dict[str, Any] = Depends(console_user),
) -> HTMLResponse:
    """One segment: rule, size, freshness and the size trend."""
    from siyu.segments.queries import segment_view, size_history
    from siyu.segments.service import SegmentError, get_segment

    principal = ctx["principal"]
    if not principal.can(CUSTOMERS_READ):
        return forbidden_page(request, ctx)
    try:
        seg = segment_view(session, get_segment(session, segment_id), principal)
    except SegmentError:
        return render(request, "error.html", status=404, ctx=ctx, message=_("Segment not found."))
    history = [
        {**h.model_dump(), "local": _fmt_time(h.at)}
        for h in size_history(session, segment_id, principal=principal)
    ]
    return render(request, "segment.html", ctx=ctx, s=seg, history=history)
