"""Followers as the sync and the pushes report them: each follower becomes (or joins) a Siyu
customer through identity resolution (DESIGN §4) — the openid under the account's appid, and
the WeChat unionid when WeChat gives it (the account is bound to an Open Platform account), so a
follower who is also a WeCom friend or a member with a known unionid is one customer. The
resolver's rules apply: profiles that hold different unionids are never merged.

Follow status is kept per openid (``OaFollower``), newest fact first: a fact older than the one
that set the row is ignored.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from siyu import clock
from siyu.config import get_settings
from siyu.customers import identifiers as ids
from siyu.customers.resolution import Key, Resolver, ResolverStats
from siyu.db import table_of
from siyu.oa.models import OaFollower

SOURCE = "oa"
FOLLOWER = table_of(OaFollower)


@dataclass(frozen=True)
class FollowerFacts:
    """What is known of one openid at ``at``: whether it follows, since when, and how."""

    openid: str
    subscribed: bool
    at: datetime
    subscribe_time: datetime | None = None
    unionid: str | None = None
    scene: str | None = None
    qr_scene: str | None = None

    @classmethod
    def from_info(cls, info: dict[str, Any], at: datetime) -> FollowerFacts:
        """From one entry of ``user/info/batchget``'s user_info_list."""
        since = info.get("subscribe_time")
        qr = info.get("qr_scene_str") or info.get("qr_scene") or None
        return cls(
            openid=str(info.get("openid") or ""),
            subscribed=int(info.get("subscribe") or 0) == 1,
            at=at,
            subscribe_time=_from_epoch(since),
            unionid=str(info["unionid"]) if info.get("unionid") else None,
            scene=str(info.get("subscribe_scene") or "")[:40] or None,
            qr_scene=str(qr)[:64] if qr else None,
        )


def _from_epoch(value: Any) -> datetime | None:
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        return None
    return datetime.fromtimestamp(seconds, UTC) if seconds > 0 else None


def keys_of(appid: str, fact: FollowerFacts) -> list[Key]:
    """The follower's identities: the openid under the appid, and the unionid if usable."""
    keys: list[Key] = [(ids.Kind.openid.value, appid, ids.normalise("openid", fact.openid))]
    if fact.unionid:  # a placeholder unionid must not link two strangers
        with contextlib.suppress(ids.Rejected):
            keys.append((ids.Kind.unionid.value, "wechat", ids.normalise("unionid", fact.unionid)))
    return keys


def usable(fact: FollowerFacts) -> bool:
    try:
        ids.normalise("openid", fact.openid)
    except ids.Rejected:
        return False
    return len(fact.openid) <= 64


def store_followers(
    session: Session, appid: str, facts: Sequence[FollowerFacts], *, seen: bool = False
) -> ResolverStats:
    """Resolve the followers among ``facts`` to customers and record every fact's follow
    status. ``seen``: the facts come from reading the follower list (a sync), so each openid
    was in it. Someone who unfollowed is not made a customer for it. The caller commits."""
    facts = [f for f in facts if usable(f)]
    stats = ResolverStats()
    if not facts:
        return stats
    following = [f for f in facts if f.subscribed]
    if following:
        resolver = Resolver(
            session.connection(), SOURCE, get_settings().secret_key_bytes(), actor=f"oa:{appid}"
        )
        keys = [keys_of(appid, f) for f in following]
        resolver.prefetch(k for ks in keys for k in ks)
        for fact, fact_keys in zip(following, keys, strict=True):
            resolver.resolve(fact_keys, {"source": SOURCE}, fact.subscribe_time or fact.at)
        resolver.flush()
        stats = resolver.stats
    record_status(session, appid, facts, seen=seen)
    return stats


def record_status(
    session: Session, appid: str, facts: Sequence[FollowerFacts], *, seen: bool
) -> None:
    """Upsert the follower rows: new openids are inserted (a row inserted by someone else at
    the same moment is left to the update), then each row takes the fact unless it already
    holds a newer one."""
    conn = session.connection()
    now = clock.now()
    insert = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
    latest = {f.openid: f for f in sorted(facts, key=lambda f: f.at)}  # one fact per openid
    conn.execute(
        insert(FOLLOWER).on_conflict_do_nothing(index_elements=["appid", "openid"]),
        [
            {
                "appid": appid,
                "openid": f.openid,
                "subscribed": f.subscribed,
                "subscribe_time": f.subscribe_time,
                "unsubscribed_at": None if f.subscribed else f.at,
                "scene": f.scene,
                "qr_scene": f.qr_scene,
                "status_at": f.at,
                "seen_at": f.at if seen else None,
                "updated_at": now,
            }
            for f in latest.values()
        ],
    )
    c = FOLLOWER.c
    sub = sa.bindparam("b_sub", type_=sa.Boolean)
    at = sa.bindparam("b_at", type_=c.status_at.type)
    conn.execute(
        FOLLOWER.update()
        .where(
            c.appid == sa.bindparam("b_appid"),
            c.openid == sa.bindparam("b_openid"),
            c.status_at <= at,
        )
        .values(
            subscribed=sub,
            status_at=at,
            unsubscribed_at=sa.case(
                (sub, sa.null()),
                (c.subscribed, at),
                else_=sa.func.coalesce(c.unsubscribed_at, at),
            ),
            subscribe_time=sa.func.coalesce(
                sa.bindparam("b_since", type_=c.subscribe_time.type), c.subscribe_time
            ),
            scene=sa.func.coalesce(sa.bindparam("b_scene", type_=sa.String), c.scene),
            qr_scene=sa.func.coalesce(sa.bindparam("b_qr", type_=sa.String), c.qr_scene),
            updated_at=now,
        ),
        [
            {
                "b_appid": appid,
                "b_openid": f.openid,
                "b_sub": f.subscribed,
                "b_at": f.at,
                "b_since": f.subscribe_time,
                "b_scene": f.scene,
                "b_qr": f.qr_scene,
            }
            for f in latest.values()
        ],
    )
    if seen:
        conn.execute(
            FOLLOWER.update()
            .where(c.appid == appid, c.openid == sa.bindparam("b_openid"))
            .values(seen_at=sa.bindparam("b_seen", type_=c.seen_at.type)),
            [{"b_openid": f.openid, "b_seen": f.at} for f in latest.values()],
        )
