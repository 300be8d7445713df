"""The worker's reach work: the dispatch pump (on SQLite only the dispatch-lease holder sends)
and the reconciliation of ambiguous sends."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from siyu.config import get_settings
from siyu.db import is_sqlite, new_session
from siyu.jobs.service import hold_dispatch_lease, periodic, pump
from siyu.reach.dispatch import dispatch_once, reconcile, sms_channel

_SMS: dict[str, Any] = {}


def _sms() -> Any:
    settings = get_settings()
    key = (settings.sms_endpoint, settings.sms_access_key_id, settings.sms_access_key_secret)
    if _SMS.get("key") != key:
        _SMS.update(key=key, client=sms_channel(settings))
    return _SMS["client"]


@pump("reach.dispatch")
def dispatch(name: str) -> int:
    sms = _sms()
    if sms is None:
        return 0
    with new_session() as session:
        if is_sqlite(session) and not hold_dispatch_lease(session, name):
            return 0
        return dispatch_once(session, name, get_settings(), sms)


@periodic("reach.reconcile", every_seconds=120)
def reconcile_ambiguous(session: Session, _payload: dict[str, Any]) -> None:
    """Ask the provider about messages whose answer was lost (never resend them blindly)."""
    sms = _sms()
    if sms is not None:
        reconcile(session, sms, get_settings())
