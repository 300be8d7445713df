"""What every entry point does with the numbers, days and tokens it is sent (a form, a query
string, a URL path, a header, a callback's body), where anyone can send anything.

- A number is ASCII digits within a range. ``str.isdigit`` is also true of '²' and '¹', which
  ``int`` refuses, and a number past what the column holds fails in the database driver: both
  were 500s. The range is the caller's (a row id by default).
- A day is a YYYY-MM-DD within the years the product keeps data for: near the ends of the
  calendar a day's midnight in Shanghai, or the day after it, leaves Python's dates.
- A token is compared as UTF-8 bytes in constant time: ``hmac.compare_digest`` raises
  TypeError on a str that is not ASCII, so a forged token with an 'é' was a 500, not a 403.
"""

from __future__ import annotations

import hmac
from datetime import date

from siyu.refusals import Refusal

# Row ids are INTEGER on PostgreSQL; the send ledger's are BIGINT.
ID_MAX = 2**31 - 1
BIG_ID_MAX = 2**63 - 1
# Days an operator may filter or schedule by: before the first event the product takes
# (SIYU_EVENTS_EARLIEST's default) or past this century, a day is a typo.
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2099, 12, 31)
# Ranges the API, the console, the command line and the services all apply (one number each)
COST_FEN_MAX = 100_000  # a campaign's cost per message: ¥1,000, past any channel's price
KEYWORD_PRIORITY_MAX = 100_000  # a keyword rule's priority (lower is tried first)
_LONGEST = 40  # digits read at all: far past any range here, far short of int()'s own limit


class NotANumber(Refusal):
    """A field that should hold a whole number in a range does not (the form shows it again
    with the reason)."""


def whole_number(text: str | None, *, most: int = ID_MAX) -> int | None:
    """``text`` as a number from 0 to ``most`` when it is only ASCII digits, else None (for a
    filter or an optional id, where a value that is not one is the same as none)."""
    if not text or len(text) > _LONGEST or not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if value <= most else None


def number(
    text: str | None, *, least: int = 0, most: int = ID_MAX, default: int | None = None
) -> int:
    """A form's number: ``default`` when left empty (if there is one), else ASCII digits from
    ``least`` to ``most`` or NotANumber."""
    text = (text or "").strip()
    if not text and default is not None:
        return default
    value = whole_number(text, most=most)
    if value is None or value < least:
        raise NotANumber(
            "{text!r} is not a whole number from {least} to {most}",
            text=text[:30],
            least=least,
            most=most,
        )
    return value


def day(text: str | None) -> date | None:
    """A YYYY-MM-DD from ``FIRST_DAY`` to ``LAST_DAY``, else None."""
    try:
        value = date.fromisoformat(text or "")
    except ValueError:
        return None
    return value if FIRST_DAY <= value <= LAST_DAY else None


def same_token(sent: str | bytes, expected: str | bytes) -> bool:
    """Whether the token sent is the one expected, in constant time, whatever it is made of
    (a lone surrogate from a form included)."""
    return hmac.compare_digest(_utf8(sent), _utf8(expected))


def _utf8(value: str | bytes) -> bytes:
    return value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value


def storable_text(text: str) -> bool:
    """False for a string holding a lone surrogate (it has no UTF-8 form)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
