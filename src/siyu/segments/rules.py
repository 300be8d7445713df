"""The segment rule language: a tree of ``all`` / ``any`` / ``not`` over typed conditions.

JSON form (what the API stores and the console's builder edits)::

    {"all": [
        {"field": "tag", "op": "has_any", "value": ["价值/高价值"]},
        {"field": "city", "op": "in", "value": ["上海", "杭州"]},
        {"field": "orders.count", "op": "=", "value": 0, "window": {"last_days": 90}}
    ]}

A condition names a field of the catalogue (``segments.fields``), an operator valid for the
field's type and a value of that type. Order and event conditions may carry a ``window``
(``{"last_days": N}`` — the N Asia/Shanghai calendar days ending today — or ``{"from": day,
"to": day}``, both days included, either may be left out) and ``where`` filters (order lines'
category or SKU, platform, store; event properties). The compact text form lives in
``segments.text``; both parse into these nodes, so a rule written either way is the same rule.

Every check names the path of the node it refuses (``all[2].value``), so the console can point
at it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from siyu.i18n import N_
from siyu.refusals import Refusal

MAX_DEPTH = 20
MAX_CONDITIONS = 200
MAX_LIST = 10_000
MAX_TEXT = 200
MAX_WINDOW_DAYS = 3650 * 3
# Numbers a rule may hold: counts, days and yuan far beyond any shop, yet small enough that a
# sum in fen times an order count stays inside a 64-bit integer when the query runs.
MAX_NUMBER = 10**10
# Days a rule may name: before the first day any shop sold online, or centuries ahead, a day is
# a typo, and near the ends of the calendar a day's local midnight leaves Python's dates.
FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(2199, 12, 31)
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class RuleError(Refusal):
    """A rule that cannot be used; ``path`` says where (``all[1].window``), ``why`` why.

    ``why`` is a refusal of its own (the ``reason`` template and its values), so the builder can
    point at the path and say the reason in the reader's language."""

    def __init__(self, path: str, reason: str, /, **params: Any) -> None:
        self.why = Refusal(reason, **params)
        self.path, self.reason = path or "rule", str(self.why)
        super().__init__(N_("{path}: {why}"), path=self.path, why=self.why)

    def detail(self, say: Callable[[BaseException], str]) -> Any:
        return {"path": self.path, "reason": say(self.why)}


@dataclass(frozen=True)
class Window:
    """Days in the shop's time zone: the last ``last_days`` days including today, or from
    ``start`` to ``end`` (both included; None leaves that side open)."""

    last_days: int | None = None
    start: date | None = None
    end: date | None = None

    def to_json(self) -> dict[str, Any]:
        if self.last_days is not None:
            return {"last_days": self.last_days}
        out: dict[str, Any] = {}
        if self.start is not None:
            out["from"] = self.start.isoformat()
        if self.end is not None:
            out["to"] = self.end.isoformat()
        return out


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: Any  # str | int | float | None | tuple of those (lists are tuples, for hashing)
    window: Window | None = None
    where: tuple[tuple[str, tuple[str, ...]], ...] = ()  # sorted by key
    event: str | None = None  # the event name, for event conditions


@dataclass(frozen=True)
class Group:
    kind: str  # all | any
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    child: Node


Node = Condition | Group | Not


Check = Callable[[Condition, str], Condition]


# -- JSON ------------------------------------------------------------------------------------
def from_json(data: Any, check: Check | None = None) -> Node:
    """Parse the JSON form (a dict, or a JSON string); raises RuleError with the path.

    ``check`` (the field catalogue's) validates and types each condition, given its path in the
    tree as written; the result is normalised afterwards."""
    if isinstance(data, str | bytes):
        data = loads(data)
    tree = _node(data, "", 1, [0])
    return normalise(check_tree(tree, check) if check else tree)


def loads(text: str | bytes) -> Any:
    """The JSON a rule is written in, or RuleError saying where it stops being JSON."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise RuleError(
            "rule", "not valid JSON ({msg} at character {pos})", msg=exc.msg, pos=exc.pos + 1
        ) from None
    except RecursionError:
        raise RuleError("rule", "nested deeper than {n} levels", n=MAX_DEPTH) from None


def check_tree(node: Node, check: Check, path: str = "") -> Node:
    """The tree with every condition passed through ``check`` (paths as in ``conditions``)."""
    if isinstance(node, Condition):
        return check(node, path)
    if isinstance(node, Not):
        return Not(check_tree(node.child, check, _at(path, "not")))
    return Group(
        node.kind,
        tuple(
            check_tree(c, check, f"{_at(path, node.kind)}[{i}]")
            for i, c in enumerate(node.children)
        ),
    )


def _node(data: Any, path: str, depth: int, counter: list[int]) -> Node:
    if depth > MAX_DEPTH:
        raise RuleError(path, "nested deeper than {n} levels", n=MAX_DEPTH)
    if not isinstance(data, dict):
        raise RuleError(path, 'expected an object ({"all": …}, {"not": …} or a condition)')
    for kind in ("all", "any"):
        if kind in data:
            _only(data, {kind}, path)
            items = data[kind]
            if not isinstance(items, list) or not items:
                raise RuleError(_at(path, kind), "expected a non-empty list of rules")
            return Group(
                kind,
                tuple(
                    _node(item, f"{_at(path, kind)}[{i}]", depth + 1, counter)
                    for i, item in enumerate(items)
                ),
            )
    if "not" in data:
        _only(data, {"not"}, path)
        return Not(_node(data["not"], _at(path, "not"), depth + 1, counter))
    if "field" not in data:
        raise RuleError(path, 'expected "all", "any", "not" or a condition with "field"')
    counter[0] += 1
    if counter[0] > MAX_CONDITIONS:
        raise RuleError(path, "more than {n} conditions in one rule", n=MAX_CONDITIONS)
    return _condition(data, path)


def _only(data: dict[str, Any], keys: set[str], path: str) -> None:
    extra = sorted(set(data) - keys)
    if extra:
        raise RuleError(
            path, "unexpected key {key!r} beside {known!r}", key=extra[0], known=sorted(keys)[0]
        )


def at(path: str, key: str) -> str:
    """The path of ``key`` inside the node at ``path`` (the root's path is empty)."""
    return f"{path}.{key}" if path else key


_at = at


def _condition(data: dict[str, Any], path: str) -> Condition:
    _only(data, {"field", "op", "value", "window", "where", "event"}, path)
    name, op = data.get("field"), data.get("op")
    if not isinstance(name, str) or not name:
        raise RuleError(_at(path, "field"), "expected a field name")
    if not isinstance(op, str) or not op:
        raise RuleError(_at(path, "op"), "expected an operator")
    event = data.get("event")
    if event is not None and (not isinstance(event, str) or not event.strip()):
        raise RuleError(_at(path, "event"), "expected an event name")
    return Condition(
        field=name,
        op=op,
        value=_value(data.get("value"), _at(path, "value")),
        window=_window(data.get("window"), _at(path, "window")),
        where=_where(data.get("where"), _at(path, "where")),
        event=event,
    )


def _scalar(value: Any, path: str) -> Any:
    if value is None or isinstance(value, bool):
        if isinstance(value, bool):
            raise RuleError(path, "true/false is not a value here; use a number or text")
        return None
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise RuleError(path, "numbers must be finite")
        if not -MAX_NUMBER <= value <= MAX_NUMBER:
            raise RuleError(
                path,
                "numbers must be between {low:,} and {high:,}",
                low=-MAX_NUMBER,
                high=MAX_NUMBER,
            )
        return value
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise RuleError(path, "text longer than {n} characters", n=MAX_TEXT)
        if "\x00" in value:
            raise RuleError(path, "text contains a NUL character")
        return value
    raise RuleError(
        path, "expected text, a number or a list, not {kind}", kind=type(value).__name__
    )


def _value(value: Any, path: str) -> Any:
    if isinstance(value, list | tuple):
        if len(value) > MAX_LIST:
            raise RuleError(
                path, "a list of {n:,} values; at most {most:,}", n=len(value), most=MAX_LIST
            )
        return tuple(_scalar(v, f"{path}[{i}]") for i, v in enumerate(value))
    return _scalar(value, path)


def _day(value: Any, path: str) -> date:
    if not isinstance(value, str) or not _DAY.fullmatch(value):
        raise RuleError(path, "expected a day as YYYY-MM-DD")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise RuleError(path, "{day} is not a calendar day", day=value) from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise RuleError(
            path, "{day} is outside {first} to {last}", day=value, first=FIRST_DAY, last=LAST_DAY
        )
    return day


def last_days(n: Any, path: str) -> Window:
    """A window of the last ``n`` days, 1 to ``MAX_WINDOW_DAYS`` (both forms check it here)."""
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_WINDOW_DAYS:
        raise RuleError(path, "expected whole days, 1 to {most}", most=MAX_WINDOW_DAYS)
    return Window(last_days=n)


def _window(data: Any, path: str) -> Window | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise RuleError(path, 'expected {"last_days": N} or {"from": day, "to": day}')
    if "last_days" in data:
        _only(data, {"last_days"}, path)
        return last_days(data["last_days"], _at(path, "last_days"))
    _only(data, {"from", "to"}, path)
    if not data:
        raise RuleError(path, 'a window needs "last_days", "from" or "to"')
    start = _day(data["from"], _at(path, "from")) if "from" in data else None
    end = _day(data["to"], _at(path, "to")) if "to" in data else None
    if start and end and end < start:
        raise RuleError(
            path, "the window ends ({end}) before it starts ({start})", end=end, start=start
        )
    return Window(start=start, end=end)


def _where(data: Any, path: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if data is None:
        return ()
    if not isinstance(data, dict):
        raise RuleError(path, 'expected filters as an object, e.g. {"category": ["防晒"]}')
    out = []
    for key, raw in sorted(data.items()):
        at = _at(path, key)
        if not isinstance(key, str) or not key or len(key) > 64:
            raise RuleError(at, "expected a filter name")
        values = raw if isinstance(raw, list) else [raw]
        if not values:
            raise RuleError(at, "expected at least one value")
        checked = _value(values, at)
        if any(not isinstance(v, str) for v in checked):
            raise RuleError(at, "filter values are text")
        out.append((key, checked))
    return tuple(out)


def to_json(node: Node) -> dict[str, Any]:
    """The JSON form of a (normalised) rule."""
    if isinstance(node, Group):
        return {node.kind: [to_json(c) for c in node.children]}
    if isinstance(node, Not):
        return {"not": to_json(node.child)}
    out: dict[str, Any] = {"field": node.field, "op": node.op}
    if node.value is not None:
        out["value"] = list(node.value) if isinstance(node.value, tuple) else node.value
    if node.event is not None:
        out["event"] = node.event
    if node.window is not None:
        out["window"] = node.window.to_json()
    if node.where:
        out["where"] = {k: list(v) for k, v in node.where}
    return out


def normalise(node: Node) -> Node:
    """One shape per meaning: nested groups of the same kind flattened, one-child groups
    unwrapped. Both parsers return normalised trees, so round trips compare equal."""
    if isinstance(node, Not):
        return Not(normalise(node.child))
    if isinstance(node, Group):
        flat: list[Node] = []
        for child in (normalise(c) for c in node.children):
            if isinstance(child, Group) and child.kind == node.kind:
                flat.extend(child.children)
            else:
                flat.append(child)
        return flat[0] if len(flat) == 1 else Group(node.kind, tuple(flat))
    return node


def conditions(node: Node, path: str = "") -> list[tuple[str, Condition]]:
    """Every condition with its path, in order."""
    if isinstance(node, Condition):
        return [(path, node)]
    if isinstance(node, Not):
        return conditions(node.child, _at(path, "not"))
    return [
        item
        for i, child in enumerate(node.children)
        for item in conditions(child, f"{_at(path, node.kind)}[{i}]")
    ]


def depth(node: Node) -> int:
    if isinstance(node, Condition):
        return 1
    if isinstance(node, Not):
        return 1 + depth(node.child)
    return 1 + max(depth(c) for c in node.children)
