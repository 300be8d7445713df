"""The growth dashboard page: the period's KPI cards with their change and definitions, revenue
decomposed, new customers by source, retention by acquisition month. Thin: parse the range,
ask the metrics service, render (an empty copy or period explains itself)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from siyu import clock
from siyu.analytics.engines import EngineUnavailable
from siyu.brands.models import Brand, Store
from siyu.config import get_settings
from siyu.console.views import page_for, render
from siyu.console.words import in_words
from siyu.customers import CUSTOMERS_READ
from siyu.i18n import N_, _, yuan
from siyu.metrics import METRICS_READ
from siyu.metrics.export import overview_csv
from siyu.metrics.funnels.service import FunnelError, chosen, counts, funnels
from siyu.metrics.registry import METRICS
from siyu.metrics.service import MetricsError, default_range, overview
from siyu.refusals import NotFound
from siyu.segments import SEGMENTS_WRITE
from siyu.segments.drill import drill
from siyu.segments.rules import RuleError, loads
from siyu.webkit import Id, Page, SessionDep

router = APIRouter(include_in_schema=False)

NO_COPY = N_(
    "The analytical copy has not been built yet, so there is nothing to show. Run siyu analytics refresh, or come back after the worker has refreshed it."
)
BAD_DATE = N_("Dates as YYYY-MM-DD")


def _range(settings: Any, start: str | None, end: str | None) -> tuple[date | None, date | None]:
    """The range asked (either end may be left out), else the default one; None: not a date."""
    if not start and not end:
        return default_range(settings)
    today = clock.now().astimezone(settings.tz).date()
    return _day(start, today - timedelta(days=29)), _day(end, today)


def _day(text: str | None, default: date) -> date | None:
    if not text:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


@router.get("/dashboard")
def dashboard_page(
    session: SessionDep,
    request: Request,
    start: str | None = None,
    end: str | None = None,
    brand: Id | None = None,
    store: Id | None = None,
    funnel: Id | None = None,
    ctx: dict[str, Any] = Depends(page_for(METRICS_READ)),
) -> HTMLResponse:
    """Is the private domain working? The last 30 days (or the range asked) against the
    30 days before."""
    settings = get_settings()
    first, last = _range(settings, start, end)
    data, error, quiet = None, None, False
    if first is None or last is None:
        error = _(BAD_DATE)
    else:
        try:
            data = overview(settings, first, last, brand_id=brand, store_id=store)
        except EngineUnavailable:
            error, quiet = _(NO_COPY), True
        except MetricsError as exc:
            error = in_words(request, exc)
    brands = session.execute(sa.select(Brand.id, Brand.name).order_by(Brand.id)).all()
    stores = session.execute(sa.select(Store.id, Store.code, Store.name).order_by(Store.id)).all()
    picked = next((s for s in stores if s.id == store), None)
    shown_funnel, funnel_error, saved = None, None, funnels(session)
    if data is not None and first is not None and last is not None:
        try:
            fid, name, steps = chosen(session, funnel, saved)
            shown_funnel = {
                "id": fid,
                "name": name,
                **counts(settings, steps, first, last, brand_id=brand, store_id=store),
            }
        except FunnelError as exc:
            funnel_error = in_words(request, exc)
    return render(
        request,
        "dashboard.html",
        drill_url=lambda rule, title: drill_url(
            rule, title, brand, picked.code if picked else None
        ),
        band_label=band_label,
        ctx=ctx,
        o=data,
        error=error,
        quiet=quiet,
        funnel=shown_funnel,
        funnel_error=funnel_error,
        saved_funnels=[(f.id, f.name) for f in saved],
        form={
            "start": start or str(first or ""),
            "end": end or str(last or ""),
            "brand": brand,
            "store": store,
        },
        brands=brands,
        stores=stores,
        picked_store=picked,
        metrics=METRICS,
    )


def drill_url(
    rule: dict[str, Any], title: str, brand: int | None, store_code: str | None = None
) -> str:
    """Where a chart item leads: the customers its rule matches (with the store filter on, only
    that home store's)."""
    if store_code is not None:
        rule = {"all": [rule, {"field": "store", "op": "=", "value": store_code}]}
    query = {"rule": json.dumps(rule, ensure_ascii=False, separators=(",", ":")), "title": title}
    if brand:
        query["brand"] = str(brand)
    return "/dashboard/customers?" + urlencode(query)


def band_label(band: dict[str, Any]) -> str:
    lo, hi = band["low_fen"], band["high_fen"]
    if lo is None:
        return _("¥0 or less")
    if hi is None:
        return _("over {lo}", lo=yuan(lo, digits=0))
    return _("{lo} – {hi}", lo=yuan(lo, digits=0), hi=yuan(hi, digits=0))


@router.get("/dashboard.csv")
def dashboard_csv(
    request: Request,
    start: str | None = None,
    end: str | None = None,
    brand: Id | None = None,
    store: Id | None = None,
    ctx: dict[str, Any] = Depends(page_for(METRICS_READ)),
) -> Response:
    """The overview as a spreadsheet (UTF-8 with BOM, so Excel reads the Chinese): one block per
    chart, aggregates only — no one's personal data."""
    settings = get_settings()
    first, last = _range(settings, start, end)

    def refused(text: str, status: int) -> Response:
        return Response(text + "\n", status_code=status, media_type="text/plain; charset=utf-8")

    if first is None or last is None:
        return refused(_(BAD_DATE), 400)
    try:
        data = overview(settings, first, last, brand_id=brand, store_id=store)
    except EngineUnavailable:
        return refused(_(NO_COPY), 409)
    except MetricsError as exc:
        return refused(in_words(request, exc), 404 if isinstance(exc, NotFound) else 400)
    name = f"siyu-dashboard-{first}-{last}.csv"
    return Response(
        "\ufeff" + overview_csv(data),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/dashboard/customers")
def drill_page(
    session: SessionDep,
    request: Request,
    rule: str = "",
    title: str = "",
    brand: Id | None = None,
    page: Page = 1,
    ctx: dict[str, Any] = Depends(page_for(CUSTOMERS_READ)),
) -> HTMLResponse:
    """The customers behind a chart's bar, cell or row (a rule on the analytical copy), a page
    at a time; from here the same rule can be saved as a segment."""
    result, error, quiet = None, None, False
    try:
        found = drill(
            get_settings(), session, ctx["principal"], loads(rule), brand_id=brand, page=page
        )
        result = {
            "total": found.total,
            "page": found.page,
            "per_page": found.per_page,
            "items": found.items,
        }
    except RuleError as exc:  # a hand-edited URL: not JSON, or not a rule
        error = _(
            "This drill-down condition cannot be read: {reason}", reason=in_words(request, exc)
        )
    except EngineUnavailable:
        error, quiet = _(NO_COPY), True
    params = {"rule": rule, "title": title[:100], "brand": brand or ""}
    return render(
        request,
        "customers_drill.html",
        status=400 if error and not quiet else 200,
        ctx=ctx,
        result=result,
        error=error,
        quiet=quiet,
        title=title[:100],
        rule=rule,
        rule_text=found.rule_text if result else "",
        as_of=found.data_as_of if result else None,
        can_save=ctx["principal"].can(SEGMENTS_WRITE),
        filtered=True,
        qs=lambda p: urlencode({**params, "page": p}),
        page_path="/dashboard/customers",
    )
