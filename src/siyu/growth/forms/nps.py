"""NPS of surveys: overall and by month in the brand's zone (Asia/Shanghai), by the answering
customer's home store, and for the customers in a segment now — for the survey's page, the API,
the command line and the dashboard (``nps_summary``).

NPS = % promoters (9–10) − % detractors (0–6) over the answered NPS questions, −100 to 100,
to one decimal; an answer that skipped the question counts as ``skipped``, never in the score."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.orm import Session

from siyu.config import get_settings
from siyu.customers.queries import home_stores
from siyu.growth.forms.fields import nps_group
from siyu.growth.forms.models import Form, FormSubmission
from siyu.segments.queries import members_now


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
    segment: Score | None = None  # the customers of the segment asked for, if one was


def local_days(start: date | None, end: date | None) -> tuple[datetime, datetime]:
    """Local days (Asia/Shanghai) [start, end] as instants [from, to); a year by default."""
    tz = get_settings().tz
    last = end or datetime.now(tz).date()
    first = start or last - timedelta(days=365)
    return (
        datetime.combine(first, time(), tz),
        datetime.combine(last + timedelta(days=1), time(), tz),
    )


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
