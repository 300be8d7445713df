"""The worker's import jobs: files uploaded in the console, and the sweep of leftover uploads."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from siyu.config import get_settings
from siyu.db import get_engine
from siyu.ingest import uploads
from siyu.jobs.service import handler, periodic


@handler(uploads.JOB_KIND)
def import_upload(_session: Session, payload: dict[str, Any]) -> None:
    """Import an uploaded file into the run queued for it (progress on the jobs page)."""
    uploads.run_upload(get_engine(), get_settings(), payload)


@periodic("imports.sweep_uploads", every_seconds=3600)
def sweep_uploads(session: Session, _payload: dict[str, Any]) -> None:
    """Uploads no import is waiting for are deleted (a crashed worker's, a broken upload's)."""
    uploads.sweep(session, get_settings())
