"""WeCom customer mass-send (企业群发) through the send ledger (DESIGN §5).

WeCom sends a corp mass message only after the staff member confirms it in their WeCom, and
``add_msg_template`` has no idempotency key. So:

1. The customers' rows are grouped by (campaign, step, staff member, text) — a WeCom template
   may use only what is the same for many customers (store, city, tier…) — at most 10,000 a
   task. The batch is written (``creating``) and the rows point at it *before* the call.
2. ``add_msg_template`` is called once, never retried on a lost answer. Answered: the batch
   has its msgid, customers WeCom refused (``fail_list``) are skipped ``not_friend``, the
   others wait as ``submitted``. Not answered: the batch is ``ambiguous``.
3. ``reconcile`` (the worker, every 2 minutes): an ambiguous batch is looked for in
   ``get_groupmsg_list_v2`` by sender, text and time — found, it takes that msgid; absent
   after 5 minutes, its rows go back to pending (WeCom has confirmed there is no task). A
   created batch is followed through ``get_groupmsg_task`` and ``get_groupmsg_send_result``:
   per customer sent (and so delivered: WeCom reports the message in the customer's chat) /
   not a friend any more / over WeCom's limits; a task the staff member has not confirmed by
   the send-by time ends its rows as ``not_confirmed``. The round that settles a campaign's
   last rows marks it done (nothing is left for the dispatcher to claim).

Customer-group tasks (chat_type group, ``wecom_groups``) are followed the same way, their
results per group.
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.bulk import chunks
from siyu.config import Settings
from siyu.db import rowcount
from siyu.reach.channels.base import Delivery, Outgoing, SendResult
from siyu.reach.channels.wecom_groups import RESULT, end_open, settle_batch
from siyu.reach.models import Campaign, SendRow, SendState, WecomMassBatch
from siyu.reach.sending.ledger import Claimed, finish_if_done, record_many
from siyu.wecom.connection.client import BAD_RESPONSE, NETWORK, RateLimited, WecomClient, WecomError
from siyu.wecom.connection.models import WecomCorp
from siyu.wecom.connection.service import cached_client, record_calls

MAX_PER_TASK = 10_000
ABSENT_AFTER = timedelta(minutes=5)
FIND_WINDOW = timedelta(minutes=10)


class WecomMass:
    """The WeCom entry in the channel table: its messages are batched by ``submit_mass``."""

    name = "wecom"
    reconcilable = False  # settled by ``reconcile`` below, through the task queries
    absence_proves_unsent = False

    def send(self, message: Outgoing) -> SendResult:
        raise RuntimeError("WeCom mass messages are sent in batches (submit_mass)")

    def delivery(self, address: str, ref: str, since: datetime) -> Delivery:
        return Delivery(False)


def _client(session: Session, corp_pk: int) -> tuple[WecomCorp | None, WecomClient | None]:
    corp = session.get(WecomCorp, corp_pk)
    return (corp, cached_client(session, corp)) if corp is not None else (None, None)


def submit_mass(
    session: Session, worker: str, settings: Settings, mass: list[tuple[Claimed, Outgoing]]
) -> None:
    """Turn claimed, checked and rendered WeCom rows into tasks, one per sender and text."""
    groups: dict[tuple[int, int, int, str, str], list[tuple[int, str]]] = defaultdict(list)
    for row, message in mass:
        corp, sender, ext = message.address.split(":", 2)
        assert row.campaign_id is not None  # WeCom mass messages are campaigns' only
        key = (row.campaign_id, row.step, int(corp), sender, message.parts.get("text", ""))
        groups[key].append((row.id, ext))
    for (campaign_id, step, corp_pk, sender, text), items in groups.items():
        campaign = session.get(Campaign, campaign_id)
        hours = campaign.send_by_hours if campaign is not None else 72
        for part in chunks(items, MAX_PER_TASK):
            _submit(session, worker, campaign_id, step, corp_pk, sender, text, list(part), hours)


def _submit(
    session: Session,
    worker: str,
    campaign_id: int,
    step: int,
    corp_pk: int,
    sender: str,
    text: str,
    items: list[tuple[int, str]],
    hours: int,
) -> None:
    ids = [i for i, _e in items]
    batch = WecomMassBatch(
        campaign_id=campaign_id,
        step=step,
        corp_id=corp_pk,
        sender=sender,
        text=text,
        state="creating",
        recipients=len(items),
        send_by=clock.now() + timedelta(hours=hours),
    )
    session.add(batch)
    session.flush()
    for row_id, ext in items:  # the row remembers its customer's external_userid
        session.execute(
            sa.update(SendRow)
            .where(SendRow.id == row_id)
            .values(batch_id=batch.id, provider_ref=ext)
            .execution_options(synchronize_session=False)
        )
    session.commit()  # the intent is stored before WeCom is asked
    corp, client = _client(session, corp_pk)
    if client is None or corp is None:
        record_many(session, ids, worker, SendState.failed, reason="wecom_not_connected")
        batch.state = "failed"
        session.commit()
        return
    body = {
        "chat_type": "single",
        "sender": sender,
        "external_userid": [e for _i, e in items],
        "text": {"content": text},
        "allow_select": False,
    }
    try:
        data = client.post("externalcontact/add_msg_template", body, retry=False)
    except RateLimited as exc:
        wait = max(60.0, exc.retry_at - time.monotonic())
        due = clock.now() + timedelta(seconds=wait)
        record_many(
            session, ids, worker, SendState.deferred, reason=f"retry:{exc.errcode}", due_at=due
        )
        batch.state, batch.error = "failed", str(exc)[:300]
    except WecomError as exc:
        if exc.errcode in (NETWORK, BAD_RESPONSE):  # it may have created the task
            record_many(session, ids, worker, SendState.submitted, reason="wecom_unanswered")
            batch.state, batch.error = "ambiguous", str(exc)[:300]
        elif exc.transient:
            due = clock.now() + timedelta(minutes=5)
            record_many(
                session, ids, worker, SendState.deferred, reason=f"retry:{exc.errcode}", due_at=due
            )
            batch.state, batch.error = "failed", str(exc)[:300]
        else:
            record_many(session, ids, worker, SendState.failed, reason=f"wecom:{exc.errcode}"[:40])
            batch.state, batch.error = "failed", str(exc)[:300]
    else:
        refused = set(data.get("fail_list") or [])
        gone = [i for i, e in items if e in refused]
        record_many(session, gone, worker, SendState.skipped, reason="not_friend")
        record_many(session, [i for i in ids if i not in set(gone)], worker, SendState.submitted)
        batch.state, batch.msgid = "created", str(data.get("msgid") or "")
    record_calls(session, corp, client)
    session.commit()


def reconcile(session: Session, now: datetime | None = None) -> dict[str, int]:
    """Settle what WeCom knows of the open tasks; returns counts by what happened."""
    now = now or clock.now()
    out = {"found": 0, "absent": 0, "settled": 0, "unconfirmed": 0, "waiting": 0}
    stale = now - timedelta(minutes=15)  # a worker died between writing and asking
    session.execute(
        sa.update(WecomMassBatch)
        .where(WecomMassBatch.state == "creating", WecomMassBatch.created_at < stale)
        .values(state="ambiguous", error="no answer recorded")
    )
    session.commit()
    open_batches = session.scalars(
        sa.select(WecomMassBatch)
        .where(WecomMassBatch.state.in_(("ambiguous", "created")))
        .order_by(WecomMassBatch.id)
    ).all()
    for batch in open_batches:
        corp, client = _client(session, batch.corp_id)
        if client is None or corp is None:
            continue
        try:
            if batch.state == "ambiguous":
                out[_find(session, client, batch, now)] += 1
            if batch.state == "created":
                out[_follow(session, client, batch, now)] += 1
        except WecomError as exc:
            batch.error = str(exc)[:300]  # asked again at the next round
        if batch.state in ("done", "failed") and batch.chat_type == "single":
            campaign = session.get(Campaign, batch.campaign_id)
            if campaign is not None:  # nothing is left to claim: this may have been its end
                finish_if_done(session, campaign)
        record_calls(session, corp, client)
        session.commit()
    return out


def _find(session: Session, client: WecomClient, batch: WecomMassBatch, now: datetime) -> str:
    start = int(batch.created_at.timestamp() - 60)
    end = int((batch.created_at + FIND_WINDOW).timestamp())
    taken = set(
        session.scalars(
            sa.select(WecomMassBatch.msgid).where(
                WecomMassBatch.corp_id == batch.corp_id, WecomMassBatch.msgid.is_not(None)
            )
        )
    )
    cursor = ""
    while True:
        data = client.post(
            "externalcontact/get_groupmsg_list_v2",
            {
                "chat_type": batch.chat_type,
                "start_time": start,
                "end_time": end,
                "creator": batch.sender,
                "cursor": cursor,
                "limit": 100,
            },
        )
        for m in data.get("group_msg_list") or []:
            same = (
                m.get("creator") == batch.sender
                and (m.get("text") or {}).get("content") == batch.text
            )
            if same and m.get("msgid") not in taken:
                batch.state, batch.msgid, batch.error = "created", str(m["msgid"]), None
                return "found"
        cursor = str(data.get("next_cursor") or "")
        if not cursor:
            break
    if now - batch.created_at < ABSENT_AFTER:
        return "waiting"
    batch.state, batch.error = "failed", "absent at WeCom: sent again"
    if batch.chat_type == "group":
        end_open(session, batch.id, "pending", "wecom_absent", now)
        return "absent"
    session.execute(
        sa.update(SendRow)
        .where(SendRow.batch_id == batch.id, SendRow.state == SendState.submitted)
        .values(
            state=SendState.pending,
            reason="wecom_absent",
            due_at=now,
            batch_id=None,
            checked_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    return "absent"


def _follow(session: Session, client: WecomClient, batch: WecomMassBatch, now: datetime) -> str:
    task = client.post("externalcontact/get_groupmsg_task", {"msgid": batch.msgid, "limit": 1000})
    confirmed = any(
        t.get("userid") == batch.sender and int(t.get("status") or 0) == 2
        for t in task.get("task_list") or []
    )
    batch.checked_at = now
    if not confirmed:
        if now <= batch.send_by:
            return "waiting"
        batch.state = "done"
        if batch.chat_type == "group":
            end_open(session, batch.id, "skipped", "not_confirmed", now)
            return "unconfirmed"
        rowcount(
            session.execute(
                sa.update(SendRow)
                .where(SendRow.batch_id == batch.id, SendRow.state == SendState.submitted)
                .values(
                    state=SendState.skipped,
                    reason="not_confirmed",
                    finished_at=now,
                    checked_at=None,
                )
                .execution_options(synchronize_session=False)
            )
        )
        batch.state = "done"
        return "unconfirmed"
    by_ext: dict[str, tuple[int, int]] = {}
    cursor = ""
    while True:
        data = client.post(
            "externalcontact/get_groupmsg_send_result",
            {"msgid": batch.msgid, "userid": batch.sender, "cursor": cursor, "limit": 1000},
        )
        for r in data.get("send_list") or []:
            by_ext[str(r.get("chat_id") or r.get("external_userid"))] = (
                int(r.get("status") or 0),
                int(r.get("send_time") or 0),
            )
        cursor = str(data.get("next_cursor") or "")
        if not cursor:
            break
    batch.confirmed_at = batch.confirmed_at or now
    if batch.chat_type == "group":
        if not settle_batch(session, batch, by_ext, now):
            batch.state = "done"
        return "settled"
    waiting = 0
    rows = session.execute(
        sa.select(SendRow.id, SendRow.provider_ref).where(
            SendRow.batch_id == batch.id, SendRow.state == SendState.submitted
        )
    ).all()
    for row_id, ext in rows:
        status, at = by_ext.get(str(ext), (0, 0))
        if status not in RESULT:
            waiting += 1
            continue
        state, reason = RESULT[status]
        values: dict[str, Any] = {"state": state, "reason": reason}
        values["finished_at"] = datetime.fromtimestamp(at, UTC) if at else now
        if (
            state == SendState.sent
        ):  # WeCom put it in the customer's chat: there is no later receipt
            values["delivered"] = True
        else:
            values["checked_at"] = None
        session.execute(sa.update(SendRow).where(SendRow.id == row_id).values(**values))
    if not waiting:
        batch.state = "done"
    return "settled"


def channel(_settings: Settings) -> WecomMass:
    """The channel's entry for the dispatcher (customers without a WeCom friendship fall
    through to the next channel, or are skipped)."""
    return WecomMass()
