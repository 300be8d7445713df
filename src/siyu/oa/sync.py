"""The follower sync: the official account's whole follower list, read into Siyu.

``user/get`` pages the list 10,000 openids at a time (``next_openid`` says where the next page
starts); ``user/info/batchget`` then gives, 100 at a time, each follower's subscribe status,
subscribe time, scene and unionid (nickname, avatar, gender and region are no longer returned
by WeChat). Every batch of 100 is committed together with the run's position — the page's
cursor and the last openid stored — so a sync stopped by an error, a quota or a crash resumes
where it stopped; a list of millions is never read twice for one failure. At the end, followers
the list no longer holds (their unsubscribe push was missed) are marked unsubscribed.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.bulk import chunks
from siyu.db import rowcount
from siyu.oa.client import BATCHGET_MOST, OaClient, OaError, TokenError
from siyu.oa.followers import FollowerFacts, store_followers
from siyu.oa.models import OaFollower, OaSyncRun

Progress = Callable[[int, int], None]  # (openids stored so far, the list's total)
INVALID_OPENID = 40003


class SyncPaused(Exception):
    """The sync stopped on a transient error (a busy WeChat, a quota, the network); its run
    keeps the position to resume from. ``retry_after`` is seconds, when WeChat's code says."""

    def __init__(self, run_id: int, error: Exception, retry_after: float | None) -> None:
        super().__init__(str(error))
        self.run_id, self.error, self.retry_after = run_id, error, retry_after


class SyncFailed(Exception):
    """The sync cannot go on until an operator acts (the AppSecret or the appid was refused)."""


def current_run(session: Session, appid: str) -> OaSyncRun | None:
    return session.scalar(
        sa.select(OaSyncRun)
        .where(OaSyncRun.appid == appid, OaSyncRun.status == "running")
        .order_by(OaSyncRun.id.desc())
    )


def sync_followers(
    session: Session, client: OaClient, appid: str, progress: Progress | None = None
) -> OaSyncRun:
    """Run (or resume) the follower sync of ``appid`` to its end. Raises SyncPaused on a
    transient error (the run stays open) and SyncFailed on a permanent one (the run fails)."""
    run = current_run(session, appid)
    if run is None:
        run = OaSyncRun(appid=appid, position={"next_openid": "", "after": ""}, counts={})
        session.add(run)
        session.commit()
    try:
        _read_list(session, client, run, progress or (lambda _d, _t: None))
        _finish(session, run)
    except (OaError, TokenError, httpx.HTTPError, ValueError) as exc:
        session.rollback()
        run = session.get(OaSyncRun, run.id) or run
        run.error = str(exc)[:2000]
        if isinstance(exc, TokenError) or (isinstance(exc, OaError) and not exc.transient):
            run.status, run.finished_at = "failed", clock.now()
            session.commit()
            raise SyncFailed(str(exc)) from exc
        session.commit()
        raise SyncPaused(run.id, exc, getattr(exc, "retry_after", None)) from exc
    run.status, run.finished_at, run.error = "done", clock.now(), None
    session.commit()
    return run


def _count(run: OaSyncRun, **more: int) -> None:
    counts = dict(run.counts)
    for name, n in more.items():
        counts[name] = int(counts.get(name, 0)) + n
    run.counts = counts


def _read_list(session: Session, client: OaClient, run: OaSyncRun, progress: Progress) -> None:
    while True:
        cursor = str(run.position.get("next_openid") or "")
        after = str(run.position.get("after") or "")
        try:
            page = client.followers_page(cursor)
        except OaError as exc:
            if exc.errcode != INVALID_OPENID or not cursor:
                raise
            # the cursor's openid is no longer valid at WeChat: read the list again from its
            # start (storing is idempotent; only the time is lost)
            run.position = {"next_openid": "", "after": ""}
            _count(run, restarts=1)
            session.commit()
            continue
        run.counts = {**run.counts, "total": page.total}
        todo = page.openids
        if after and after in todo:
            todo = todo[todo.index(after) + 1 :]
        for batch in chunks(todo, BATCHGET_MOST):
            _store_batch(session, client, run, list(batch))
            run.position = {"next_openid": cursor, "after": batch[-1]}
            session.commit()
            progress(int(run.counts.get("listed", 0)), page.total)
        if not page.openids or not page.next_openid or page.next_openid == cursor:
            return
        run.position = {"next_openid": page.next_openid, "after": ""}
        session.commit()


def _store_batch(session: Session, client: OaClient, run: OaSyncRun, openids: list[str]) -> None:
    infos = {str(i.get("openid")): i for i in client.user_infos(openids)}
    at = clock.now()
    facts = [
        FollowerFacts.from_info(infos[o], at) if o in infos else FollowerFacts(o, True, at)
        for o in openids
    ]
    stats = store_followers(session, run.appid, facts, seen=True)
    following = sum(f.subscribed for f in facts)
    _count(
        run,
        listed=len(facts),
        following=following,
        left=len(facts) - following,
        customers_created=stats.customers_created,
        merges=stats.merges,
        conflicts=stats.conflicts,
    )


def _finish(session: Session, run: OaSyncRun) -> None:
    """Followers the list did not hold have left (their unsubscribe push was missed). A row
    changed by a push since the sync started keeps what the push said."""
    started = run.started_at
    f = OaFollower
    ended = rowcount(
        session.execute(
            sa.update(f)
            .where(
                f.appid == run.appid,
                f.subscribed.is_(True),
                sa.or_(f.seen_at.is_(None), f.seen_at < started),
                f.status_at < started,
            )
            .values(subscribed=False, unsubscribed_at=started, status_at=started)
        )
    )
    _count(run, ended=ended)
