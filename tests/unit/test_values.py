"""Values as platform exports write them."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siyu.ingest import values as v

TZ = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("raw", "fen"),
    [
        ("59.9", 5990),
        ("¥1,299.00", 129900),
        ("'12.5元", 1250),
        ("0", 0),
        ("-30.00", -3000),
        ("19.99", 1999),
    ],
)
def test_yuan_to_fen(raw: str, fen: int) -> None:
    assert v.fen(raw) == fen


@given(st.integers(min_value=0, max_value=10**11))
def test_fen_round_trip_is_exact(fen: int) -> None:
    assert v.fen(f"{fen / 100:.2f}") == fen
    assert v.fen(f"{fen // 100}.{fen % 100:02d}") == fen


@pytest.mark.parametrize("raw", ["abc", "", "1e400", "NaN"])
def test_bad_amounts(raw: str) -> None:
    with pytest.raises(v.BadValue):
        v.fen(raw)


def test_times_are_beijing_wall_clock_stored_as_utc() -> None:
    expected = datetime(2026, 6, 18, 2, 0, tzinfo=UTC)
    for raw in (
        "2026-06-18 10:00:00",
        "2026/06/18 10:00:00",
        "2026/6/18 10:00",
        "2026-06-18T10:00:00+08:00",
    ):
        assert v.local_time(raw, TZ) == expected
    assert v.local_time("", TZ) is None
    assert v.local_time("0000-00-00 00:00:00", TZ) is None
    with pytest.raises(v.BadValue):
        v.local_time("next tuesday", TZ)


@pytest.mark.parametrize(
    "raw",
    [
        "2024-11-20 07:13:11",
        "2024-11-20T07:13:11",
        "20241120T071311.123",
        "2024-11-20T07+08:00",
        "1991-05-05 01:01:01",
        "0000-00-00 00:00:00",
        "2024/11/20 07:13:11",
        "'2024-11-20 07:13",
        None,
    ],
)
@pytest.mark.parametrize("tz", ["Asia/Shanghai", "Europe/Berlin"])
def test_time_text_is_the_stored_form_of_local_time(raw: str | None, tz: str) -> None:
    """The import's shortcut for the common cell gives exactly the general way's text."""
    from siyu.bulk import utc_text

    zone = ZoneInfo(tz)
    assert v.local_time_text(raw, zone) == utc_text(v.local_time(raw, zone))


def test_excel_serial_dates() -> None:
    assert v.local_time("46191.5", TZ) == datetime(2026, 6, 18, 4, 0, tzinfo=UTC)


def test_province_city_from_address() -> None:
    assert v.province_city("浙江省 杭州市 西湖区 文三路1号") == ("浙江", "杭州")
    assert v.province_city("上海市 上海市 徐汇区 某路") == ("上海", "上海")
    assert v.province_city("广西壮族自治区 南宁市 青秀区") == ("广西", "南宁")
    assert v.province_city("") == (None, None)


def test_quantity_and_consent() -> None:
    assert v.quantity("2") == 2
    assert v.quantity(None) == 1
    with pytest.raises(v.BadValue):
        v.quantity("1.5")
    assert v.consent_flag("是") is True
    assert v.consent_flag("否") is False
    assert v.consent_flag("") is None
    with pytest.raises(v.BadValue):
        v.consent_flag("maybe")
