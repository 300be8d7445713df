"""The numbers, days and tokens entry points are sent: ASCII digits within a range, days within
the product's years, tokens compared as bytes (siyu.untrusted)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from siyu.untrusted import (
    BIG_ID_MAX,
    ID_MAX,
    NotANumber,
    day,
    number,
    same_token,
    whole_number,
)


@pytest.mark.parametrize(
    ("text", "most", "expected"),
    [
        ("42", ID_MAX, 42),
        ("0", ID_MAX, 0),
        ("007", ID_MAX, 7),
        (str(ID_MAX), ID_MAX, ID_MAX),
        (str(ID_MAX + 1), ID_MAX, None),
        (str(2**63 - 1), BIG_ID_MAX, BIG_ID_MAX),
        (str(2**70), BIG_ID_MAX, None),
        ("9" * 5000, BIG_ID_MAX, None),  # past int()'s own limit: not even read
        ("²", ID_MAX, None),  # isdigit() is true of it, int() refuses it
        ("¹", ID_MAX, None),
        ("٣", ID_MAX, None),  # an Arabic-Indic 3: int() reads it, nobody types it for an id
        ("１２", ID_MAX, None),  # full-width digits
        ("-1", ID_MAX, None),
        (" 1", ID_MAX, None),
        ("1_000", ID_MAX, None),
        ("", ID_MAX, None),
        (None, ID_MAX, None),
        ("51", 50, None),
    ],
)
def test_a_whole_number_is_ascii_digits_within_the_range(
    text: str | None, most: int, expected: int | None
) -> None:
    assert whole_number(text, most=most) == expected


def test_a_forms_number_is_refused_with_the_value_and_the_range() -> None:
    assert number("", default=100) == 100
    assert number(" 12 ", most=50) == 12
    with pytest.raises(NotANumber) as refused:
        number("abc", most=50)
    assert refused.value.params == {"text": "abc", "least": 0, "most": 50}
    for bad in ("0", "²", str(2**70), "", "-3"):
        with pytest.raises(NotANumber):
            number(bad, least=1)
    with pytest.raises(NotANumber) as refused:
        number("9" * 100)
    assert len(refused.value.params["text"]) == 30  # what is echoed back stays short


def test_a_refusal_is_said_in_chinese() -> None:
    from siyu.console.words import said_in

    with pytest.raises(NotANumber) as refused:
        number("abc", most=50)
    assert said_in("zh-CN", refused.value) == "'abc' 不是 0–50 之间的整数。"
    assert str(refused.value) == "'abc' is not a whole number from 0 to 50"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-06-18", date(2026, 6, 18)),
        ("2000-01-01", date(2000, 1, 1)),
        ("2099-12-31", date(2099, 12, 31)),
        ("1999-12-31", None),
        ("9999-12-31", None),  # the day after it, which a filter needs, is no date
        ("0001-01-01", None),
        ("2026-02-30", None),
        ("²", None),
        ("", None),
        (None, None),
    ],
)
def test_a_day_is_within_the_products_years(text: str | None, expected: date | None) -> None:
    assert day(text) == expected


@pytest.mark.parametrize(
    ("sent", "expected", "same"),
    [
        ("abc", "abc", True),
        ("abc", "abd", False),
        ("é", "abc", False),  # compare_digest on a non-ASCII str raises TypeError
        ("é", "é", True),
        ("\ud800", "abc", False),  # a lone surrogate, as a form can carry one
        ("", "abc", False),
        (b"abc", "abc", True),
        (b"\xff", "abc", False),
    ],
)
def test_tokens_are_compared_as_bytes(sent: str | bytes, expected: str, same: bool) -> None:
    assert same_token(sent, expected) is same


def test_a_receivers_retry_after_is_read_or_ignored() -> None:
    from siyu.reach.channels.webhook import DEFAULT_WAIT, MOST_WAIT, retry_after

    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert retry_after("120", now) == 120
    assert retry_after(" 30 ", now) == 30
    assert retry_after("Thu, 01 Jan 2026 00:05:00 GMT", now) == 300
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now) == 0  # past: at once
    assert retry_after("9999999", now) == MOST_WAIT
    assert retry_after("Wed, 21 Oct 2099 07:28:00 GMT", now) == MOST_WAIT
    for odd in ("²", "-5", "1.5", "soon", "", None, "Wed, 21 Oct 99999 07:28:00 GMT"):
        assert retry_after(odd, now) == DEFAULT_WAIT, odd
