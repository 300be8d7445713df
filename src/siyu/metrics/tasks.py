"""The worker keeps the dashboard quick: every few minutes it refreshes the analytical copy
and, when the copy changed, works out the default view's aggregates before anyone asks (at a
million customers that takes seconds; a visitor then reads the cached answer)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from siyu.analytics.service import refresh_copy
from siyu.config import get_settings
from siyu.jobs.service import periodic
from siyu.metrics.service import default_range, overview

log = logging.getLogger("siyu.worker")


@periodic("metrics.warm", every_seconds=get_settings().metrics_warm_minutes * 60)
def warm_dashboard(session: Session, _payload: dict[str, Any]) -> None:
    """Refresh the copy (incrementally), then the default view of every brand together: the
    overview and the first funnel."""
    from siyu.metrics.funnels.service import chosen, counts

    settings = get_settings()
    if not settings.metrics_cache or not settings.resolved_analytics_path.exists():
        return  # nothing to keep warm (the first import or recompute builds the copy)
    refresh_copy(settings)
    start, end = default_range(settings)
    got = overview(settings, start, end)
    _id, _name, steps = chosen(session, None)
    counts(settings, steps, start, end)
    log.info("dashboard %s–%s %s", start, end, "already cached" if got["cached"] else "cached")
