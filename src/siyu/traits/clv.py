"""CLV on the analytical copy: summaries in Ibis, fits in ``clv_model``, a holdout check.

``clv_report`` answers "does the model predict this brand's customers?": it fits on the
purchases up to a calibration end and compares predicted with actual repeat purchases in the
rest, by how often people bought during calibration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

from siyu import clock
from siyu.analytics.engines import ibis_tables
from siyu.analytics.service import refresh_copy
from siyu.config import Settings
from siyu.traits import clv_model
from siyu.traits.expressions import clv_summary
from siyu.traits.params import EPOCH, TraitsError, trait_params
from siyu.traits.units import reported_params

UNITS = {"day": 1, "week": 7}
BUCKETS = [*(str(i) for i in range(7)), "7+"]


@dataclass
class ClvReport:
    """A fit and its holdout check. ``gamma_gamma``'s ``v`` is in yuan; ``units`` names the
    unit of each parameter that has one (see ``reported_params``)."""

    bgnbd: dict[str, float]
    gamma_gamma: dict[str, float] | None
    log_likelihood: float
    customers: int
    holdout: list[dict[str, Any]]
    unit: str
    calibration_end: date
    holdout_end: date
    notes: list[str] = field(default_factory=list)
    units: dict[str, str] = field(default_factory=dict)


def summary_arrays(
    settings: Settings, ref: date, calibration_end: date, unit: str, engine: str = "duckdb"
) -> dict[str, np.ndarray]:
    """The per-customer CLV inputs as numpy arrays, from the analytical copy, in customer
    order (so both engines hand the fitter the same arrays)."""
    params = trait_params(settings, ref, settings.traits_window_days)
    with ibis_tables(settings.resolved_analytics_path, engine, ["order"]) as t:
        summary = clv_summary(t["order"], params, (calibration_end - EPOCH).days, UNITS[unit])
        table = summary.order_by("customer_id").to_pyarrow()
    return {name: table.column(name).to_numpy() for name in table.column_names}


def clv_report(
    settings: Settings,
    *,
    calibration_end: date,
    unit: str = "day",
    reference_date: date | None = None,
    refresh: bool = True,
) -> ClvReport:
    """Fit on purchases up to ``calibration_end``; hold out the rest up to the reference date."""
    if unit not in UNITS:
        raise TraitsError("unit must be day or week, not {unit!r}", unit=unit)
    ref = reference_date or clock.today(settings.tz)
    if calibration_end >= ref:
        raise TraitsError(
            "the calibration end {end} must be before the reference date {ref}, "
            "so that there is a holdout period to check against",
            end=calibration_end,
            ref=ref,
        )
    if refresh:
        refresh_copy(settings)
    s = summary_arrays(settings, ref, calibration_end, unit)
    try:
        model = clv_model.fit(s["frequency"], s["recency"], s["T"], s["monetary"])
    except clv_model.DegenerateFit as exc:
        raise TraitsError("CLV cannot be fitted: {why}", why=exc) from exc
    horizon = (ref - calibration_end).days / UNITS[unit]
    predicted = model.expected_purchases(horizon, s["frequency"], s["recency"], s["T"])
    shown = reported_params(model.bgnbd, model.gamma_gamma, unit)
    return ClvReport(
        bgnbd=shown["bgnbd"],
        gamma_gamma=shown["gamma_gamma"],
        log_likelihood=model.log_likelihood,
        customers=model.customers,
        holdout=_holdout(s["frequency"], s["holdout_purchases"], predicted),
        unit=unit,
        calibration_end=calibration_end,
        holdout_end=ref,
        notes=model.notes,
        units=shown["units"],
    )


def _holdout(
    frequency: np.ndarray, actual: np.ndarray, predicted: np.ndarray
) -> list[dict[str, Any]]:
    """Mean actual vs predicted repeat purchases in the holdout, by calibration frequency."""
    rows = []
    for i, bucket in enumerate(BUCKETS):
        mask = frequency >= 7 if bucket == "7+" else frequency == i
        n = int(mask.sum())
        rows.append(
            {
                "frequency": bucket,
                "customers": n,
                "actual": round(float(actual[mask].mean()), 4) if n else None,
                "predicted": round(float(predicted[mask].mean()), 4) if n else None,
            }
        )
    return rows


@dataclass
class Valuation:
    """Per customer (all brands together): P(alive), expected purchases in 30/90/365 days,
    expected spend per purchase and CLV, each an array aligned with ``customer_id``. When the
    data cannot support a fit, only ``clv_fen`` is filled, by the stated fallback rule."""

    customer_id: np.ndarray
    columns: dict[str, np.ndarray | None]
    model: dict[str, Any]
    notes: list[str] = field(default_factory=list)


FALLBACK_RULE = "CLV = spend in the RFM window × margin (no prediction)"


def value_everyone(settings: Settings, engine: str, ref: date) -> Valuation | None:
    """Fit on everything up to ``ref`` and predict for every buyer; None if nobody bought."""
    unit = settings.clv_unit if settings.clv_unit in UNITS else "day"
    s = summary_arrays(settings, ref, ref, unit, engine=engine)
    if not len(s["customer_id"]):
        return None
    args = (s["frequency"], s["recency"], s["T"])
    try:
        model = clv_model.fit(*args, s["monetary"])
    except clv_model.DegenerateFit as exc:
        return Valuation(
            s["customer_id"],
            {},
            {"fallback": FALLBACK_RULE},
            [f"CLV not fitted ({exc}); {FALLBACK_RULE}"],
        )
    per_day = 1 / UNITS[unit]
    spend = model.expected_spend(s["frequency"], s["monetary"])
    clv = model.clv(
        *args,
        s["monetary"],
        unit_days=UNITS[unit],
        months=settings.clv_months,
        margin=settings.clv_margin,
        annual_discount=settings.clv_annual_discount,
    )
    columns: dict[str, np.ndarray | None] = {
        "p_alive": model.p_alive(*args),
        "purchases_30d": model.expected_purchases(30 * per_day, *args),
        "purchases_90d": model.expected_purchases(90 * per_day, *args),
        "purchases_365d": model.expected_purchases(365 * per_day, *args),
        "expected_spend_fen": None if spend is None else np.rint(spend),
        "clv_fen": None if clv is None else np.rint(clv),
    }
    notes = list(model.notes)
    if clv is None:
        notes.append(f"no Gamma-Gamma fit: spend and CLV left empty; {FALLBACK_RULE}")
    fitted = reported_params(model.bgnbd, model.gamma_gamma, unit)
    return Valuation(s["customer_id"], columns, fitted, notes)
