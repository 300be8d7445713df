"""Hypothesis strategies for the segment equivalence tests: small random shops and random rules
over the whole field catalogue, drawn from one vocabulary so that rules do match people."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import count
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.brands.models import Brand, Store
from siyu.catalog.models import Product
from siyu.customers.models import Consent, Customer, Identity
from siyu.events.models import Event
from siyu.orders.models import Order, OrderLine
from siyu.segments.rules import Condition, Group, Node, Not, Window
from siyu.tags.models import CustomerTag, Tag, TagGroup
from siyu.traits.models import CustomerTrait, TraitRun

TODAY = date(2026, 6, 30)
SHANGHAI = ZoneInfo("Asia/Shanghai")
CITIES = ["上海", "杭州", "北京"]
SOURCES = ["taobao", "jd", "pos"]
CATEGORIES = ["护肤", "彩妆", "防晒"]
SKUS = ["SK1", "SK2"]
STORES = ["S1", "S2"]
STATUSES = ["completed", "paid", "refunded", "cancelled", "pending", "partially_refunded"]
TAGS = {"兴趣": ["彩妆", "护肤"], "价格": ["高", "低"]}
CLASSES = ["important_value", "important_retain", "general_keep", "general_develop"]
STAGES = ["new", "active", "at_risk", "lapsed", "won_back"]
EVENTS = ["page_view", "coupon_claim"]
_unique = count(1)

# -- worlds ------------------------------------------------------------------------------------
# Days near the edges of the windows rules use (a few after "today"), so boundaries are hit.
EDGES = [-400, -365, -364, -200, -90, -89, -30, -29, -1, 0, 2]
_edge = st.sampled_from(EDGES)
day_offsets = st.one_of(_edge, _edge, _edge, st.integers(min_value=-420, max_value=3))
clock = st.sampled_from([time(0, 5), time(12, 0), time(23, 55)])  # around local midnight

order_st = st.fixed_dictionaries(
    {
        "brand": st.integers(0, 1),
        "platform": st.sampled_from(["taobao", "jd", "pos"]),
        "store": st.sampled_from([None, *STORES]),
        "status": st.sampled_from(STATUSES),
        "day": day_offsets,
        "at": clock,
        "yuan": st.integers(0, 400),
        "refund": st.integers(0, 100),
        "lines": st.lists(
            st.tuples(
                st.sampled_from([None, *CATEGORIES]),
                st.sampled_from([None, *SKUS]),
                st.integers(0, 300),
            ),
            min_size=1,
            max_size=2,
        ),
    }
)
trait_st = st.fixed_dictionaries(
    {
        "scope": st.sampled_from([0, 1]),
        "r": st.integers(1, 5),
        "f": st.integers(1, 5),
        "m": st.integers(1, 5),
        "class": st.sampled_from(CLASSES),
        "stage": st.sampled_from(STAGES),
        "recency": st.integers(0, 400),
        "clv": st.integers(0, 50_000),
        "p_alive": st.sampled_from([0.05, 0.3, 0.5, 0.75, 0.99]),
    }
)
customer_st = st.fixed_dictionaries(
    {
        "status": st.sampled_from(["active", "active", "active", "merged"]),
        "city": st.sampled_from([None, *CITIES]),
        "gender": st.sampled_from([None, "female", "male"]),
        "source": st.sampled_from([None, *SOURCES]),
        "store": st.sampled_from([None, *STORES]),
        "first_seen": st.one_of(st.none(), st.tuples(day_offsets, clock)),
        "kinds": st.sets(st.sampled_from(["phone", "email", "external_userid"])),
        "consents": st.lists(
            st.tuples(st.sampled_from(["sms", "email"]), st.integers(0, 1), st.booleans()),
            max_size=2,
        ),
        "tags": st.sets(st.sampled_from([f"{g}/{t}" for g, ts in TAGS.items() for t in ts])),
        "orders": st.lists(order_st, max_size=4),
        "traits": st.lists(trait_st, max_size=2, unique_by=lambda t: t["scope"]),
        "events": st.lists(
            st.tuples(
                st.sampled_from(EVENTS),
                day_offsets,
                st.sampled_from(["/sale", "/home"]),
                st.integers(1, 2),
            ),
            max_size=3,
        ),
    }
)
worlds = st.lists(customer_st, min_size=3, max_size=12)


def local(day_offset: int, at: time) -> datetime:
    return datetime.combine(TODAY + timedelta(days=day_offset), at, SHANGHAI).astimezone(UTC)


def build(session: Session, people: list[dict[str, Any]]) -> list[int]:
    """Write a world into the system of record; returns the brand ids (two brands)."""
    brands = [Brand(code=f"b{i}", name=f"B{i}") for i in range(2)]
    session.add_all(brands)
    session.flush()
    stores = {code: Store(brand_id=brands[0].id, code=code, name=code) for code in STORES}
    products = {sku: Product(brand_id=brands[0].id, sku=sku, name=sku) for sku in SKUS}
    session.add_all([*stores.values(), *products.values()])
    groups = {g: TagGroup(name=g, single=False) for g in TAGS}
    session.add_all(groups.values())
    session.flush()
    tags = {f"{g}/{t}": Tag(group_id=groups[g].id, name=t) for g, ts in TAGS.items() for t in ts}
    session.add_all(tags.values())
    run = TraitRun(engine="duckdb", reference_date=TODAY, window_days=365, actor="t")
    session.add(run)
    session.flush()
    scope = {0: 0, 1: brands[0].id}
    first: Customer | None = None
    for p in people:
        c = Customer(
            city=p["city"],
            gender=p["gender"],
            source=p["source"],
            store_id=stores[p["store"]].id if p["store"] else None,
            first_seen_at=local(*p["first_seen"]) if p["first_seen"] else None,
        )
        session.add(c)
        session.flush()
        if p["status"] == "merged" and first is not None:
            c.status, c.merged_into_id = "merged", first.id
        first = first or c
        for kind in p["kinds"]:
            session.add(
                Identity(customer_id=c.id, kind=kind, value=f"v{next(_unique)}", source="t")
            )
        for channel, b, granted in p["consents"]:
            session.add(
                Consent(
                    customer_id=c.id,
                    brand_id=brands[b].id,
                    channel=channel,
                    purpose="marketing",
                    address=f"a{next(_unique)}",
                    status="granted" if granted else "withdrawn",
                    source="t",
                )
            )
        for path in p["tags"]:
            session.add(
                CustomerTag(customer_id=c.id, tag_id=tags[path].id, source="manual", actor="t")
            )
        for o in p["orders"]:
            at = local(o["day"], o["at"])
            row = Order(
                brand_id=brands[o["brand"]].id,
                platform=o["platform"],
                shop="",
                platform_order_id=f"o{next(_unique)}",
                customer_id=c.id,
                store_id=stores[o["store"]].id if o["store"] else None,
                status=o["status"],
                total_fen=o["yuan"] * 100,
                paid_fen=o["yuan"] * 100,
                refund_fen=min(o["refund"], o["yuan"]) * 100,
                ordered_at=at,
                paid_at=None if o["status"] == "pending" else at,
                digest="x",
            )
            session.add(row)
            session.flush()
            for n, (category, sku, yuan) in enumerate(o["lines"], 1):
                session.add(
                    OrderLine(
                        order_id=row.id,
                        line_no=n,
                        product_id=products[sku].id if sku else None,
                        sku=sku,
                        category=category,
                        quantity=1,
                        amount_fen=yuan * 100,
                    )
                )
        for t in p["traits"]:
            session.add(
                CustomerTrait(
                    customer_id=c.id,
                    scope=scope[t["scope"]],
                    run_id=run.id,
                    last_purchase_on=TODAY,
                    purchase_days=t["f"],
                    recency_days=t["recency"],
                    frequency=t["f"],
                    monetary_fen=t["clv"] // 2,
                    r_score=t["r"],
                    f_score=t["f"],
                    m_score=t["m"],
                    rfm_class=t["class"],
                    lifecycle_stage=t["stage"],
                    stage_since=TODAY,
                    p_alive=t["p_alive"],
                    clv_fen=t["clv"],
                    expected_spend_fen=t["clv"] // 3,
                )
            )
        for name, day, page, qty in p["events"]:
            session.add(
                Event(
                    message_id=f"m{next(_unique)}",
                    customer_id=c.id,
                    type="track",
                    name=name,
                    properties={"page": page, "qty": qty},
                    occurred_at=local(day, time(12)),
                    source="t",
                )
            )
    session.commit()
    return [b.id for b in brands]


def change_some(session: Session) -> list[int]:
    """Change a few customers the way live data does: a new paid order, a hand-set tag, an
    event; returns who changed."""
    from siyu.customers.changes import touch_customers

    people = list(session.scalars(select(Customer).where(Customer.status == "active")))[:3]
    brand = session.scalars(select(Brand)).first()
    assert brand is not None
    at = local(-1, time(12))
    for n, c in enumerate(people):
        if n == 0:
            session.add(
                Order(
                    brand_id=brand.id,
                    platform="jd",
                    shop="",
                    platform_order_id=f"new{next(_unique)}",
                    customer_id=c.id,
                    status="completed",
                    total_fen=30000,
                    paid_fen=30000,
                    refund_fen=0,
                    ordered_at=at,
                    paid_at=at,
                    digest="x",
                )
            )
        elif n == 1:
            held = set(
                session.scalars(select(CustomerTag.tag_id).where(CustomerTag.customer_id == c.id))
            )
            for t in session.scalars(select(Tag)):
                if t.id not in held:
                    session.add(
                        CustomerTag(customer_id=c.id, tag_id=t.id, source="manual", actor="t")
                    )
                    break
            touch_customers(session, [c.id])
        else:
            session.add(
                Event(
                    message_id=f"m{next(_unique)}",
                    customer_id=c.id,
                    type="track",
                    name="page_view",
                    properties={"page": "/sale", "qty": 2},
                    occurred_at=at,
                    source="t",
                )
            )
    session.flush()
    return [c.id for c in people]


# -- rules -------------------------------------------------------------------------------------
def cond(field: str, op: str, value: Any = None, **kw: Any) -> Condition:
    return Condition(field, op, value, **kw)


windows = st.one_of(
    st.none(),
    st.sampled_from([1, 30, 90, 365]).map(lambda n: Window(last_days=n)),
    st.tuples(st.sampled_from([-400, -364, -90, -30, 0]), st.sampled_from([0, 1, 60, 364])).map(
        lambda t: Window(
            start=TODAY + timedelta(days=t[0]), end=TODAY + timedelta(days=t[0] + t[1])
        )
    ),
    st.sampled_from([-400, -90, -29]).map(lambda d: Window(start=TODAY + timedelta(days=d))),
)
compare_ops = st.sampled_from(["=", "!=", "<", "<=", ">", ">=", "between"])


def _measure(values: st.SearchStrategy[Any]) -> st.SearchStrategy[tuple[str, Any]]:
    return st.one_of(
        st.tuples(st.sampled_from(["=", "!=", "<", "<=", ">", ">="]), values),
        st.tuples(st.just("between"), st.tuples(values, values).map(lambda t: tuple(sorted(t)))),
    )


def _text(field: str, values: list[str]) -> st.SearchStrategy[Condition]:
    return st.one_of(
        st.tuples(st.sampled_from(["=", "!="]), st.sampled_from(values)).map(
            lambda t: cond(field, *t)
        ),
        st.tuples(
            st.sampled_from(["in", "not_in"]), st.sets(st.sampled_from(values), min_size=1)
        ).map(lambda t: cond(field, t[0], tuple(sorted(t[1])))),
        st.sampled_from(["is_empty", "is_not_empty"]).map(lambda op: cond(field, op)),
    )


_where_orders = st.dictionaries(
    st.sampled_from(["category", "sku", "platform", "store"]), st.just(None), max_size=2
)


def _order_where(
    keys: dict[str, None],
) -> st.SearchStrategy[tuple[tuple[str, tuple[str, ...]], ...]]:
    pools = {
        "category": CATEGORIES,
        "sku": SKUS,
        "platform": ["taobao", "jd", "pos"],
        "store": STORES,
    }
    return st.tuples(
        *(
            st.sets(st.sampled_from(pools[k]), min_size=1).map(lambda s, k=k: (k, tuple(sorted(s))))
            for k in sorted(keys)
        )
    )


orders_cond = st.tuples(
    st.sampled_from(["orders.count", "orders.sum", "orders.aov"]),
    windows,
    _where_orders.flatmap(_order_where),
    _measure(st.sampled_from([0, 1, 2, 3, 100, 250.5, 400])),
).map(lambda t: cond(t[0], t[3][0], _whole(t[0], t[3][1]), window=t[1], where=t[2]))


def _whole(field: str, value: Any) -> Any:
    """Order counts are whole numbers."""
    if field != "orders.count":
        return value
    return tuple(int(v) for v in value) if isinstance(value, tuple) else int(value)


events_cond = st.tuples(
    st.sampled_from(EVENTS),
    windows,
    st.sampled_from(
        [(), (("page", ("/sale",)),), (("qty", ("2",)),), (("page", ("/home", "/sale")),)]
    ),
    _measure(st.integers(0, 3)),
).map(lambda t: cond("events.count", t[3][0], t[3][1], window=t[1], where=t[2], event=t[0]))

_CONDITIONS = [
    _text("city", CITIES),
    _text("source", SOURCES),
    _text("gender", ["female", "male"]),
    _text("store", STORES),
    st.tuples(st.sampled_from(["<", "<=", ">", ">="]), day_offsets).map(
        lambda t: cond("first_seen", t[0], (TODAY + timedelta(days=t[1])).isoformat())
    ),
    st.tuples(
        st.sampled_from(["has", "lacks"]), st.sampled_from(["phone", "email", "external_userid"])
    ).map(lambda t: cond("identity", *t)),
    st.tuples(
        st.sampled_from(["consent.sms", "consent.email"]),
        st.sampled_from(["=", "!="]),
        st.sampled_from(["granted", "withdrawn", "unknown"]),
    ).map(lambda t: cond(*t)),
    st.tuples(
        st.sampled_from(["has_any", "has_all", "has_none"]),
        st.sets(st.sampled_from(["兴趣/彩妆", "兴趣/护肤", "价格/高", "高", "低"]), min_size=1),
    ).map(lambda t: cond("tag", t[0], tuple(sorted(t[1])))),
    st.tuples(st.sampled_from(["has_any", "has_none"]), st.sampled_from(list(TAGS))).map(
        lambda t: cond("tag_group", *t)
    ),
    st.tuples(st.sampled_from(["rfm.r", "rfm.f", "rfm.m"]), _measure(st.integers(1, 5))).map(
        lambda t: cond(t[0], *t[1])
    ),
    st.tuples(
        st.sampled_from(["=", "!="]), st.sampled_from([*CLASSES, "重要价值客户", "一般保持客户"])
    ).map(lambda t: cond("rfm.class", *t)),
    st.tuples(
        st.sampled_from(["in", "not_in"]), st.sets(st.sampled_from([*STAGES, "流失"]), min_size=1)
    ).map(lambda t: cond("lifecycle", t[0], tuple(sorted(t[1])))),
    _measure(st.sampled_from([0, 99.99, 100, 250, 499.5])).map(lambda t: cond("clv", *t)),
    _measure(st.sampled_from([0.05, 0.3, 0.5, 0.9])).map(lambda t: cond("p_alive", *t)),
    _measure(st.sampled_from([0, 30, 90, 365])).map(lambda t: cond("recency_days", *t)),
    st.sampled_from(["is_empty", "is_not_empty"]).map(lambda op: cond("clv", op)),
    orders_cond,
    orders_cond,
    orders_cond,
    events_cond,
    events_cond,
]
# Every kind of condition about equally often (one_of favours its first choices), orders and
# events more, as they have the most to get wrong.
conditions = st.sampled_from(_CONDITIONS).flatmap(lambda strategy: strategy)


def _tree(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    return st.one_of(
        st.tuples(st.sampled_from(["all", "any"]), st.lists(children, min_size=2, max_size=3)).map(
            lambda t: Group(t[0], tuple(t[1]))
        ),
        children.map(Not),
    )


rules = st.recursive(conditions, _tree, max_leaves=4)
