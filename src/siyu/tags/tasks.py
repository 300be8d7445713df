"""Rule tags follow new data: an import asks for this job, which runs once per quiet minute."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from siyu.analytics.service import refresh_copy
from siyu.config import get_settings
from siyu.db import get_engine
from siyu.jobs.service import handler
from siyu.tags.models import TagRule

AFTER_IMPORT = "tags.apply"
WINDOW_SECONDS = 60


@handler(AFTER_IMPORT)
def apply_after_import(session: Session, _payload: dict[str, Any]) -> None:
    """Refresh the analytical copy (incrementally) and bring every rule's tags up to date."""
    from siyu.tags.service import apply_rules

    if session.query(TagRule.id).first() is None:
        return  # no rules: nothing can change
    settings = get_settings()
    refresh_copy(settings)
    apply_rules(get_engine(), settings)
