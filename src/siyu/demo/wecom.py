"""The demo's WeCom: `siyu run` (demo mode) serves the simulated WeCom next to Siyu, connects
it as a corp and keeps simulated customers arriving — scanning a store's live code, asking
customer service for a coupon, now and then deleting their guide — so a new user sees the
WeCom pages move. Its guides confirm the corp mass messages Siyu creates a little while
after (``CONFIRM_AFTER_SECONDS``), as real staff tap "send" in WeCom, so a WeCom campaign
sent in the demo completes and its results come back through the reconciliation.

The simulator keeps nothing on disk; at each start its corp is rebuilt from what Siyu stored
(staff, friendships, corp tags, groups, live codes), so a restart goes on where the last run
stopped. `siyu demo ensure` usually connects the corp first (``demo.history``: friends among
the demo's customers, customer groups, past campaigns); ``start`` seeds a corp of its own only
when there is none."""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.simulators.wecom.run import demo_world
from siyu.simulators.wecom.world import ContactWay, Follow, Group, World

log = logging.getLogger("siyu.demo.wecom")
DEMO_CORP_NAME = "演示企业（模拟企业微信）"
STORE_CODE_NAME = "南京西路店柜台"
FIRST_CUSTOMERS = 40
CONFIRM_AFTER_SECONDS = 20.0
QUESTIONS = ["有优惠券吗？", "领券", "门店地址在哪", "你好", "新客有什么优惠"]


def world_from_siyu(session: Session, corp: Any) -> World:
    """The simulated corp as Siyu last saw it."""
    from siyu.secretbox import unseal
    from siyu.tags.models import Tag, TagGroup
    from siyu.wecom.connection.models import WecomDepartment, WecomStaff
    from siyu.wecom.contacts.models import WecomContact, WecomGroupChat, WecomGroupMember
    from siyu.wecom.live_codes.models import LiveCode
    from siyu.wecom.tagsync.models import WecomTagLink

    world = World(
        corp_id=corp.corp_id,
        secret=unseal(corp.secret_sealed),
        token=unseal(corp.token_sealed),
        aes_key=unseal(corp.aes_key_sealed),
        agent_id=corp.agent_id,
    )
    for d in session.scalars(sa.select(WecomDepartment).where(WecomDepartment.corp_id == corp.id)):
        world.add_department(d.dept_id, d.name, d.parent_dept_id)
    for s in session.scalars(sa.select(WecomStaff).where(WecomStaff.corp_id == corp.id)):
        world.add_staff(s.userid, s.name, list(s.departments or [1])).status = s.status
    for c in session.scalars(
        sa.select(WecomContact).where(
            WecomContact.corp_id == corp.id, WecomContact.deleted_at.is_(None)
        )
    ):
        if c.external_userid not in world.customers:
            world.customers[c.external_userid] = _customer(c.external_userid, c.nickname)
        world.follows[(c.staff_userid, c.external_userid)] = Follow(
            c.staff_userid,
            c.external_userid,
            int(c.added_at.timestamp()) if c.added_at else int(clock.timestamp()),
            remark=c.remark or "",
            add_way=c.add_way or 1,
            state=c.state or "",
            tag_ids=list(c.wecom_tags or []),
        )
    rows = session.execute(
        sa.select(WecomTagLink, Tag.name, TagGroup.name)
        .join(Tag, Tag.id == WecomTagLink.tag_id)
        .join(TagGroup, TagGroup.id == Tag.group_id)
        .where(WecomTagLink.corp_id == corp.id, WecomTagLink.deleted.is_(False))
    ).all()
    for link, tag_name, group_name in rows:
        group = world.tag_groups.setdefault(
            link.wecom_group_id,
            {
                "group_id": link.wecom_group_id,
                "group_name": group_name,
                "create_time": int(clock.timestamp()),
                "order": 0,
                "deleted": False,
                "tag": [],
            },
        )
        group["tag"].append(
            {
                "id": link.wecom_tag_id,
                "name": tag_name,
                "create_time": 0,
                "order": 0,
                "deleted": False,
            }
        )
    for g in session.scalars(
        sa.select(WecomGroupChat).where(
            WecomGroupChat.corp_id == corp.id, WecomGroupChat.dismissed.is_(False)
        )
    ):
        chat = Group(g.chat_id, g.name, g.owner_userid, int(clock.timestamp()))
        for m in session.scalars(
            sa.select(WecomGroupMember).where(WecomGroupMember.group_id == g.id)
        ):
            chat.members[m.member_id] = {
                "userid": m.member_id,
                "type": m.member_type,
                "join_time": int(m.joined_at.timestamp()) if m.joined_at else 0,
                "join_scene": m.join_scene or 1,
            }
        world.groups[g.chat_id] = chat
    for code in session.scalars(sa.select(LiveCode).where(LiveCode.corp_id == corp.id)):
        if code.config_id and code.current_userid:
            world.contact_ways[code.config_id] = ContactWay(
                code.config_id, 1, 2, [code.current_userid], code.state, code.skip_verify
            )
    return world


def _customer(external_userid: str, name: str | None) -> Any:
    from siyu.simulators.wecom.world import Customer

    return Customer(external_userid, name or "顾客")


def start(siyu_url: str, sim_port: int, every_seconds: float = 8.0) -> World:
    """Serve the simulated corp, connect it (first run: seed it), and keep customers coming.
    Points this process's WeCom client at the simulator (call before the server starts)."""
    from siyu.config import reset_settings
    from siyu.db import session_scope
    from siyu.simulators.threaded import ThreadedServer
    from siyu.simulators.wecom.server import create_app
    from siyu.wecom.connection.models import WecomCorp

    with session_scope() as session:
        corp = session.scalar(sa.select(WecomCorp).where(WecomCorp.name == DEMO_CORP_NAME))
        world = world_from_siyu(session, corp) if corp is not None else demo_world(6)
    world.base = f"http://127.0.0.1:{sim_port}"
    os.environ["SIYU_WECOM_API_BASE"] = world.base
    reset_settings()
    ThreadedServer(create_app(world), sim_port)
    if corp is None:
        _seed(world)
    kf = world.add_kf_account("官方客服")
    threading.Thread(
        target=_arrivals, args=(world, siyu_url, kf, every_seconds), daemon=True, name="wecom-demo"
    ).start()
    threading.Thread(target=_guides, args=(world,), daemon=True, name="wecom-guides").start()
    return world


def corp_levels(world: World) -> list[dict[str, Any]]:
    """The corp's own tag group 客户等级 (VIP, 普通会员) that guides put on their friends."""
    from siyu.simulators.wecom.server import add_corp_tag

    tags: list[dict[str, Any]] = add_corp_tag(
        world, {}, {"group_name": "客户等级", "tag": [{"name": "VIP"}, {"name": "普通会员"}]}
    )["tag_group"]["tag"]
    return tags


def _seed(world: World) -> None:
    """First run without `siyu demo ensure`: friends the guides already have, then the corp
    connected as ``connect`` does it."""
    rng = random.Random(7)
    levels = corp_levels(world)
    guides = list(world.staff)
    for i in range(FIRST_CUSTOMERS):
        customer = world.new_customer(f"顾客{i + 1:03d}")
        follow = world.befriend(rng.choice(guides), customer)
        if follow is not None:
            follow.createtime -= rng.randint(1, 90) * 86400
            follow.tag_ids = [rng.choice(levels)["id"]] if rng.random() < 0.5 else []
    connect(world)


def connect(world: World) -> None:
    """The simulated corp connected in Siyu and synced (staff, friends, tags, groups), with a
    welcome, a store's live code, a coupon pool and keyword rules."""
    from siyu.db import session_scope
    from siyu.tags.service import add_group, add_tag
    from siyu.wecom.connection.service import add_corp, client_for, get_corp
    from siyu.wecom.contacts.sync import sync
    from siyu.wecom.live_codes.service import create_live_code, parse_staff
    from siyu.wecom.live_codes.welcome import set_default
    from siyu.wecom.replies.service import RuleSpec, add_rule, load_codes

    guides = list(world.staff)
    with session_scope() as session:
        add_corp(
            session,
            corp_id=world.corp_id,
            agent_id=world.agent_id,
            secret=world.secret,
            token=world.token,
            aes_key_text=world.aes_key,
            name=DEMO_CORP_NAME,
            actor="demo",
        )
    with session_scope() as session:
        corp = get_corp(session, world.corp_id)
        client = client_for(session, corp)
        sync(session, corp, client)
        set_default(
            session,
            corp.id,
            "{{ nickname }}您好，我是{{ staff }}，欢迎关注！回复「领券」领取新客券。",
            actor="demo",
        )
        add_group(session, "渠道", single=False, actor="demo")
        add_tag(session, "渠道/南京西路店", actor="demo")
        add_group(session, "意向", single=False, actor="demo")
        add_tag(session, "意向/领券", actor="demo")
        create_live_code(
            session,
            client,
            corp.id,
            name=STORE_CODE_NAME,
            staff=parse_staff(",".join(guides[:3])),
            channel="store",
            tag_paths=["渠道/南京西路店"],
            actor="demo",
        )
        load_codes(session, corp.id, "新客券", [f"NEW{n:05d}" for n in range(1, 301)], actor="demo")
        add_rule(
            session,
            corp.id,
            RuleSpec(
                "领券",
                "words",
                "优惠券 领券 优惠",
                "您的新客券：{{ code }}",
                "新客券",
                ("意向/领券",),
            ),
            actor="demo",
        )
        add_rule(
            session,
            corp.id,
            RuleSpec("地址", "contains", "地址", "上海市静安区南京西路 1266 号"),
            actor="demo",
        )


def _guides(world: World) -> None:
    """The guides confirm the corp mass messages waiting for them, forever."""
    from siyu.simulators.wecom.mass import confirm_waiting

    while True:
        time.sleep(CONFIRM_AFTER_SECONDS / 4)
        try:
            confirm_waiting(world, CONFIRM_AFTER_SECONDS)
        except Exception as exc:  # keep the demo going
            log.warning("demo WeCom guides could not confirm: %s", exc)


def _arrivals(world: World, siyu_url: str, kf: str, every_seconds: float) -> None:
    """Simulated customers acting in the demo corp, forever."""
    from siyu.simulators.wecom.driver import Driver

    driver = Driver(world, f"{siyu_url.rstrip('/')}/wecom/callback/{world.corp_id}")
    rng = random.Random()
    time.sleep(3)  # let Siyu's server come up
    while True:
        try:
            roll = rng.random()
            ways = list(world.contact_ways)
            if roll < 0.6 and ways:
                driver.scan(rng.choice(ways))
            elif roll < 0.9 and world.follows:
                _u, external = rng.choice(list(world.follows))
                driver.kf_write(kf, world.customers[external], rng.choice(QUESTIONS))
            elif world.follows:
                userid, external = rng.choice(list(world.follows))
                driver.customer_deletes(userid, external)
        except Exception as exc:  # Siyu restarting: try again next time
            log.warning("demo WeCom customer could not act: %s", exc)
        time.sleep(every_seconds * (0.5 + rng.random()))
