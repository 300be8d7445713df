"""Quiet hours are settings (``SIYU_QUIET_HOURS_START``/``_END``, hours 0–23 local time): a
window that crosses midnight (the default 21 → 8) and one that does not (1 → 6) both defer
marketing to the hour they end; an hour that is not one is refused at start-up, by name."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from siyu.config import QuietHours, Settings, get_settings

pytestmark = pytest.mark.no_database

TZ = Settings().tz  # Asia/Shanghai


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=TZ).astimezone(UTC)


def until(quiet: QuietHours, text: str) -> str | None:
    due = quiet.until(at(text), TZ)
    return None if due is None else due.strftime("%Y-%m-%d %H:%M")


def test_the_default_is_21_to_8() -> None:
    settings = get_settings()
    assert (settings.quiet_hours_start, settings.quiet_hours_end) == (21, 8)
    assert settings.quiet_hours == QuietHours(21, 8)


@pytest.mark.parametrize(
    ("now", "due"),
    [
        ("2026-03-10 07:59:59", "2026-03-10 08:00"),
        ("2026-03-10 08:00", None),
        ("2026-03-10 12:00", None),
        ("2026-03-10 20:59:59.999999", None),
        ("2026-03-10 21:00", "2026-03-11 08:00"),
        ("2026-03-10 23:59:59", "2026-03-11 08:00"),
        ("2026-03-11 00:00", "2026-03-11 08:00"),
        ("2026-12-31 22:00", "2027-01-01 08:00"),
    ],
)
def test_a_window_across_midnight(now: str, due: str | None) -> None:
    assert until(QuietHours(21, 8), now) == due


@pytest.mark.parametrize(
    ("now", "due"),
    [
        ("2026-03-10 00:59:59", None),
        ("2026-03-10 01:00", "2026-03-10 06:00"),
        ("2026-03-10 03:30", "2026-03-10 06:00"),
        ("2026-03-10 05:59:59.999999", "2026-03-10 06:00"),
        ("2026-03-10 06:00", None),
        ("2026-03-10 12:00", None),
        ("2026-03-10 23:00", None),  # not quiet before midnight, as 21 → 8 would be
    ],
)
def test_a_window_within_one_night(now: str, due: str | None) -> None:
    assert until(QuietHours(1, 6), now) == due


def test_a_window_from_midnight_and_one_to_midnight() -> None:
    assert until(QuietHours(0, 7), "2026-03-10 00:00") == "2026-03-10 07:00"
    assert until(QuietHours(0, 7), "2026-03-10 23:59") is None
    assert until(QuietHours(22, 0), "2026-03-10 22:15") == "2026-03-11 00:00"
    assert until(QuietHours(22, 0), "2026-03-10 00:00") is None


def test_the_same_hour_twice_is_no_quiet_hours() -> None:
    for hour in (0, 8, 21):
        for now in ("2026-03-10 00:00", "2026-03-10 08:30", "2026-03-10 21:00"):
            assert until(QuietHours(hour, hour), now) is None


def test_the_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIYU_QUIET_HOURS_START", "1")
    monkeypatch.setenv("SIYU_QUIET_HOURS_END", "6")
    assert Settings().quiet_hours == QuietHours(1, 6)


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("SIYU_QUIET_HOURS_START", "24", "SIYU_QUIET_HOURS_START is an hour of the day, 0 to 23"),
        ("SIYU_QUIET_HOURS_END", "-1", "SIYU_QUIET_HOURS_END is an hour of the day, 0 to 23"),
        ("SIYU_QUIET_HOURS_START", "21:30", "quiet_hours_start"),
        ("SIYU_QUIET_HOURS_END", "eight", "quiet_hours_end"),
    ],
)
def test_an_hour_that_is_not_one_is_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=says):
        Settings()
