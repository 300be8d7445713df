"""`/api/v1/metrics`: the growth overview for a period, and what each metric means."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Query

from siyu.accounts.service import Principal
from siyu.config import get_settings
from siyu.metrics import METRICS_READ
from siyu.metrics.queries import MetricOut, Overview
from siyu.metrics.registry import METRICS
from siyu.metrics.service import overview
from siyu.webkit import Id, require

router = APIRouter(prefix="/api/v1", tags=["metrics"])


@router.get("/metrics", response_model=list[MetricOut])
def list_metrics(_p: Principal = Depends(require(METRICS_READ))) -> list[MetricOut]:
    """Every metric with its definition; pending ones say what they wait for."""
    return [MetricOut.model_validate(m.described()) for m in METRICS.values()]


@router.get("/metrics/overview", response_model=Overview, responses={404: {}, 422: {}, 503: {}})
def metrics_overview(
    start: date = Query(
        ..., alias="from", description="First day (Beijing time), from 2000-01-01 to 2099-12-31."
    ),
    end: date = Query(..., alias="to", description="Last day, included."),
    brand_id: Id | None = Query(None),
    store_id: Id | None = Query(None, description="Only the customers of this home store."),
    _p: Principal = Depends(require(METRICS_READ)),
) -> Overview:
    """The period's numbers beside the period before, revenue decomposed, new customers by
    source, retention by acquisition month, and how fresh the analytical copy is."""
    return Overview.model_validate(
        overview(get_settings(), start, end, brand_id=brand_id, store_id=store_id)
    )
