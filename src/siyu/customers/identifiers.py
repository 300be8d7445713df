"""Normalising identifiers and refusing junk, so that only real values ever match (DESIGN §4).

Exports from Chinese platforms come with masked phones (``138****1234``), Excel-mangled numbers
(``1.38E+10``, a leading ``'``), placeholder values (``null``, ``0``, ``-1``) and test numbers.
None of those may become an identity: two strangers would be merged through them.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from enum import StrEnum

import phonenumbers


class Kind(StrEnum):
    phone = "phone"
    email = "email"
    unionid = "unionid"
    openid = "openid"
    external_userid = "external_userid"
    buyer_id = "buyer_id"
    member_id = "member_id"


# Matching priority when a record points at several profiles that may not be merged.
PRIORITY = [
    Kind.member_id,
    Kind.phone,
    Kind.unionid,
    Kind.external_userid,
    Kind.buyer_id,
    Kind.openid,
    Kind.email,
]

JUNK = {
    "",
    "null",
    "none",
    "nil",
    "nan",
    "undefined",
    "0",
    "-1",
    "-",
    "--",
    "n/a",
    "na",
    "anonymous",
    "unknown",
    "test",
    "无",
    "空",
    "匿名",
    "未知",
    "暂无",
}

TEST_PHONES = {
    "+8613800138000",  # the textbook example number
    "+8613800000000",
    "+8612345678901",
    "+8613888888888",
    "+8618888888888",
    "+8613912345678",
}

_CN_MOBILE = re.compile(r"1[3-9]\d{9}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[a-z0-9-]{2,}")
_SCI = re.compile(r"[0-9.]+e\+?[0-9]+", re.IGNORECASE)
_SEPARATORS = str.maketrans("", "", " -()\u3000\t")


class Rejected(ValueError):
    """The value cannot be an identity; the message says why (shown in reject files). Not a
    ``Refusal`` itself: it is a reason inside others (an import row's, an event's ``why``, a
    privacy request's ``reason``), each of which says it."""


def _clean(raw: object) -> str:
    text = str(raw).strip().lstrip("'\u200b\ufeff").strip()
    if text.lower() in JUNK:
        raise Rejected("empty or placeholder value")
    if "*" in text or "＊" in text:
        raise Rejected("masked value")
    if "\x00" in text:
        raise Rejected("contains a NUL character")
    return text


def _all_same(digits: str) -> bool:
    return len(set(digits)) == 1


def phone(raw: object) -> str:
    """E.164 (``+8613812345678``). Mainland mobiles take a fast path; others go to phonenumbers."""
    if type(raw) is str and len(raw) == 11 and raw.isdigit() and raw[0] == "1" and raw[1] > "2":
        e164 = "+86" + raw  # the common case: a plain mainland mobile
        if e164 in TEST_PHONES or _all_same(raw):
            raise Rejected("test or placeholder phone number")
        return e164
    text = _clean(raw).translate(_SEPARATORS)
    if _SCI.fullmatch(text):
        text = _unmangle_excel(text)
    if text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]
    digits = text[1:] if text.startswith("+") else text
    if digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if len(digits) >= 5 and _all_same(digits):
        raise Rejected("test or placeholder phone number")
    if _CN_MOBILE.fullmatch(digits):
        e164 = "+86" + digits
    else:
        try:
            parsed = phonenumbers.parse(text, "CN")
        except phonenumbers.NumberParseException as exc:
            raise Rejected("not a phone number") from exc
        if not phonenumbers.is_valid_number(parsed):
            raise Rejected("not a valid phone number")
        e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if e164 in TEST_PHONES or _all_same(e164[3:]):
        raise Rejected("test or placeholder phone number")
    return e164


def _unmangle_excel(text: str) -> str:
    """``1.3812345678E+10`` keeps all digits and is recoverable; ``1.38E+10`` lost them."""
    try:
        mantissa, _, _ = text.lower().partition("e")
        value = Decimal(text)
    except InvalidOperation as exc:
        raise Rejected("not a phone number") from exc
    significant = len(mantissa.replace(".", "").lstrip("0"))
    if value != value.to_integral_value() or significant < len(str(int(value))):
        raise Rejected("phone number mangled by Excel (scientific notation lost digits)")
    return str(int(value))


def email(raw: object) -> str:
    text = _clean(raw).lower()
    if not _EMAIL.fullmatch(text):
        raise Rejected("not an email address")
    domain = text.rsplit("@", 1)[1]
    if domain in {"example.com", "example.org", "test.com", "qq.con"}:
        raise Rejected("placeholder email address")
    return text


def opaque(raw: object) -> str:
    """Ids from platforms (unionid, openid, external_userid, buyer ids, member numbers)."""
    text = _clean(raw)
    if text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]  # a member number that went through Excel
    if _SCI.fullmatch(text):
        raise Rejected("id mangled by Excel (scientific notation)")
    if text.strip("0") == "" or (text.isdigit() and _all_same(text) and len(text) > 3):
        raise Rejected("placeholder id")
    if len(text) > 200:
        raise Rejected("id longer than 200 characters")
    return text


_APPID = re.compile(r"[A-Za-z0-9_]{4,32}")


def appid(raw: object) -> str:
    """A WeChat AppID (``wx`` and 16 hex digits for a real account): the namespace of openids."""
    if raw is None or not str(raw).strip():
        raise Rejected("no official account AppID (none given and SIYU_OA_APPID is not set)")
    text = _clean(raw)
    if not _APPID.fullmatch(text):
        raise Rejected("not an official account AppID")
    return text


NORMALISERS = {
    Kind.phone: phone,
    Kind.email: email,
    Kind.unionid: opaque,
    Kind.openid: opaque,
    Kind.external_userid: opaque,
    Kind.buyer_id: opaque,
    Kind.member_id: opaque,
}


def normalise(kind: Kind | str, raw: object) -> str:
    return NORMALISERS[Kind(kind)](raw)


def mask_phone(value: str | None) -> str | None:
    """``+8613812341234`` → ``138****1234`` (how phones are shown unless the role may unmask)."""
    if not value:
        return value
    digits = value[3:] if value.startswith("+86") else value.lstrip("+")
    if len(digits) < 7:
        return "*" * len(digits)
    return f"{digits[:3]}****{digits[-4:]}"


def mask_email(value: str | None) -> str | None:
    if not value or "@" not in value:
        return value
    local, domain = value.split("@", 1)
    return f"{local[:1]}***@{domain}"


def mask_name(value: str | None) -> str | None:
    if not value:
        return value
    return value[0] + "*" * max(1, len(value) - 1)


def mask_identity(kind: str, value: str) -> str:
    if kind == Kind.phone:
        return mask_phone(value) or ""
    if kind == Kind.email:
        return mask_email(value) or ""
    if len(value) <= 6:
        return value[:1] + "***"
    return f"{value[:3]}***{value[-3:]}"
