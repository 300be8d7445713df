"""Console pages for WeCom: sync status and staff, live codes (create, QR, stats), welcome
messages, keyword replies and benefit pools, staff handover. Thin: parse the form, call the
same services as the API and CLI, render or redirect."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from siyu.config import get_settings
from siyu.console.views import console_user, csrf_ok, denied_page, page_for, render
from siyu.console.words import in_words
from siyu.customers import CUSTOMERS_READ
from siyu.i18n import _
from siyu.oa.queries import status as oa_status
from siyu.untrusted import KEYWORD_PRIORITY_MAX, number
from siyu.webkit import Id, SessionDep
from siyu.wecom import WECOM_MANAGE, activity, queries

router = APIRouter(include_in_schema=False)
Ctx = dict[str, Any]


async def _post(request: Request, ctx: Ctx) -> tuple[HTMLResponse | None, dict[str, str] | None]:
    """A form that changes WeCom settings: (403 page, None) if the user may not; (None, form);
    (None, None) when its CSRF token is stale."""
    if denied := denied_page(request, ctx, WECOM_MANAGE):
        return denied, None
    form = await request.form()
    if not csrf_ok(ctx, str(form.get("csrf", ""))):
        return None, None
    return None, {k: str(v).strip() for k, v in form.items()}


class _Shown(Exception):
    """A form's answer that is an error code the page shows (``"no corp"``), not a refusal."""


async def _submit(
    request: Request,
    ctx: Ctx,
    session: Session,
    act: Callable[[dict[str, str]], str | None],
    refusals: tuple[type[Exception], ...],
) -> tuple[Response | None, str | None]:
    """A form that changes WeCom settings, from permission to commit: ``_post`` (the manage
    permission, the CSRF token), then ``act(form)``, committed. ``act`` returns where to go
    next, or None to show the page again; a refusal of the kinds given is rolled back and
    shown in the page's words. Returns (the answer to give, or None to show the page) and the
    error to show."""
    denied, form = await _post(request, ctx)
    if denied:
        return denied, None
    if form is None:
        return None, "csrf"
    try:
        then = act(form)
    except _Shown as shown:
        return None, str(shown)
    except refusals as exc:
        session.rollback()
        return None, in_words(request, exc)
    session.commit()
    return (RedirectResponse(then, status_code=303) if then else None), None


def _corp(session: Session) -> Any:
    from siyu.wecom.connection.service import WecomConfigError, only_corp

    try:
        return only_corp(session, None)
    except WecomConfigError:
        return None


@router.get("/wecom")
def wecom_page(
    session: SessionDep,
    request: Request,
    ctx: Ctx = Depends(page_for(CUSTOMERS_READ)),
) -> HTMLResponse:
    """Sync status (never silent), staff with friend counts, open alerts, welcome figures."""
    return _status_page(request, ctx, session)


def _status_page(
    request: Request, ctx: Ctx, session: Session, error: str | None = None
) -> HTMLResponse:
    return render(
        request,
        "wecom.html",
        ctx=ctx,
        corps=queries.status(session, ctx["principal"]),
        staff=queries.staff_list(session, ctx["principal"]),
        alerts=queries.open_alerts(session, 50, ctx["principal"]),
        welcome=queries.welcome_stats(session, principal=ctx["principal"]),
        oa=oa_status(session, get_settings()),
        error=error,
    )


@router.post("/wecom/corps")
async def connect_corp_page(
    session: SessionDep,
    request: Request,
    ctx: Ctx = Depends(console_user),
) -> Response:
    """Connect a corp (or replace a connected corp's secrets); the secrets are sealed at rest
    and never shown again, only their last characters."""
    from siyu.wecom.connection.service import WecomConfigError, add_corp

    def connect(form: dict[str, str]) -> str:
        add_corp(
            session,
            corp_id=form.get("corp_id", ""),
            agent_id=form.get("agent_id", ""),
            secret=form.get("secret", ""),
            token=form.get("token", ""),
            aes_key_text=form.get("aes_key", ""),
            name=form.get("name", ""),
            actor=ctx["principal"].actor,
        )
        return "/wecom"

    answer, error = await _submit(request, ctx, session, connect, (WecomConfigError,))
    return answer or _status_page(request, ctx, session, error)


# -- live codes ---------------------------------------------------------------------------------------
@router.api_route("/wecom/live-codes", methods=["GET", "POST"])
async def live_codes_page(
    session: SessionDep,
    request: Request,
    ctx: Ctx = Depends(console_user),
) -> Response:
    if denied := denied_page(request, ctx, CUSTOMERS_READ):
        return denied
    from siyu.wecom.live_codes.service import LiveCodeError

    error = None
    if request.method == "POST":
        answer, error = await _submit(
            request,
            ctx,
            session,
            lambda form: _create_live_code(session, ctx, form),
            (LiveCodeError,),
        )
        if answer:
            return answer
    return _live_codes_page(request, ctx, session, error)


@router.post("/wecom/group-codes")
async def create_group_code_page(
    session: SessionDep,
    request: Request,
    ctx: Ctx = Depends(console_user),
) -> Response:
    """Create a group live code over the groups ticked, in list order."""
    from siyu.wecom.connection.service import cached_client, record_calls
    from siyu.wecom.live_codes.group_codes import create_group_code
    from siyu.wecom.live_codes.service import LiveCodeError

    chats = [str(v) for v in (await request.form()).getlist("chat")]

    def create(form: dict[str, str]) -> str:
        corp = _corp(session)
        if corp is None:
            raise _Shown("no corp")
        client = cached_client(session, corp)
        try:
            create_group_code(
                session,
                client,
                corp.id,
                name=form.get("name", ""),
                chat_ids=chats,
                actor=ctx["principal"].actor,
            )
        finally:
            record_calls(session, corp, client)
        return "/wecom/live-codes"

    answer, error = await _submit(request, ctx, session, create, (LiveCodeError,))
    return answer or _live_codes_page(request, ctx, session, error)


def _live_codes_page(
    request: Request, ctx: Ctx, session: Session, error: str | None
) -> HTMLResponse:
    return render(
        request,
        "wecom_live_codes.html",
        ctx=ctx,
        rows=queries.live_codes(session, ctx["principal"]),
        group_codes=queries.group_codes(session),
        groups=queries.open_groups(session),
        error=error,
    )


def _create_live_code(session: Session, ctx: Ctx, form: dict[str, str]) -> str:
    """Create a live code from the form; where its page is."""
    from siyu.wecom.connection.service import cached_client, record_calls
    from siyu.wecom.live_codes.service import create_live_code, parse_staff

    corp = _corp(session)
    if corp is None:
        raise _Shown("no corp")
    client = cached_client(session, corp)
    try:
        code = create_live_code(
            session,
            client,
            corp.id,
            name=form.get("name", ""),
            staff=parse_staff(form.get("staff", "")),
            channel=form.get("channel") or "other",
            rotation=form.get("rotation") or "round_robin",
            skip_verify=form.get("verify") != "1",
            tag_paths=[p.strip() for p in form.get("tags", "").split(",") if p.strip()],
            welcome_text=form.get("welcome") or None,
            store_code=form.get("store") or None,
            actor=ctx["principal"].actor,
        )
    finally:
        record_calls(session, corp, client)
    return f"/wecom/live-codes/{code.id}"


@router.get("/wecom/live-codes/{code_id}")
def live_code_page(
    session: SessionDep,
    request: Request,
    code_id: Id,
    ctx: Ctx = Depends(console_user),
) -> HTMLResponse:
    from siyu.wecom.live_codes.models import LiveCode
    from siyu.wecom.live_codes.service import stats

    if denied := denied_page(request, ctx, CUSTOMERS_READ):
        return denied
    code = session.get(LiveCode, code_id)
    if code is None:
        return render(request, "error.html", status=404, ctx=ctx, message=_("Customer not found."))
    row = next(r for r in queries.live_codes(session, ctx["principal"]) if r["id"] == code_id)
    shown = stats(session, code, principal=ctx["principal"])
    return render(request, "wecom_live_code.html", ctx=ctx, c=row, s=shown)


# -- welcome messages --------------------------------------------------------------------------------
@router.api_route("/wecom/welcome", methods=["GET", "POST"])
async def welcome_page(
    session: SessionDep,
    request: Request,
    ctx: Ctx = Depends(console_user),
) -> Response:
    from siyu.wecom.live_codes.welcome import WelcomeError, set_default, welcome_for

    if denied := denied_page(request, ctx, CUSTOMERS_READ):
        return denied
    corp, error, saved = _corp(session), None, False
    if request.method == "POST" and corp is not None:

        def save(form: dict[str, str]) -> None:
            set_default(session, corp.id, form.get("text", ""), actor=ctx["principal"].actor)

        answer, error = await _submit(request, ctx, session, save, (WelcomeError,))
        if answer:
            return answer
        saved = error is None
    current = welcome_for(session, corp.id, None) if corp is not None else None
    return render(
        request,
        "wecom_welcome.html",
        ctx=ctx,
        corp=corp,
        text=current.text if current else "",
        stats=queries.welcome_stats(session, principal=ctx["principal"]),
        error=error,
        saved=saved,
    )


# -- keyword replies ---------------------------------------------------------------------------------
@router.api_route("/wecom/keywords", methods=["GET", "POST"])
async def keywords_page(
    session: SessionDep,
    request: Request,
    ctx: Ctx = Depends(console_user),
) -> Response:
    from siyu.wecom.replies.service import KeywordError, RuleSpec, add_rule, pool_stock, set_active

    if denied := denied_page(request, ctx, CUSTOMERS_READ):
        return denied
    corp, error = _corp(session), None
    if request.method == "POST" and corp is not None:

        def change(form: dict[str, str]) -> str:
            if form.get("toggle"):
                set_active(
                    session,
                    number(form["toggle"], least=1),
                    form.get("active") == "1",
                    actor=ctx["principal"].actor,
                )
            else:
                spec = RuleSpec(
                    form.get("name", ""),
                    form.get("match") or "words",
                    form.get("pattern", ""),
                    form.get("reply", ""),
                    form.get("pool") or None,
                    tuple(p.strip() for p in form.get("tags", "").split(",") if p.strip()),
                    tuple(c for c in ("kf", "app") if form.get(f"ch_{c}")) or ("kf", "app"),
                    number(form.get("priority"), most=KEYWORD_PRIORITY_MAX, default=100),
                )
                add_rule(session, corp.id, spec, actor=ctx["principal"].actor)
            return "/wecom/keywords"

        answer, error = await _submit(request, ctx, session, change, (KeywordError, ValueError))
        if answer:
            return answer
    return render(
        request,
        "wecom_keywords.html",
        ctx=ctx,
        corp=corp,
        rules=activity.keyword_rules(session, principal=ctx["principal"]),
        pools=pool_stock(session, corp.id) if corp is not None else [],
        replies=activity.keyword_replies(session, 50, ctx["principal"]),
        error=error,
    )


# -- handover ----------------------------------------------------------------------------------------
@router.api_route("/wecom/handovers", methods=["GET", "POST"])
async def handovers_page(
    session: SessionDep,
    request: Request,
    ctx: Ctx = Depends(console_user),
) -> Response:
    from siyu.wecom.handover.service import HandoverError, Selection, plan
    from siyu.wecom.handover.transfers import submit_now

    if denied := denied_page(request, ctx, CUSTOMERS_READ):
        return denied
    corp, error = _corp(session), None
    if request.method == "POST" and corp is not None:

        def start(form: dict[str, str]) -> str:
            handover = plan(
                session,
                corp,
                kind=form.get("kind") or "onjob",
                handover_userid=form.get("from", ""),
                takeover_userid=form.get("to", ""),
                selection=Selection(tag=form.get("tag") or None, groups=form.get("groups") == "1"),
                message=form.get("message", ""),
                actor=ctx["principal"].actor,
            )
            session.commit()  # planned before WeCom is asked
            submit_now(session, handover)
            return f"/wecom/handovers/{handover.id}"

        answer, error = await _submit(request, ctx, session, start, (HandoverError,))
        if answer:
            return answer
    return render(
        request,
        "wecom_handovers.html",
        ctx=ctx,
        corp=corp,
        rows=activity.handovers(session, principal=ctx["principal"]),
        error=error,
    )


@router.api_route("/wecom/handovers/{handover_id}", methods=["GET", "POST"])
async def handover_page(
    session: SessionDep,
    request: Request,
    handover_id: Id,
    ctx: Ctx = Depends(console_user),
) -> Response:
    from siyu.wecom.handover.models import Handover
    from siyu.wecom.handover.service import HandoverError, retry
    from siyu.wecom.handover.transfers import submit_now

    needed = WECOM_MANAGE if request.method == "POST" else CUSTOMERS_READ
    if denied := denied_page(request, ctx, needed):  # before the look-up: no hint it exists
        return denied
    handover = session.get(Handover, handover_id)
    if handover is None:
        return render(request, "error.html", status=404, ctx=ctx, message=_("Customer not found."))
    error = None
    if request.method == "POST":

        def again(form: dict[str, str]) -> None:
            if retry(session, handover, form.get("to") or None, actor=ctx["principal"].actor):
                session.commit()  # the retry stored before WeCom is asked
                submit_now(session, handover)

        answer, error = await _submit(request, ctx, session, again, (HandoverError,))
        if answer:
            return answer
    return render(
        request,
        "wecom_handover.html",
        ctx=ctx,
        h=activity.handover_detail(session, handover_id, ctx["principal"]),
        error=error,
    )
