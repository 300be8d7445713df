"""The segment field: membership of another segment (a dynamic one is compiled in place, so
it is as fresh as the copy; a reference back to a segment being compiled is refused)."""

from __future__ import annotations

import ibis.expr.types as ir

from siyu.segments.compiler import Context, compile_rule
from siyu.segments.fields import FieldSpec, check
from siyu.segments.rules import Condition, RuleError, from_json

SEGMENTS = "分群"


def _segment(cond: Condition, ctx: Context) -> ir.BooleanValue:
    seg_id = cond.value
    if seg_id in ctx.segment_stack:
        loop = " → ".join(str(s) for s in [*ctx.segment_stack, seg_id])
        raise ctx.refuse("segments refer to each other in a loop ({loop})", loop=loop)
    ref = ctx.lookups.segment(seg_id)
    if ref is None:
        raise ctx.refuse("no segment {id}", id=seg_id)
    if not ref.dynamic:
        members = ctx.table("segment_member")
        hit = ctx.member(members.filter(members.segment_id == seg_id))
    else:
        try:
            inner = from_json(ref.rule, check)
        except RuleError as exc:
            raise ctx.refuse(
                "segment {id} ({name}) has a bad rule: {why}", id=seg_id, name=ref.name, why=exc
            ) from None
        ctx.segment_stack.append(seg_id)
        saved = ctx.path
        ctx.path = f"{saved} → segment {seg_id}"
        try:
            hit = compile_rule(inner, ctx)
        finally:
            ctx.segment_stack.pop()
            ctx.path = saved
    return ~hit if cond.op == "!=" else hit


FIELDS = (FieldSpec("segment", "所属分群", SEGMENTS, "segment", _segment),)
