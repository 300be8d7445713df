"""The worker's reach work: the dispatch pump (on SQLite only the dispatch-lease holder sends;
customer-group tasks go out in the same round), the transactional messages' own pump, and the
reconciliation of ambiguous sends."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from siyu import runtime
from siyu.config import get_settings
from siyu.db import is_sqlite, new_session
from siyu.jobs.service import hold_dispatch_lease, periodic
from siyu.reach.campaigns.service import run_due
from siyu.reach.channels import wecom_mass
from siyu.reach.channels.base import Channel
from siyu.reach.channels.wecom_groups import submit_groups
from siyu.reach.sending.dispatch import configured_channels, dispatch_once, reconcile
from siyu.reach.sending.transactional import dispatch_transactional

_CHANNELS: dict[str, Any] = {}


def _channels() -> dict[str, Channel]:
    """The configured channels, built once per settings (clients keep their connections)."""
    settings = get_settings()
    key = settings.model_dump_json()
    if _CHANNELS.get("key") != key:
        _CHANNELS.update(key=key, channels=configured_channels(settings))
    channels: dict[str, Channel] = _CHANNELS["channels"]
    return channels


runtime.forgets("reach.channels", _CHANNELS.clear)


def dispatch(name: str) -> int:
    channels = _channels()
    if not channels:
        return 0
    with new_session() as session:
        if is_sqlite(session) and not hold_dispatch_lease(session, name):
            return 0
        sent = dispatch_once(session, name, get_settings(), channels)
        return sent + submit_groups(session, name, get_settings())


def send_transactional(name: str) -> int:
    """Sign-in codes and service notices: a pump of their own, so none waits behind a campaign
    (on SQLite the dispatch-lease holder sends them too)."""
    channels = _channels()
    if not channels:
        return 0
    with new_session() as session:
        if is_sqlite(session) and not hold_dispatch_lease(session, name):
            return 0
        return dispatch_transactional(session, name, get_settings(), channels)


@periodic("reach.schedule", every_seconds=30)
def schedule(session: Session, _payload: dict[str, Any]) -> None:
    """Start scheduled and recurring campaigns whose time has come; follow live audiences."""
    run_due(session)


@periodic("reach.reconcile", every_seconds=120)
def reconcile_ambiguous(session: Session, _payload: dict[str, Any]) -> None:
    """Ask the providers about messages whose answer was lost (never resend them blindly)."""
    channels = _channels()
    if channels:
        reconcile(session, channels, get_settings())
    wecom_mass.reconcile(session)
