"""The member centre's hourly sweep: ended sessions, old sign-in codes and spent counters go."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.centre.models import CustomerSession, SignInCode
from siyu.centre.throttle import forget_old
from siyu.jobs.service import periodic

CODES_KEPT = timedelta(days=1)  # a day of codes, to count and to look into a complaint


@periodic("centre.sweep", 3600)
def sweep(session: Session, payload: dict[str, Any]) -> None:
    now = clock.now()
    session.execute(sa.delete(CustomerSession).where(CustomerSession.expires_at <= now))
    session.execute(sa.delete(SignInCode).where(SignInCode.created_at <= now - CODES_KEPT))
    session.commit()
    forget_old(session.get_bind(), now)  # type: ignore[arg-type]
