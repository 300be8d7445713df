"""Siyu's words in the reader's language, by gettext.

The English text is the message id: code and templates write ``_("Customer pool")`` (or
``pgettext("amount", "Paid")`` where one English word needs two Chinese ones), refusals raise
with their English template, and labels keep ``N_("Paid")``-marked English until shown. The one
catalogue, ``locale/zh_CN/LC_MESSAGES/siyu.po``, is made by ``pybabel extract`` (``babel.cfg``
names the refusal classes as keywords) and compiled to ``siyu.mo`` by ``make install``; a test
holds it complete. The console speaks Chinese first (its cookie), the API the language of
``Accept-Language``, the CLI and the worker English: ``speaking(lang)`` sets the language for
what runs inside it, and a request's is set by ``webkit.ReadersLanguage``.

Values are filled in with ``str.format``: ``_("{n} customers", n=3)``.
"""

from __future__ import annotations

import gettext as _gettext
import io
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from babel.numbers import format_compact_decimal, format_decimal

from siyu import runtime

LANGUAGES = ("zh-CN", "en")
DOMAIN = "siyu"
LOCALE_DIR = Path(__file__).parent / "locale"
CATALOG = LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / f"{DOMAIN}.po"
_BABEL_LOCALE = {"zh-CN": "zh_CN", "en": "en"}

LANGUAGE_COOKIE = "siyu_lang"

_language: ContextVar[str] = ContextVar("siyu_language", default="en")


@cache
def translations(lang: str) -> _gettext.NullTranslations:
    """The catalogue for ``lang``: English is the message id itself, Chinese the compiled
    catalogue (read from the ``.po`` where ``make install`` has not compiled it, or it changed
    since)."""
    if lang != "zh-CN":
        return _gettext.NullTranslations()
    mo = CATALOG.with_suffix(".mo")
    if mo.is_file() and (not CATALOG.is_file() or mo.stat().st_mtime >= CATALOG.stat().st_mtime):
        with mo.open("rb") as f:
            return _gettext.GNUTranslations(f)
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with CATALOG.open("rb") as f:
        catalog = read_po(f, locale="zh_CN", domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return _gettext.GNUTranslations(compiled)


runtime.forgets("i18n.translations", translations.cache_clear)


def language() -> str:
    """The language being spoken: the request's, or English (the CLI, the worker)."""
    return _language.get()


@contextmanager
def speaking(lang: str) -> Iterator[None]:
    """Say what runs inside in ``lang`` (``zh-CN`` or ``en``)."""
    token = _language.set(lang if lang in LANGUAGES else "en")
    try:
        yield
    finally:
        _language.reset(token)


def _filled(text: str, values: dict[str, Any]) -> str:
    return text.format(**values) if values else text


def gettext(message: str, /, **values: Any) -> str:
    """``message`` in the language being spoken, with ``values`` filled in."""
    return _filled(translations(language()).gettext(message), values)


def pgettext(context: str, message: str, /, **values: Any) -> str:
    """As ``gettext``, for an English text that needs different words in another place."""
    return _filled(translations(language()).pgettext(context, message), values)


def ngettext(singular: str, plural: str, n: int, /, **values: Any) -> str:
    return _filled(translations(language()).ngettext(singular, plural, n), {"n": n, **values})


def npgettext(context: str, singular: str, plural: str, n: int, /, **values: Any) -> str:
    text = translations(language()).npgettext(context, singular, plural, n)
    return _filled(text, {"n": n, **values})


def in_language(lang: str, message: str, /, **values: Any) -> str:
    """``message`` in ``lang`` whatever is being spoken (a message to a customer is Chinese)."""
    with speaking(lang):
        return gettext(message, **values)


def N_(message: str) -> str:
    """Marks ``message`` for the catalogue where it is said later (a label, a constant)."""
    return message


class Phrase(NamedTuple):
    """A marked English text that needs its context (``pgettext``) when it is said."""

    context: str
    message: str


def NP_(context: str, message: str) -> Phrase:
    """Marks ``message`` said in ``context`` for the catalogue (a label like ``N_``)."""
    return Phrase(context, message)


def say(text: str | Phrase, /, **values: Any) -> str:
    """A marked text (``N_`` or ``NP_``) in the language being spoken."""
    if isinstance(text, Phrase):
        return pgettext(text.context, text.message, **values)
    return gettext(text, **values)


_ = gettext


def _locale() -> str:
    return _BABEL_LOCALE.get(language(), "en")


def number(value: int | float | None, digits: int | None = None) -> str:
    """A count or amount in the reader's locale (``12,345``); ``digits`` fixes the decimals."""
    if value is None:
        return "—"
    pattern = "#,##0" + ("." + "0" * digits if digits else "") if digits is not None else None
    return str(format_decimal(value, format=pattern, locale=_locale()))


def yuan(fen: int | float | None, digits: int = 2) -> str:
    """Fen as yuan: ``¥1,234.50`` (``digits=0``: ``¥1,235``)."""
    if fen is None:
        return "-"
    amount = fen / 100
    pattern = "¥#,##0" + ("." + "0" * digits if digits else "")
    return str(format_decimal(amount, format=f"{pattern};-{pattern}", locale=_locale()))


def compact(value: int | float) -> str:
    """A big number shortened for a glance: ``1.2万``, ``3.4亿`` in Chinese, ``12K`` in English;
    below ten thousand it is written out."""
    if abs(value) < 10_000:
        return number(value)
    return str(format_compact_decimal(value, fraction_digits=1, locale=_locale()))


def compact_yuan(fen: int | float | None) -> str:
    """Fen as a shortened yuan amount for a big number: ``¥12.3万``; small ones in full."""
    if fen is None:
        return "-"
    if abs(fen) < 1_000_000:  # below ¥10,000
        return yuan(fen)
    sign = "-" if fen < 0 else ""
    return f"{sign}¥{compact(abs(fen) / 100)}"


class _WithCookies(Protocol):  # a request or a websocket; no web framework imported here
    @property
    def cookies(self) -> Mapping[str, str]: ...


def console_language(conn: _WithCookies) -> str:
    """The console's language: the reader's choice (a cookie), Chinese first."""
    lang = conn.cookies.get(LANGUAGE_COOKIE, "zh-CN")
    return lang if lang in LANGUAGES else "zh-CN"
