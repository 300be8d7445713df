"""Frequency caps and per-number limits, checked at send time (DESIGN §5).

A message counts against the caps from the moment policy said yes (``SendRow.checked_at``), so
two messages on their way at once are both counted. On PostgreSQL, where many workers send in
parallel, the check and the mark happen under a per-customer advisory lock, so two workers can
never both take a customer's last place; on SQLite one worker dispatches.

- Marketing caps (``SendCap``): per customer, per channel or over all channels (``*``), per
  calendar day / week (from Monday) / month in the deployment's time zone. A capped message is
  skipped with the cap as its reason (``cap:sms/day``): the customer has heard enough from the
  brand for now, and the campaign's send-by time is no reason to queue it.
- SMS per-number limits (every purpose): Aliyun refuses more than 1 a minute, 5 an hour and
  10 a day to one number (isv.BUSINESS_LIMIT_CONTROL); the message is deferred until the
  window has room, so the provider never has to refuse it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, tzinfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.db import is_sqlite
from siyu.reach.models import Campaign, SendCap, SendRow, SendState
from siyu.refusals import Refusal

PERIODS = ("day", "week", "month")
DEFAULT_CAPS = (("sms", "day", 1), ("sms", "month", 4), ("*", "day", 2), ("*", "week", 5))
SMS_NUMBER_LIMITS = ((60, 1), (3600, 5), (86400, 10))  # (seconds, messages), Aliyun's
COUNTED = (SendState.claimed, SendState.sent, SendState.ambiguous, SendState.submitted)
WECOM_MONTHLY = 4  # corp mass messages one customer may receive a calendar month
ADVISORY_NAMESPACE = 7001  # pg_advisory_xact_lock(namespace, customer id)


class CapError(Refusal):
    """A cap that cannot be set; the message says why."""


def period_start(now: datetime, period: str, settings: Settings) -> datetime:
    """The start of the calendar day/week/month containing ``now``, in the local time zone."""
    return local_period_start(now, period, settings.tz)


def local_period_start(now: datetime, period: str, tz: tzinfo) -> datetime:
    """``period_start`` in the time zone ``tz``."""
    local = now.astimezone(tz)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    raise CapError("period: one of {periods}", periods=", ".join(PERIODS))


def current_caps(session: Session) -> list[tuple[str, str, int]]:
    return [
        (c.channel, c.period, c.most)
        for c in session.scalars(sa.select(SendCap).order_by(SendCap.channel, SendCap.period))
    ]


def set_cap(session: Session, channel: str, period: str, most: int | None, *, actor: str) -> None:
    """Set (or with ``most`` None remove) the cap for a channel (or ``*``) and period."""
    from siyu.reach.campaigns.service import CHANNELS

    if channel != "*" and channel not in CHANNELS:
        raise CapError("channel: * or one of {channels}", channels=", ".join(CHANNELS))
    if period not in PERIODS:
        raise CapError("period: one of {periods}", periods=", ".join(PERIODS))
    if most is not None and not 0 <= most <= 1000:
        raise CapError("most: 0–1000 messages")
    cap = session.scalar(
        sa.select(SendCap).where(SendCap.channel == channel, SendCap.period == period)
    )
    if most is None:
        if cap is not None:
            session.delete(cap)
        return
    if cap is None:
        cap = SendCap(channel=channel, period=period)
        session.add(cap)
    cap.most, cap.updated_by = most, actor


def lock_customer(session: Session, customer_id: int) -> None:
    """Serialise cap checks for one customer until the transaction ends (PostgreSQL)."""
    if not is_sqlite(session):
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(ADVISORY_NAMESPACE, customer_id)))


def capped(
    session: Session,
    *,
    customer_id: int,
    channel: str,
    now: datetime,
    settings: Settings,
    caps: Sequence[tuple[str, str, int]],
) -> str | None:
    """The cap a marketing message on ``channel`` would break (``cap:sms/day``), or None."""
    mine = [(c, p, n) for c, p, n in caps if c in (channel, "*")]
    if not mine:
        return None
    since = min(period_start(now, p, settings) for _c, p, _n in mine)
    rows = session.execute(
        sa.select(SendRow.channel, SendRow.checked_at)
        .join(Campaign, Campaign.id == SendRow.campaign_id)
        .where(
            SendRow.customer_id == customer_id,
            SendRow.checked_at >= since,
            SendRow.state.in_(COUNTED),
            Campaign.purpose == "marketing",
        )
    ).all()
    return broken_cap(rows, channel=channel, caps=caps, now=now, tz=settings.tz)


def broken_cap(
    counted: Iterable[tuple[str, datetime | None]],
    *,
    channel: str,
    caps: Sequence[tuple[str, str, int]],
    now: datetime,
    tz: tzinfo,
) -> str | None:
    """``capped`` on plain values: ``counted`` holds (channel, checked_at) of the customer's
    marketing messages that count (``COUNTED``). A cap is broken when the messages already in
    its current period reach its limit: the limit is how many may go, this one included."""
    mine = [(c, p, n) for c, p, n in caps if c in (channel, "*")]
    if not mine:
        return None
    starts = {p: local_period_start(now, p, tz) for _c, p, _n in mine}
    rows = list(counted)
    for cap_channel, period, most in mine:
        n = sum(
            1
            for ch, at in rows
            if at is not None and at >= starts[period] and cap_channel in (ch, "*")
        )
        if n >= most:
            return f"cap:{'all' if cap_channel == '*' else cap_channel}/{period}"
    return None


def wecom_quota_used(session: Session, customer_id: int, now: datetime, settings: Settings) -> bool:
    """WeCom lets a corp send each customer 4 mass messages a calendar month; past that the
    customer silently gets nothing, so Siyu stops at the quota and says so."""
    n = session.scalar(
        sa.select(sa.func.count()).where(
            SendRow.customer_id == customer_id,
            SendRow.channel == "wecom",
            SendRow.checked_at >= period_start(now, "month", settings),
            SendRow.state.in_(COUNTED),
        )
    )
    return int(n or 0) >= WECOM_MONTHLY


def sms_room_at(session: Session, customer_id: int, now: datetime) -> datetime | None:
    """None if an SMS may go to the customer's number now, else when every window has room."""
    since = now - timedelta(seconds=SMS_NUMBER_LIMITS[-1][0])
    times = [
        at
        for at in session.scalars(
            sa.select(SendRow.checked_at).where(
                SendRow.customer_id == customer_id,
                SendRow.channel == "sms",
                SendRow.checked_at >= since,
                SendRow.state.in_(COUNTED),
            )
        )
        if at is not None
    ]
    return sms_room(times, now)


def sms_room(times: Iterable[datetime], now: datetime) -> datetime | None:
    """``sms_room_at`` on plain values: ``times`` are when the number's counted SMS were
    checked. A window at its limit has room again once fewer than the limit of its
    messages are left in it; the answer is the latest such moment over the three windows."""
    ordered = sorted(times)
    later: datetime | None = None
    for seconds, most in SMS_NUMBER_LIMITS:
        window = [t for t in ordered if t > now - timedelta(seconds=seconds)]
        if len(window) >= most:
            free = window[-most] + timedelta(seconds=seconds, milliseconds=1)
            later = free if later is None else max(later, free)
    return later
