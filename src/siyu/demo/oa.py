"""The demo's official account: followers who are members (they bound WeChat in the member
mini program, which told Siyu their unionid), followers who are not members yet, and people
following and unfollowing while the demo runs — pushed to Siyu's ``/oa/callback/{appid}`` in safe
mode, as WeChat pushes them. The worker's follower sync reads the list into customers, so an
official-account campaign in the demo reaches followers, and skips whoever unfollowed. The
simulator keeps nothing on disk: at each start its followers are rebuilt from Siyu's."""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased

log = logging.getLogger("siyu.demo.oa")
MEMBERS_FOLLOWING = 150
STRANGERS_FOLLOWING = 30
QR_SCENES = ["store_nanjingxilu", "parcel_card", "poster_618"]


def build(sim: Any) -> int:
    """Give the simulated account its followers; returns how many follow."""
    from siyu.customers.models import Identity
    from siyu.db import session_scope
    from siyu.oa.models import OaFollower

    with session_scope() as session:
        union = aliased(Identity)
        known = session.execute(
            sa.select(OaFollower.openid, union.value)
            .join(
                Identity,
                sa.and_(
                    Identity.kind == "openid",
                    Identity.namespace == OaFollower.appid,
                    Identity.value == OaFollower.openid,
                ),
                isouter=True,
            )
            .join(
                union,
                sa.and_(union.customer_id == Identity.customer_id, union.kind == "unionid"),
                isouter=True,
            )
            .where(OaFollower.appid == sim.appid, OaFollower.subscribed.is_(True))
            .order_by(OaFollower.id)
        ).all()
    if known:  # a restart: the same people follow, under the same openids
        for openid, unionid in known:
            sim.subscribe(openid, unionid)
        return len(sim.followers)
    rng = random.Random(11)
    for unionid in _members_with_unionid(rng):
        sim.subscribe(None, unionid, *_scene(rng))
    for _ in range(STRANGERS_FOLLOWING):
        sim.subscribe(None, "oUn" + "".join(rng.choices("abcdefghjkmnpqrstuvwxyz0123456789", k=25)))
    return len(sim.followers)


def _scene(rng: random.Random) -> tuple[str, str]:
    if rng.random() < 0.5:
        return "ADD_SCENE_QR_CODE", rng.choice(QR_SCENES)
    return rng.choice(["ADD_SCENE_SEARCH", "ADD_SCENE_ACCOUNT_MIGRATION", "ADD_SCENE_OTHERS"]), ""


def _members_with_unionid(rng: random.Random) -> list[str]:
    """Members who bound WeChat in the mini program: an identify event with their phone and
    unionid each, through the event service (idempotent on messageId)."""
    from siyu.config import get_settings
    from siyu.customers.models import Customer, Identity
    from siyu.db import get_engine, session_scope, write_transaction
    from siyu.events.schemas import EventIn
    from siyu.events.service import ingest

    with session_scope() as session:
        phones = session.scalars(
            sa.select(Identity.value)
            .join(Customer, Customer.id == Identity.customer_id)
            .where(Identity.kind == "phone", Customer.status == "active")
            .order_by(Identity.customer_id)
            .limit(MEMBERS_FOLLOWING)
        ).all()
    unionids = [
        "oUn" + "".join(rng.choices("abcdefghjkmnpqrstuvwxyz0123456789", k=25)) for _ in phones
    ]
    events = [
        EventIn.model_validate(
            {
                "type": "identify",
                "messageId": f"demo-oa-bind-{n}",
                "traits": {"phone": phone, "unionid": unionid},
                "context": {"app": "会员小程序"},
            }
        )
        for n, (phone, unionid) in enumerate(zip(phones, unionids, strict=True))
    ]
    if events:
        with write_transaction(get_engine()) as conn:
            ingest(conn, events, source="demo", secret=get_settings().secret_key_bytes())
    return unionids


def start_arrivals(sim: Any, siyu_url: str, every_seconds: float = 15.0) -> None:
    """People following, unfollowing and scanning codes, forever, in a daemon thread."""
    threading.Thread(
        target=_arrivals, args=(sim, siyu_url, every_seconds), daemon=True, name="oa-demo"
    ).start()


def _arrivals(sim: Any, siyu_url: str, every_seconds: float) -> None:
    from siyu.simulators.oa.driver import OaDriver

    driver = OaDriver(sim, f"{siyu_url.rstrip('/')}/oa/callback/{sim.appid}")
    rng = random.Random()
    time.sleep(5)  # let Siyu's server come up
    while True:
        try:
            roll = rng.random()
            followers = sorted(sim.followers)
            if roll < 0.6 or not followers:
                driver.subscribe(qr_scene=rng.choice(QR_SCENES) if rng.random() < 0.7 else "")
            elif roll < 0.85:
                driver.unsubscribe(rng.choice(followers))
            else:
                driver.scan(rng.choice(followers), rng.choice(QR_SCENES))
        except Exception as exc:  # Siyu restarting: try again next time
            log.warning("demo follower could not act: %s", exc)
        time.sleep(every_seconds * (0.5 + rng.random()))
