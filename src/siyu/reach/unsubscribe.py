"""The unsubscribe link of marketing email (``/u/<token>``), public: the signed token is the
only credential. GET shows a page with one button (a mail scanner that follows links must not
unsubscribe anyone); POST — the button, or a mailbox provider's one-click request (RFC 8058)
— withdraws the consent at once."""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from siyu.config import get_settings
from siyu.reach import service
from siyu.reach.ledger import LedgerError
from siyu.reach.links import read_token
from siyu.webkit import db_session

router = APIRouter(tags=["campaigns"], include_in_schema=False)
PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}}
button{{font-size:1rem;padding:.6rem 1.4rem}}</style></head><body><h1>{title}</h1>{body}
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
def confirm(token: str, session: Session = Depends(db_session, scope="function")) -> HTMLResponse:
    row_id = read_token(get_settings(), "unsubscribe", token)
    if row_id is None:
        return _bad()
    try:
        service.unsubscribe(session, row_id)
    except LedgerError:
        return _bad()
    return _page("已退订 Unsubscribed", "<p>已退订，不会再收到营销邮件。You are unsubscribed.</p>")
