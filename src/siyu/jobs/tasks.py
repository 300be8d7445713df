"""Housekeeping jobs of the foundation; capabilities add theirs with @handler/@periodic."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.accounts.service import purge_expired
from siyu.jobs.models import Job
from siyu.jobs.service import periodic


@periodic("housekeeping.sessions", every_seconds=3600)
def purge_sessions(session: Session, _payload: dict[str, Any]) -> None:
    """Expired console logins and old login failures are deleted."""
    purge_expired(session)


@periodic("housekeeping.jobs", every_seconds=86400)
def purge_old_jobs(session: Session, _payload: dict[str, Any]) -> None:
    """Finished jobs are kept 30 days for the record, then deleted."""
    cutoff = clock.now() - timedelta(days=30)
    session.execute(
        sa.delete(Job).where(Job.status.in_(["done", "failed"]), Job.finished_at < cutoff)
    )
