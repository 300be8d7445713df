"""A refusal keeps its English template and values, and is said in the reader's language (that
every template raised has its Chinese is the catalogue's test, tests/unit/test_catalog.py)."""

from __future__ import annotations

import pytest


def test_said_in_the_readers_language() -> None:
    from siyu.accounts.service import AccountError
    from siyu.console.words import said_in
    from siyu.reach.sending.ledger import LedgerError
    from siyu.wecom.live_codes.service import LiveCodeError

    short = AccountError("password must have at least 10 characters")
    assert said_in("zh-CN", short) == "密码至少要 10 个字符。"
    assert said_in("en", short) == str(short) == "password must have at least 10 characters"
    taken = AccountError("user {username!r} already exists", username="xiaoli")
    assert str(taken) == "user 'xiaoli' already exists"
    assert said_in("zh-CN", taken) == "用户 'xiaoli' 已存在。"
    inner = LiveCodeError("staff: at least one staff member")
    outer = LedgerError("variant {key}: {reason}", key="B", reason=inner)
    assert said_in("zh-CN", outer) == "版本 B：员工：至少选一位。"  # the inner one said too
    assert str(outer) == "variant B: staff: at least one staff member"
    assert said_in("zh-CN", ValueError("plain")) == "plain"  # no words: the message as it is


@pytest.mark.parametrize("template", ["no segment {id}", "holdout: 0–50 per cent"])
def test_a_refusal_keeps_its_template_and_values(template: str) -> None:
    from siyu.reach.sending.ledger import LedgerError

    exc = LedgerError(template, id=7) if "{id}" in template else LedgerError(template)
    assert exc.template == template and isinstance(exc, ValueError)
    assert str(exc) == template.format(id=7)


def test_a_rule_error_names_the_path_and_says_the_reason() -> None:
    from siyu.console.words import said_in
    from siyu.segments.rules import RuleError, from_json
    from siyu.segments.text import parse

    with pytest.raises(RuleError) as caught:
        from_json({"all": [{"field": "city", "op": "=", "value": "上海", "window": {"to": "x"}}]})
    exc = caught.value
    assert str(exc) == "all[0].window.to: expected a day as YYYY-MM-DD"
    assert (exc.path, exc.reason) == ("all[0].window.to", "expected a day as YYYY-MM-DD")
    assert said_in("zh-CN", exc) == "all[0].window.to：日期请写成 YYYY-MM-DD。"
    assert exc.detail(lambda e: said_in("zh-CN", e)) == {
        "path": "all[0].window.to",
        "reason": "日期请写成 YYYY-MM-DD。",
    }
    with pytest.raises(RuleError) as caught:
        parse("city = 上海 and (")
    assert str(caught.value) == "text: expected a condition at character 16 (near the end)"
    assert said_in("zh-CN", caught.value) == "text：这里应是一个条件（第 16 个字符，规则末尾）"
    with pytest.raises(RuleError) as caught:
        parse("city = 上海 or or")
    assert said_in("zh-CN", caught.value) == "text：这里应是一个条件（第 14 个字符，'or' 附近）"


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        (None, "en"),
        ("", "en"),
        ("zh-CN", "zh-CN"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
        ("en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        ("en;q=0.5, zh-TW;q=0.7", "zh-CN"),
        ("zh;q=0, en", "en"),
        ("zh;q=abc", "en"),
        ("fr", "en"),
    ],
)
def test_the_language_an_api_request_asks_for(header: str | None, lang: str) -> None:
    from siyu.webkit import asked_language

    assert asked_language(header) == lang
