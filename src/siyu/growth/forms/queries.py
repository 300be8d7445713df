"""Reading forms and their answers: the list, one form's submissions (text, phone and address
answers masked unless the reader may unmask) and their spreadsheet, the live surveys a member
may take, and a person's answers for their data export. NPS figures are ``nps``."""

from __future__ import annotations

import io
from collections.abc import Collection
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.orm import Session

from siyu import csvsafe
from siyu.customers.masking import mask_text
from siyu.growth.forms.models import Form, FormKind, FormStatus, FormSubmission

UTM_COLUMNS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")


class FormView(BaseModel):
    id: int
    slug: str
    kind: str
    status: str
    title: str
    intro: str
    fields: list[dict[str, Any]]
    once: str
    actions: list[str]
    member_centre: bool
    submissions: int
    updated_at: datetime


class SubmissionView(BaseModel):
    id: int
    customer_id: int | None
    answers: dict[str, Any]
    nps: int | None
    consent_text: str
    consent_version: str
    utm: dict[str, str]
    ref: str
    actions: list[str]
    submitted_at: datetime


class FormPage(BaseModel):
    total: int
    forms: list[FormView]


class SubmissionPage(BaseModel):
    total: int
    submissions: list[SubmissionView]


def form_view(session: Session, form: Form, total: int | None = None) -> FormView:
    """A form as the API, the console and the command line show it, with its answers' count."""
    if total is None:
        total = session.scalar(sa.select(sa.func.count()).where(FormSubmission.form_id == form.id))
    return FormView(
        id=form.id,
        slug=form.slug,
        kind=form.kind,
        status=form.status,
        title=form.title,
        intro=form.intro,
        fields=list(form.fields or []),
        once=form.once,
        actions=list(form.actions or []),
        member_centre=form.member_centre,
        submissions=int(total or 0),
        updated_at=form.updated_at,
    )


def forms(session: Session, *, offset: int = 0, most: int = 100) -> tuple[int, list[FormView]]:
    """Forms and surveys, newest first, each with its answers' count (one query for all)."""
    total = int(session.scalar(sa.select(sa.func.count()).select_from(Form)) or 0)
    rows = list(
        session.scalars(sa.select(Form).order_by(Form.id.desc()).offset(offset).limit(most))
    )
    counts = dict(
        session.execute(
            sa.select(FormSubmission.form_id, sa.func.count())
            .where(FormSubmission.form_id.in_([f.id for f in rows]))
            .group_by(FormSubmission.form_id)
        ).all()
    )
    return total, [form_view(session, f, int(counts.get(f.id, 0))) for f in rows]


def _masked(form: Form, answers: dict[str, Any]) -> dict[str, Any]:
    kinds = {f["key"]: f["kind"] for f in form.fields or []}
    out = {}
    for key, value in answers.items():
        if isinstance(value, str) and kinds.get(key) in ("text", "address", "phone"):
            value = mask_text(value)
        out[key] = value
    return out


def submissions(
    session: Session, form: Form, *, offset: int = 0, most: int = 100, masked: bool = True
) -> tuple[int, list[SubmissionView]]:
    """A form's answers, newest first, with the consent evidence each carries."""
    where = FormSubmission.form_id == form.id
    total = int(session.scalar(sa.select(sa.func.count()).where(where)) or 0)
    rows = session.scalars(
        sa.select(FormSubmission)
        .where(where)
        .order_by(FormSubmission.id.desc())
        .offset(offset)
        .limit(most)
    )
    return total, [
        SubmissionView(
            id=r.id,
            customer_id=r.customer_id,
            answers=_masked(form, r.answers or {}) if masked else dict(r.answers or {}),
            nps=r.nps,
            consent_text=r.consent_text,
            consent_version=r.consent_version,
            utm=dict(r.utm or {}),
            ref=r.ref,
            actions=list(r.actions or []),
            submitted_at=r.submitted_at,
        )
        for r in rows
    ]


def submissions_csv(session: Session, form: Form, *, masked: bool = True) -> str:
    """A form's answers as CSV (newest 10,000), one column per field; every cell a spreadsheet
    could read as a formula is neutralised (``csvsafe``)."""
    buf = io.StringIO()
    w = csvsafe.writer(buf)
    fields = list(form.fields or [])
    w.writerow(
        [
            "时间 submitted_at",
            "客户 customer",
            *[f["label"] for f in fields],
            "同意文本 consent",
            "版本 version",
            *UTM_COLUMNS,
            "ref",
        ]
    )
    _total, rows = submissions(session, form, most=10_000, masked=masked)
    for r in rows:
        w.writerow(
            [
                r.submitted_at.isoformat(),
                r.customer_id or "",
                *[_cell(r.answers.get(f["key"])) for f in fields],
                r.consent_text,
                r.consent_version,
                *[r.utm.get(k, "") for k in UTM_COLUMNS],
                r.ref,
            ]
        )
    return buf.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return "是" if value is True else str(value)


# -- the member centre and the person's export -----------------------------------------------------
def live_surveys(session: Session) -> list[Form]:
    """The live surveys the member centre lists (``member_centre`` set)."""
    return list(
        session.scalars(
            sa.select(Form)
            .where(
                Form.status == FormStatus.live,
                Form.kind == FormKind.survey,
                Form.member_centre.is_(True),
            )
            .order_by(Form.id.desc())
            .limit(50)
        )
    )


def answered_by(session: Session, customer_id: int, form_ids: Collection[int]) -> set[int]:
    if not form_ids:
        return set()
    return set(
        session.scalars(
            sa.select(FormSubmission.form_id).where(
                FormSubmission.customer_id == customer_id, FormSubmission.form_id.in_(form_ids)
            )
        )
    )


def export_submissions(session: Session, customer_ids: Collection[int]) -> dict[str, list[Any]]:
    """The person's answers for their data export: which form, when, what they answered and
    the consent text they ticked."""
    rows = session.execute(
        sa.select(FormSubmission, Form.slug, Form.title)
        .join(Form, Form.id == FormSubmission.form_id)
        .where(FormSubmission.customer_id.in_(list(customer_ids)))
        .order_by(FormSubmission.id)
    ).all()
    return {
        "form_submissions": [
            {
                "form": slug,
                "title": title,
                "submitted_at": s.submitted_at.isoformat(),
                "answers": s.answers,
                "consent_text": s.consent_text,
                "consent_version": s.consent_version,
                "utm": s.utm,
            }
            for s, slug, title in rows
        ]
    }
