"""Read paths for WeCom: the status that makes failures visible, staff and friendship counts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu.db import utcnow
from siyu.wecom.client import ERRCODE_MEANING
from siyu.wecom.models import (
    WecomApiCall,
    WecomCallback,
    WecomContact,
    WecomCorp,
    WecomStaff,
    WecomSyncRun,
)


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def status(session: Session) -> list[dict[str, Any]]:
    out = []
    hour_ago = utcnow() - timedelta(hours=1)
    for corp in session.scalars(sa.select(WecomCorp).order_by(WecomCorp.id)):
        run = session.scalar(
            sa.select(WecomSyncRun)
            .where(WecomSyncRun.corp_id == corp.id)
            .order_by(WecomSyncRun.id.desc())
        )
        inbox = dict(
            session.execute(
                sa.select(WecomCallback.status, sa.func.count())
                .where(WecomCallback.corp_id == corp.id)
                .group_by(WecomCallback.status)
            ).all()
        )
        last_failures = [
            {"id": r.id, "event": r.event, "error": r.error, "at": _iso(r.processed_at)}
            for r in session.scalars(
                sa.select(WecomCallback)
                .where(WecomCallback.corp_id == corp.id, WecomCallback.status == "failed")
                .order_by(WecomCallback.id.desc())
                .limit(5)
            )
        ]
        errors = [
            {"api": api, "errcode": code, "meaning": ERRCODE_MEANING.get(code, ""), "count": n}
            for api, code, n in session.execute(
                sa.select(WecomApiCall.api, WecomApiCall.errcode, sa.func.count())
                .where(
                    WecomApiCall.corp_id == corp.id,
                    WecomApiCall.at >= hour_ago,
                    WecomApiCall.errcode != 0,
                )
                .group_by(WecomApiCall.api, WecomApiCall.errcode)
                .order_by(sa.func.count().desc())
            ).all()
        ]
        calls = session.scalar(
            sa.select(sa.func.count()).where(
                WecomApiCall.corp_id == corp.id, WecomApiCall.at >= hour_ago
            )
        )
        out.append(
            {
                "corp_id": corp.corp_id,
                "name": corp.name,
                "staff": session.scalar(
                    sa.select(sa.func.count()).where(
                        WecomStaff.corp_id == corp.id, WecomStaff.status == 1
                    )
                ),
                "friendships": session.scalar(
                    sa.select(sa.func.count()).where(
                        WecomContact.corp_id == corp.id, WecomContact.deleted_at.is_(None)
                    )
                ),
                "customers": session.scalar(
                    sa.select(sa.func.count(sa.distinct(WecomContact.customer_id))).where(
                        WecomContact.corp_id == corp.id, WecomContact.deleted_at.is_(None)
                    )
                ),
                "sync": None
                if run is None
                else {
                    "id": run.id,
                    "status": run.status,
                    "position": run.position,
                    "counts": run.counts,
                    "error": run.error,
                    "started_at": _iso(run.started_at),
                    "finished_at": _iso(run.finished_at),
                },
                "inbox": {
                    k: inbox.get(k, 0) for k in ("queued", "working", "done", "ignored", "failed")
                },
                "inbox_failures": last_failures,
                "api_calls_last_hour": calls,
                "api_errors_last_hour": errors,
            }
        )
    return out
