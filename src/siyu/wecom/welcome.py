"""Welcome messages (欢迎语): templates operators write, rendered in Jinja2's sandbox with the
customer's nickname, the staff member's name and the store, and sent with the add event's
welcome_code, which WeCom honours once and only within 20 s."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy.orm import Session

from siyu.accounts.service import record_audit
from siyu.refusals import Refusal
from siyu.wecom.models import WelcomeMessage

MAX_TEXT = 4000  # WeCom's limit on a welcome text, in characters
MAX_ATTACHMENTS = 9
ATTACHMENT_TYPES = {"image", "link", "miniprogram"}
VARIABLES = ("nickname", "staff", "store")
_ENV = SandboxedEnvironment(autoescape=False)


class WelcomeError(Refusal):
    """A welcome message that cannot be used; the message says why."""


def check_template(text: str) -> None:
    if len(text) > MAX_TEXT:
        raise WelcomeError("text longer than {n} characters", n=MAX_TEXT)
    try:
        _ENV.parse(text)
    except TemplateSyntaxError as exc:
        raise WelcomeError(
            "template error on line {line}: {reason}", line=exc.lineno, reason=exc.message
        ) from None


def check_attachments(attachments: list[dict[str, Any]]) -> None:
    if len(attachments) > MAX_ATTACHMENTS:
        raise WelcomeError("at most {n} attachments", n=MAX_ATTACHMENTS)
    for i, a in enumerate(attachments):
        kind = a.get("msgtype")
        if kind not in ATTACHMENT_TYPES or not isinstance(a.get(kind), dict):
            raise WelcomeError(
                "attachment {n}: give msgtype (image, link or miniprogram) and its object", n=i
            )


def render(text: str, variables: dict[str, Any], names: tuple[str, ...] = VARIABLES) -> str:
    """The text for one customer; missing variables render empty, output is capped."""
    try:
        out = _ENV.from_string(text).render(**{k: variables.get(k) or "" for k in names})
    except Exception:  # a sandbox refusal must not cost the customer their welcome
        out = text
    return out[:MAX_TEXT]


def set_default(
    session: Session,
    corp_pk: int,
    text: str,
    attachments: list[dict[str, Any]] | None = None,
    *,
    actor: str,
) -> WelcomeMessage:
    """The corp's default welcome, used when a live code has none of its own."""
    check_template(text)
    check_attachments(attachments or [])
    if not text.strip() and not attachments:
        raise WelcomeError("a welcome needs text or an attachment")
    row = session.scalar(
        sa.select(WelcomeMessage).where(
            WelcomeMessage.corp_id == corp_pk, WelcomeMessage.is_default.is_(True)
        )
    )
    if row is None:
        row = WelcomeMessage(corp_id=corp_pk, name="默认欢迎语", is_default=True)
        session.add(row)
    row.text, row.attachments = text, list(attachments or [])
    session.flush()
    record_audit(session, actor, "wecom.welcome.default", "welcome_message", str(row.id), {})
    return row


def welcome_for(session: Session, corp_pk: int, welcome_id: int | None) -> WelcomeMessage | None:
    if welcome_id is not None:
        own = session.get(WelcomeMessage, welcome_id)
        if own is not None:
            return own
    return session.scalar(
        sa.select(WelcomeMessage).where(
            WelcomeMessage.corp_id == corp_pk, WelcomeMessage.is_default.is_(True)
        )
    )


def message_body(welcome: WelcomeMessage, code: str, variables: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"welcome_code": code}
    if welcome.text.strip():
        body["text"] = {"content": render(welcome.text, variables)}
    if welcome.attachments:
        body["attachments"] = welcome.attachments
    return body
