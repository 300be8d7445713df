"""Reactions between capabilities: one capability's change, told to the others that care.

A capability that changes something others react to *publishes* a topic inside its own
transaction (``publish``); nothing is called there. Each subscriber its manifest declares
(``Capability.subscribers``) gets a job in the same transaction, so the news is kept exactly
when the change is: a rolled-back change tells nobody, a committed one is delivered by the worker
after commit, at least once (a worker that dies mid-delivery leaves the job to be taken up
again). So every subscriber must be idempotent: told twice, it does what it did once.

Capabilities do not call each other for this: tags does not know WeCom mirrors its tags, and
loyalty, growth and journeys will hear of orders, segments and erasures the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from siyu.jobs.service import enqueue, enqueue_on, handler

JOB_KIND = "reaction"
# A long list of ids travels in parts, so no job carries an unbounded payload.
PART = 1000


class Topic(StrEnum):
    """What a capability can tell the others. Each topic's data is documented here, because a
    subscriber relies on it."""

    # {"tag": id, "customers": [ids], "added": bool, "actor": str, "source": str}
    tag_changed = "tag.changed"
    # {"orders": [ids]}: orders an import wrote or changed (read them with orders.queries)
    order_changed = "order.changed"
    # {"segment": id, "customers": [ids]}: customers who came into a segment at a refresh
    segment_entered = "segment.entered"
    # {"customers": [ids]}: profiles erased (their rows are gone when this is delivered)
    customer_erased = "customer.erased"
    # {"messages": [message ids]}: track events stored (read them with events.queries.tracked)
    event_tracked = "event.tracked"
    # {"member": id, "customer": id, "via": str, "device": str, "address": str, "wechat": str}:
    # a customer joined a programme in the member centre (``via``: where the link came from;
    # ``wechat``: the WeChat reader's key when they signed in from WeChat, else "")
    member_joined = "member.joined"
    # {"customer": id, "corp": id, "state": str, "staff": userid, "at": iso time}: a customer
    # added a staff member through a contact way or live code with a state
    friend_added = "wecom.friend_added"
    # {"order": id, "customer": id, "code": str}: an order came with a referral code
    order_referred = "order.referred"
    # {"corp": id, "chat": chat id, "customers": [ids], "at": iso time}: customers who were not
    # in a WeCom customer group before joined it
    group_joined = "wecom.group_joined"


def publish(target: Session | Connection, topic: Topic, data: dict[str, Any]) -> int:
    """Queue ``data`` for every subscriber of ``topic`` in the caller's transaction (an ORM
    session, or the connection of a bulk writer); returns how many deliveries were queued
    (none, at no cost, when no capability subscribes)."""
    from siyu.capabilities import subscribers

    payloads = [
        {"topic": str(topic), "capability": cap.name, "subscriber": ref, "data": data}
        for cap, ref in subscribers(topic)
    ]
    if isinstance(target, Session):
        for payload in payloads:
            enqueue(target, JOB_KIND, payload)
    else:
        enqueue_on(target, JOB_KIND, payloads)
    return len(payloads)


def publish_parts(
    target: Session | Connection, topic: Topic, key: str, ids: Sequence[int | str], **data: Any
) -> int:
    """``publish`` for a change about many rows: ``ids`` under ``key``, one delivery per part
    of ``PART`` (and none when ``ids`` is empty)."""
    queued = 0
    for start in range(0, len(ids), PART):
        queued += publish(target, topic, {**data, key: list(ids[start : start + PART])})
    return queued


@handler(JOB_KIND)
def deliver(session: Session, payload: dict[str, Any]) -> None:
    """Run one subscriber on one piece of news (the worker commits after it)."""
    from siyu.capabilities import by_name

    cap = by_name(payload["capability"])
    ref = payload["subscriber"]
    if (payload["topic"], ref) not in cap.subscribers:
        raise LookupError(f"{cap.name} no longer subscribes {ref} to {payload['topic']}")
    cap.load(ref)(session, payload["data"])
