"""Building forms and surveys: saving a form with its checked fields, opening and closing it,
and the signed tokens its pages use — the per-page token a public form posts back (its CSRF
check, bound to the device cookie) and the personal link ``/f/{slug}?t=…`` that names the
customer a survey was sent to, so their answer needs no phone."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.accounts.service import record_audit
from siyu.brands.service import brand_id_of
from siyu.config import get_settings
from siyu.growth.forms.fields import FormRefused, checked_fields
from siyu.growth.forms.models import Form, FormKind, FormLimit, FormStatus, FormSubmission
from siyu.privacy.service import ErasureContext
from siyu.refusals import Conflict, Gone, NotFound
from siyu.untrusted import same_token

SLUG = re.compile(r"[a-z0-9][a-z0-9-]{1,39}")
TITLE_MAX, INTRO_MAX = 100, 2000
MOST_ACTIONS = 5
PAGE_HOURS = 24  # a form page's token lasts a day
LINK_DAYS = 60  # a personal survey link lasts two months


class NoSuchForm(FormRefused, NotFound):
    """A form nobody made, or a draft (the public is told the same)."""


class FormClosed(FormRefused, Gone):
    """A form that no longer takes answers."""


class SlugTaken(FormRefused, Conflict):
    """Another form has this address."""


def form_named(session: Session, slug: str) -> Form:
    """The form at ``/f/{slug}``, whatever its status (the console's view)."""
    found = (
        session.scalar(sa.select(Form).where(Form.slug == slug)) if SLUG.fullmatch(slug) else None
    )
    if found is None:
        raise NoSuchForm("no form {slug}", slug=slug[:40])
    return found


def public_form(session: Session, slug: str) -> Form:
    """The form as the public sees it: a draft is not there; a closed one says so."""
    found = form_named(session, slug)
    if found.status == FormStatus.draft:
        raise NoSuchForm("no form {slug}", slug=slug[:40])
    return found


def _actions(raw: Any) -> list[str]:
    if not isinstance(raw, list) or len(raw) > MOST_ACTIONS:
        raise FormRefused("at most {most} follow-up actions", most=MOST_ACTIONS)
    out = []
    for item in raw:
        if not isinstance(item, str) or not (
            item == "guide_task" or (item.startswith("tag:") and "/" in item and len(item) <= 104)
        ):
            raise FormRefused("a follow-up action is guide_task or tag:<group/tag>")
        out.append(item)
    return out


def save_form(
    session: Session,
    actor: str,
    *,
    slug: str,
    title: str,
    fields: Any,
    intro: str = "",
    kind: str = FormKind.form,
    once: str = FormLimit.none,
    actions: Any = (),
    member_centre: bool = False,
    brand: str | None = None,
    form_id: int | None = None,
) -> Form:
    """Create a form (a draft) or change one. Fields are checked here, for the console, the
    API and the command line alike; a live form's fields may change (answers keep theirs).
    ``brand`` (a brand's code) makes the form that brand's, for its NPS on the dashboard."""
    if not SLUG.fullmatch(slug or ""):
        raise FormRefused(
            "the address is 2 to 40 of a-z, 0-9 and -, starting with a letter or digit"
        )
    if kind not in FormKind.__members__ or once not in FormLimit.__members__:
        raise FormRefused("kind is form or survey; the limit is none, person or day")
    title, intro = (title or "").strip(), (intro or "").strip()
    if not title or len(title) > TITLE_MAX or len(intro) > INTRO_MAX:
        raise FormRefused(
            "a title of 1 to {title} characters and an intro of at most {intro}",
            title=TITLE_MAX,
            intro=INTRO_MAX,
        )
    checked = checked_fields(fields)
    follow = _actions(list(actions))
    other = session.scalar(sa.select(Form.id).where(Form.slug == slug))
    if other is not None and other != form_id:
        raise SlugTaken("another form is at /f/{slug}", slug=slug)
    if form_id is None:
        form = Form(status=FormStatus.draft, created_by=actor[:100], created_at=clock.now())
        session.add(form)
    else:
        form = session.get(Form, form_id)  # type: ignore[assignment]
        if form is None:
            raise NoSuchForm("no form {slug}", slug=str(form_id))
    form.slug, form.title, form.intro, form.kind, form.once = slug, title, intro, kind, once
    form.fields, form.actions, form.member_centre = checked, follow, member_centre
    form.brand_id = brand_id_of(session, brand[:40]) if brand else None
    form.updated_at = clock.now()
    session.flush()
    record_audit(session, actor, "form.save", "growth_form", str(form.id), {"slug": slug})
    return form


def set_status(session: Session, form: Form, status: str, actor: str) -> Form:
    """Open (live), close or return a form to draft. A form without fields cannot go live."""
    if status not in FormStatus.__members__:
        raise FormRefused("status is draft, live or closed")
    if status == FormStatus.live and not form.fields:
        raise FormRefused("add a field before opening the form")
    form.status, form.updated_at = status, clock.now()
    record_audit(session, actor, f"form.{status}", "growth_form", str(form.id), {})
    return form


# -- signed tokens ---------------------------------------------------------------------------------
def _mac(purpose: str, *parts: object) -> str:
    text = ":".join([purpose, *map(str, parts)])
    return hmac.new(get_settings().secret_key_bytes(), text.encode(), hashlib.sha256).hexdigest()[
        :24
    ]


def page_token(form: Form, device: str, now: datetime | None = None) -> str:
    """The token a form page posts back: when it was shown and for which device cookie (a
    page elsewhere cannot make one, nor replay one from another browser)."""
    at = int((now or clock.now()).timestamp())
    return f"{at}.{_mac('form-page', form.id, device, at)}"


def page_shown_at(form: Form, device: str, token: str) -> datetime | None:
    """When the page that posted ``token`` was shown, if Siyu made it for this device and it
    is less than a day old; None otherwise."""
    at, _dot, mac = (token or "")[:60].partition(".")
    if not (at.isdigit() and len(at) <= 12) or not same_token(
        mac, _mac("form-page", form.id, device, at)
    ):
        return None
    shown = datetime.fromtimestamp(int(at), clock.now().tzinfo)
    now = clock.now()
    return (
        shown if now - timedelta(hours=PAGE_HOURS) <= shown <= now + timedelta(minutes=5) else None
    )


def personal_token(form: Form, customer_id: int, now: datetime | None = None) -> str:
    """A personal link's ``t``: the customer, until when, signed with the app's secret."""
    until = int(((now or clock.now()) + timedelta(days=LINK_DAYS)).timestamp())
    return f"{customer_id}.{until}.{_mac('form-link', form.id, customer_id, until)}"


def customer_of_token(form: Form, token: str) -> int | None:
    """The customer a personal link names, if it is this form's, unexpired and unaltered."""
    parts = (token or "")[:80].split(".")
    if len(parts) != 3 or not all(p.isdigit() and len(p) <= 12 for p in parts[:2]):
        return None
    cid, until, mac = parts
    if not same_token(mac, _mac("form-link", form.id, cid, until)):
        return None
    if int(until) < clock.now().timestamp():
        return None
    return int(cid)


def personal_link(form: Form, customer_id: int) -> str:
    base = get_settings().public_url.rstrip("/")
    return f"{base}/f/{form.slug}?t={personal_token(form, customer_id)}"


def erase_submissions(session: Session, ctx: ErasureContext) -> int:
    """Erasure: the person's answers lose everything personal (answers, consent text, UTM,
    referral code, device, network) and their customer; the NPS answer and the time stay,
    anonymous, so a survey's score does not change after the fact."""
    done = session.execute(
        sa.update(FormSubmission)
        .where(FormSubmission.customer_id.in_(list(ctx.customer_ids)))
        .values(
            customer_id=None,
            answers={},
            consent_text="",
            consent_version="",
            utm={},
            ref="",
            device="",
            address="",
            once_key=None,
            actions=[],
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(done, "rowcount", 0) or 0)
