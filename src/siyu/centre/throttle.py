"""Limits on what an unsigned visitor may ask for: SMS codes per phone, per client network and
per device, and wrong codes per phone. Counted in the database, one row per key and time
bucket, so parallel requests and every server process see the same count (an SMS costs money
and reaches a person: a script must not make Siyu send a thousand of them, nor guess a code)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from siyu.centre.models import CentreThrottle
from siyu.config import get_settings


@dataclass(frozen=True)
class Limit:
    """At most ``most`` of ``purpose`` (codes asked for, wrong guesses) in ``seconds`` for the
    key ``name:value`` (a phone, a network, a device)."""

    purpose: str
    name: str
    seconds: int
    most: int
    offset: int = 0  # buckets end this many seconds before a multiple of ``seconds`` (a day's
    # at local midnight: Asia/Shanghai's is 16:00 UTC)

    def key(self, value: str, end: datetime) -> str:
        """The counter's key: the value (a phone, an address) only as a keyed hash, so the
        table holds no phone number an erasure would have to find."""
        secret = get_settings().secret_key_bytes()
        digest = hmac.new(secret, f"throttle:{value}".encode(), hashlib.sha256).hexdigest()[:32]
        return f"{self.purpose}:{self.name}:{self.seconds}:{digest}:{int(end.timestamp())}"


# A code per phone: at most 1 a minute, 5 an hour, 10 a day (what Aliyun lets through anyway);
# per device 10 an hour; per client network 120 an hour: a store's Wi-Fi on a join drive (one
# public address for everyone in the shop) signs up two customers a minute, a script with one
# address no more. The day's codes for everyone together are capped too (``daily``).
CODE_LIMITS = (
    Limit("code", "phone", 60, 1),
    Limit("code", "phone", 3600, 5),
    Limit("code", "phone", 86400, 10),
    Limit("code", "net", 3600, 120),
    Limit("code", "device", 3600, 10),
)


def daily(most: int, utc_offset: int) -> tuple[Limit, ...]:
    """The day's sign-in codes, all numbers together (SIYU_CENTRE_SMS_DAILY_MOST), the day
    ending at local midnight (``utc_offset``: seconds east of UTC): counted only for a request
    every other limit let through, so refused requests spend none of it."""
    return (Limit("code", "all", 86400, most, offset=utc_offset % 86400),)


# Wrong codes: each code takes 5 guesses; a phone 10 an hour, a network 240 (then locked): a
# shop's Wi-Fi signing up 120 people an hour mistypes some, a script guessing many numbers'
# codes from one address stops.
GUESS_LIMITS = (Limit("guess", "phone", 3600, 10), Limit("guess", "net", 3600, 240))


@dataclass(frozen=True)
class Over:
    """A limit reached: which, and when the visitor may try again."""

    limit: Limit
    retry_at: datetime


def bucket_end(now: datetime, seconds: int, offset: int = 0) -> datetime:
    epoch = int(now.timestamp()) + offset
    return datetime.fromtimestamp(epoch - epoch % seconds + seconds - offset, now.tzinfo)


def count(
    engine: sa.Engine, limits: tuple[Limit, ...], values: dict[str, str], now: datetime
) -> Over | None:
    """Count one more on every limit whose key has a value, in one transaction of its own (a
    refused request still counts); returns the first limit now passed, if any."""
    rows = []
    for limit in limits:
        value = values.get(limit.name)
        if not value:
            continue
        end = bucket_end(now, limit.seconds, limit.offset)
        rows.append((limit.key(value, end), end, limit))
    rows.sort(key=lambda r: r[0])  # a fixed order: two requests never wait on each other
    over: Over | None = None
    with engine.begin() as conn:
        insert: Any = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        for key, end, limit in rows:
            stmt = insert(CentreThrottle).values(key=key, count=1, bucket_end=end)
            stmt = stmt.on_conflict_do_update(
                index_elements=["key"], set_={"count": CentreThrottle.count + 1}
            ).returning(CentreThrottle.count)
            seen = conn.execute(stmt).scalar_one()
            if seen > limit.most and over is None:
                over = Over(limit, end)
    return over


def spent(
    engine: sa.Engine, limits: tuple[Limit, ...], values: dict[str, str], now: datetime
) -> Over | None:
    """Whether a limit is already passed, without counting (a locked phone is refused before
    its code is even looked at)."""
    keys = {}
    for limit in limits:
        value = values.get(limit.name)
        if value:
            end = bucket_end(now, limit.seconds, limit.offset)
            keys[limit.key(value, end)] = (limit, end)
    if not keys:
        return None
    with engine.connect() as conn:
        found = dict(
            conn.execute(
                sa.select(CentreThrottle.key, CentreThrottle.count).where(
                    CentreThrottle.key.in_(list(keys))
                )
            ).all()
        )
    for key, (limit, end) in keys.items():
        if found.get(key, 0) >= limit.most:
            return Over(limit, end)
    return None


def forget_old(engine: sa.Engine, now: datetime) -> int:
    """Drop counters whose bucket has ended (the worker's hourly sweep)."""
    with engine.begin() as conn:
        done = conn.execute(sa.delete(CentreThrottle).where(CentreThrottle.bucket_end < now))
    return int(done.rowcount or 0)
