"""The growth dashboard page: the period's KPI cards with their change and definitions, revenue
decomposed, new customers by source, retention by acquisition month. Thin: parse the range,
ask the metrics service, render (an empty copy or period explains itself)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from siyu.accounts.permissions import Perm
from siyu.analytics.engines import EngineUnavailable
from siyu.brands.models import Brand
from siyu.config import get_settings
from siyu.console.views import console_user, denied_page, render
from siyu.db import utcnow
from siyu.metrics.registry import METRICS
from siyu.metrics.service import MetricsError, overview
from siyu.webkit import db_session

router = APIRouter(include_in_schema=False)


def _day(text: str | None, default: date) -> date | None:
    if not text:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


@router.get("/dashboard")
def dashboard_page(
    request: Request,
    start: str | None = None,
    end: str | None = None,
    brand: int | None = None,
    ctx: dict[str, Any] = Depends(console_user),
    session: Session = Depends(db_session, scope="function"),
) -> HTMLResponse:
    """Is the private domain working? The last 30 days (or the range asked) against the
    30 days before."""
    if denied := denied_page(request, ctx, Perm.metrics_read):
        return denied
    settings = get_settings()
    today = utcnow().astimezone(settings.tz).date()
    first, last = _day(start, today - timedelta(days=29)), _day(end, today)
    data, error = None, None
    if first is None or last is None:
        error = "mx.bad_date"
    else:
        try:
            data = overview(settings, first, last, brand_id=brand)
        except EngineUnavailable:
            error = "mx.no_copy"
        except MetricsError as exc:
            error = str(exc)
    brands = session.execute(sa.select(Brand.id, Brand.name).order_by(Brand.id)).all()
    return render(
        request,
        "dashboard.html",
        ctx=ctx,
        o=data,
        error=error,
        form={"start": start or str(first or ""), "end": end or str(last or ""), "brand": brand},
        brands=brands,
        metrics=METRICS,
    )
