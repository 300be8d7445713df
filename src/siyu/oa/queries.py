"""Read paths: whether an openid follows (for the send policy), and the account's status for
the console and `siyu oa status` — follower counts, the last sync and the push inbox. Counts
only; no follower is named."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.oa.models import OaCallback, OaFollower, OaSyncRun


def following(session: Session, appid: str, openid: str) -> bool | None:
    """True or False as Siyu last learnt it; None when Siyu has never heard of the openid."""
    return session.scalar(
        sa.select(OaFollower.subscribed).where(
            OaFollower.appid == appid, OaFollower.openid == openid
        )
    )


@dataclass(frozen=True)
class SyncSummary:
    status: str
    started_at: datetime
    finished_at: datetime | None
    counts: dict[str, Any]
    error: str | None


@dataclass(frozen=True)
class AccountStatus:
    appid: str
    followers: int
    unfollowed: int
    callback_on: bool
    safe_mode: bool
    last_sync: SyncSummary | None
    inbox: dict[str, int] = field(default_factory=dict)


def status(session: Session, settings: Settings) -> AccountStatus | None:
    """The configured account's figures; None when no account is configured."""
    appid = settings.oa_appid
    if not appid:
        return None
    counts = dict(
        session.execute(
            sa.select(OaFollower.subscribed, sa.func.count())
            .where(OaFollower.appid == appid)
            .group_by(OaFollower.subscribed)
        ).all()
    )
    run = session.scalar(
        sa.select(OaSyncRun).where(OaSyncRun.appid == appid).order_by(OaSyncRun.id.desc())
    )
    inbox = dict(
        session.execute(
            sa.select(OaCallback.status, sa.func.count())
            .where(OaCallback.appid == appid, OaCallback.status != "done")
            .group_by(OaCallback.status)
        ).all()
    )
    return AccountStatus(
        appid=appid,
        followers=int(counts.get(True, 0)),
        unfollowed=int(counts.get(False, 0)),
        callback_on=bool(settings.oa_token),
        safe_mode=bool(settings.oa_aes_key),
        last_sync=SyncSummary(
            run.status, run.started_at, run.finished_at, dict(run.counts or {}), run.error
        )
        if run is not None
        else None,
        inbox={str(k): int(v) for k, v in inbox.items()},
    )
