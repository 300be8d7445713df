"""Frequency caps and the SMS per-number limits on plain values, without a database: calendar
periods in Asia/Shanghai (a week from Monday), a cap reached at exactly its limit, caps per
channel and over all channels, and when a number has room for the next SMS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from siyu.reach.sending.caps import (
    DEFAULT_CAPS,
    SMS_NUMBER_LIMITS,
    CapError,
    broken_cap,
    local_period_start,
    period_start,
    sms_room,
)

pytestmark = pytest.mark.no_database

SHANGHAI = ZoneInfo("Asia/Shanghai")
MS = timedelta(milliseconds=1)


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).astimezone(UTC)


NOW = local("2026-12-09 15:00")  # a Wednesday


def cap(
    counted: list[tuple[str, datetime | None]],
    channel: str = "sms",
    caps: tuple[tuple[str, str, int], ...] = DEFAULT_CAPS,
    now: datetime = NOW,
) -> str | None:
    return broken_cap(counted, channel=channel, caps=caps, now=now, tz=SHANGHAI)


def test_the_default_caps() -> None:
    assert DEFAULT_CAPS == (
        ("sms", "day", 1),
        ("sms", "month", 4),
        ("*", "day", 2),
        ("*", "week", 5),
    )
    assert SMS_NUMBER_LIMITS == ((60, 1), (3600, 5), (86400, 10))


@pytest.mark.parametrize(
    ("at", "period", "start"),
    [
        ("2026-12-07 00:30", "day", "2026-12-07 00:00"),  # 16:30 UTC on Sunday the 6th
        ("2026-12-07 00:30", "week", "2026-12-07 00:00"),  # a Monday starts its own week
        ("2026-12-13 23:59", "week", "2026-12-07 00:00"),  # Sunday is the week's last day
        ("2026-12-09 15:00", "month", "2026-12-01 00:00"),
        ("2026-03-01 07:00", "month", "2026-03-01 00:00"),  # 23:00 UTC on 28 February
        ("2027-01-01 00:00", "week", "2026-12-28 00:00"),  # a week across the new year
    ],
)
def test_periods_are_calendar_periods_in_shanghai(at: str, period: str, start: str) -> None:
    got = local_period_start(local(at), period, SHANGHAI)
    assert got == local(start) and got.utcoffset() == timedelta(hours=8)


def test_period_start_reads_the_zone_from_the_settings() -> None:
    from siyu.config import get_settings

    settings = get_settings()
    assert settings.timezone == "Asia/Shanghai"
    assert period_start(NOW, "week", settings) == local("2026-12-07 00:00")
    with pytest.raises(CapError):
        local_period_start(NOW, "year", SHANGHAI)


def test_a_cap_is_reached_at_exactly_its_limit() -> None:
    two_a_day = (("sms", "day", 2),)
    assert cap([], caps=two_a_day) is None
    assert cap([("sms", local("2026-12-09 09:00"))], caps=two_a_day) is None
    assert cap([("sms", local("2026-12-09 09:00"))] * 2, caps=two_a_day) == "cap:sms/day"
    assert cap([("sms", local("2026-12-09 09:00"))] * 3, caps=two_a_day) == "cap:sms/day"
    assert cap([], caps=(("sms", "day", 0),)) == "cap:sms/day"  # 0: the channel is closed


def test_the_day_starts_at_midnight_shanghai_time() -> None:
    midnight = local("2026-12-09 00:00")
    assert cap([("sms", midnight - MS)]) is None  # yesterday, 23:59:59.999
    assert cap([("sms", midnight)]) == "cap:sms/day"  # today's first instant counts
    # 08:00 in Shanghai is midnight in UTC: a day in UTC would be another day
    assert cap([("sms", local("2026-12-09 07:00"))], now=local("2026-12-09 09:00")) == (
        "cap:sms/day"
    )


def test_a_month_cap_counts_from_the_first_of_the_month() -> None:
    month = [("sms", local(f"2026-12-0{d} 10:00")) for d in (1, 2, 3, 4)]
    assert cap(month) == "cap:sms/month"
    assert cap(month[1:]) is None
    last_month = [("sms", local("2026-11-30 23:59")), *month[1:]]
    assert cap(last_month) is None


def test_the_cap_over_all_channels_counts_every_channel() -> None:
    today = local("2026-12-09 09:00")
    assert cap([("email", today)], channel="sms") is None  # the SMS cap counts SMS only
    assert cap([("email", today), ("wecom", today)], channel="sms") == "cap:all/day"
    assert cap([("email", today), ("sms", today)], channel="email") == "cap:all/day"
    assert cap([("email", today)], channel="email") is None  # no email cap of its own


def test_the_week_cap_over_all_channels() -> None:
    week = [("email", local(f"2026-12-0{d} 10:00")) for d in (7, 8)] + [
        ("oa", local("2026-12-09 10:00"))
    ]
    assert cap(week, channel="email") is None  # 3 this week, 1 today
    sunday = [("email", local("2026-12-06 10:00"))]
    assert cap(week + sunday, channel="email") is None  # Sunday was last week
    monday = [("webhook", local("2026-12-07 00:00"))] * 2
    assert cap(week + monday, channel="email") == "cap:all/week"


def test_the_first_broken_cap_in_the_list_is_named() -> None:
    today = local("2026-12-09 09:00")
    assert cap([("sms", today)] * 5) == "cap:sms/day"  # every cap is broken; the day first
    reordered = (("*", "week", 5), ("sms", "day", 1))
    assert cap([("sms", today)] * 5, caps=reordered) == "cap:all/week"


def test_caps_of_other_channels_and_unmarked_rows_do_not_count() -> None:
    assert cap([("sms", NOW)] * 9, channel="email", caps=(("sms", "day", 1),)) is None
    assert cap([("sms", None)] * 9) is None  # not marked: it did not go


# -- SMS per number ------------------------------------------------------------------------------
def test_a_number_with_nothing_recent_has_room() -> None:
    assert sms_room([], NOW) is None
    assert sms_room([NOW - timedelta(days=1)], NOW) is None


def test_one_sms_a_minute() -> None:
    sent = NOW - timedelta(seconds=30)
    assert sms_room([sent], NOW) == sent + timedelta(seconds=60) + MS
    assert sms_room([NOW - timedelta(seconds=60)], NOW) is None  # a minute ago is outside


def test_five_an_hour() -> None:
    hour = [NOW - timedelta(minutes=m) for m in (50, 40, 30, 20, 10)]
    assert sms_room(hour, NOW) == NOW - timedelta(minutes=50) + timedelta(hours=1) + MS
    assert sms_room(hour[1:], NOW) is None  # four: room


def test_ten_a_day_and_the_latest_window_decides() -> None:
    day = [NOW - timedelta(hours=h) for h in range(23, 13, -1)]  # ten, the last 14 h ago
    assert sms_room(day, NOW) == NOW - timedelta(hours=23) + timedelta(days=1) + MS
    just_now = NOW - timedelta(seconds=10)
    assert sms_room([*day[1:], just_now], NOW) == day[1] + timedelta(days=1) + MS
    assert sms_room([just_now], NOW) == just_now + timedelta(minutes=1) + MS


def test_the_order_of_the_times_does_not_matter() -> None:
    hour = [NOW - timedelta(minutes=m) for m in (10, 50, 30, 20, 40)]
    assert sms_room(hour, NOW) == NOW - timedelta(minutes=50) + timedelta(hours=1) + MS
