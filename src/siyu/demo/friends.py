"""The demo corp's people: its guides' friends among the demo's customers, their customer
groups (客户群), and newcomers who found the brand on WeCom in the last weeks.

A friend is a customer the brand already knows: the guide wrote their phone into the remark
(remark_mobiles), so Siyu's sync links the friendship to that customer through identity
resolution, as it does for a real corp. Store customers are befriended more often (the
guides work in the stores).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from siyu.demo.exports import TZ

MOST_FRIENDS = 400
GROUPS = (  # (name, owner) — guides 1 to 3 work in the three stores of the demo corp
    ("悦颜会员福利群（南京西路店）", "guide001"),
    ("杭州湖滨店护肤交流群", "guide002"),
    ("北京三里屯店新品体验群", "guide003"),
)
WECOM_CAMPAIGN_DAYS = 12  # friends are made before the WeCom campaign of ``demo.history``


@dataclass
class Made:
    friends: int
    guides: int
    groups: int


def _day(as_of: date, days_ago: int) -> datetime:
    day = as_of - timedelta(days=days_ago)
    return datetime(day.year, day.month, day.day, tzinfo=TZ)


def befriend_customers(world: Any, rng: random.Random, as_of: date) -> Made:
    """Friends of the guides among the customers who arrived before the WeCom campaign, and
    three customer groups of them; nothing reaches Siyu until the corp is connected."""
    from siyu.customers.models import Customer, Identity
    from siyu.db import new_session
    from siyu.demo.wecom import corp_levels

    levels = corp_levels(world)
    cutoff = _day(as_of, WECOM_CAMPAIGN_DAYS + 2)
    with new_session() as session:
        rows = session.execute(
            sa.select(
                Customer.id,
                Customer.name,
                Customer.first_seen_at,
                Customer.store_id,
                Identity.value,
            )
            .join(Identity, Identity.customer_id == Customer.id)
            .where(
                Identity.kind == "phone",
                Customer.status == "active",
                Customer.first_seen_at < cutoff,
            )
            .order_by(Customer.id, Identity.id)
        ).all()
    guides = sorted(world.staff)
    seen: set[int] = set()
    made = 0
    for cid, name, first_seen, store_id, phone in rows:
        if cid in seen or made >= MOST_FRIENDS or first_seen is None:
            continue
        seen.add(cid)
        if rng.random() >= (0.4 if store_id is not None else 0.08):
            continue
        customer = world.new_customer(name or "顾客", phone=phone)
        follow = world.befriend(rng.choice(guides), customer)
        if follow is None:
            continue
        start = first_seen.timestamp()
        follow.createtime = int(start + rng.random() * (cutoff.timestamp() - start))
        follow.remark = name or ""
        follow.remark_mobiles = [phone.removeprefix("+86")]
        follow.tag_ids = [rng.choice(levels)["id"]] if rng.random() < 0.5 else []
        made += 1
    groups = _groups(world, rng, cutoff)
    return Made(made, len(guides), groups)


def _groups(world: Any, rng: random.Random, cutoff: datetime) -> int:
    """Customer groups owned by the store guides, each with some of the corp's friends."""
    from siyu.simulators.wecom.world import Group, _rand

    friends = list(dict.fromkeys(e for (_u, e) in world.follows))  # in the order made
    if len(friends) < 2:
        return 0
    made = 0
    for name, owner in GROUPS:
        if owner not in world.staff:
            continue
        created = int(cutoff.timestamp()) - rng.randint(30, 300) * 86400
        group = Group("wr" + _rand(30), name, owner, created)
        group.members[owner] = {"userid": owner, "type": 1, "join_time": created, "join_scene": 1}
        size = max(2, min(40, len(friends) // 4))
        for ext in rng.sample(friends, min(size, len(friends))):
            joined = created + rng.randint(0, int(cutoff.timestamp()) - created)
            group.members[ext] = {"userid": ext, "type": 2, "join_time": joined, "join_scene": 3}
        world.groups[group.chat_id] = group
        made += 1
    return made


def newcomers(world: Any, rng: random.Random, as_of: date) -> int:
    """People who scanned a guide's code in the last three weeks, new to the brand (no phone
    yet), synced into Siyu as new customers from WeCom."""
    from siyu.db import session_scope
    from siyu.demo.catalog import GIVEN_F, SURNAMES
    from siyu.wecom.connection.service import cached_client, get_corp
    from siyu.wecom.contacts.sync import sync

    count = max(3, len(world.follows) // 12)
    guides = sorted(world.staff)
    end = _day(as_of, 0).timestamp() - 3600
    for _ in range(count):
        name = rng.choice(SURNAMES) + rng.choice(GIVEN_F)
        follow = world.befriend(rng.choice(guides), world.new_customer(name))
        if follow is not None:
            follow.createtime = int(end - rng.random() * 21 * 86400)
    with session_scope() as session:
        corp = get_corp(session, world.corp_id)
        sync(session, corp, cached_client(session, corp))
    return count
