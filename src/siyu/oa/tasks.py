"""The worker's official-account work: the push inbox pump and the scheduled follower sync."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.config import get_settings
from siyu.db import new_session
from siyu.jobs.service import enqueue, periodic
from siyu.oa.inbox import pump_once
from siyu.oa.models import OaCallback
from siyu.oa.sync import SyncPaused


def inbox(name: str) -> int:
    with new_session() as session:
        return pump_once(session, name)


@periodic("oa.sync", every_seconds=get_settings().oa_sync_every_minutes * 60)
def scheduled_sync(session: Session, _payload: dict[str, Any]) -> None:
    """Read the configured account's follower list (nothing when no account is configured).
    A sync paused by a transient error is continued by a job scheduled for later; a failed one
    (the AppSecret refused) is shown on the status page and tried again at the next period."""
    from siyu.oa.service import run_sync
    from siyu.oa.sync import SyncFailed

    settings = get_settings()
    if not (settings.oa_appid and settings.oa_secret):
        return
    try:
        run_sync(session, settings)
    except SyncPaused as paused:
        enqueue(session, "oa.sync", {}, delay_seconds=max(5.0, paused.retry_after or 30.0))
        session.commit()
    except SyncFailed:
        pass  # recorded on the run


@periodic("oa.purge", every_seconds=86400)
def purge(session: Session, _payload: dict[str, Any]) -> None:
    """Processed pushes (which name an openid) are kept 30 days."""
    session.execute(
        sa.delete(OaCallback).where(
            OaCallback.status.in_(["done", "ignored"]),
            OaCallback.received_at < clock.now() - timedelta(days=30),
        )
    )
