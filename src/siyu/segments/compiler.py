"""Compiling a rule into one Ibis expression over the analytical copy (DuckDB or Spark).

Every condition becomes a two-valued predicate on the active customers: a column test on the
customer table, or membership of the customer id in a sub-query (tags, traits, orders,
events…). ``all``/``any``/``not`` combine them with and/or/not, so a whole rule is one query.
Values are bound as literals by Ibis; no SQL is assembled from text here.

Meanings the reference tests pin down:

- ``!=``, ``not_in``, ``has_none`` and ``lacks`` are the exact complements of ``=``, ``in``,
  ``has_any`` and ``has``: a customer whose city is unknown is in ``city != 上海``.
- Order and event measures over a window count 0 (sum 0) for a customer with no such orders or
  events; an average over nothing matches nothing.
- Days are calendar days in the shop's time zone; ``last N days`` ends today, today included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import ibis
import ibis.expr.types as ir

from siyu.segments.fields import catalogue
from siyu.segments.rules import Condition, Group, Node, Not, RuleError, Window, at


def rule_tables() -> list[str]:
    """The copy's tables a rule may read: every capability's copied tables (their fields read
    them), but segment membership, which refreshes read on their own."""
    from siyu.analytics.tables import copied_tables

    return [t.name for t in copied_tables() if t.name not in ("segment", "segment_member")]


class Lookups(Protocol):
    """What compiling needs from the system of record: tag names and other segments."""

    def tag_ids(self, ref: str) -> list[int]: ...

    def group_tag_ids(self, group: str) -> list[int] | None: ...

    def segment(self, segment_id: int) -> SegmentRef | None: ...


@dataclass(frozen=True)
class SegmentRef:
    id: int
    name: str
    dynamic: bool
    rule: Any  # JSON form (dynamic segments)
    brand_id: int | None


@dataclass(frozen=True)
class Scope:
    """Whose data a rule sees: one brand's orders, traits and consents, or all brands (None);
    ``today`` and ``tz`` fix what "last 90 days" means."""

    brand_id: int | None
    today: date
    tz: ZoneInfo


@dataclass
class Context:
    """The copy's tables on one engine, the scope, and the compile state (paths, segments)."""

    tables: dict[str, ir.Table]
    scope: Scope
    lookups: Lookups
    path: str = ""
    segment_stack: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        c = self.tables["customer"]
        self.customer = c.filter(c.status == "active")
        self.only: ir.Table | None = None

    def restrict(self, ids: ir.Table, *, tables_narrowed: bool = False) -> None:
        """Evaluate for these customers only (column ``id``): an incremental refresh re-checks
        the customers that changed. Sub-queries are narrowed too, so the work is theirs —
        unless the tables given are already narrowed to them (``tables_narrowed``)."""
        self.customer = self.customer.filter(self.customer.id.isin(ids.id))
        self.only = None if tables_narrowed else ids

    def table(self, name: str) -> ir.Table:
        return self.tables[name]

    def member(self, sub: ir.Table, column: str = "customer_id") -> ir.BooleanValue:
        """Whether the customer's id is among ``sub``'s ``column``."""
        return self.customer.id.isin(self.narrow(sub, column)[column])

    def narrow(self, rows: ir.Table, column: str = "customer_id") -> ir.Table:
        """``rows`` of the customers being checked only (all, unless restricted). Apply it to
        orders or events *before* aggregating, so an incremental refresh reads only theirs."""
        if self.only is None:
            return rows
        return rows.filter(rows[column].isin(self.only.id))

    def refuse(self, reason: str, /, **params: Any) -> RuleError:
        return RuleError(self.path, reason, **params)

    # -- time --------------------------------------------------------------------------------
    def midnight(self, day: date) -> datetime:
        """The UTC instant (naive, as the copy stores times) a local day starts."""
        local = datetime.combine(day, time(0), self.scope.tz)
        return local.astimezone(UTC).replace(tzinfo=None)

    def bounds(self, window: Window | None) -> tuple[datetime | None, datetime | None]:
        """[start, end) in naive UTC for a window of local days; None for an open side."""
        if window is None:
            return None, None
        if window.last_days is not None:
            first = self.scope.today - timedelta(days=window.last_days - 1)
            return self.midnight(first), self.midnight(self.scope.today + timedelta(days=1))
        start = self.midnight(window.start) if window.start else None
        end = self.midnight(window.end + timedelta(days=1)) if window.end else None
        return start, end

    def within(self, column: ir.TimestampValue, window: Window | None) -> ir.BooleanValue:
        start, end = self.bounds(window)
        test: ir.BooleanValue = column.notnull()
        if start is not None:
            test &= column >= start
        if end is not None:
            test &= column < end
        return test


def compile_rule(node: Node, ctx: Context) -> ir.BooleanValue:
    """The rule as one boolean over ``ctx.customer`` (never NULL)."""
    if isinstance(node, Group):
        parts = []
        for i, child in enumerate(node.children):
            with _at(ctx, f"{node.kind}[{i}]"):
                parts.append(compile_rule(child, ctx))
        out = parts[0]
        for p in parts[1:]:
            out = (out & p) if node.kind == "all" else (out | p)
        return out
    if isinstance(node, Not):
        with _at(ctx, "not"):
            return ~compile_rule(node.child, ctx)
    spec = catalogue()[node.field]
    return spec.compile(node, ctx).fill_null(False)


@contextmanager
def _at(ctx: Context, key: str) -> Iterator[None]:
    saved = ctx.path
    ctx.path = f"{saved}.{key}" if saved else key
    try:
        yield
    finally:
        ctx.path = saved


def members(node: Node, ctx: Context) -> ir.Table:
    """The matching customers' ids (one column, ``customer_id``)."""
    c = ctx.customer
    return c.filter(compile_rule(node, ctx)).select(customer_id=c.id)


def count(node: Node, ctx: Context) -> ir.IntegerScalar:
    c = ctx.customer
    return c.filter(compile_rule(node, ctx)).count()


# -- helpers the field modules share -----------------------------------------------------------
def column_test(col: ir.Value, op: str, value: Any, scale: int = 1) -> ir.BooleanValue:
    """A positive test of a column (``=``, ``in``, comparisons, ``between``, ``is_not_empty``);
    the negative operators are built as their complements by ``complement_of``."""

    def v(x: Any) -> Any:
        return round(x * scale) if scale != 1 else x

    if op == "=":
        return col == v(value)
    if op == "in":
        return col.isin([v(x) for x in value])
    if op == "<":
        return col < v(value)
    if op == "<=":
        return col <= v(value)
    if op == ">":
        return col > v(value)
    if op == ">=":
        return col >= v(value)
    if op == "between":
        return (col >= v(value[0])) & (col <= v(value[1]))
    if op == "is_not_empty":
        return col.notnull()
    raise ValueError(f"no positive test for {op}")


NEGATIVE = {"!=": "=", "not_in": "in", "is_empty": "is_not_empty", "has_none": "has_any"}
NEGATIVE["lacks"] = "has"


def complement_of(op: str) -> tuple[str, bool]:
    """(the positive operator, whether to negate it)."""
    return (NEGATIVE[op], True) if op in NEGATIVE else (op, False)


def column_field(column: str, scale: int = 1) -> Callable[[Condition, Context], ir.BooleanValue]:
    """A field that is a column of the customer table."""

    def compile_(cond: Condition, ctx: Context) -> ir.BooleanValue:
        op, negate = complement_of(cond.op)
        test = column_test(ctx.customer[column], op, cond.value, scale).fill_null(False)
        return ~test if negate else test

    return compile_


def holds_at_zero(op: str, value: Any) -> bool:
    """Whether a measure of 0 satisfies the comparison (no orders = count 0, sum 0)."""
    return {
        "=": lambda: value == 0,
        "!=": lambda: value != 0,
        "<": lambda: value > 0,
        "<=": lambda: value >= 0,
        ">": lambda: value < 0,
        ">=": lambda: value <= 0,
        "between": lambda: value[0] <= 0 <= value[1],
    }[op]()


def compare(col: ir.Value, op: str, value: Any) -> ir.BooleanValue:
    if op == "!=":
        return col != value
    return column_test(col, op, value)


AT_LEAST_ONE = {(">=", 1), (">", 0), ("!=", 0)}
NONE_AT_ALL = {("=", 0), ("<", 1), ("<=", 0)}


def count_test(
    ctx: Context, rows: ir.Table, op: str, value: Any, per: ir.Table | None = None
) -> ir.BooleanValue:
    """Compare how many of ``rows`` (orders or events, with ``customer_id``) each customer has;
    ``per`` gives the counts (column ``n``) when a row is not one of what is counted. "At
    least one" and "none" need no counting: they are plain (non-)membership."""
    key = (op, value) if not isinstance(value, tuple) else None
    if key in AT_LEAST_ONE:
        return ctx.member(rows)
    if key in NONE_AT_ALL:
        return ~ctx.member(rows)
    if per is None:
        per = rows.group_by(customer_id=rows.customer_id).aggregate(n=rows.count())
    return measure_test(ctx, per, "n", op, value, True)


def measure_test(
    ctx: Context,
    per_customer: ir.Table,
    measure: str,
    op: str,
    value: Any,
    zero_counts: bool,
) -> ir.BooleanValue:
    """Compare a per-customer measure (``customer_id``, ``measure``); customers absent from
    ``per_customer`` have a measure of 0 when ``zero_counts``, else none (never match)."""
    hit = compare(per_customer[measure], op, value).fill_null(False)
    if zero_counts and holds_at_zero(op, value):
        return ~ctx.member(per_customer.filter(~hit))
    return ctx.member(per_customer.filter(hit))


def check_refs(cond: Condition, path: str, lookups: Lookups) -> None:
    """Check what a condition names in the system of record (tags, groups, segments)."""
    if cond.field == "tag":
        for ref in cond.value:
            resolve_tag(lookups, ref, path)
    elif cond.field == "tag_group" and lookups.group_tag_ids(cond.value) is None:
        raise RuleError(at(path, "value"), "no tag group {group!r}", group=cond.value)
    elif cond.field == "segment" and lookups.segment(cond.value) is None:
        raise RuleError(at(path, "value"), "no segment {id}", id=cond.value)


def resolve_tag(lookups: Lookups, ref: str, path: str) -> list[int]:
    ids = lookups.tag_ids(ref)
    if not ids:
        raise RuleError(
            at(path, "value"), "no tag {tag!r} (write 组/标签 or a tag's name)", tag=ref
        )
    if len(ids) > 1:
        raise RuleError(
            at(path, "value"), "several groups have a tag {tag!r}; write 组/{tag}", tag=ref
        )
    return ids


def literal_ids(values: list[int]) -> ir.Table:
    return ibis.memtable({"id": values}, schema={"id": "int64"})
