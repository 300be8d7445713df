"""Keyword matching: exact, contains, regex and jieba words, in priority order."""

from __future__ import annotations

import pytest

from siyu.sandbox import TemplateRefused
from siyu.wecom.keywords import compose, first_match, matches
from siyu.wecom.models import KeywordRule


def rule(match: str, pattern: str, rid: int = 1, reply: str = "") -> KeywordRule:
    return KeywordRule(id=rid, match=match, pattern=pattern, reply_text=reply)


def test_each_kind_of_match() -> None:
    assert matches(rule("exact", "地址"), "  地址 ")
    assert not matches(rule("exact", "地址"), "门店地址")
    assert matches(rule("exact", "VIP"), "vip")
    assert matches(rule("contains", "地址"), "门店地址在哪")
    assert matches(rule("regex", r"^退(货|款)"), "退款怎么申请")
    assert not matches(rule("regex", r"^退(货|款)"), "不想退货")


def test_words_match_whole_words_not_characters() -> None:
    assert matches(rule("words", "优惠券 领券"), "请问有优惠券吗")
    assert matches(rule("words", "优惠"), "请问有优惠券吗")  # a word inside a longer one
    assert not matches(rule("words", "券"), "请问有优惠券吗")  # a single character is not
    assert not matches(rule("words", "会员"), "我想了解一下积分")
    assert matches(rule("words", "会员,积分|生日"), "我想了解一下积分")


def test_first_match_follows_the_order_given() -> None:
    rules = [rule("contains", "券", 1), rule("words", "优惠券", 2)]
    found = first_match(rules, "有优惠券吗")
    assert found is not None and found.id == 1
    assert first_match(rules, "你好") is None


def test_compose_places_the_code() -> None:
    assert (
        compose(rule("exact", "x", reply="券码 {{ code }} 请查收"), "C1", None) == "券码 C1 请查收"
    )
    assert compose(rule("exact", "x", reply="送您一张券"), "C1", None) == "送您一张券\nC1"
    assert compose(rule("exact", "x", reply=""), "C1", None) == "C1"
    with pytest.raises(TemplateRefused):  # refused, never sent as its source or half-rendered
        compose(rule("exact", "x", reply="{{ code.__class__ }}"), "C1", None)
