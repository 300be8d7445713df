"""The worker's WeCom work: the callback inbox pump and the scheduled full sync."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.config import get_settings
from siyu.db import new_session
from siyu.jobs.service import enqueue, periodic
from siyu.wecom.callbacks import handlers  # noqa: F401  (registers inbox handlers)
from siyu.wecom.callbacks.models import WecomCallback
from siyu.wecom.callbacks.service import pump_once
from siyu.wecom.connection.models import WecomApiCall, WecomCorp
from siyu.wecom.connection.service import cached_client
from siyu.wecom.contacts import arrivals  # noqa: F401  (registers inbox handlers)
from siyu.wecom.contacts.sync import SyncPaused, sync
from siyu.wecom.replies import answering  # noqa: F401  (registers inbox handlers)


def inbox(name: str) -> int:
    with new_session() as session:
        return pump_once(session, name)


@periodic("wecom.sync", every_seconds=get_settings().wecom_sync_every_minutes * 60)
def scheduled_sync(session: Session, payload: dict[str, Any]) -> None:
    """Full sync of every connected corp (or the one in the payload). A sync paused by a rate
    limit is continued by a job scheduled for when WeCom allows calls again."""
    corps = session.scalars(
        sa.select(WecomCorp).where(WecomCorp.id == payload["corp"])
        if payload.get("corp")
        else sa.select(WecomCorp)
    ).all()
    for corp in corps:
        try:
            sync(session, corp, cached_client(session, corp))
        except SyncPaused as paused:
            wait = (paused.retry_at - time.monotonic()) if paused.retry_at else 30.0
            enqueue(session, "wecom.sync", {"corp": corp.id}, delay_seconds=max(1.0, wait))
            session.commit()


@periodic("wecom.purge", every_seconds=86400)
def purge(session: Session, _payload: dict[str, Any]) -> None:
    """API call records are kept 7 days; processed callbacks (which name people) 30 days."""
    now = clock.now()
    session.execute(sa.delete(WecomApiCall).where(WecomApiCall.at < now - timedelta(days=7)))
    session.execute(
        sa.delete(WecomCallback).where(
            WecomCallback.status.in_(["done", "ignored"]),
            WecomCallback.received_at < now - timedelta(days=30),
        )
    )


@periodic("wecom.handover", every_seconds=600)
def handovers(session: Session, _payload: dict[str, Any]) -> None:
    """Ask WeCom for what is queued and how waiting transfers stand (WeCom completes them 24 h
    after they were asked; refusals also arrive as transfer_fail callbacks)."""
    from siyu.wecom.connection.client import RateLimited
    from siyu.wecom.handover.models import Handover
    from siyu.wecom.handover.transfers import check, submit

    for handover in session.scalars(sa.select(Handover).where(Handover.status == "running")).all():
        corp = session.get(WecomCorp, handover.corp_id)
        assert corp is not None
        client = cached_client(session, corp)
        try:
            submit(session, client, handover)
            check(session, client, handover)
        except RateLimited:
            session.rollback()
            return  # the next run goes on
