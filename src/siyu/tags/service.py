"""Tag use cases: groups and tags, manual tagging one by one or in bulk, rules and their
application. Every assignment keeps its provenance; single-choice groups hold one tag per
customer and source."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from siyu import clock
from siyu.accounts.service import record_audit
from siyu.analytics.engines import ibis_tables
from siyu.bulk import db_time, insert_rows
from siyu.config import Settings
from siyu.customers.changes import touch_customers
from siyu.customers.models import Customer
from siyu.db import table_of, write_transaction
from siyu.privacy.service import ErasureContext
from siyu.reactions import Topic, publish_parts
from siyu.refusals import Refusal
from siyu.tags.models import CustomerTag, Tag, TagGroup, TagRule
from siyu.tags.rules import TagRuleError, matching, parse_condition
from siyu.traits.params import EPOCH, trait_params

ASSIGNED = table_of(CustomerTag)
MANUAL = "manual"


def _notify(
    session: Session, tag: Tag, customer_ids: list[int], added: bool, actor: str, source: str
) -> None:
    """Tell the capabilities that keep tags in step elsewhere (WeCom corp tags) of assignments
    made or taken off here: published in this transaction, delivered after commit."""
    data = {"tag": tag.id, "added": added, "actor": actor, "source": source}
    publish_parts(session, Topic.tag_changed, "customers", customer_ids, **data)


class TagError(Refusal):
    """A tagging request that cannot be done; the message says why."""


def add_group(session: Session, name: str, *, single: bool, actor: str) -> TagGroup:
    name = name.strip()
    if not name or len(name) > 50:
        raise TagError("a tag group needs a name of 1–50 characters")
    if session.scalar(sa.select(TagGroup.id).where(TagGroup.name == name)):
        raise TagError("tag group {name!r} already exists", name=name)
    group = TagGroup(name=name, single=single)
    session.add(group)
    session.flush()
    record_audit(session, actor, "tag_group.create", "tag_group", str(group.id), {"name": name})
    return group


def add_tag(session: Session, path: str, *, actor: str) -> Tag:
    """Add ``分组/标签`` to an existing group."""
    group_name, name = _split(path)
    group = session.scalar(sa.select(TagGroup).where(TagGroup.name == group_name))
    if group is None:
        raise TagError(
            "no tag group {group!r}; add it first (siyu tags add-group)", group=group_name
        )
    if not name or len(name) > 50:
        raise TagError("a tag needs a name of 1–50 characters")
    if session.scalar(sa.select(Tag.id).where(Tag.group_id == group.id, Tag.name == name)):
        raise TagError("tag {tag!r} already exists", tag=path)
    tag = Tag(group_id=group.id, name=name)
    session.add(tag)
    session.flush()
    record_audit(session, actor, "tag.create", "tag", str(tag.id), {"path": path})
    return tag


def find_tag(session: Session, path: str) -> Tag:
    group_name, name = _split(path)
    tag = session.scalar(
        sa.select(Tag).join(TagGroup).where(TagGroup.name == group_name, Tag.name == name)
    )
    if tag is None:
        raise TagError(
            "no tag {tag!r} (add it with: siyu tags add '{group}/{name}')",
            tag=path,
            group=group_name,
            name=name,
        )
    return tag


def assign(
    session: Session, tag: Tag, customer_ids: Iterable[int], *, actor: str, source: str = MANUAL
) -> int:
    """Put ``tag`` on customers by hand (or from an import/WeCom); returns how many were new."""
    wanted = _existing_customers(session, customer_ids)
    group = session.get(TagGroup, tag.group_id)
    if group is not None and group.single:  # one tag of the group per customer and source
        session.execute(
            sa.delete(CustomerTag).where(
                CustomerTag.customer_id.in_(wanted),
                CustomerTag.source == source,
                CustomerTag.tag_id.in_(
                    sa.select(Tag.id).where(Tag.group_id == group.id, Tag.id != tag.id)
                ),
            )
        )
    have = set(
        session.scalars(
            sa.select(CustomerTag.customer_id).where(
                CustomerTag.tag_id == tag.id,
                CustomerTag.source == source,
                CustomerTag.customer_id.in_(wanted),
            )
        )
    )
    new = [c for c in wanted if c not in have]
    now = clock.now()
    session.add_all(
        CustomerTag(
            customer_id=c, tag_id=tag.id, source=source, rule_id=0, actor=actor, assigned_at=now
        )
        for c in new
    )
    touch_customers(session, wanted)  # their tags changed (customers.changes)
    record_audit(session, actor, "tag.assign", "tag", str(tag.id), {"customers": len(new)})
    _notify(session, tag, new, True, actor, source)
    return len(new)


def unassign(session: Session, tag: Tag, customer_ids: Iterable[int], *, actor: str) -> int:
    """Take a hand-set tag off customers (tags set by rules stay until their rule changes)."""
    customer_ids = list(customer_ids)
    res = session.execute(
        sa.delete(CustomerTag).where(
            CustomerTag.tag_id == tag.id,
            CustomerTag.source == MANUAL,
            CustomerTag.customer_id.in_(customer_ids),
        )
    )
    touch_customers(session, customer_ids)
    removed = int(getattr(res, "rowcount", 0) or 0)
    record_audit(session, actor, "tag.unassign", "tag", str(tag.id), {"customers": removed})
    if removed:
        _notify(session, tag, customer_ids, False, actor, MANUAL)
    return removed


def add_rule(session: Session, tag: Tag, condition: Any, *, actor: str) -> TagRule:
    """A rule that keeps ``tag`` on everyone meeting ``condition`` (checked now, applied by the
    next recompute or ``apply_rules``)."""
    try:
        cond = parse_condition(condition)
    except TagRuleError as exc:
        raise TagError("{why}", why=exc) from None
    rule = TagRule(tag_id=tag.id, condition=cond.model_dump(), created_by=actor)
    session.add(rule)
    session.flush()
    record_audit(session, actor, "tag_rule.create", "tag_rule", str(rule.id), rule.condition)
    return rule


def delete_rule(session: Session, rule_id: int, *, actor: str) -> int:
    """Delete a rule and only the tags it set; returns how many assignments went."""
    rule = session.get(TagRule, rule_id)
    if rule is None:
        raise TagError("no tag rule {id}", id=rule_id)
    mine = sa.and_(CustomerTag.source == "rule", CustomerTag.rule_id == rule_id)
    touch_customers(session, session.scalars(sa.select(CustomerTag.customer_id).where(mine)))
    res = session.execute(
        sa.delete(CustomerTag).where(CustomerTag.source == "rule", CustomerTag.rule_id == rule_id)
    )
    session.delete(rule)
    record_audit(session, actor, "tag_rule.delete", "tag_rule", str(rule_id), rule.condition)
    return int(getattr(res, "rowcount", 0) or 0)


@dataclass
class RuleOutcome:
    rule_id: int
    tag: str
    matched: int
    added: int
    removed: int


def apply_rules(
    engine: Engine,
    settings: Settings,
    *,
    today: datetime | None = None,
    compute_engine: str = "duckdb",
) -> list[RuleOutcome]:
    """Evaluate every rule on the analytical copy and bring its tags in line, rule by rule.

    In a single-choice group a customer matched by several rules gets the tag of the oldest
    rule. The copy should be fresh (a recompute refreshes it first)."""
    with Session(engine) as session:
        rules = list(session.scalars(sa.select(TagRule).order_by(TagRule.id)))
        tags = {t.id: t for t in session.scalars(sa.select(Tag))}
        groups = {g.id: g for g in session.scalars(sa.select(TagGroup))}
    if not rules:
        return []
    day = (today or clock.now().astimezone(settings.tz)).date()
    params = trait_params(settings, day, settings.traits_window_days)
    matched: dict[int, set[int]] = {}
    names = ["customer", "order", "order_line"]
    with ibis_tables(settings.resolved_analytics_path, compute_engine, names) as t:
        for rule in rules:
            cond = parse_condition(rule.condition)
            hits = matching(t, cond, (day - EPOCH).days, params.utc_offset_minutes).to_pyarrow()
            matched[rule.id] = set(hits.column("customer_id").to_pylist())
    claimed: dict[int, set[int]] = {}
    outcomes = []
    for rule in rules:
        tag = tags[rule.tag_id]
        group = groups[tag.group_id]
        want = matched[rule.id]
        if group.single:
            want -= claimed.setdefault(group.id, set())
            claimed[group.id] |= want
        outcomes.append(_sync_rule(engine, rule, tag, f"{group.name}/{tag.name}", want))
    return outcomes


def _sync_rule(engine: Engine, rule: TagRule, tag: Tag, path: str, want: set[int]) -> RuleOutcome:
    with write_transaction(engine) as conn:
        mine = sa.and_(ASSIGNED.c.source == "rule", ASSIGNED.c.rule_id == rule.id)
        have = {r[0] for r in conn.execute(sa.select(ASSIGNED.c.customer_id).where(mine))}
        gone = list(have - want)
        if gone:
            conn.execute(ASSIGNED.delete().where(mine, ASSIGNED.c.customer_id.in_(gone)))
        now = db_time(conn, clock.now())
        insert_rows(
            conn,
            ASSIGNED,
            ("customer_id", "tag_id", "source", "rule_id", "actor", "assigned_at"),
            [(c, tag.id, "rule", rule.id, f"rule:{rule.id}", now) for c in sorted(want - have)],
        )
        touch_customers(conn, [*gone, *(want - have)])
        conn.execute(
            table_of(TagRule)
            .update()
            .where(table_of(TagRule).c.id == rule.id)
            .values(applied_at=clock.now(), matched=len(want))
        )
    return RuleOutcome(rule.id, path, len(want), len(want - have), len(gone))


def _existing_customers(session: Session, customer_ids: Iterable[int]) -> list[int]:
    wanted = sorted(set(customer_ids))
    if not wanted:
        raise TagError("no customers given")
    known = set(
        session.scalars(
            sa.select(Customer.id).where(Customer.id.in_(wanted), Customer.status == "active")
        )
    )
    unknown = [c for c in wanted if c not in known]
    if unknown:
        shown = ", ".join(map(str, unknown[:5])) + (" …" if len(unknown) > 5 else "")
        raise TagError("{n} customer ids are unknown or merged: {ids}", n=len(unknown), ids=shown)
    return wanted


def _split(path: str) -> tuple[str, str]:
    group, sep, name = path.partition("/")
    if not sep or not group.strip() or not name.strip():
        raise TagError("name a tag as 分组/标签 (group/tag), not {tag!r}", tag=path)
    return group.strip(), name.strip()


def erase_tags(session: Session, ctx: ErasureContext) -> int:
    """Erasure: the person's tags go too."""
    res = session.execute(
        sa.delete(CustomerTag).where(CustomerTag.customer_id.in_(ctx.customer_ids))
    )
    return int(getattr(res, "rowcount", 0) or 0)
