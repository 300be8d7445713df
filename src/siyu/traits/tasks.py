"""The worker's schedule for traits: recompute RFM and lifecycle every so often."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from siyu.config import get_settings
from siyu.db import get_engine
from siyu.jobs.service import periodic
from siyu.traits.service import recompute


@periodic("traits.recompute", every_seconds=get_settings().traits_every_minutes * 60)
def recompute_traits(session: Session, _payload: dict[str, Any]) -> None:
    """Refresh the analytical copy and recompute every customer's traits on DuckDB."""
    recompute(get_engine(), get_settings(), actor="worker")
