"""What a recompute stands on: the reference date turned into expression parameters."""

from __future__ import annotations

from datetime import date, datetime

from siyu.config import Settings
from siyu.refusals import Refusal
from siyu.traits.expressions import TraitParams

EPOCH = date(1970, 1, 1)


class TraitsError(Refusal):
    """A recompute was asked for something it cannot do (bad date, window, engine)."""


def trait_params(settings: Settings, ref: date, window: int) -> TraitParams:
    """The expression parameters for a reference date, from the settings."""
    offset = datetime(ref.year, ref.month, ref.day, 12, tzinfo=settings.tz).utcoffset()
    return TraitParams(
        reference_epoch_day=(ref - EPOCH).days,
        window_days=window,
        utc_offset_minutes=int(offset.total_seconds() // 60) if offset else 0,
        at_risk_percentile=settings.traits_at_risk_percentile,
        lapsed_percentile=settings.traits_lapsed_percentile,
        fallback_at_risk_days=settings.traits_fallback_at_risk_days,
        fallback_lapsed_days=settings.traits_fallback_lapsed_days,
        min_gaps=settings.traits_min_gaps,
    )
