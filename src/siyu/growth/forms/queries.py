"""Reading forms and their answers: the list, one form's submissions (phones and addresses
masked unless the reader may unmask), NPS figures (overall, by month in Asia/Shanghai, by the
customer's home store, for a segment's customers), the live surveys a member may take, and a
person's answers for their data export.

NPS = % promoters (9–10) − % detractors (0–6) over the answered NPS questions, −100 to 100;
a submission that skipped the question counts as ``skipped``, never in the score."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.orm import Session

from siyu.config import get_settings
from siyu.customers.masking import mask_text
from siyu.customers.queries import home_stores
from siyu.growth.forms.fields import nps_group
from siyu.growth.forms.models import Form, FormKind, FormStatus, FormSubmission
from siyu.segments.queries import members_now


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


class Score(BaseModel):
    score: float | None
    promoters: int
    passives: int
    detractors: int
    answered: int
    skipped: int


class StoreScore(Score):
    store_id: int | None


class NpsOut(Score):
    by_month: dict[str, Score]
    by_store: list[StoreScore]


def form_view(session: Session, form: Form) -> FormView:
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
    total = int(session.scalar(sa.select(sa.func.count()).select_from(Form)) or 0)
    rows = session.scalars(sa.select(Form).order_by(Form.id.desc()).offset(offset).limit(most))
    return total, [form_view(session, f) for f in rows]


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


def local_days(start: date | None, end: date | None) -> tuple[datetime, datetime]:
    """Local days (Asia/Shanghai) [start, end] as instants [from, to); a year by default."""
    tz = get_settings().tz
    last = end or datetime.now(tz).date()
    first = start or last - timedelta(days=365)
    return (
        datetime.combine(first, time(), tz),
        datetime.combine(last + timedelta(days=1), time(), tz),
    )


# -- NPS -------------------------------------------------------------------------------------------
def score_of(answers: Iterable[int | None]) -> dict[str, Any]:
    """Promoters, passives, detractors, answered, skipped and the score (None: none answered)."""
    counts = {"promoter": 0, "passive": 0, "detractor": 0, "": 0}
    for value in answers:
        counts[nps_group(value)] += 1
    answered = counts["promoter"] + counts["passive"] + counts["detractor"]
    score = (
        round((counts["promoter"] - counts["detractor"]) * 100 / answered, 1) if answered else None
    )
    return {
        "score": score,
        "promoters": counts["promoter"],
        "passives": counts["passive"],
        "detractors": counts["detractor"],
        "answered": answered,
        "skipped": counts[""],
    }


def _nps_rows(
    session: Session,
    start: datetime,
    end: datetime,
    *,
    brand_id: int | None = None,
    form_id: int | None = None,
) -> list[tuple[int | None, int | None, datetime]]:
    """(customer, NPS answer, when) of every answer to a form with an NPS question in
    [start, end)."""
    query = sa.select(Form.id, Form.fields)
    if brand_id is not None:
        query = query.where(Form.brand_id == brand_id)
    if form_id is not None:
        query = query.where(Form.id == form_id)
    with_nps = [
        i
        for i, fields in session.execute(query)
        if any(f.get("kind") == "nps" for f in fields or [])
    ]
    if not with_nps:
        return []
    return [
        (r[0], r[1], r[2])
        for r in session.execute(
            sa.select(FormSubmission.customer_id, FormSubmission.nps, FormSubmission.submitted_at)
            .where(
                FormSubmission.form_id.in_(with_nps),
                FormSubmission.submitted_at >= start,
                FormSubmission.submitted_at < end,
            )
            .order_by(FormSubmission.submitted_at)
        )
    ]


def nps_summary(
    session: Session,
    start: datetime,
    end: datetime,
    brand_id: int | None = None,
    form_id: int | None = None,
) -> dict[str, Any]:
    """NPS over [start, end) (aware instants), for the dashboard and the NPS metric: the
    score with its counts, and ``by_month`` (``YYYY-MM`` in the brand's zone → the same)."""
    rows = _nps_rows(session, start, end, brand_id=brand_id, form_id=form_id)
    tz = get_settings().tz
    months: dict[str, list[int | None]] = defaultdict(list)
    for _cid, value, at in rows:
        months[at.astimezone(tz).strftime("%Y-%m")].append(value)
    return {
        **score_of(v for _c, v, _t in rows),
        "by_month": {m: score_of(v) for m, v in sorted(months.items())},
    }


def nps_by_store(
    session: Session, start: datetime, end: datetime, form_id: int | None = None
) -> dict[int | None, dict[str, Any]]:
    """NPS per home store of the customers who answered (None: no store, or anonymous)."""
    rows = _nps_rows(session, start, end, form_id=form_id)
    stores = home_stores(session, {c for c, _v, _t in rows if c is not None})
    grouped: dict[int | None, list[int | None]] = defaultdict(list)
    for cid, value, _at in rows:
        grouped[stores.get(cid) if cid is not None else None].append(value)
    return {store: score_of(values) for store, values in grouped.items()}


def nps_for_segment(
    session: Session, segment_id: int, start: datetime, end: datetime, form_id: int | None = None
) -> dict[str, Any]:
    """NPS of the answers given by the customers in a segment now."""
    inside = members_now(session, segment_id)
    rows = _nps_rows(session, start, end, form_id=form_id)
    return score_of(v for c, v, _t in rows if c is not None and c in inside)


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
