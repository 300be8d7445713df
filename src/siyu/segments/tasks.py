"""The worker's schedule for segments: a full refresh every hour (relative windows move with
the calendar), and a re-check of changed customers every few minutes and soon after imports."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from siyu.analytics.service import refresh_copy
from siyu.config import get_settings
from siyu.db import get_engine
from siyu.jobs.service import periodic
from siyu.segments.models import Segment

CHANGED = "segments.refresh_changed"


def _any_dynamic(session: Session) -> bool:
    return session.query(Segment.id).filter(Segment.dynamic.is_(True)).first() is not None


@periodic("segments.refresh", every_seconds=get_settings().segments_every_minutes * 60)
def refresh_all(session: Session, _payload: dict[str, Any]) -> None:
    """Refresh the copy, then every dynamic segment for everyone."""
    from siyu.segments.membership import refresh_segments

    if not _any_dynamic(session):
        return
    settings = get_settings()
    refresh_copy(settings)
    refresh_segments(get_engine(), settings)


@periodic(CHANGED, every_seconds=get_settings().segments_changed_every_minutes * 60)
def refresh_changed(session: Session, _payload: dict[str, Any]) -> None:
    """Refresh the copy, then re-check only the customers whose data changed."""
    from siyu.segments.membership import refresh_segments

    if not _any_dynamic(session):
        return
    settings = get_settings()
    refresh_copy(settings)
    refresh_segments(get_engine(), settings, incremental=True)
