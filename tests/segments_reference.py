"""A straightforward Python evaluator of segment rules, for the equivalence tests.

It reads the system of record through the ORM (not the analytical copy) and checks each
customer with plain loops and local calendar dates, written independently of the compiler, so
the two can only agree by both being right.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu.brands.models import Store
from siyu.catalog.models import Product
from siyu.customers.models import Consent, Customer, Identity
from siyu.events.models import Event
from siyu.i18n import in_language
from siyu.orders.models import PAID_STATUSES, Order, OrderLine
from siyu.segments.models import Segment, SegmentMember
from siyu.segments.rules import Condition, Group, Node, Not, Window, from_json
from siyu.tags.models import CustomerTag, Tag, TagGroup
from siyu.traits.labels import RFM_CLASS_LABELS, STAGE_LABELS
from siyu.traits.models import CustomerTrait

CODES = {
    in_language("zh-CN", name): code for code, name in {**RFM_CLASS_LABELS, **STAGE_LABELS}.items()
}
TRAIT_COLUMNS = {
    "rfm.class": ("rfm_class", 1),
    "rfm.r": ("r_score", 1),
    "rfm.f": ("f_score", 1),
    "rfm.m": ("m_score", 1),
    "lifecycle": ("lifecycle_stage", 1),
    "recency_days": ("recency_days", 1),
    "frequency": ("frequency", 1),
    "monetary": ("monetary_fen", 100),
    "clv": ("clv_fen", 100),
    "p_alive": ("p_alive", 1),
    "expected_spend": ("expected_spend_fen", 100),
}


@dataclass
class World:
    customers: dict[int, Customer] = field(default_factory=dict)
    store_code: dict[int, str] = field(default_factory=dict)
    orders: dict[int, list[Order]] = field(default_factory=lambda: defaultdict(list))
    lines: dict[int, list[OrderLine]] = field(default_factory=lambda: defaultdict(list))
    sku: dict[int, str] = field(default_factory=dict)
    kinds: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
    consents: dict[int, list[Consent]] = field(default_factory=lambda: defaultdict(list))
    tags: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    tag_ids: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    group_tags: dict[str, list[int]] = field(default_factory=dict)
    traits: dict[tuple[int, int], CustomerTrait] = field(default_factory=dict)
    events: dict[int, list[Event]] = field(default_factory=lambda: defaultdict(list))
    segments: dict[int, Segment] = field(default_factory=dict)
    static: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))


def load(session: Session) -> World:
    w = World()
    for c in session.scalars(sa.select(Customer)):
        w.customers[c.id] = c
    w.store_code = dict(session.execute(sa.select(Store.id, Store.code)).all())
    w.sku = dict(session.execute(sa.select(Product.id, Product.sku)).all())
    for o in session.scalars(sa.select(Order)):
        w.orders[o.customer_id].append(o)
    for line in session.scalars(sa.select(OrderLine)):
        w.lines[line.order_id].append(line)
    for cid, kind in session.execute(sa.select(Identity.customer_id, Identity.kind)):
        w.kinds[cid].add(kind)
    for con in session.scalars(sa.select(Consent)):
        w.consents[con.customer_id].append(con)
    for cid, tag_id in session.execute(sa.select(CustomerTag.customer_id, CustomerTag.tag_id)):
        w.tags[cid].add(tag_id)
    for tag_id, name, group in session.execute(
        sa.select(Tag.id, Tag.name, TagGroup.name).join(TagGroup, TagGroup.id == Tag.group_id)
    ):
        w.tag_ids[name].append(tag_id)
        w.tag_ids[f"{group}/{name}"].append(tag_id)
        w.group_tags.setdefault(group, []).append(tag_id)
    for g in session.scalars(sa.select(TagGroup.name)):
        w.group_tags.setdefault(g, [])
    for t in session.scalars(sa.select(CustomerTrait)):
        w.traits[(t.customer_id, t.scope)] = t
    for e in session.scalars(sa.select(Event)):
        if e.customer_id is not None:
            w.events[e.customer_id].append(e)
    for s in session.scalars(sa.select(Segment)):
        w.segments[s.id] = s
    for sid, cid in session.execute(sa.select(SegmentMember.segment_id, SegmentMember.customer_id)):
        w.static[sid].add(cid)
    return w


@dataclass
class Reference:
    world: World
    brand_id: int | None
    today: date
    tz: ZoneInfo

    def members(self, node: Node) -> set[int]:
        return {
            cid
            for cid, c in self.world.customers.items()
            if c.status == "active" and self.holds(node, cid)
        }

    # -- tree --------------------------------------------------------------------------------
    def holds(self, node: Node, cid: int) -> bool:
        if isinstance(node, Group):
            results = [self.holds(c, cid) for c in node.children]
            return all(results) if node.kind == "all" else any(results)
        if isinstance(node, Not):
            return not self.holds(node.child, cid)
        return self.condition(node, cid)

    def condition(self, c: Condition, cid: int) -> bool:
        negations = {"!=": "=", "not_in": "in", "is_empty": "is_not_empty", "has_none": "has_any"}
        negations["lacks"] = "has"
        measures = ("orders.count", "orders.sum", "orders.aov", "events.count")
        if c.field not in measures and c.op in negations:
            positive = Condition(c.field, negations[c.op], c.value, c.window, c.where, c.event)
            return not self.condition(positive, cid)
        customer = self.world.customers[cid]
        f = c.field
        if f in ("city", "province", "gender", "source"):
            return plain(getattr(customer, f), c.op, c.value)
        if f == "store":
            code = self.world.store_code.get(customer.store_id) if customer.store_id else None
            return plain(code, c.op, c.value)
        if f == "first_seen":
            # no first-seen time: counted from when the profile was created
            day = self.local_day(customer.first_seen_at or customer.created_at)
            value = dated(c.value)
            return plain(day, c.op, value)
        if f == "identity":
            return c.value in self.world.kinds[cid]
        if f.startswith("consent."):
            return self.consent(cid, f.split(".", 1)[1], c)
        if f == "tag":
            ids = [self.world.tag_ids[ref][0] for ref in c.value]
            held = self.world.tags[cid]
            if c.op == "has_all":
                return all(i in held for i in ids)
            return any(i in held for i in ids)
        if f == "tag_group":
            return bool(set(self.world.group_tags[c.value]) & self.world.tags[cid])
        if f in TRAIT_COLUMNS:
            trait = self.world.traits.get((cid, self.brand_id or 0))
            if trait is None:
                return False
            column, scale = TRAIT_COLUMNS[f]
            value = getattr(trait, column)
            wanted = c.value
            if f in ("rfm.class", "lifecycle"):
                wanted = (
                    tuple(CODES.get(v, v) for v in wanted)
                    if isinstance(wanted, tuple)
                    else CODES.get(wanted, wanted)
                )
            if scale != 1 and wanted is not None:
                wanted = (
                    tuple(round(v * scale) for v in wanted)
                    if isinstance(wanted, tuple)
                    else round(wanted * scale)
                )
            return plain(value, c.op, wanted)
        if f.startswith("orders."):
            return self.orders(cid, c)
        if f == "events.count":
            n = sum(1 for e in self.world.events[cid] if self.event_counts(e, c))
            return compare(n, c.op, c.value)
        if f == "segment":
            seg = self.world.segments[c.value]
            if seg.dynamic:
                inside = self.holds(from_json(seg.rule), cid)
            else:
                inside = cid in self.world.static[seg.id]
            return inside if c.op == "=" else not inside
        raise AssertionError(f"reference has no field {f}")

    # -- pieces ------------------------------------------------------------------------------
    def local_day(self, t: datetime | None) -> date | None:
        return None if t is None else t.astimezone(self.tz).date()

    def in_window(self, t: datetime | None, w: Window | None) -> bool:
        if t is None:
            return False
        if w is None:
            return True
        day = self.local_day(t)
        assert day is not None
        if w.last_days is not None:
            return self.today - timedelta(days=w.last_days - 1) <= day <= self.today
        return (w.start is None or day >= w.start) and (w.end is None or day <= w.end)

    def consent(self, cid: int, channel: str, c: Condition) -> bool:
        rows = [
            r
            for r in self.world.consents[cid]
            if r.channel == channel
            and r.purpose == "marketing"
            and (self.brand_id is None or r.brand_id == self.brand_id)
        ]
        if not rows:
            state = "unknown"
        elif any(r.status == "granted" for r in rows):
            state = "granted"
        else:
            state = "withdrawn"
        if c.op == "is_not_empty":
            return state != "unknown"
        wanted = [c.value] if c.op == "=" else list(c.value)
        return state in wanted

    def orders(self, cid: int, c: Condition) -> bool:
        where = dict(c.where)
        n = fen = 0
        for o in self.world.orders[cid]:
            if o.status not in PAID_STATUSES or not self.in_window(o.paid_at, c.window):
                continue
            if self.brand_id is not None and o.brand_id != self.brand_id:
                continue
            if "platform" in where and o.platform not in where["platform"]:
                continue
            if (
                "store" in where
                and self.world.store_code.get(o.store_id or -1) not in where["store"]
            ):
                continue
            if "category" in where or "sku" in where:
                lines = [
                    line
                    for line in self.world.lines[o.id]
                    if ("category" not in where or line.category in where["category"])
                    and (
                        "sku" not in where
                        or self.world.sku.get(line.product_id or -1) in where["sku"]
                    )
                ]
                if not lines:
                    continue
                n += 1
                fen += sum(line.amount_fen for line in lines)
            else:
                n += 1
                fen += o.paid_fen - o.refund_fen
        if c.field == "orders.count":
            return compare(n, c.op, c.value)
        if c.field == "orders.sum":
            return compare(fen, c.op, fenned(c.value))
        if n == 0:
            return False  # no average over nothing
        target = fenned(c.value)
        if c.op == "between":
            return n * target[0] <= fen <= n * target[1]
        return compare(fen, c.op, n * target)

    def event_counts(self, e: Event, c: Condition) -> bool:
        if e.type != "track" or e.name != c.event or not self.in_window(e.occurred_at, c.window):
            return False
        for key, values in c.where:
            if key not in (e.properties or {}):
                return False
            v = e.properties[key]
            text = v if isinstance(v, str) else json.dumps(v)
            if text not in values:
                return False
        return True


def plain(value: Any, op: str, wanted: Any) -> bool:
    if op == "is_not_empty":
        return value is not None
    if value is None:
        return False
    if op == "=":
        return bool(value == wanted)
    if op == "in":
        return value in wanted
    return compare(value, op, wanted)


def compare(value: Any, op: str, wanted: Any) -> bool:
    if op == "between":
        return bool(wanted[0] <= value <= wanted[1])
    return {
        "=": value == wanted,
        "!=": value != wanted,
        "<": value < wanted,
        "<=": value <= wanted,
        ">": value > wanted,
        ">=": value >= wanted,
    }[op]


def dated(value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(date.fromisoformat(v) for v in value)
    return date.fromisoformat(value)


def fenned(value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(round(v * 100) for v in value)
    return round(value * 100)
