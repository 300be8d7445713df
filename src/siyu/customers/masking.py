"""Masking personal data by value (DESIGN §11): phones, e-mails, ID-card numbers and addresses
are hidden wherever they sit in a JSON value — nested properties, Chinese keys, free text such
as ``张三 13933334444`` — not only under the keys a form would use.

Two tests decide. A key that says what it holds (``phone``, ``收货地址``, ``idCard``, ``姓名``…)
masks everything under it, whatever the value looks like. Every other string (keys included)
is searched for values that are personal by their shape: mainland mobiles with or without
``+86`` and with spaces, dashes, dots or slashes, landlines with an area code, numbers of any
country written internationally (``+852 9123 4567``, ``0044 20 7946 0958``: what
``identifiers.phone`` accepts as a customer's phone), e-mail addresses, 18- and 15-digit
ID-card numbers, and street addresses (a road, lane, estate or building with its number).
Full-width digits and letters, Chinese numerals (幺, 两…), and the dashes editors and WeChat
put for ``-`` count as what they stand for; zero-width characters between digits hide nothing.

Used for everyone who may not unmask. It is bounded: a value nested deeper than
``MAX_DEPTH`` or past ``MAX_NODES`` leaves, and any string over ``MAX_TEXT`` characters, is
hidden whole rather than searched; every pattern is bounded, so a hostile string costs time in
proportion to its length. A pattern runs only on strings holding what it needs (a run of
digits, an ``@``, a number with a unit such as 号 or 室, a ``+`` or ``00`` before digits).
International numbers are checked with ``phonenumbers`` (slow: tens of microseconds a try), so
only what looks like one is tried, and at most ``MAX_PHONE_TRIES`` in one value: past that,
what is left to search is hidden whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any

import phonenumbers

from siyu import runtime
from siyu.customers.identifiers import mask_email, mask_name

HIDDEN = "***"
MAX_DEPTH = 24
MAX_NODES = 20_000
MAX_TEXT = 65_536
MAX_PHONE_TRIES = 1_000  # phonenumbers parses in one value (about 70 ms of them)

# Full-width ASCII (０-９, ＠, Ａ-Ｚ…), the ideographic space, the dashes that stand for '-'
# (en and em dash, minus…) and Chinese numerals as people say a number aloud (幺三九, 两两…),
# one character for one, so what is found maps back in place.
_HALF = (
    {0xFF01 + i: 0x21 + i for i in range(94)}
    | {0x3000: 0x20}
    | {ord(c): ord("-") for c in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63"}
    | {ord(c): ord(d) for c, d in zip("〇零幺一二两三四五六七八九", "0011223456789", strict=True)}
)
# Zero-width characters (spaces, joiners, the word joiner, the BOM): not there for a reader,
# so not there for the patterns. A text in which something is masked is shown without them.
_ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
_INVISIBLE = re.compile(f"[{_ZERO_WIDTH}]")
_NO_INVISIBLE = dict.fromkeys(map(ord, _ZERO_WIDTH))
_NUMBER = re.compile(r"[0-9]{3}")  # phones, ID numbers and landlines all hold a run of three
_NUMBERED = re.compile(r"[0-9](?:号|弄|栋|幢|座|单元|楼|层|室|户)|[0-9] [A-Za-z]")  # addresses

_SEP = r"[ \t\-\u00a0]"
_DAY = r"(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
ID_CARD = re.compile(
    rf"(?<![0-9])[1-9][0-9]{{5}}{_SEP}?(?:18|19|20)[0-9]{{2}}{_DAY}{_SEP}?[0-9]{{3}}[0-9Xx](?![0-9])"
    rf"|(?<![0-9])[1-9][0-9]{{5}}[0-9]{{2}}{_DAY}[0-9]{{3}}(?![0-9])"
)
MOBILE = re.compile(
    rf"(?<![0-9])(?:(?:\+|00)?86{_SEP}?)?1[3-9][0-9](?:[ \t\-\u00a0./]?[0-9]){{8}}(?![0-9])"
)  # a dot or a slash between the groups too (139.3333.4444, 139/3333/4444)
# A number written internationally: '+' or '00', a country code, then digits and separators;
# what phonenumbers takes for a valid number at its start is masked (INTERNATIONAL finds
# where to try, cheaply). After 00 the digits must be grouped (00852 9123 4567): a run of
# digits starting 00 is as likely an order number padded with zeros.
INTERNATIONAL = re.compile(
    r"(?:\((?=\+|00))?(?:\+|(?<![0-9])00)[ \t\u00a0]?\(?[1-9][0-9 \t\-\u00a0./()]{5,28}"
)
_RUN = re.compile(r"[0-9]+")
LANDLINE = re.compile(
    rf"(?<![0-9])\(?0[1-9][0-9]{{1,2}}\)?{_SEP}?[2-9][0-9]{{2,3}}{_SEP}?[0-9]{{4}}(?![0-9])"
)
EMAIL = re.compile(r"[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63}){1,8}")
_CJK = r"[\u4e00-\u9fff]"
_UNIT = r"(?:号楼|号|栋|幢|座|单元|楼|层|室|户)"
_MORE = rf"(?:[A-Za-z#\-]{{0,3}}[0-9]{{1,6}}{_UNIT})*"
ADDRESS = re.compile(
    rf"{_CJK}{{0,16}}(?:路|街|大道|巷|弄|胡同|道){_SEP}?[0-9]{{1,6}}(?:-[0-9]{{1,6}})?(?:号|弄){_MORE}"
    rf"|{_CJK}{{0,16}}(?:小区|花园|公寓|大厦|广场|新村|家园|苑|村){_SEP}?[A-Za-z]?[0-9]{{1,6}}"
    rf"(?:号楼|栋|幢|座|单元|号){_MORE}"
    rf"|(?<![0-9])[0-9]{{1,4}}(?:号楼|栋|幢)[0-9]{{1,6}}{_UNIT}{_MORE}"
    r"|\b[0-9]{1,5}(?: [A-Za-z]{1,20}){1,4} (?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Boulevard"
    r"|Blvd|Drive|Dr|Way|Court|Ct)\b\.?"
)
_ADMIN_PREFIX = re.compile(r"^.*(?:省|自治区|特别行政区|市|(?<!小)区|县|旗|盟|州)")

# What a key's name says it holds. English keys are split into words (snake, kebab and camel
# case; a plural counts as the singular); Chinese keys are searched for these words.
_KEY_WORDS = {
    "id": {"idcard", "idno", "idnumber", "idnum", "passport", "ssn", "identitycard", "sfz"},
    "phone": {"phone", "mobile", "tel", "telephone", "cellphone", "msisdn", "landline"}
    | {"shouji", "dianhua", "shoujihao"},  # pinyin keys, as Chinese forms often name them
    "email": {"email", "mail", "youxiang"},
    "address": {"address", "addr", "street", "dizhi"},
    "name": {
        "realname",
        "fullname",
        "nickname",
        "username",
        "firstname",
        "lastname",
        "surname",
        "consignee",
        "receiver",
        "recipient",
        "xingming",
    },
}
_PERSON = {
    "real",
    "full",
    "first",
    "last",
    "nick",
    "user",
    "buyer",
    "receiver",
    "recipient",
    "consignee",
    "contact",
    "customer",
    "member",
    "given",
    "family",
    "sur",
    "true",
}
_ZH_WORDS = (
    ("id", ("身份证", "证件号", "证件号码", "护照")),
    ("phone", ("手机", "电话", "联系方式", "座机", "手机号")),
    ("email", ("邮箱", "电子邮件", "邮件地址", "电邮")),
    ("address", ("地址", "住址", "收货地", "街道", "门牌")),
    ("name", ("姓名", "名字", "收货人", "收件人", "联系人", "昵称", "真名", "客户名", "会员名")),
)
_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


def mask_properties(props: Any) -> dict[str, Any]:
    """Event properties as shown to someone who may not unmask (always a dict)."""
    out = mask_value(props if props is not None else {})
    return out if isinstance(out, dict) else {"value": out}


def mask_value(value: Any) -> Any:
    """Any JSON value with every personal datum in it masked (a new value; the input is kept)."""
    budget = [MAX_NODES, MAX_PHONE_TRIES]
    return _walk(value, None, 0, budget)


def _walk(value: Any, kind: str | None, depth: int, budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0 or depth > MAX_DEPTH:
        return HIDDEN
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for k, v in value.items():
            name = _mask_text(k, budget) if isinstance(k, str) else k
            inner = key_kind(k) if isinstance(k, str) else None
            out[name] = _walk(v, inner or kind, depth + 1, budget)  # the nearer key says more
        return out
    if isinstance(value, list | tuple):
        return [_walk(v, kind, depth + 1, budget) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        if kind is not None:
            return _by_kind(kind, str(value))
        if not -1e10 < value < 1e10:  # only numbers of eleven digits and more can be phones or IDs
            masked = _mask_text(str(value), budget)
            return value if masked == str(value) else masked
        return value
    if isinstance(value, str):
        return _by_kind(kind, value) if kind is not None else _mask_text(value, budget)
    return HIDDEN  # not JSON: say nothing about it


def mask_text(text: str) -> str:
    """A string with every phone, e-mail, ID-card number and street address in it masked."""
    return _mask_text(text, [MAX_NODES, MAX_PHONE_TRIES])


def _mask_text(text: str, budget: list[int]) -> str:
    if len(text) > MAX_TEXT:
        return HIDDEN
    if text.isascii():
        half = text
    elif _INVISIBLE.search(text):
        # searched without them; kept where nothing was masked (an emoji's joiner, say)
        seen = text.translate(_NO_INVISIBLE)
        masked = _mask_text(seen, budget)
        return text if masked == seen else masked
    else:
        half = text.translate(_HALF)  # what the patterns read
    pair = (text, half)
    if "@" in half:
        pair = _sub(EMAIL, lambda s: mask_email(s) or HIDDEN, pair)
    if _NUMBER.search(half):
        pair = _sub(ID_CARD, lambda s: _keep(s, 3, 4), pair)
        pair = _sub(MOBILE, _phone, pair)
        pair = _sub(LANDLINE, _landline, pair)
        if ("+" in half or "00" in half) and INTERNATIONAL.search(pair[1]):
            try:
                pair = _replace(_international(pair[1], budget), pair)
            except _OutOfTries:
                return HIDDEN
    if _NUMBERED.search(half):
        pair = _sub(ADDRESS, _address, pair)
    return pair[0]


def mask_optional(text: str | None) -> str | None:
    """``mask_text`` for a field that may be empty (a city typed into the wrong column may be
    an address)."""
    return mask_text(text) if text else text


def _sub(pattern: re.Pattern[str], mask: Any, pair: tuple[str, str]) -> tuple[str, str]:
    """Replace what ``pattern`` finds in the half-width reading, in both readings."""
    first = pattern.search(pair[1])
    if first is None:  # mostly: then no more than a search
        return pair
    found = pattern.finditer(pair[1], first.start())
    return _replace(((m.start(), m.end(), mask(m.group())) for m in found), pair)


def _replace(found: Iterable[tuple[int, int, str]], pair: tuple[str, str]) -> tuple[str, str]:
    """Put each ``(start, end, masked)`` of the half-width reading in place, in both readings."""
    text, half = pair
    out, out_half, last = [], [], 0
    for start, end, masked in found:
        out += [text[last:start], masked]
        out_half += [half[last:start], masked]
        last = end
    if not out:
        return pair
    return "".join([*out, text[last:]]), "".join([*out_half, half[last:]])


class _OutOfTries(Exception):
    """More candidates for an international number than one value may cost."""


def _international(half: str, budget: list[int]) -> Iterator[tuple[int, int, str]]:
    """International numbers in ``half``: for each candidate INTERNATIONAL finds, the longest
    start of it (ending after a group of digits) that phonenumbers takes for a valid number,
    so a number followed by other digits (``+852 9123 4567 2026``) is still found."""
    for m in INTERNATIONAL.finditer(half):
        candidate = m.group()
        runs = [r.end() for r in _RUN.finditer(candidate)]
        if candidate.lstrip("(").startswith("00"):
            runs = runs[1:]  # grouped: 00852 9123 4567, not 0085291234567
        for end in reversed(runs):
            digits = sum(c.isdigit() for c in candidate[:end])
            if digits > 17:  # E.164 has 15 at most, and 00 before them
                continue
            if digits < 7:
                break
            budget[1] -= 1
            if budget[1] < 0:
                raise _OutOfTries
            found = _valid_number(candidate[:end])
            if found:
                yield m.start(), m.start() + end, found
                break


def _valid_number(text: str) -> str | None:
    """A valid number with its country code kept as written and the rest hidden but for the
    last four digits (``(+852) ****4567``), else None."""
    try:
        number = phonenumbers.parse(text, "CN")  # CN: 00 is how the number leaves the country
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    code = re.match(rf"\(?(?:\+|00)[ \t\u00a0]?\(?{number.country_code}[ \t\-\u00a0./)]*", text)
    return f"{code.group() if code else '+'}****{str(number.national_number)[-4:]}"


def _phone(text: str) -> str:
    digits = re.sub(r"[^0-9]", "", text)
    digits = digits[-11:]  # +86 / 0086 / 86 dropped
    return f"{digits[:3]}****{digits[-4:]}"


def _landline(text: str) -> str:
    digits = re.sub(r"[^0-9]", "", text)
    area = 3 if digits[:2] in ("01", "02") else 4
    return f"{digits[:area]}-****{digits[-4:]}"


def _address(text: str) -> str:
    m = _ADMIN_PREFIX.match(text)
    return (m.group() if m else "") + HIDDEN


def _keep(text: str, head: int, tail: int) -> str:
    chars = re.sub(r"\s", "", text)
    if len(chars) <= head + tail:
        return HIDDEN
    return chars[:head] + "*" * (len(chars) - head - tail) + chars[-tail:]


def _by_kind(kind: str, text: str) -> str:
    """A value under a key that says it is personal: hidden by what the key says it is."""
    half = text.translate(_HALF).strip()
    if not half:
        return text
    if kind == "phone":
        digits = re.sub(r"[^0-9]", "", half)
        return _phone(digits) if len(digits) >= 7 else HIDDEN
    if kind == "email":
        return (mask_email(half) or HIDDEN) if "@" in half else HIDDEN
    if kind == "id":
        return _keep(half, 3, 4) if len(half) >= 10 else HIDDEN
    if kind == "address":
        return _address(half)
    return mask_name(half) or HIDDEN


@lru_cache(maxsize=4096)
def key_kind(key: str) -> str | None:
    """What a key says it holds: ``id``, ``phone``, ``email``, ``address``, ``name`` or None."""
    for kind, zh in _ZH_WORDS:
        if any(w in key for w in zh):
            return kind
    tokens = [_singular(t.lower()) for t in _WORD.findall(key.translate(_HALF))]
    if not tokens:
        return None
    joined = {"".join(tokens[i : i + 2]) for i in range(len(tokens))} | set(tokens)
    for kind, en in _KEY_WORDS.items():
        if joined & en:
            return kind
    if "name" in tokens:
        at = tokens.index("name")
        if tokens == ["name"] or (at > 0 and tokens[at - 1] in _PERSON):
            return "name"
    return None


runtime.forgets("customers.masking.key_kind", key_kind.cache_clear)


def _singular(word: str) -> str:
    for stem in (word, word[:-2] if word.endswith("es") else "", word[:-1]):
        if stem and any(stem in ws for ws in _KEY_WORDS.values()):
            return stem
    return word
