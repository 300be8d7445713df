"""The compact text form of segment rules, for the CLI and the API::

    tag:高价值 and city in [上海, 杭州] and orders(last 90d).count = 0
    rfm.class = 重要挽留客户 and orders(category=防晒, 2025-06-01..2025-08-31).count >= 1
    not (lifecycle in [lapsed, at_risk] or consent.sms = withdrawn)
    events(page_view, last 30d, page=/sale).count >= 3 and identity has phone

``and`` binds tighter than ``or``; ``not`` tighter than both; parentheses group. Text values
with spaces or signs are written in double quotes (JSON string syntax). ``parse`` gives the same
tree as the JSON form and ``to_text`` writes it back, so the two round-trip.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from siyu.refusals import Refusal
from siyu.segments.rules import (
    MAX_CONDITIONS,
    MAX_DEPTH,
    MAX_LIST,
    MAX_NUMBER,
    MAX_WINDOW_DAYS,
    Check,
    Condition,
    Group,
    Node,
    Not,
    RuleError,
    Window,
    _day,
    _value,
    check_tree,
    last_days,
    normalise,
)

KEYWORDS = {"and", "or", "not", "in", "between", "is", "empty", "has", "any", "all", "none"}
KEYWORDS |= {"lacks", "last"}
_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<op>!=|<=|>=|=|<|>)|(?P<punct>[()\[\],])'
    r'|(?P<word>[^\s()\[\],"=!<>]+))'
)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_DAYS = re.compile(r"(\d+)d")
COMPARE_OPS = ("=", "!=", "<", "<=", ">", ">=")
_LIST_OPS = {"in": "in", "not_in": "not in", "between": "between"}
_HAS_OPS = {"has_any": "has any", "has_all": "has all", "has_none": "has none"}


@dataclass
class Token:
    kind: str  # str | op | punct | word | end
    text: str
    pos: int
    value: Any = None


def tokenize(text: str) -> list[Token]:
    out: list[Token] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise RuleError(
                "text",
                "cannot read {text!r} at character {at}",
                text=text[pos : pos + 10],
                at=pos + 1,
            )
        kind = m.lastgroup or "word"
        raw = m.group(kind)
        start = m.start(kind)
        value: Any = raw
        if kind == "str":
            try:
                value = json.loads(raw)
            except json.JSONDecodeError:
                raise RuleError("text", "bad quoted text at character {at}", at=start + 1) from None
        out.append(Token(kind, raw, start, value))
        pos = m.end()
    out.append(Token("end", "", len(text)))
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        if "\x00" in text:
            raise RuleError("text", "the rule contains a NUL character")
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0
        self.conditions = 0

    # -- token helpers -------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def _refuse_at(self, what: str, tok: Token | None = None, **params: Any) -> RuleError:
        """``what`` (a template, with ``params``) at the token the parser stopped on."""
        tok = tok or self.tok
        said = Refusal(what, **params)
        if tok.kind == "end":
            return RuleError(
                "text", "{what} at character {at} (near the end)", what=said, at=tok.pos + 1
            )
        return RuleError(
            "text",
            "{what} at character {at} (near {near!r})",
            what=said,
            at=tok.pos + 1,
            near=tok.text,
        )

    @property
    def _next(self) -> Token:
        """The token after the current one (the end again at the end)."""
        return self.tokens[min(self.i + 1, len(self.tokens) - 1)]

    def _is_word(self, *words: str) -> bool:
        return self.tok.kind == "word" and self.tok.text.lower() in words

    def _take_word(self, word: str) -> None:
        if not self._is_word(word):
            raise self._refuse_at("expected {word!r}", word=word)
        self.i += 1

    def _take(self, kind: str, text: str) -> None:
        if self.tok.kind != kind or self.tok.text != text:
            raise self._refuse_at("expected {word!r}", word=text)
        self.i += 1

    # -- grammar -------------------------------------------------------------------------
    def rule(self) -> Node:
        node = self._or()
        if self.tok.kind != "end":
            raise self._refuse_at("expected 'and', 'or' or the end of the rule")
        return node

    def _or(self) -> Node:
        items = [self._and()]
        while self._is_word("or"):
            self.i += 1
            items.append(self._and())
        return items[0] if len(items) == 1 else Group("any", tuple(items))

    def _and(self) -> Node:
        items = [self._unary()]
        while self._is_word("and"):
            self.i += 1
            items.append(self._unary())
        return items[0] if len(items) == 1 else Group("all", tuple(items))

    def _unary(self) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self._refuse_at("nested deeper than {n} levels", n=MAX_DEPTH)
        try:
            if self._is_word("not"):
                self.i += 1
                return Not(self._unary())
            if self.tok.kind == "punct" and self.tok.text == "(":
                self.i += 1
                node = self._or()
                self._take("punct", ")")
                return node
            return self._condition()
        finally:
            self.depth -= 1

    def _condition(self) -> Condition:
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise self._refuse_at("more than {n} conditions in one rule", n=MAX_CONDITIONS)
        tok = self.tok
        if tok.kind != "word" or tok.text.lower() in KEYWORDS or _NUMBER.fullmatch(tok.text):
            raise self._refuse_at("expected a condition")
        self.i += 1
        if tok.text.startswith("tag:"):
            name: Any = tok.text[4:]
            if not name:
                name = self._scalar()
            return Condition("tag", "has_any", (name,))
        field = tok.text
        window: Window | None = None
        where: tuple[tuple[str, tuple[str, ...]], ...] = ()
        event: str | None = None
        if self.tok.kind == "punct" and self.tok.text == "(":
            window, where, event = self._args()
            measure = self.tok
            if measure.kind != "word" or not measure.text.startswith(".") or len(measure.text) < 2:
                raise self._refuse_at("expected a measure such as .count after the parentheses")
            self.i += 1
            field = f"{field}{measure.text}"
        op, value = self._op_value()
        return Condition(field, op, value, window, where, event)

    def _args(self) -> tuple[Window | None, tuple[tuple[str, tuple[str, ...]], ...], str | None]:
        self._take("punct", "(")
        window: Window | None = None
        where: dict[str, tuple[str, ...]] = {}
        event: str | None = None
        first = True
        while True:
            tok = self.tok
            if self._is_word("last"):
                self.i += 1
                days = self.tok
                m = _DAYS.fullmatch(days.text) if days.kind == "word" else None
                if m is None:
                    raise self._refuse_at("expected days such as 90d after 'last'")
                digits = m.group(1).lstrip("0") or "0"
                n = int(digits) if len(digits) <= 9 else MAX_WINDOW_DAYS + 1
                self.i += 1
                window = self._one_window(window, last_days(n, "text"), tok)
            elif tok.kind == "word" and ".." in tok.text:
                self.i += 1
                start, _sep, end = tok.text.partition("..")
                span = Window(
                    start=_day(start, "text") if start else None,
                    end=_day(end, "text") if end else None,
                )
                if span.start and span.end and span.end < span.start:
                    raise self._refuse_at("the window ends before it starts", tok)
                window = self._one_window(window, span, tok)
            elif self._next.kind == "op" and self._next.text == "=":
                if tok.kind != "word":
                    raise self._refuse_at("expected a filter name")
                self.i += 2
                values = self._list() if self._at_list() else (self._scalar(),)
                checked = _value(list(values), "text")
                if any(not isinstance(v, str) for v in checked):
                    raise self._refuse_at("filter values are text", tok)
                where[tok.text] = checked
            elif first and tok.kind in ("word", "str"):
                event = self._scalar()
                if not isinstance(event, str):
                    raise self._refuse_at("expected an event name", tok)
            else:
                raise self._refuse_at("expected 'last Nd', a day range, a filter or ')'")
            first = False
            if self.tok.kind == "punct" and self.tok.text == ",":
                self.i += 1
                continue
            self._take("punct", ")")
            return window, tuple(sorted(where.items())), event

    def _one_window(self, old: Window | None, new: Window, tok: Token) -> Window:
        if old is not None:
            raise self._refuse_at("only one time window per condition", tok)
        return new

    def _op_value(self) -> tuple[str, Any]:
        tok = self.tok
        if tok.kind == "op":
            self.i += 1
            return tok.text, self._scalar()
        if self._is_word("in"):
            self.i += 1
            return "in", self._list()
        if self._is_word("not"):
            self.i += 1
            self._take_word("in")
            return "not_in", self._list()
        if self._is_word("between"):
            self.i += 1
            return "between", self._list()
        if self._is_word("is"):
            self.i += 1
            if self._is_word("not"):
                self.i += 1
                self._take_word("empty")
                return "is_not_empty", None
            self._take_word("empty")
            return "is_empty", None
        if self._is_word("has"):
            self.i += 1
            for word in ("any", "all", "none"):
                if self._is_word(word):
                    self.i += 1
                    return f"has_{word}", self._list() if self._at_list() else self._scalar()
            return "has", self._scalar()
        if self._is_word("lacks"):
            self.i += 1
            return "lacks", self._scalar()
        raise self._refuse_at(
            "expected an operator (=, !=, <, >, in, not in, between, is empty, has…)"
        )

    def _at_list(self) -> bool:
        return self.tok.kind == "punct" and self.tok.text == "["

    def _list(self) -> tuple[Any, ...]:
        self._take("punct", "[")
        items: list[Any] = []
        while True:
            items.append(self._scalar())
            if len(items) > MAX_LIST:
                raise self._refuse_at("a list of more than {most:,} values", most=MAX_LIST)
            if self.tok.kind == "punct" and self.tok.text == ",":
                self.i += 1
                continue
            self._take("punct", "]")
            return tuple(items)

    def _scalar(self) -> Any:
        tok = self.tok
        if tok.kind == "str":
            self.i += 1
            return _value(tok.value, "text")
        if tok.kind == "word" and tok.text.lower() not in KEYWORDS:
            self.i += 1
            if _NUMBER.fullmatch(tok.text):
                number = float(tok.text)  # any length; int() of thousands of digits raises
                if "." in tok.text or "e" in tok.text.lower():
                    return _value(number, "text")
                if not abs(number) <= MAX_NUMBER:  # _value says why (int() of it might fail)
                    return _value(number if math.isfinite(number) else MAX_NUMBER * 2, "text")
                return _value(int(number), "text")  # exact: far below 2**53
            return _value(tok.text, "text")
        raise self._refuse_at("expected a value")


def parse(text: str, check: Check | None = None) -> Node:
    """The rule tree of a text rule (normalised, then checked against the catalogue)."""
    if not text or not text.strip():
        raise RuleError("text", "the rule is empty")
    tree = normalise(_Parser(text).rule())
    if check is None:
        return tree

    def with_text(cond: Condition, path: str) -> Condition:
        try:
            return check(cond, path)
        except RuleError as exc:
            raise RuleError(
                exc.path, "{why} (in: {text})", why=exc.why, text=to_text(cond)
            ) from None

    return check_tree(tree, with_text)


# -- printing --------------------------------------------------------------------------------
def to_text(node: Node) -> str:
    """The canonical text of a rule; ``parse(to_text(t)) == t`` for a normalised tree."""
    if isinstance(node, Group):
        joiner = " and " if node.kind == "all" else " or "
        return joiner.join(_wrapped(c) for c in node.children)
    if isinstance(node, Not):
        return f"not {_wrapped(node.child)}"
    return _condition_text(node)


def _wrapped(node: Node) -> str:
    text = to_text(node)
    return f"({text})" if isinstance(node, Group) else text


def _condition_text(c: Condition) -> str:
    sugar = c.field == "tag" and c.op == "has_any" and not (c.window or c.where or c.event)
    if sugar and isinstance(c.value, tuple) and len(c.value) == 1:
        name = c.value[0]
        bare = isinstance(name, str) and _bare(name)  # `tag: 1` is read as a number first
        return f"tag:{_value_text(name)}" if bare else f"tag: {_value_text(name)}"
    head = c.field
    if c.window or c.where or c.event is not None:
        base, dot, measure = c.field.partition(".")
        if not dot:
            raise RuleError(
                "text", "{field} has no measure to write after its window", field=c.field
            )
        args = []
        if c.event is not None:
            args.append(_value_text(c.event))
        if c.window is not None:
            args.append(_window_text(c.window))
        for key, values in c.where:
            shown = _value_text(values[0]) if len(values) == 1 else _list_text(values)
            args.append(f"{key}={shown}")
        head = f"{base}({', '.join(args)}).{measure}"
    if c.op in ("is_empty", "is_not_empty"):
        return f"{head} {c.op.replace('_', ' ')}"
    if c.op in _LIST_OPS:
        return f"{head} {_LIST_OPS[c.op]} {_list_text(c.value)}"
    if c.op in _HAS_OPS:
        shown = _list_text(c.value) if isinstance(c.value, tuple) else _value_text(c.value)
        return f"{head} {_HAS_OPS[c.op]} {shown}"
    return f"{head} {c.op} {_value_text(c.value)}"


def _window_text(w: Window) -> str:
    if w.last_days is not None:
        return f"last {w.last_days}d"
    return f"{_day_text(w.start)}..{_day_text(w.end)}"


def _day_text(d: date | None) -> str:
    return d.isoformat() if d else ""


def _list_text(values: Any) -> str:
    return "[" + ", ".join(_value_text(v) for v in values) + "]"


def _value_text(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        raise RuleError("text", "{value!r} cannot be written as a value", value=v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    return v if _bare(v) else json.dumps(v, ensure_ascii=False)


def _bare(s: str) -> bool:
    """Whether text can be written without quotes and read back as the same text."""
    if not s or s.lower() in KEYWORDS or _NUMBER.fullmatch(s) or _DAYS.fullmatch(s):
        return False
    if s.startswith(".") or ".." in s or ":" in s:
        return False
    m = _TOKEN.match(s)
    return m is not None and m.lastgroup == "word" and m.end() == len(s) and m.start() == 0
