"""Loading a generated demo folder through the real importers and the event service."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from siyu.config import get_settings
from siyu.db import get_engine, write_transaction

ORDER_FILES = [
    ("pos_members.csv", "customers", "pos"),
    ("taobao_orders.csv", "orders", "taobao"),
    ("jd_orders.csv", "orders", "jd"),
    ("youzan_orders.csv", "orders", "youzan"),
    ("pos_sales.csv", "orders", "pos"),
    # after the orders: the member centre's sign-ups are people the shops already know
    ("miniprogram_members.csv", "customers", "csv"),
]


def load_folder(folder: Path) -> Iterator[str]:
    from siyu.ingest.customers import import_customers
    from siyu.ingest.orders import import_orders

    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder written by `siyu demo generate`")
    engine, settings = get_engine(), get_settings()
    _ensure_brand_and_stores()
    for name, kind, source in ORDER_FILES:
        path = folder / name
        if not path.exists():
            continue
        run = import_customers if kind == "customers" else import_orders
        s = run(engine, settings, path, source, actor="demo")
        yield (
            f"{name}: read {s.read:,}, inserted {s.inserted:,}, updated {s.updated:,}, "
            f"unchanged {s.unchanged:,}, rejected {s.rejected_total:,}, "
            f"customers created {s.customers_created:,}, merges {s.merges:,}"
        )
    events = folder / "events.jsonl"
    if events.exists():
        yield f"events.jsonl: {_load_events(events):,} events"


def _ensure_brand_and_stores() -> None:
    from siyu.brands.models import Brand, Store
    from siyu.db import session_scope
    from siyu.demo.catalog import STORES

    with session_scope() as session:
        brand = session.scalar(sa.select(Brand).where(Brand.code == "demo"))
        if brand is None:
            if session.scalar(sa.select(sa.func.count()).select_from(Brand)):
                return
            brand = Brand(code="demo", name="悦颜 YUEYAN（演示品牌）")
            session.add(brand)
            session.flush()
        for code, name, province, city in STORES:
            if not session.scalar(
                sa.select(Store.id).where(Store.brand_id == brand.id, Store.code == code)
            ):
                session.add(
                    Store(brand_id=brand.id, code=code, name=name, province=province, city=city)
                )


def _load_events(path: Path) -> int:
    from siyu.events.schemas import EventIn
    from siyu.events.service import ingest

    settings = get_settings()
    batch: list[EventIn] = []
    total = 0
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            batch.append(EventIn.model_validate(json.loads(line)))
            if len(batch) >= 500:
                total += _store(batch, settings.secret_key_bytes(), ingest)
                batch = []
    if batch:
        total += _store(batch, settings.secret_key_bytes(), ingest)
    return total


def _store(batch: list[Any], secret: bytes, ingest: Any) -> int:
    with write_transaction(get_engine()) as conn:
        stored = ingest(conn, batch, source="demo", secret=secret)
    return sum(s.status == "accepted" for s in stored)


def ensure_demo(customers: int, seed: int, *, as_of: date | None = None) -> str:
    """Generate and load the demo (history up to the day before ``as_of``, default today) if
    the database has no customers yet, with its WeCom corp and past campaigns replayed."""
    from siyu.accounts.service import ensure_demo_admin
    from siyu.customers.models import Customer
    from siyu.db import session_scope
    from siyu.demo.generate import generate, today

    day = as_of or today()
    if day > today():  # its campaigns and orders would lie in the future
        raise ValueError("the demo's history ends before today: as_of today or earlier")
    settings = get_settings()
    with session_scope() as session:
        ensure_demo_admin(session, settings)
        if session.scalar(sa.select(sa.func.count()).select_from(Customer)):
            return "database already has customers; demo data not loaded again"
    from siyu.demo.history import replay

    folder = settings.data_dir / "demo"
    generate(customers, seed, folder, as_of=day)
    lines = list(load_folder(folder))
    with session_scope() as session:
        _demo_tags(session)
        months = _demo_spend(session)
    lines.append(f"acquisition spend: {months} source-months entered (siyu metrics spend list)")
    with session_scope() as session:
        lines.extend(_demo_members(session))
    with session_scope() as session:
        from siyu.demo.referrals import ensure_referrals

        lines.extend(ensure_referrals(session, settings.secret_key_bytes(), day, seed))
    with session_scope() as session:
        from siyu.demo.surveys import ensure_survey

        lines.extend(ensure_survey(session, day))
    lines.extend(replay(seed, day))
    from siyu.traits.service import recompute

    traits = recompute(get_engine(), settings, actor="demo")  # so customer pages show insight
    lines.append(f"traits: {traits.customers:,} buyers scored (run {traits.run_id})")
    return "\n".join(["demo data loaded:", *lines])


def _demo_members(session: Any) -> list[str]:
    from siyu.brands.models import Brand
    from siyu.demo.members import ensure_programme

    brand = session.scalar(sa.select(Brand.id).where(Brand.code == "demo"))
    return ensure_programme(session, brand) if brand is not None else []


# What a new customer costs per source in the demo (yuan): paid traffic on the marketplaces,
# the brand's own channels cheaper (the point seed 004 makes about private-domain growth).
DEMO_CAC_YUAN = {"taobao": 68, "tmall": 72, "jd": 85, "douyin": 110, "youzan": 35, "pos": 20}


def _demo_spend(session: Any) -> int:
    """Acquisition spend per source and month, from how many customers each month brought,
    so the dashboard's LTV/CAC table has an answer (deterministic: ±15 % by month)."""
    from siyu.customers.models import Customer
    from siyu.metrics.service import set_spend

    tz = get_settings().tz
    counts: dict[tuple[str, str], int] = {}
    for source, seen in session.execute(sa.select(Customer.source, Customer.first_seen_at)):
        if source in DEMO_CAC_YUAN and seen is not None:
            key = (source, seen.astimezone(tz).strftime("%Y-%m"))
            counts[key] = counts.get(key, 0) + 1
    for (source, month), n in sorted(counts.items()):
        wobble = 0.85 + (sum(map(ord, source + month)) % 31) / 100
        fen = round(n * DEMO_CAC_YUAN[source] * 100 * wobble)
        set_spend(session, source, month, fen, actor="demo", note="演示数据")
    return len(counts)


DEMO_TAGS: list[tuple[str, bool, list[tuple[str, dict[str, object] | None]]]] = [
    (
        "兴趣",
        False,
        [
            ("防晒", {"kind": "bought_category", "category": "防晒", "days": 365}),
            ("彩妆", {"kind": "bought_category", "category": "彩妆", "days": 365}),
            ("精华", {"kind": "bought_category", "category": "精华", "days": 365}),
        ],
    ),
    ("消费力", True, [("高消费", {"kind": "total_spend", "min_yuan": 1000})]),
    ("地区", False, [("江浙沪", {"kind": "city_in", "cities": ["上海", "杭州", "南京", "苏州"]})]),
    ("肤质", True, [("油性", None), ("干性", None), ("敏感", None)]),  # for tagging by hand
]


def _demo_tags(session: Any) -> None:
    """A few tag groups and rules, so the demo's customer pages show tags from the start."""
    from siyu.tags.service import add_group, add_rule, add_tag

    for group, single, tags in DEMO_TAGS:
        add_group(session, group, single=single, actor="demo")
        for name, condition in tags:
            tag = add_tag(session, f"{group}/{name}", actor="demo")
            if condition:
                add_rule(session, tag, condition, actor="demo")
