"""Surveys' figure for the dashboard and the metric registry: NPS (``nps.nps_summary``)."""

from __future__ import annotations

from siyu.i18n import N_
from siyu.metrics.registry import Metric

METRICS = (
    Metric(
        "nps",
        N_("NPS"),
        "ratio",
        N_(
            "Net Promoter Score of survey answers in the period: the share of promoters (9–10) "
            "minus the share of detractors (0–6), from −100 to 100; skipped questions are not "
            "counted."
        ),
    ),
)
