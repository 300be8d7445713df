"""Keyword matching: exact, contains, regex and jieba words, in priority order; regex rules
checked at save and bounded in time when matched."""

from __future__ import annotations

import logging
import re
import time

import pytest

from siyu.sandbox import TemplateRefused
from siyu.wecom.replies.models import KeywordRule
from siyu.wecom.replies.patterns import MATCH_SECONDS, PatternRefused, check
from siyu.wecom.replies.service import compose, first_match, matches


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


# -- regex rules: Python's syntax, and no pattern stalls the worker ------------------------------
def test_regex_rules_keep_pythons_syntax() -> None:
    assert matches(rule("regex", r"(?<!不)退款"), "我要退款")
    assert not matches(rule("regex", r"(?<!不)退款"), "我不退款")
    assert matches(rule("regex", r"(?i)^vip"), "Vip会员怎么办")
    assert matches(rule("regex", r"(?P<n>\d{2})-(?P=n)"), "12-12")
    assert matches(rule("regex", r"优惠券?$|领[券劵]"), "怎么领劵")
    assert matches(rule("regex", r"\bsale\b"), "big sale now")
    assert not matches(rule("regex", r"\bsale\b"), "wholesale")
    assert matches(rule("regex", r"1[3-9]\d{9}"), "我的手机13933334444")


def test_a_search_that_runs_too_long_is_no_match(caplog: pytest.LogCaptureFixture) -> None:
    """A rule stored before patterns were probed at save, or slow on a message no probe
    tried: it answers nothing, within MATCH_SECONDS, and the next rule is tried."""
    slow = rule("regex", "(a|aa)+$", 7)
    message = "a" * 1999 + "!"  # a customer may send 2,000 characters
    started = time.perf_counter()
    with caplog.at_level(logging.WARNING, logger="siyu.wecom.replies.service"):
        assert not matches(slow, message)
        found = first_match([slow, rule("contains", "!", 8)], message)
    # bounded (unbounded, it would outlast the universe); generous, as machines under load are
    assert time.perf_counter() - started < 30 * MATCH_SECONDS
    assert found is not None and found.id == 8
    assert "keyword rule 7: regex search timed out" in caplog.text
    assert "aaaa" not in caplog.text  # the customer's message is not logged


def test_a_stored_pattern_that_fails_the_checks_is_no_match() -> None:
    assert not matches(rule("regex", "(?:a{1000}){1000}"), "a" * 10)  # never compiled
    assert not matches(rule("regex", "("), "(")


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("(", "not a regular expression"),
        ("[", "not a regular expression"),
        ("(?:a{1000}){1000}", "repeat counts multiply to 1000000"),
        ("a{99999}", "repeat counts"),
        ("(a|aa)+$", "too slow"),
        ("(a+)+$", "too slow"),
        ("(x+x+)+y", "too slow"),
        ("(退|退退)+$", "too slow"),
    ],
)
def test_patterns_refused_at_save(pattern: str, why: str) -> None:
    with pytest.raises(PatternRefused, match=re.escape(why)):
        check(pattern)


@pytest.mark.parametrize(
    "pattern",
    [
        r"^退(货|款)",
        r"(?<!不)退款",
        r"\d{4}-\d{2}-\d{2}",
        r"1[3-9]\d{9}",
        r"(?i)vip|会员",
        r"^(.*?)[，,](.*)$",
        r"[\u4e00-\u9fff]{2,8}店",
    ],
)
def test_ordinary_patterns_pass_the_checks(pattern: str) -> None:
    started = time.perf_counter()
    check(pattern)
    assert time.perf_counter() - started < 0.5


def test_a_slow_pattern_is_refused_in_the_readers_language() -> None:
    from siyu.console.words import said_in
    from siyu.wecom.replies.service import KeywordError

    try:
        check("(a|aa)+$")
    except PatternRefused as exc:
        refused = KeywordError("pattern: {reason}", reason=exc)
    assert said_in("zh-CN", refused).startswith("关键词：匹配太慢")
    assert str(refused).startswith("pattern: too slow")
