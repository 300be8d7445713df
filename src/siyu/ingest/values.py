"""Parsing the values found in Chinese platform exports: yuan amounts, local times, addresses."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from zoneinfo import ZoneInfo

from siyu import runtime
from siyu.bulk import utc_text


class BadValue(ValueError):
    """A cell that cannot be read; the message becomes the reject reason."""


_MONEY_JUNK = str.maketrans("", "", "¥￥,， 元'\u3000")
_PLAIN_NUMBER = re.compile(r"-?\d+(\.\d*)?")


def fen(raw: str | None, *, field: str = "amount") -> int:
    """Yuan text (``¥1,299.00``, ``'59.9``, ``12.5元``) → integer fen."""
    if raw is None:
        raise BadValue(f"{field} is empty")
    text = raw.translate(_MONEY_JUNK)
    if not text:
        raise BadValue(f"{field} is empty")
    dot = text.find(".")
    if (dot == -1 or len(text) - dot <= 3) and len(text) <= 13 and _PLAIN_NUMBER.fullmatch(text):
        return round(float(text) * 100)  # exact for at most two decimals at this size
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise BadValue(f"{field} is not a number: {raw!r}") from None
    if not value.is_finite():
        raise BadValue(f"{field} is not a number: {raw!r}")
    cents = value * 100
    if cents != cents.to_integral_value():
        cents = cents.quantize(Decimal(1))
    if abs(cents) >= 10**13:
        raise BadValue(f"{field} is implausibly large: {raw!r}")
    return int(cents)


def optional_fen(raw: str | None, *, field: str) -> int | None:
    if raw is None or not raw.strip() or raw.strip() in {"-", "--"}:
        return None
    return fen(raw, field=field)


def quantity(raw: str | None) -> int:
    if raw is None or not raw.strip():
        return 1
    text = raw.strip().lstrip("'")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise BadValue(f"quantity is not a number: {raw!r}") from None
    if value != value.to_integral_value() or value <= 0 or value > 100000:
        raise BadValue(f"quantity must be a whole number from 1 to 100000: {raw!r}")
    return int(value)


_FORMATS = (
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%Y年%m月%d日 %H:%M:%S",
    "%Y年%m月%d日",
)
_EXCEL_EPOCH = datetime(1899, 12, 30)
_EIGHT_HOURS = timedelta(hours=8)


def local_time(raw: str | None, tz: ZoneInfo, *, field: str = "time") -> datetime | None:
    """Export times are Beijing wall-clock unless they say otherwise; returns aware UTC."""
    if raw is None:
        return None
    text = raw.strip().lstrip("'")
    if not text or text in {"-", "--", "0000-00-00 00:00:00", "null", "NULL"}:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = _slow_time(text, field)
    if parsed.tzinfo is None:
        if tz.key == "Asia/Shanghai" and parsed.year >= 1992:
            # Beijing time has been UTC+8 without daylight saving since 1991: skip tz arithmetic
            return (parsed - _EIGHT_HOURS).replace(tzinfo=UTC)
        parsed = parsed.replace(tzinfo=tz)
    return parsed.astimezone(UTC)


def local_time_text(raw: str | None, tz: ZoneInfo, *, field: str = "time") -> str | None:
    """``local_time`` as ``utc_text``: the import's hot path, one call per cell.

    The common cell (``2024-11-20 07:13:11``, Beijing time) is shifted without building an
    aware datetime; anything else goes the general way, so both give the same text."""
    if raw is not None and len(raw) == 19 and tz.key == "Asia/Shanghai":
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is None and parsed.year >= 1992:
            shifted = parsed - _EIGHT_HOURS
            text = shifted.isoformat(" ")
            return text if shifted.microsecond else text + ".000000"
    return utc_text(local_time(raw, tz, field=field))


def _slow_time(text: str, field: str) -> datetime:
    for fmt in _FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    if re.fullmatch(r"\d{5}(\.\d+)?", text):  # an Excel serial date
        return _EXCEL_EPOCH + timedelta(days=float(text))
    raise BadValue(f"{field} is not a date/time: {text!r}")


def birthday(raw: str | None) -> date | None:
    if raw is None or not raw.strip():
        return None
    text = raw.strip().replace("/", "-").replace("年", "-").replace("月", "-").rstrip("日")
    try:
        return date.fromisoformat(text[:10]) if len(text) >= 10 else _md(text)
    except ValueError:
        raise BadValue(f"birthday is not a date: {raw!r}") from None


def _md(text: str) -> date:
    parts = [int(p) for p in text.split("-") if p]
    if len(parts) == 3:
        return date(parts[0], parts[1], parts[2])
    raise ValueError(text)


GENDERS = {
    "男": "male",
    "m": "male",
    "male": "male",
    "1": "male",
    "女": "female",
    "f": "female",
    "female": "female",
    "2": "female",
}


def gender(raw: str | None) -> str | None:
    if raw is None:
        return None
    return GENDERS.get(raw.strip().lower())


YES = {"1", "y", "yes", "true", "是", "同意", "已同意", "授权", "已授权", "opt-in", "granted"}
NO = {"0", "n", "no", "false", "否", "不同意", "拒绝", "未授权", "opt-out", "withdrawn"}


def consent_flag(raw: str | None) -> bool | None:
    """True/False for an explicit answer, None when the cell says nothing."""
    if raw is None or not raw.strip():
        return None
    text = raw.strip().lower()
    if text in YES:
        return True
    if text in NO:
        return False
    raise BadValue(f"consent value not understood: {raw!r} (use 是/否)")


DND_YES = {"1", "y", "yes", "true", "是", "免打扰", "开启", "on"}
DND_NO = {"0", "n", "no", "false", "否", "关闭", "off"}


def do_not_disturb_flag(raw: str | None) -> bool | None:
    """A do-not-disturb column: True/False for an explicit answer, None when the cell is empty."""
    if raw is None or not raw.strip():
        return None
    text = raw.strip().lower()
    if text in DND_YES:
        return True
    if text in DND_NO:
        return False
    raise BadValue(f"do-not-disturb value not understood: {raw!r} (use 是/否)")


_MUNICIPALITIES = {"北京", "上海", "天津", "重庆"}
_PROVINCE_SUFFIX = re.compile(r"(省|市|自治区|壮族自治区|回族自治区|维吾尔自治区|特别行政区)$")


def province_city(address: str | None) -> tuple[str | None, str | None]:
    """``浙江省 杭州市 西湖区 …`` → (浙江, 杭州). Only the province and city are kept."""
    if not address:
        return None, None
    parts = address.replace("\u3000", " ").split(maxsplit=2)
    if len(parts) < 2:
        return None, None
    return _place(parts[0], parts[1])


@lru_cache(maxsize=4096)
def _place(province_text: str, city_text: str) -> tuple[str | None, str | None]:
    province = _PROVINCE_SUFFIX.sub("", province_text) or None
    if province in _MUNICIPALITIES:
        return province, province
    return province, re.sub(r"(市|地区|自治州|盟)$", "", city_text) or None


@lru_cache(maxsize=4096)
def short_place(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip()
    stripped = _PROVINCE_SUFFIX.sub("", value)
    return stripped or value


def _forget_places() -> None:
    _place.cache_clear()
    short_place.cache_clear()


runtime.forgets("ingest.values.places", _forget_places)
