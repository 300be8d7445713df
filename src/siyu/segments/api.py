"""/api/v1/segments: define, count, preview, refresh and export segments.

A rule is accepted as JSON (the tree) or as text (the compact form), in the ``rule`` field.
Bad rules answer 422 with ``{"detail": {"path": …, "reason": …}}``; a copy not built yet 503.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask

from siyu.accounts.service import Principal
from siyu.config import get_settings
from siyu.customers import CUSTOMERS_EXPORT, CUSTOMERS_READ
from siyu.db import get_engine
from siyu.segments import SEGMENTS_WRITE, queries, service
from siyu.segments.fields import catalogue
from siyu.webkit import Id, SessionDep, require

router = APIRouter(prefix="/api/v1/segments", tags=["segments"])
RULE_EXAMPLES = ["tag:兴趣/防晒 and city in [上海, 杭州] and orders(last 90d).count = 0"]


class SegmentIn(BaseModel):
    name: str = Field(..., min_length=1, max_length=100)
    rule: dict[str, Any] | str = Field(..., examples=RULE_EXAMPLES)
    brand: str | None = Field(None, max_length=64, description="A brand code: only its data.")
    description: str = Field("", max_length=2000)


class StaticIn(BaseModel):
    name: str = Field(..., min_length=1, max_length=100)
    phones: list[str] = Field(default_factory=list, max_length=1_000_000)
    customer_ids: list[Id] = Field(default_factory=list, max_length=1_000_000)
    description: str = Field("", max_length=2000)


class SegmentPatch(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=100)
    rule: dict[str, Any] | str | None = None
    description: str | None = Field(None, max_length=2000)


class RuleIn(BaseModel):
    rule: dict[str, Any] | str = Field(..., examples=RULE_EXAMPLES)
    brand: str | None = Field(None, max_length=64)


@router.get("/fields", response_model=list[queries.FieldOut])
def get_fields(
    session: SessionDep,
    _p: Principal = Depends(require(CUSTOMERS_READ)),
) -> list[queries.FieldOut]:
    """Every field rules can use: type, operators (with Chinese labels), values, windows."""
    return [
        queries.FieldOut.model_validate(spec.describe(session)) for spec in catalogue().values()
    ]


@router.get("", response_model=list[queries.SegmentOut])
def get_segments(
    session: SessionDep,
    p: Principal = Depends(require(CUSTOMERS_READ)),
) -> list[queries.SegmentOut]:
    """Every segment; ``size`` counts the customers the caller may see (``scoped``: only some
    of the pool)."""
    return queries.list_segments(session, p)


@router.post("", status_code=201, response_model=queries.SegmentOut, responses={409: {}, 422: {}})
def post_segment(
    session: SessionDep,
    body: SegmentIn,
    p: Principal = Depends(require(SEGMENTS_WRITE)),
) -> queries.SegmentOut:
    """A dynamic segment; its members are filled by the next refresh."""
    seg = service.create_segment(
        session,
        body.name,
        rule=body.rule,
        actor=p.actor,
        brand=body.brand,
        description=body.description,
    )
    return queries.segment_summary(seg)


@router.post(
    "/static",
    status_code=201,
    response_model=queries.StaticSegmentOut,
    responses={409: {}, 422: {}},
)
def post_static(
    session: SessionDep,
    body: StaticIn,
    p: Principal = Depends(require(SEGMENTS_WRITE)),
) -> queries.StaticSegmentOut:
    """A fixed list by phone numbers or customer ids; numbers that matched nobody come back."""
    seg, missing = service.create_static_segment(
        session,
        body.name,
        phones=body.phones,
        customer_ids=body.customer_ids,
        actor=p.actor,
        description=body.description,
    )
    return queries.StaticSegmentOut(
        **queries.segment_summary(seg).model_dump(), not_found=missing[:1000]
    )


@router.post("/count", response_model=queries.CountOut, responses={422: {}, 503: {}})
def post_count(
    session: SessionDep,
    body: RuleIn,
    p: Principal = Depends(require(CUSTOMERS_READ)),
) -> queries.CountOut:
    """How many customers a rule matches now (the rule builder's live count), of those the
    caller may see."""
    result = service.count_rule(get_settings(), session, body.rule, brand=body.brand, principal=p)
    return queries.CountOut.model_validate(_count_out(result))


@router.post("/preview", response_model=queries.PreviewOut, responses={422: {}, 503: {}})
def post_preview(
    session: SessionDep,
    body: RuleIn,
    p: Principal = Depends(require(CUSTOMERS_READ)),
) -> queries.PreviewOut:
    """Count, estimated reach per channel and a masked sample of 20."""
    pv = service.preview_rule(get_settings(), session, p, body.rule, brand=body.brand)
    out = asdict(pv)
    out["data_as_of"] = pv.data_as_of.isoformat() if pv.data_as_of else None
    return queries.PreviewOut.model_validate(out)


@router.get("/{segment_id}", response_model=queries.SegmentDetail, responses={404: {}})
def get_segment(
    session: SessionDep,
    segment_id: Id,
    p: Principal = Depends(require(CUSTOMERS_READ)),
) -> queries.SegmentDetail:
    """One segment with its size over what the caller may see, and its size history (the
    whole pool's, so only for those who see the whole pool)."""
    seg = service.get_segment(session, segment_id)
    history = queries.size_history(session, seg.id, principal=p)
    return queries.SegmentDetail(
        **queries.segment_view(session, seg, p).model_dump(), history=history
    )


@router.patch(
    "/{segment_id}", response_model=queries.SegmentOut, responses={404: {}, 409: {}, 422: {}}
)
def patch_segment(
    session: SessionDep,
    segment_id: Id,
    body: SegmentPatch,
    p: Principal = Depends(require(SEGMENTS_WRITE)),
) -> queries.SegmentOut:
    seg = service.update_segment(
        session,
        segment_id,
        actor=p.actor,
        name=body.name,
        rule=body.rule,
        description=body.description,
    )
    return queries.segment_summary(seg)


@router.delete("/{segment_id}", status_code=204, responses={404: {}, 422: {}})
def delete_segment(
    session: SessionDep,
    segment_id: Id,
    p: Principal = Depends(require(SEGMENTS_WRITE)),
) -> None:
    service.delete_segment(session, segment_id, actor=p.actor)


@router.get("/{segment_id}/count", response_model=queries.CountOut, responses={404: {}, 503: {}})
def get_count(
    session: SessionDep,
    segment_id: Id,
    p: Principal = Depends(require(CUSTOMERS_READ)),
) -> queries.CountOut:
    result = service.count_segment(get_settings(), session, segment_id, principal=p)
    return queries.CountOut.model_validate(_count_out(result))


@router.post(
    "/{segment_id}/refresh", response_model=queries.RefreshOut, responses={404: {}, 503: {}}
)
def post_refresh(
    session: SessionDep,
    segment_id: Id,
    _p: Principal = Depends(require(SEGMENTS_WRITE)),
) -> queries.RefreshOut:
    """Refresh this segment's membership now, from the copy as it is."""
    from siyu.segments.membership import refresh_segments

    service.get_segment(session, segment_id)
    run = refresh_segments(get_engine(), get_settings(), segment_ids=[segment_id])
    return queries.RefreshOut.model_validate(asdict(run))


@router.get(
    "/{segment_id}/export",
    response_class=FileResponse,
    responses={
        200: {"description": "The members as CSV.", "content": {"text/csv": {}}},
        403: {},
        404: {},
    },
)
def get_export(
    session: SessionDep,
    segment_id: Id,
    unmask: bool = Query(False, description="Full names and phones (needs customers:unmask)."),
    p: Principal = Depends(require(CUSTOMERS_EXPORT)),
) -> FileResponse:
    """The members as CSV (masked unless ``unmask`` and allowed); audit-logged."""
    seg = service.get_segment(session, segment_id)
    tmp = Path(tempfile.mkstemp(prefix="siyu-segment-", suffix=".csv")[1])
    try:
        queries.export_members(session, p, segment_id, tmp, unmask=unmask)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return FileResponse(
        tmp,
        media_type="text/csv; charset=utf-8",
        filename=f"segment-{seg.id}.csv",
        background=BackgroundTask(tmp.unlink, missing_ok=True),
    )


def _count_out(result: service.CountResult) -> dict[str, Any]:
    return {
        "count": result.count,
        "data_as_of": result.data_as_of.isoformat() if result.data_as_of else None,
        "rule_text": result.rule_text,
    }
