"""Segment fields of behaviour: did (or did not do) an event at least / at most N times within
a window, optionally only events whose properties have given values.

Property filters compare the property's text: ``page=/sale`` matches ``"page": "/sale"``,
``qty=3`` matches ``"qty": 3``. Identify calls are not events here; tracked events are."""

from __future__ import annotations

import re

import ibis
import ibis.expr.types as ir

from siyu.segments.compiler import Context, count_test
from siyu.segments.fields import FieldSpec
from siyu.segments.rules import Condition

BEHAVIOUR = "行为"
_PROPERTY = re.compile(r"[\w\-]{1,64}")


def _on_spark(table: ir.Table) -> bool:
    try:
        return str(table._find_backend().name) == "pyspark"
    except Exception:  # an unbound expression: compiled for DuckDB's SQL
        return False


def _count(cond: Condition, ctx: Context) -> ir.BooleanValue:
    ev = ctx.narrow(ctx.table("event"))
    ev = ev.filter(
        ev.type == "track", ev.name == cond.event, ctx.within(ev.occurred_at, cond.window)
    )
    for key, values in cond.where:
        if not _PROPERTY.fullmatch(key):
            raise ctx.refuse("property name {key!r}: letters, digits, _ and - only", key=key)
        prop = ev.properties.cast("json")[key]
        wanted = list(values)
        if _on_spark(ev):  # get_json_object gives a string's value unquoted: as it is; ibis'
            text = prop.cast("string")  # .str would json.loads it again, and fail on /sale
        else:
            text = ibis.coalesce(prop.str, prop.cast("string"))
        ev = ev.filter(text.isin(wanted).fill_null(False))
    return count_test(ctx, ev.filter(ev.customer_id.notnull()), cond.op, cond.value)


FIELDS = (
    FieldSpec(
        "events.count",
        "行为次数",
        BEHAVIOUR,
        "measure",
        _count,
        windowed=True,
        filters=("*",),
        needs_event=True,
        unit="次",
        integer=True,
    ),
)
