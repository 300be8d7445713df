"""Segments: define them (rule or list), count and preview them on the analytical copy.

A rule arrives as JSON or as text; either way it is parsed into the same tree, checked against
the field catalogue and the system of record (tags, other segments, loops), and stored as JSON
with its canonical text. Counting compiles it into one Ibis query on the copy; every count says
how fresh the copy was.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.accounts.service import Principal, record_audit
from siyu.analytics.engines import duckdb_of, ibis_tables
from siyu.analytics.service import refreshed_at
from siyu.brands.models import Brand
from siyu.bulk import chunks, db_time, insert_rows
from siyu.config import Settings
from siyu.customers import CUSTOMERS_READ
from siyu.customers import identifiers as ids
from siyu.customers.masking import mask_optional
from siyu.customers.models import Customer
from siyu.customers.queries import customers_by_phones, phones_of
from siyu.customers.service import only_visible, sees_whole_pool, visible_to, wecom_friends
from siyu.db import table_of
from siyu.refusals import Refusal
from siyu.segments import text as rule_text
from siyu.segments.compiler import (
    Context,
    Lookups,
    Scope,
    SegmentRef,
    check_refs,
    compile_rule,
    count,
    rule_tables,
)
from siyu.segments.fields import check
from siyu.segments.models import Segment, SegmentMember, SegmentSize
from siyu.segments.rules import (
    Check,
    Condition,
    Node,
    RuleError,
    at,
    conditions,
    from_json,
    to_json,
)
from siyu.tags.models import Tag, TagGroup


class SegmentError(Refusal):
    """A segment request that cannot be carried out; the message says why."""


class NoSuchSegment(SegmentError):
    """The segment asked for does not exist (the API answers 404)."""


class NameTaken(SegmentError):
    """Another segment already has the name (the API answers 409)."""


class SessionLookups:
    """Tags and segments as the system of record has them now."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def tag_ids(self, ref: str) -> list[int]:
        q = sa.select(Tag.id).join(TagGroup, TagGroup.id == Tag.group_id)
        group, sep, name = ref.partition("/")
        if sep:
            q = q.where(TagGroup.name == group.strip(), Tag.name == name.strip())
        else:
            q = q.where(Tag.name == ref.strip())
        return list(self.session.scalars(q))

    def group_tag_ids(self, group: str) -> list[int] | None:
        group_id = self.session.scalar(sa.select(TagGroup.id).where(TagGroup.name == group))
        if group_id is None:
            return None
        return list(self.session.scalars(sa.select(Tag.id).where(Tag.group_id == group_id)))

    def segment(self, segment_id: int) -> SegmentRef | None:
        seg = self.session.get(Segment, segment_id)
        if seg is None:
            return None
        return SegmentRef(seg.id, seg.name, seg.dynamic, seg.rule, seg.brand_id)


def parse_rule(rule: Any, checker: Check = check) -> Node:
    """A rule given as JSON (dict or JSON text starting with ``{``) or as the text form."""
    if isinstance(rule, str) and not rule.lstrip().startswith("{"):
        return rule_text.parse(rule, checker)
    return from_json(rule, checker)


def checked_rule(session: Session, rule: Any, *, segment_id: int | None = None) -> Node:
    """Parse and check a rule against the system of record: tags and segments it names must
    exist, and segments may not refer to each other in a loop. Errors name the path of the
    condition as written."""
    lookups = SessionLookups(session)
    stack = [segment_id] if segment_id is not None else []

    def check_all(cond: Condition, path: str) -> Condition:
        cond = check(cond, path)
        check_refs(cond, path, lookups)
        if cond.field == "segment":
            _no_loops(cond.value, lookups, stack, at(path, "value"))
        return cond

    return parse_rule(rule, check_all)


def _no_loops(segment_id: int, lookups: Lookups, stack: list[int], path: str) -> None:
    if segment_id in stack:
        loop = " → ".join(str(s) for s in [*stack, segment_id])
        raise RuleError(path, "segments refer to each other in a loop ({loop})", loop=loop)
    ref = lookups.segment(segment_id)
    if ref is None or not ref.dynamic or ref.rule is None:
        return
    for _p, cond in conditions(from_json(ref.rule)):
        if cond.field == "segment":
            _no_loops(cond.value, lookups, [*stack, segment_id], path)


def _brand_id(session: Session, code: str | None) -> int | None:
    if code is None:
        return None
    brand_id = session.scalar(sa.select(Brand.id).where(Brand.code == code))
    if brand_id is None:
        raise SegmentError("no brand with code {code!r}", code=code)
    return brand_id


def create_segment(
    session: Session,
    name: str,
    *,
    rule: Any = None,
    actor: str,
    brand: str | None = None,
    description: str = "",
) -> Segment:
    """A dynamic segment from a rule (static segments come from ``segments.members``)."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise SegmentError("a segment needs a name of 1 to 100 characters")
    if session.scalar(sa.select(Segment.id).where(Segment.name == name)) is not None:
        raise NameTaken("a segment named {name!r} already exists", name=name)
    if rule is None:
        raise SegmentError("a dynamic segment needs a rule")
    node = checked_rule(session, rule)
    seg = Segment(
        name=name,
        description=description,
        dynamic=True,
        rule=to_json(node),
        rule_text=rule_text.to_text(node),
        brand_id=_brand_id(session, brand),
        created_by=actor,
    )
    session.add(seg)
    session.flush()
    record_audit(session, actor, "segment.create", "segment", str(seg.id), {"rule": seg.rule_text})
    return seg


def create_static_segment(
    session: Session,
    name: str,
    *,
    customer_ids: Sequence[int] = (),
    phones: Sequence[str] = (),
    actor: str,
    description: str = "",
) -> tuple[Segment, list[str]]:
    """A fixed list of customers (by id, or by phone as people type them); returns the
    segment and the phones that matched nobody. Erased and merged customers are left out."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise SegmentError("a segment needs a name of 1 to 100 characters")
    if session.scalar(sa.select(Segment.id).where(Segment.name == name)) is not None:
        raise NameTaken("a segment named {name!r} already exists", name=name)
    found, missing = customers_by_phones(session, phones) if phones else ([], [])
    wanted = sorted({*customer_ids, *found})
    active: set[int] = set()
    for part in chunks(wanted, 5000):
        active.update(
            session.scalars(
                sa.select(Customer.id).where(Customer.id.in_(part), Customer.status == "active")
            )
        )
    if not active:
        raise SegmentError("none of these people is a customer here; nothing to keep")
    now = clock.now()
    seg = Segment(
        name=name,
        description=description,
        dynamic=False,
        rule=None,
        rule_text="",
        size=len(active),
        created_by=actor,
        refreshed_at=now,
        members_changed_at=now,
    )
    session.add(seg)
    session.flush()
    stamp = db_time(session.connection(), now)
    insert_rows(
        session.connection(),
        table_of(SegmentMember),
        ("segment_id", "customer_id", "entered_at"),
        [(seg.id, c, stamp) for c in sorted(active)],
    )
    session.add(SegmentSize(segment_id=seg.id, size=len(active), entered=len(active)))
    record_audit(session, actor, "segment.create", "segment", str(seg.id), {"static": len(active)})
    return seg, missing


def update_segment(
    session: Session,
    segment_id: int,
    *,
    actor: str,
    name: str | None = None,
    rule: Any = None,
    description: str | None = None,
) -> Segment:
    seg = get_segment(session, segment_id)
    if name is not None and name.strip() != seg.name:
        clash = session.scalar(sa.select(Segment.id).where(Segment.name == name.strip()))
        if clash is not None:
            raise NameTaken("a segment named {name!r} already exists", name=name.strip())
        seg.name = name.strip()
    if rule is not None:
        if not seg.dynamic:
            raise SegmentError("segment {id} is a static list; it has no rule", id=seg.id)
        node = checked_rule(session, rule, segment_id=seg.id)
        seg.rule, seg.rule_text = to_json(node), rule_text.to_text(node)
    if description is not None:
        seg.description = description
    session.flush()
    record_audit(session, actor, "segment.update", "segment", str(seg.id), {"rule": seg.rule_text})
    return seg


def delete_segment(session: Session, segment_id: int, *, actor: str) -> None:
    """Delete a segment no other segment uses (members and size history go with it)."""
    seg = get_segment(session, segment_id)
    users = [
        other.id
        for other in session.scalars(sa.select(Segment).where(Segment.dynamic.is_(True)))
        if other.id != seg.id
        and other.rule
        and any(
            c.field == "segment" and c.value == seg.id
            for _p, c in conditions(from_json(other.rule))
        )
    ]
    if users:
        raise SegmentError(
            "segment {id} is used by segment {users}; change those first",
            id=seg.id,
            users=", ".join(map(str, users)),
        )
    session.delete(seg)
    session.flush()
    record_audit(session, actor, "segment.delete", "segment", str(segment_id), {"name": seg.name})


def get_segment(session: Session, segment_id: int) -> Segment:
    seg = session.get(Segment, segment_id)
    if seg is None:
        raise NoSuchSegment("no segment {id}", id=segment_id)
    return seg


# -- counting ------------------------------------------------------------------------------
@dataclass
class CountResult:
    count: int
    data_as_of: datetime | None  # the copy's oldest table refresh among those read
    rule_text: str


def copy_as_of(settings: Settings, tables: Any = None) -> datetime | None:
    """When the copy was last refreshed (the oldest refresh among the tables rules read);
    ``tables`` from ``copy_tables`` reuses their connection."""
    oldest = refreshed_at(settings, rule_tables(), duckdb_of(tables))
    return oldest.replace(tzinfo=UTC) if oldest is not None else None  # the copy keeps UTC


@contextmanager
def rule_context(
    settings: Settings,
    session: Session,
    *,
    brand_id: int | None = None,
    engine: str = "duckdb",
    today: Any = None,
) -> Iterator[Context]:
    """A compile context on the copy (DuckDB by default, or Spark)."""
    with copy_tables(settings, engine) as tables:
        yield make_context(tables, settings, session, brand_id=brand_id, today=today)


@contextmanager
def copy_tables(settings: Settings, engine: str = "duckdb") -> Iterator[dict[str, Any]]:
    """The copy's tables rules read, on one engine (one connection for many rules)."""
    with ibis_tables(
        settings.resolved_analytics_path, engine, [*rule_tables(), "segment_member"]
    ) as tables:
        yield tables


def make_context(
    tables: dict[str, Any],
    settings: Settings,
    session: Session,
    *,
    brand_id: int | None = None,
    today: Any = None,
) -> Context:
    scope = Scope(brand_id, today or clock.today(settings.tz), settings.tz)
    return Context(tables, scope, SessionLookups(session))


def count_rule(
    settings: Settings,
    session: Session,
    rule: Any,
    *,
    brand: str | None = None,
    engine: str = "duckdb",
    today: Any = None,
    principal: Principal | None = None,
) -> CountResult:
    """How many active customers a rule matches now, on the copy (of those ``principal`` may
    see; ``None``: the whole pool)."""
    node = checked_rule(session, rule)
    return _count(settings, session, node, _brand_id(session, brand), engine, today, principal)


def count_segment(
    settings: Settings,
    session: Session,
    segment_id: int,
    *,
    engine: str = "duckdb",
    principal: Principal | None = None,
) -> CountResult:
    """A dynamic segment's size now, on the copy (a static one's members), over what
    ``principal`` may see."""
    seg = get_segment(session, segment_id)
    if not seg.dynamic:
        if sees_whole_pool(principal):
            return CountResult(seg.size, seg.refreshed_at, "")
        n = session.scalar(
            sa.select(sa.func.count()).where(
                SegmentMember.segment_id == seg.id,
                only_visible(principal, SegmentMember.customer_id),
            )
        )
        return CountResult(int(n or 0), seg.refreshed_at, "")
    node = checked_rule(session, seg.rule, segment_id=seg.id)
    return _count(settings, session, node, seg.brand_id, engine, None, principal)


def _count(
    settings: Settings,
    session: Session,
    node: Node,
    brand_id: int | None,
    engine: str,
    today: Any,
    principal: Principal | None,
) -> CountResult:
    with rule_context(settings, session, brand_id=brand_id, engine=engine, today=today) as ctx:
        if sees_whole_pool(principal):
            n = int(count(node, ctx).to_pyarrow().as_py())
        else:
            hit = ctx.customer.filter(
                within_scope(ctx, session, principal, compile_rule(node, ctx))
            )
            n = int(hit.count().to_pyarrow().as_py())
        as_of = copy_as_of(settings, ctx.tables)
    return CountResult(n, as_of, rule_text.to_text(node))


# -- preview -------------------------------------------------------------------------------
@dataclass
class Preview:
    """What the rule builder shows while a rule is being written."""

    count: int
    reach: dict[str, int]  # channel -> customers with an address and permission (estimate)
    sample: list[dict[str, Any]]  # up to 20, masked
    data_as_of: datetime | None
    rule_text: str


REACH_CHANNELS = ("sms", "email", "wecom")


def guide_scope(ctx: Context, principal: Principal, friends: Sequence[int] = ()) -> Any:
    """On the copy, the same row filter the system of record applies (``visible_to``): a
    store guide counts only customers of their store, or who bought there, and ``friends``
    (their WeCom friends, from ``customers.service.wecom_friends``); None for a principal who
    sees the whole pool."""
    c = ctx.customer
    if sees_whole_pool(principal):
        return None
    if not principal.can(CUSTOMERS_READ):
        return c.id < 0
    mine = c.id.isin(list(friends)) if friends else None
    if principal.store_id is None:
        return mine if mine is not None else c.id < 0
    orders = ctx.table("order")
    bought = orders.filter(orders.store_id == principal.store_id).customer_id
    theirs = (c.store_id == principal.store_id).fill_null(False) | c.id.isin(bought)
    return theirs | mine if mine is not None else theirs


def within_scope(ctx: Context, session: Session, principal: Principal | None, test: Any) -> Any:
    """A rule's test on the copy, narrowed to the customers ``principal`` may see (counts,
    previews and drill-downs all narrow through here)."""
    if principal is None:
        return test
    scope = guide_scope(ctx, principal, wecom_friends(session, principal))
    return test if scope is None else test & scope


def preview_rule(
    settings: Settings,
    session: Session,
    principal: Principal,
    rule: Any,
    *,
    brand: str | None = None,
    engine: str = "duckdb",
    today: Any = None,
) -> Preview:
    """Count, estimated reach per channel and a masked sample of 20, in one pass on the copy.

    Reach counts customers who are not suppressed or on do-not-disturb and have an address on
    the channel: a phone with marketing consent for SMS, an email with consent for email, a
    WeCom friendship for WeCom. It is an estimate from the copy; a send re-checks consent and
    suppression on the system of record."""
    node = checked_rule(session, rule)
    brand_id = _brand_id(session, brand)
    with rule_context(settings, session, brand_id=brand_id, engine=engine, today=today) as ctx:
        c = ctx.customer
        hit = c.filter(within_scope(ctx, session, principal, compile_rule(node, ctx)))
        ids = ctx.table("identity")
        consent = ctx.table("consent")
        consent = consent.filter(consent.purpose == "marketing", consent.status == "granted")
        if brand_id is not None:
            consent = consent.filter(consent.brand_id == brand_id)
        reachable = ~hit.suppressed.fill_null(False) & ~hit.do_not_disturb.fill_null(False)

        def has(kind: str) -> Any:
            return hit.id.isin(ids.filter(ids.kind == kind).customer_id)

        def agreed(channel: str) -> Any:
            return hit.id.isin(consent.filter(consent.channel == channel).customer_id)

        flags = {
            "sms": reachable & has("phone") & agreed("sms"),
            "email": reachable & has("email") & agreed("email"),
            "wecom": reachable & has("external_userid"),
        }
        totals = (
            hit.aggregate(n=hit.count(), **{k: v.cast("int64").sum() for k, v in flags.items()})
            .to_pyarrow()
            .to_pylist()[0]
        )
        sample_ids = hit.order_by(hit.id).limit(20).select("id").to_pyarrow().column(0)
        as_of = copy_as_of(settings, ctx.tables)
    sample = _masked_people(session, principal, sample_ids.to_pylist())
    return Preview(
        count=int(totals["n"]),
        reach={k: int(totals[k] or 0) for k in REACH_CHANNELS},
        sample=sample,
        data_as_of=as_of,
        rule_text=rule_text.to_text(node),
    )


def _masked_people(
    session: Session, principal: Principal, customer_ids: list[int]
) -> list[dict[str, Any]]:
    """Masked name, phone and city of these customers, from the system of record (only
    those the principal may see: a store guide sees their store's customers)."""
    if not customer_ids:
        return []
    visible = session.scalars(
        sa.select(Customer).where(Customer.id.in_(customer_ids), visible_to(principal))
    )
    people = {c.id: c for c in visible}
    phones = phones_of(session, people)
    return [
        {
            "customer_id": cid,
            "name": ids.mask_name(people[cid].name),
            "phone": ids.mask_phone(phones.get(cid)),
            "city": mask_optional(people[cid].city),
        }
        for cid in customer_ids
        if cid in people
    ]
