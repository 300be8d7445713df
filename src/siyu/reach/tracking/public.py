"""Public addresses, reached by customers and providers without a login; a signed token in
the path is the only credential.

- ``/u/<token>``: the unsubscribe link of marketing email. GET shows a page with one button (a
  mail scanner that follows links must not unsubscribe anyone); POST — the button, or a mailbox
  provider's one-click request (RFC 8058) — withdraws the consent at once.
- ``/l/<token>``: a tracked link; the click is recorded and the customer redirected.
- ``/reach/sms/<token>/report`` and ``/reply``: Aliyun's pushes of delivery receipts
  (SmsReport) and replies (SmsUp), JSON arrays; the address to give Aliyun is printed by
  ``siyu campaigns sms-push-urls``.
"""

from __future__ import annotations

from html import escape
from typing import Any

from fastapi import APIRouter, Body, HTTPException
from fastapi.responses import HTMLResponse, RedirectResponse

from siyu.config import get_settings
from siyu.reach.campaigns import service
from siyu.reach.campaigns.shapes import PushAnswer
from siyu.reach.sending.ledger import LedgerError
from siyu.reach.tracking.links import read_token, sign_token
from siyu.reach.tracking.service import click, sms_receipts, sms_replies
from siyu.untrusted import same_token
from siyu.webkit import SessionDep

router = APIRouter(tags=["campaigns"], include_in_schema=False)
PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/public.css"></head><body><h1>{title}</h1>{body}
</body></html>"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(PAGE.format(title=escape(title), body=body), status_code=status)


def _bad() -> HTMLResponse:
    return _page(
        "链接无效 Invalid link", "<p>这个退订链接无效或已过期。This link is not valid.</p>", 404
    )


@router.get("/u/{token}", response_class=HTMLResponse)
def ask(token: str) -> HTMLResponse:
    if read_token(get_settings(), "unsubscribe", token) is None:
        return _bad()
    return _page(
        "退订营销邮件 Unsubscribe",
        "<p>确认后，我们将不再向这个邮箱发送营销邮件。"
        "Confirm and this address gets no more marketing email.</p>"
        f'<form method="post" action="/u/{escape(token)}">'
        '<button type="submit">确认退订 Unsubscribe</button></form>',
    )


@router.post("/u/{token}", response_class=HTMLResponse)
def confirm(token: str, session: SessionDep) -> HTMLResponse:
    row_id = read_token(get_settings(), "unsubscribe", token)
    if row_id is None:
        return _bad()
    try:
        service.unsubscribe(session, row_id)
    except LedgerError:
        return _bad()
    return _page("已退订 Unsubscribed", "<p>已退订，不会再收到营销邮件。You are unsubscribed.</p>")


@router.get("/l/{token}")
def follow(token: str, session: SessionDep) -> Any:
    url = click(session, get_settings(), token)
    if url is None:
        return _bad()
    return RedirectResponse(url, status_code=302)


def push_token() -> str:
    """The secret path part of the SMS push addresses (compare in constant time)."""
    return sign_token(get_settings(), "sms-push", 0)


def _check_push(token: str) -> None:
    if not same_token(token, push_token()):
        raise HTTPException(404, "not found")


@router.post("/reach/sms/{token}/report")
def report(
    session: SessionDep,
    token: str,
    items: list[dict[str, Any]] = Body(..., max_length=10_000),
) -> PushAnswer:
    """Aliyun SmsReport: delivery receipts."""
    _check_push(token)
    sms_receipts(session, items)
    return PushAnswer(code=0, msg="成功")


@router.post("/reach/sms/{token}/reply")
def reply(
    session: SessionDep,
    token: str,
    items: list[dict[str, Any]] = Body(..., max_length=10_000),
) -> PushAnswer:
    """Aliyun SmsUp: customers' replies; R / T / TD / 退订 withdraw marketing consent."""
    _check_push(token)
    sms_replies(session, items)
    return PushAnswer(code=0, msg="成功")
