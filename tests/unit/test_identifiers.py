"""Identifier normalisation: only real values may ever become identities."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siyu.customers import identifiers as ids


@pytest.mark.parametrize(
    "raw",
    [
        "13812345678",
        "+86 138 1234 5678",
        "8613812345678",
        "008613812345678",
        "'13812345678",
        "138-1234-5678",
        "13812345678.0",
        "1.3812345678E+10",
        " 13812345678 ",
    ],
)
def test_mainland_mobiles_normalise_to_e164(raw: str) -> None:
    assert ids.phone(raw) == "+8613812345678"


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("138****5678", "masked"),
        ("1.38E+10", "Excel"),
        ("13800138000", "test"),
        ("11111111111", "test"),
        ("null", "placeholder"),
        ("0", "placeholder"),
        ("-1", "placeholder"),
        ("", "placeholder"),
        ("abc", "not a phone"),
        ("12345", "not a"),
    ],
)
def test_junk_phones_are_rejected_with_a_reason(raw: str, why: str) -> None:
    with pytest.raises(ids.Rejected, match=why):
        ids.phone(raw)


def test_landline_and_foreign_numbers_use_phonenumbers() -> None:
    assert ids.phone("010-62345678") == "+861062345678"
    assert ids.phone("+852 6123 4567") == "+85261234567"


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True))
def test_phone_normalisation_is_idempotent(mobile: str) -> None:
    try:
        once = ids.phone(mobile)
    except ids.Rejected:
        return  # test numbers / all-same digits
    assert ids.phone(once) == once
    assert ids.phone("+86 " + mobile) == once


@pytest.mark.parametrize("raw", ["anonymous", "undefined", "0000", "***abc", "未知", "1.2E+5"])
def test_opaque_ids_refuse_placeholders(raw: str) -> None:
    with pytest.raises(ids.Rejected):
        ids.opaque(raw)


def test_opaque_ids_keep_case_and_strip_excel_float() -> None:
    assert ids.opaque("oAbC-123") == "oAbC-123"
    assert ids.opaque("10086.0") == "10086"


def test_email() -> None:
    assert ids.email(" Li.Na@Example.CN ") == "li.na@example.cn"
    for bad in ("a@b", "x@example.com", "l***@qq.com", "null"):
        with pytest.raises(ids.Rejected):
            ids.email(bad)


def test_masks() -> None:
    assert ids.mask_phone("+8613812345678") == "138****5678"
    assert ids.mask_email("lina@qq.com") == "l***@qq.com"
    assert ids.mask_name("王小明") == "王**"
    assert ids.mask_identity("buyer_id", "tb12345678") == "tb1***678"
