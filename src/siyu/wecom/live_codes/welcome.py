"""Welcome messages (欢迎语): templates operators write, rendered in the bounded sandbox
(``siyu.sandbox``) with the customer's nickname, the staff member's name and the store, and
sent with the add event's welcome_code, which WeCom honours once and only within 20 s.

A welcome is checked when it is saved (and tried once with sample values); a welcome that
still fails to render sends nothing: the caller records the failure."""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import runtime, sandbox
from siyu.accounts.service import record_audit
from siyu.refusals import Refusal
from siyu.sandbox import TemplateRefused
from siyu.wecom.live_codes.models import WelcomeMessage

log = logging.getLogger("siyu.wecom")
MAX_TEXT = 4000  # WeCom's limit on a welcome text, in characters
MAX_ATTACHMENTS = 9
ATTACHMENT_TYPES = {"image", "link", "miniprogram"}
VARIABLES = ("nickname", "staff", "store")
# what a text is tried with when it is saved (keyword replies use nickname and code)
SAMPLES = {"nickname": "小王", "staff": "李导购", "store": "南京西路店", "code": "CODE-0001"}


class WelcomeError(Refusal):
    """A welcome message that cannot be used; the message says why."""


def compiled(text: str, names: tuple[str, ...], cap: int) -> sandbox.Compiled:
    """``text`` checked and tried with sample values; raises TemplateRefused."""
    checked = _checked(text, names, cap)
    if isinstance(checked, TemplateRefused):  # a fresh one: the kept one is shared
        raise TemplateRefused("{reason}", line=checked.line, reason=checked)
    return checked


@lru_cache(maxsize=256)
def _checked(text: str, names: tuple[str, ...], cap: int) -> sandbox.Compiled | TemplateRefused:
    """The compiled text, or why it is refused (kept too: a broken welcome is not checked
    again for every customer who arrives)."""
    try:
        checked = sandbox.compile_template(text, variables=names)
        sandbox.render(checked, {k: SAMPLES.get(k, "示例") for k in names}, cap=cap)
    except TemplateRefused as exc:
        return exc.with_traceback(None)
    return checked


runtime.forgets("wecom.welcome.checked", _checked.cache_clear)


def check_template(text: str) -> None:
    if len(text) > MAX_TEXT:
        raise WelcomeError("text longer than {n} characters", n=MAX_TEXT)
    try:
        compiled(text, VARIABLES, MAX_TEXT)
    except TemplateRefused as exc:
        if exc.line:
            raise WelcomeError(
                "template error on line {line}: {reason}", line=exc.line, reason=exc
            ) from None
        raise WelcomeError("template error: {reason}", reason=exc) from None


def check_attachments(attachments: list[dict[str, Any]]) -> None:
    if len(attachments) > MAX_ATTACHMENTS:
        raise WelcomeError("at most {n} attachments", n=MAX_ATTACHMENTS)
    for i, a in enumerate(attachments):
        kind = a.get("msgtype")
        if kind not in ATTACHMENT_TYPES or not isinstance(a.get(kind), dict):
            raise WelcomeError(
                "attachment {n}: give msgtype (image, link or miniprogram) and its object", n=i
            )


def render(
    text: str, variables: dict[str, Any], names: tuple[str, ...] = VARIABLES, cap: int = MAX_TEXT
) -> str:
    """The text for one customer; missing variables render empty. Raises TemplateRefused
    when the sandbox refuses the text: nothing is sent then, never the template's source."""
    values = {k: variables.get(k) or "" for k in names}
    return sandbox.render(compiled(text, names, cap), values, cap=cap)


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


def message_body(
    welcome: WelcomeMessage | None,
    code: str,
    variables: dict[str, Any],
    extras: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """What send_welcome_msg is given: the welcome's text and attachments, then the extras other
    capabilities add for the contact way's state (at most 9 attachments in all, the welcome's
    own first). Raises TemplateRefused if the text cannot be rendered."""
    body: dict[str, Any] = {"welcome_code": code}
    if welcome is not None and welcome.text.strip():
        body["text"] = {"content": render(welcome.text, variables)}
    attachments = [*(welcome.attachments if welcome else []), *(extras or [])]
    if attachments:
        body["attachments"] = attachments[:MAX_ATTACHMENTS]
    return body


def welcome_extras(session: Session, corp_pk: int, state: str) -> list[dict[str, Any]]:
    """Attachments the capabilities add for a contact way's state (``welcome_extras`` in their
    manifests: a fission campaign's group QR). One that fails is logged and left out: the
    welcome itself still goes within its 20 s."""
    from siyu.capabilities import each

    out: list[dict[str, Any]] = []
    if not state:
        return out
    for extra in each("welcome_extras"):
        try:
            with session.begin_nested():
                out += extra(session, corp_pk, state)
        except Exception:
            log.exception("welcome extras for state %r failed; the welcome goes without", state)
    return out
