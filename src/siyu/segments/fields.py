"""The field catalogue: what a segment rule can ask about, and how each field is typed.

Each capability declares its own fields (``FIELDS`` in its ``segment_fields`` module, named by
its manifest's ``segment_fields``): customers add profile, identity and consent fields, tags add tags, traits add
RFM/lifecycle/CLV, orders and events add their windowed measures; later capabilities (WeCom
friendships, live codes, groups) add theirs the same way. The console asks
``GET /api/v1/segments/fields`` which fields, operators and values exist.

A field's type decides its operators and the shape of its value; ``check`` enforces both and
types the value, naming the path of the condition it refuses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from siyu.segments.rules import _DAY, Condition, RuleError, _day
from siyu.segments.rules import at as _at

COMPARE = ("=", "!=", "<", "<=", ">", ">=", "between")
EMPTY = ("is_empty", "is_not_empty")
OPS: dict[str, tuple[str, ...]] = {
    "text": ("=", "!=", "in", "not_in", *EMPTY),
    "enum": ("=", "!=", "in", "not_in", *EMPTY),
    "number": (*COMPARE, *EMPTY),
    "measure": COMPARE,  # counts and sums over a window: never empty (none is 0)
    "date": ("<", "<=", ">", ">=", "between", *EMPTY),
    "tags": ("has_any", "has_all", "has_none"),
    "tag_group": ("has_any", "has_none"),
    "kind": ("has", "lacks"),
    "segment": ("=", "!="),
}
OP_LABELS = {
    "=": "等于",
    "!=": "不等于",
    "<": "小于",
    "<=": "不大于",
    ">": "大于",
    ">=": "不小于",
    "between": "介于",
    "in": "属于",
    "not_in": "不属于",
    "is_empty": "为空",
    "is_not_empty": "不为空",
    "has_any": "包含任一",
    "has_all": "包含全部",
    "has_none": "都不包含",
    "has": "有",
    "lacks": "没有",
}

Compiler = Callable[[Condition, Any], Any]  # (condition, compile context) -> Ibis boolean


@dataclass(frozen=True)
class FieldSpec:
    """One field of the catalogue.

    ``values`` lists the allowed values of an enum (or suggestions the console shows for text);
    ``windowed`` fields take a ``window``; ``filters`` names the ``where`` keys allowed (``*``:
    any, as for event properties); ``needs_event`` fields name an event; ``unit`` says what a
    number is in (yuan, days, …) for the console."""

    name: str
    label: str
    group: str
    type: str
    compile: Compiler
    values: tuple[str, ...] = ()
    windowed: bool = False
    filters: tuple[str, ...] = ()
    needs_event: bool = False
    unit: str = ""
    integer: bool = False
    suggest: Callable[[Any], list[str]] | None = field(default=None, compare=False)

    @property
    def ops(self) -> tuple[str, ...]:
        return OPS[self.type]

    def describe(self, session: Any = None) -> dict[str, Any]:
        values = list(self.values)
        if self.suggest is not None and session is not None:
            values = self.suggest(session)
        return {
            "name": self.name,
            "label": self.label,
            "group": self.group,
            "type": self.type,
            "ops": [{"op": op, "label": OP_LABELS[op]} for op in self.ops],
            "values": values,
            "closed": bool(self.values),  # only these values are valid
            "windowed": self.windowed,
            "filters": list(self.filters),
            "needs_event": self.needs_event,
            "unit": self.unit,
        }


_FIELDS: dict[str, FieldSpec] = {}


def catalogue() -> dict[str, FieldSpec]:
    """Every capability's fields, by name (their modules imported once, on first use)."""
    if not _FIELDS:
        from siyu.capabilities import each

        found: dict[str, FieldSpec] = {}
        for spec in each("segment_fields"):
            if spec.type not in OPS:
                raise ValueError(f"field {spec.name}: unknown type {spec.type}")
            if spec.name in found:
                raise ValueError(f"field {spec.name} is declared twice")
            found[spec.name] = spec
        _FIELDS.update(found)
    return _FIELDS


def check(cond: Condition, path: str) -> Condition:
    """The condition with its value typed for its field; RuleError naming ``path`` otherwise."""
    fields = catalogue()
    spec = fields.get(cond.field)
    if spec is None:
        near = [n for n in fields if n.split(".")[0] == cond.field.split(".")[0]]
        if near:
            raise RuleError(
                _at(path, "field"),
                "unknown field {field!r} (did you mean {near}?)",
                field=cond.field,
                near=", ".join(sorted(near)[:4]),
            )
        raise RuleError(_at(path, "field"), "unknown field {field!r}", field=cond.field)
    if cond.op not in spec.ops:
        raise RuleError(
            _at(path, "op"),
            "operator {op!r} does not apply to {field} ({type}); use one of {ops}",
            op=cond.op,
            field=spec.name,
            type=spec.type,
            ops=", ".join(spec.ops),
        )
    if cond.window is not None and not spec.windowed:
        raise RuleError(_at(path, "window"), "{field} takes no time window", field=spec.name)
    if cond.where:
        if not spec.filters:
            raise RuleError(_at(path, "where"), "{field} takes no filters", field=spec.name)
        for key, _values in cond.where:
            if "*" not in spec.filters and key not in spec.filters:
                raise RuleError(
                    _at(_at(path, "where"), key),
                    "unknown filter {key!r}; use {filters}",
                    key=key,
                    filters=", ".join(spec.filters),
                )
    if spec.needs_event and not cond.event:
        raise RuleError(_at(path, "event"), "{field} needs the event's name", field=spec.name)
    if not spec.needs_event and cond.event is not None:
        raise RuleError(_at(path, "event"), "{field} takes no event name", field=spec.name)
    return replace(cond, value=_typed(spec, cond, _at(path, "value")))


def _typed(spec: FieldSpec, cond: Condition, path: str) -> Any:
    op, value = cond.op, cond.value
    if op in EMPTY:
        if value is not None:
            raise RuleError(path, "{op} takes no value", op=op)
        return None
    if value is None:
        raise RuleError(path, "{op} needs a value", op=op)
    if op in ("in", "not_in", "has_any", "has_all", "has_none") and spec.type != "tag_group":
        if not isinstance(value, tuple) or not value:
            raise RuleError(path, "{op} needs a non-empty list", op=op)
        return tuple(_one(spec, v, f"{path}[{i}]") for i, v in enumerate(value))
    if op == "between":
        if not isinstance(value, tuple) or len(value) != 2:
            raise RuleError(path, "between needs [low, high]")
        low, high = (_one(spec, v, f"{path}[{i}]") for i, v in enumerate(value))
        if high < low:
            raise RuleError(
                path,
                "between [{low}, {high}]: the low end is above the high end",
                low=low,
                high=high,
            )
        return (low, high)
    if isinstance(value, tuple):
        raise RuleError(path, "{op} takes one value, not a list", op=op)
    return _one(spec, value, path)


def _one(spec: FieldSpec, value: Any, path: str) -> Any:
    kind = spec.type
    if kind in ("number", "measure"):
        if isinstance(value, str) or value is None:
            raise RuleError(
                path, "{field} compares with a number, not {value!r}", field=spec.name, value=value
            )
        if spec.integer and value != int(value):
            raise RuleError(path, "{field} is a whole number", field=spec.name)
        return int(value) if spec.integer else value
    if kind == "date":
        if not isinstance(value, str) or not _DAY.fullmatch(value):
            raise RuleError(path, "{field} compares with a day as YYYY-MM-DD", field=spec.name)
        _day(value, path)  # a calendar day within the days rules may name
        return value
    if kind == "segment":
        if not isinstance(value, int):
            raise RuleError(path, "a segment is given by its number")
        return value
    if not isinstance(value, str):
        raise RuleError(
            path, "{field} compares with text, not {value!r}", field=spec.name, value=value
        )
    if not value.strip():
        raise RuleError(path, "empty text")
    if spec.values and value not in spec.values:
        raise RuleError(
            path,
            "{value!r} is not a value of {field}; use one of {values}",
            value=value,
            field=spec.name,
            values=", ".join(spec.values),
        )
    return value
