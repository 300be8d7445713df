"""Every refusal the services raise has its Chinese words, with the same placeholders, and is
raised with a literal template (an f-string would make each message its own id)."""

from __future__ import annotations

import ast
import string
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "siyu"


# Refusals whose template is not the first argument: a segment rule error names the path first.
TEMPLATE_AT = {"RuleError": 1, "TemplateProblem": 1}


def _refusal_raises() -> list[tuple[str, ast.expr | None]]:
    """Every ``raise`` of a refusal class, or of a helper returning one (``-> RuleError``),
    with the expression given as its template."""
    trees = {p: ast.parse(p.read_text(encoding="utf-8")) for p in SRC.rglob("*.py")}
    kinds, grew = {"Refusal"}, True
    while grew:  # the refusal classes: Refusal and everything deriving from one
        grew = False
        for tree in trees.values():
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.ClassDef)
                    and node.name not in kinds
                    and any(isinstance(b, ast.Name) and b.id in kinds for b in node.bases)
                ):
                    kinds.add(node.name)
                    grew = True
    helpers = {  # functions building a refusal from a template: their raises count too
        path: {
            node.name
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef)
            and isinstance(node.returns, ast.Name | ast.Constant)
            and getattr(node.returns, "id", getattr(node.returns, "value", None)) in kinds
        }
        for path, tree in trees.items()
    }
    public = {name for names in helpers.values() for name in names if not name.startswith("_")}
    found = []
    for path, tree in trees.items():
        builders = kinds | public | helpers[path]  # a private helper: in its own module only
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                f = node.exc.func
                name = f.id if isinstance(f, ast.Name) else getattr(f, "attr", "")
                if name in builders and name != "LoginRefused":  # login: said by code
                    i = TEMPLATE_AT.get(name, 0)
                    first = node.exc.args[i] if len(node.exc.args) > i else None
                    found.append((f"{path.relative_to(SRC)}:{node.lineno}", first))
    assert len(found) > 60, "the scan should see the services' refusals"
    return found


def _fields(template: str) -> set[str]:
    return {f for _t, f, _s, _c in string.Formatter().parse(template) if f}


def test_every_refusal_template_is_literal_and_translated() -> None:
    from siyu.console.refusals_zh import ZH

    untranslated, not_literal = [], []
    for where, first in _refusal_raises():
        if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
            not_literal.append(where)
        elif first.value not in ZH:
            untranslated.append(f"{where}: {first.value}")
        elif _fields(first.value) != _fields(ZH[first.value]):
            untranslated.append(f"{where}: placeholders differ")
    assert not not_literal, f"raise with a literal template and named values: {not_literal}"
    assert not untranslated, "\n".join(untranslated)


def test_said_in_the_readers_language() -> None:
    from siyu.accounts.service import AccountError
    from siyu.console.words import said_in
    from siyu.reach.ledger import LedgerError
    from siyu.wecom.live_codes import LiveCodeError

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
    from siyu.reach.ledger import LedgerError

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
