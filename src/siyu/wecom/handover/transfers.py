"""Asking WeCom to transfer what a handover lists, and taking its answers (see ``handover``
for the rules): customers 100 per call, groups at once, results by transfer_result, a
completed transfer moving the friendship in Siyu."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.wecom.connection.client import WecomClient, WecomError
from siyu.wecom.connection.models import WecomCorp
from siyu.wecom.connection.service import record_calls
from siyu.wecom.contacts.models import WecomGroupChat
from siyu.wecom.contacts.service import ContactFacts, mark_deleted, store_contacts
from siyu.wecom.handover.models import Handover, HandoverItem
from siyu.wecom.handover.service import BATCH, RESULT_STATUS, alert_failed, counts, maybe_done


def submit(session: Session, client: WecomClient, handover: Handover) -> dict[str, int]:
    """Ask WeCom for every queued item, 100 at a time, committing after each call."""
    corp = session.get(WecomCorp, handover.corp_id)
    assert corp is not None
    api = (
        "externalcontact/transfer_customer"
        if handover.kind == "onjob"
        else "externalcontact/resigned/transfer_customer"
    )
    group_api = (
        "externalcontact/groupchat/onjob_transfer"
        if handover.kind == "onjob"
        else "externalcontact/groupchat/transfer"
    )
    try:
        for takeover, items in _queued(session, handover, "customer"):
            body: dict[str, Any] = {
                "handover_userid": handover.handover_userid,
                "takeover_userid": takeover,
                "external_userid": [i.target_id for i in items],
            }
            if handover.kind == "onjob" and handover.message:
                body["transfer_success_msg"] = handover.message
            try:
                data = client.post(api, body)
            except WecomError as exc:
                if exc.transient:
                    raise
                _fail(items, exc.errcode, str(exc))
            else:
                take_customer_answer(items, data, clock.now())
            record_calls(session, corp, client)
            session.commit()
        for takeover, items in _queued(session, handover, "group"):
            try:
                data = client.post(
                    group_api, {"chat_id_list": [i.target_id for i in items], "new_owner": takeover}
                )
            except WecomError as exc:
                if exc.transient:
                    raise
                _fail(items, exc.errcode, str(exc))
            else:
                for i in take_group_answer(items, data, clock.now()):
                    session.execute(
                        sa.update(WecomGroupChat)
                        .where(
                            WecomGroupChat.corp_id == corp.id,
                            WecomGroupChat.chat_id == i.target_id,
                        )
                        .values(owner_userid=takeover)
                    )
            record_calls(session, corp, client)
            session.commit()
    finally:
        record_calls(session, corp, client)
    maybe_done(session, handover)
    session.commit()
    return counts(session, handover.id)


def _queued(
    session: Session, handover: Handover, target_type: str
) -> list[tuple[str, list[HandoverItem]]]:
    return batches(
        session.scalars(
            sa.select(HandoverItem)
            .where(
                HandoverItem.handover_id == handover.id,
                HandoverItem.target_type == target_type,
                HandoverItem.status == "queued",
            )
            .order_by(HandoverItem.id)
        )
    )


def batches(items: Iterable[HandoverItem]) -> list[tuple[str, list[HandoverItem]]]:
    """The calls that ask for ``items``: one takeover member per call (in the order each first
    appears), at most ``BATCH`` items each, in the items' order."""
    by_taker: dict[str, list[HandoverItem]] = {}
    for i in items:
        by_taker.setdefault(i.takeover_userid, []).append(i)
    return [
        (taker, group[start : start + BATCH])
        for taker, group in by_taker.items()
        for start in range(0, len(group), BATCH)
    ]


def take_customer_answer(items: list[HandoverItem], data: dict[str, Any], now: datetime) -> None:
    """WeCom's answer to one transfer_customer call: each customer it accepted now waits
    (24 h, the customer may refuse); one it refused fails with its errcode, and one it did not
    mention fails as -3 (no answer for it)."""
    codes = {c.get("external_userid"): int(c.get("errcode", 0)) for c in data.get("customer") or []}
    for i in items:
        i.attempts += 1
        i.submitted_at = now
        code = codes.get(i.target_id, -3)
        if code == 0:
            i.status, i.errcode, i.error = "waiting", 0, None
        else:
            _fail([i], code, f"WeCom refused the transfer (errcode {code})", now)


def take_group_answer(
    items: list[HandoverItem], data: dict[str, Any], now: datetime
) -> list[HandoverItem]:
    """WeCom's answer to one group transfer call: the groups it lists as failed fail with
    their errcode; the others have moved (returned, for their owner to be changed)."""
    failed = {f.get("chat_id"): f for f in data.get("failed_chat_list") or []}
    moved = []
    for i in items:
        i.attempts += 1
        i.submitted_at = now
        if i.target_id in failed:
            f = failed[i.target_id]
            _fail([i], int(f.get("errcode", -3)), str(f.get("errmsg", ""))[:300], now)
        else:
            i.status, i.finished_at = "succeeded", now
            moved.append(i)
    return moved


def _fail(items: list[HandoverItem], errcode: int, error: str, now: datetime | None = None) -> None:
    now = now or clock.now()
    for i in items:
        i.status, i.errcode, i.error, i.finished_at = "failed", errcode, error[:300], now


def check(session: Session, client: WecomClient, handover: Handover) -> dict[str, int]:
    """Ask WeCom how the waiting transfers stand; a completed one moves the friendship in Siyu
    to the takeover member, a failed one raises an alert."""
    corp = session.get(WecomCorp, handover.corp_id)
    assert corp is not None
    api = (
        "externalcontact/transfer_result"
        if handover.kind == "onjob"
        else "externalcontact/resigned/transfer_result"
    )
    waiting = list(
        session.scalars(
            sa.select(HandoverItem).where(
                HandoverItem.handover_id == handover.id,
                HandoverItem.target_type == "customer",
                HandoverItem.status == "waiting",
            )
        )
    )
    try:
        for takeover in sorted({i.takeover_userid for i in waiting}):
            mine = {i.target_id: i for i in waiting if i.takeover_userid == takeover}
            cursor = ""
            while True:
                data = client.post(
                    api,
                    {
                        "handover_userid": handover.handover_userid,
                        "takeover_userid": takeover,
                        "cursor": cursor,
                    },
                )
                for c in data.get("customer") or []:
                    item = mine.get(str(c.get("external_userid")))
                    if item is not None:
                        _settle(session, client, corp, handover, item, int(c.get("status", 0)))
                record_calls(session, corp, client)
                session.commit()
                cursor = str(data.get("next_cursor") or "")
                if not cursor:
                    break
    finally:
        record_calls(session, corp, client)
    maybe_done(session, handover)
    session.commit()
    return counts(session, handover.id)


def _settle(
    session: Session,
    client: WecomClient,
    corp: WecomCorp,
    handover: Handover,
    item: HandoverItem,
    status: int,
) -> None:
    outcome = RESULT_STATUS.get(status, "failed")
    if outcome == "waiting" or item.status != "waiting":
        return
    item.finished_at = clock.now()
    if outcome == "succeeded":
        data = client.get("externalcontact/get", external_userid=item.target_id)
        follow = next(
            (f for f in data.get("follow_user") or [] if f.get("userid") == item.takeover_userid),
            None,
        )
        if follow is not None:
            store_contacts(session, corp, [ContactFacts.from_api(data["external_contact"], follow)])
        mark_deleted(session, corp, handover.handover_userid, item.target_id, "transfer")
        item.status = "succeeded"
        return
    item.status = outcome
    item.errcode = status
    alert_failed(session, handover, item)


def submit_now(session: Session, handover: Handover) -> None:
    """Ask WeCom at once (API and console); if WeCom is busy or down, the worker asks again
    within 10 minutes, so the caller does not fail."""
    from siyu.wecom.connection.service import cached_client

    corp = session.get(WecomCorp, handover.corp_id)
    assert corp is not None
    client = cached_client(session, corp)
    try:
        submit(session, client, handover)
    except WecomError:
        session.rollback()
    finally:
        record_calls(session, corp, client)
