"""Read paths for tags: the catalogue with counts, and one customer's tags with provenance."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu.accounts.service import Principal
from siyu.customers.service import only_visible, sees_whole_pool
from siyu.db import plain_value
from siyu.shapes import Shape
from siyu.tags.models import CustomerTag, Tag, TagGroup, TagRule


class RuleOut(Shape):
    id: int
    condition: dict[str, Any]
    matched: int
    applied_at: str | None


class TagOut(Shape):
    """A tag with how many customers carry it, by source, and its rules."""

    id: int
    name: str
    customers: dict[str, int]
    rules: list[RuleOut]


class GroupOut(Shape):
    id: int
    group: str
    single: bool
    tags: list[TagOut]


class GroupAdded(Shape):
    id: int
    name: str
    single: bool


class TagAdded(Shape):
    id: int
    path: str


class Assigned(Shape):
    added: int
    phones_not_found: list[str]


class Unassigned(Shape):
    removed: int


class RuleAdded(Shape):
    id: int
    condition: dict[str, Any]


class RuleDeleted(Shape):
    deleted: int
    tags_removed: int


def catalogue(session: Session, principal: Principal | None = None) -> list[GroupOut]:
    """Every group with its tags, how many customers carry each (by source), and the rules
    with how many customers each matched — counted over the customers ``principal`` may see
    (``None``: the whole pool)."""
    mine = only_visible(principal, CustomerTag.customer_id)
    counts: dict[int, dict[str, int]] = {}
    for tag_id, source, n in session.execute(
        sa.select(
            CustomerTag.tag_id,
            CustomerTag.source,
            sa.func.count(sa.distinct(CustomerTag.customer_id)),
        )
        .where(mine)
        .group_by(CustomerTag.tag_id, CustomerTag.source)
    ):
        counts.setdefault(tag_id, {})[source] = n
    matched: dict[int, int] | None = None
    if not sees_whole_pool(principal):  # the stored figure counts the whole pool
        matched = {
            rule_id: int(n)
            for rule_id, n in session.execute(
                sa.select(CustomerTag.rule_id, sa.func.count(sa.distinct(CustomerTag.customer_id)))
                .where(CustomerTag.source == "rule", mine)
                .group_by(CustomerTag.rule_id)
            )
        }
    rules: dict[int, list[RuleOut]] = {}
    for r in session.scalars(sa.select(TagRule).order_by(TagRule.id)):
        rules.setdefault(r.tag_id, []).append(
            RuleOut(
                id=r.id,
                condition=r.condition,
                matched=r.matched if matched is None else matched.get(r.id, 0),
                applied_at=plain_value(r.applied_at),
            )
        )
    out = []
    for g in session.scalars(sa.select(TagGroup).order_by(TagGroup.name)):
        tags = session.scalars(sa.select(Tag).where(Tag.group_id == g.id).order_by(Tag.name))
        out.append(
            GroupOut(
                id=g.id,
                group=g.name,
                single=g.single,
                tags=[
                    TagOut(
                        id=t.id,
                        name=t.name,
                        customers=counts.get(t.id, {}),
                        rules=rules.get(t.id, []),
                    )
                    for t in tags
                ],
            )
        )
    return out


def tags_of(session: Session, customer_id: int) -> list[dict[str, Any]]:
    """A customer's tags with who or what set them and when."""
    rows = session.execute(
        sa.select(TagGroup.name, Tag.name, CustomerTag)
        .join(Tag, Tag.id == CustomerTag.tag_id)
        .join(TagGroup, TagGroup.id == Tag.group_id)
        .where(CustomerTag.customer_id == customer_id)
        .order_by(TagGroup.name, Tag.name, CustomerTag.source)
    )
    return [
        {
            "group": group,
            "tag": tag,
            "source": ct.source,
            "rule_id": ct.rule_id or None,
            "by": ct.actor,
            "assigned_at": plain_value(ct.assigned_at),
        }
        for group, tag, ct in rows
    ]
