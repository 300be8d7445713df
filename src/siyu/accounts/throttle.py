"""The login throttle: failed attempts counted per user name and per client network in the
database, so parallel attempts and every server process see the same count before a password is
checked (argon2 is slow on purpose; thirty parallel guesses must not cost thirty checks)."""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from siyu.accounts.models import LoginThrottle
from siyu.db import UTCDateTime

LOCKOUT = timedelta(minutes=15)


def keys_for(username: str, address: str) -> list[str]:
    """The counters an attempt is reserved against, in a fixed order (so two transactions
    never wait on each other's rows in a cycle). An IPv6 client counts by its /64: one machine
    holds a whole /64 and could otherwise change address at every attempt."""
    return sorted({f"addr:{client_network(address)}"[:80], f"user:{username[:64]}"})


def client_network(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def reserve(engine: sa.Engine, keys: list[str], now: datetime, most: int) -> int:
    """Count one more attempt on each key, atomically (one upsert); returns the highest count.

    A key's window restarts when it has passed, and when this attempt reaches the limit, so a
    lockout lasts its full length from the attempt that caused it."""
    insert: Any = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
    stmt = insert(LoginThrottle).values(
        [{"key": k, "failures": 1, "window_start": now} for k in keys]
    )
    old = LoginThrottle
    at = sa.literal(now, UTCDateTime())
    expired = old.window_start <= now - LOCKOUT
    stmt = stmt.on_conflict_do_update(
        index_elements=["key"],
        set_={
            "failures": sa.case((expired, 1), else_=old.failures + 1),
            "window_start": sa.case(
                (expired, at), (old.failures + 1 == most, at), else_=old.window_start
            ),
        },
    ).returning(old.failures)
    with engine.begin() as conn:
        return max(conn.scalars(stmt))


def give_back(engine: sa.Engine, keys: list[str]) -> None:
    """Take one attempt off each key, a key at a time in the keys' order (an ``IN`` would
    lock the rows in whatever order the scan meets them, and deadlock against the upsert)."""
    c = LoginThrottle
    with engine.begin() as conn:
        for key in keys:
            conn.execute(
                sa.update(LoginThrottle)
                .where(c.key == key, c.failures > 0)
                .values(failures=c.failures - 1)
            )
