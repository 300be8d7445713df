"""Segment fields of tags: has any / all / none of some tags, or any tag of a group."""

from __future__ import annotations

from typing import Any

import ibis.expr.types as ir
import sqlalchemy as sa

from siyu.segments.compiler import Context, resolve_tag
from siyu.segments.fields import FieldSpec
from siyu.segments.rules import Condition

TAGS = "标签"


def _tags(cond: Condition, ctx: Context) -> ir.BooleanValue:
    """Tag references are ``组/标签`` or a tag name used in one group only. Whoever set the
    tag (hand, rule, import, WeCom) does not matter here."""
    held = ctx.table("customer_tag")
    ids = [resolve_tag(ctx.lookups, ref, ctx.path)[0] for ref in cond.value]
    if cond.op == "has_all":
        test = ctx.member(held.filter(held.tag_id == ids[0]))
        for tag_id in ids[1:]:
            test &= ctx.member(held.filter(held.tag_id == tag_id))
        return test
    has_any = ctx.member(held.filter(held.tag_id.isin(ids)))
    return ~has_any if cond.op == "has_none" else has_any


def _group(cond: Condition, ctx: Context) -> ir.BooleanValue:
    ids = ctx.lookups.group_tag_ids(cond.value)
    if ids is None:
        raise ctx.refuse("no tag group {group!r}", group=cond.value)
    held = ctx.table("customer_tag")
    has_any = ctx.member(held.filter(held.tag_id.isin(ids or [-1])))
    return ~has_any if cond.op == "has_none" else has_any


def _tag_names(session: Any) -> list[str]:
    from siyu.tags.models import Tag, TagGroup

    rows = session.execute(
        sa.select(TagGroup.name, Tag.name).join(Tag, Tag.group_id == TagGroup.id).limit(500)
    )
    return [f"{g}/{t}" for g, t in rows]


def _group_names(session: Any) -> list[str]:
    from siyu.tags.models import TagGroup

    return list(session.scalars(sa.select(TagGroup.name).order_by(TagGroup.name)))


FIELDS = (
    FieldSpec("tag", "标签", TAGS, "tags", _tags, suggest=_tag_names),
    FieldSpec("tag_group", "标签组", TAGS, "tag_group", _group, suggest=_group_names),
)
