"""Customer-group campaigns (客户群群发): one message to customer groups, through their owners.

A group is a shared room, not a person, so such a campaign is aimed at groups (by owner and
name), has no holdout and no A/B split, and its text may use no customer's variables. Each
group gets a ``GroupSend`` row under a unique key when the campaign runs; the worker then, per
owner, stores a ``WecomMassBatch`` (chat_type group) and takes its rows *before* calling
``add_msg_template`` with the groups' chat ids (never retried: WeCom gives the call no
idempotency key). The owner confirms in WeCom; ``wecom_mass.reconcile`` follows the batch
exactly as for customers — a lost answer found in ``get_groupmsg_list_v2``, per-group results
from ``get_groupmsg_send_result``. Marketing waits out the quiet hours like any message.
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.bulk import chunks
from siyu.config import Settings
from siyu.db import rowcount
from siyu.reach.models import Campaign, CampaignStatus, GroupSend, WecomMassBatch
from siyu.reach.sending.ledger import LedgerError
from siyu.reach.sending.policy import next_allowed
from siyu.reach.sending.templates import MissingVariable, TemplateProblem, render
from siyu.reach.tracking.service import Linker
from siyu.wecom.connection.client import BAD_RESPONSE, NETWORK, RateLimited, WecomError
from siyu.wecom.connection.models import WecomCorp
from siyu.wecom.connection.service import cached_client, record_calls
from siyu.wecom.contacts.models import WecomGroupChat

MAX_GROUPS = 2000  # chat_id_list takes at most 2,000 groups
OPEN_STATES = ("pending", "submitted")

# get_groupmsg_send_result status → the row's end: (ledger state, reason)
RESULT = {1: ("sent", None), 2: ("skipped", "not_friend"), 3: ("skipped", "wecom_limit")}


def check_filter(raw: Any) -> dict[str, Any]:
    """The group filter as stored: owners (staff userids) and a part of the group name."""
    if raw is None:
        return {}
    if not isinstance(raw, dict) or set(raw) - {"owners", "name_contains"}:
        raise LedgerError("group filter: owners (a list of staff userids) and/or name_contains")
    owners = raw.get("owners") or []
    if not isinstance(owners, list) or not all(isinstance(o, str) and o for o in owners):
        raise LedgerError("group filter owners: a list of staff userids")
    name = raw.get("name_contains") or ""
    if not isinstance(name, str) or len(name) > 100:
        raise LedgerError("group filter name_contains: up to 100 characters")
    return {k: v for k, v in (("owners", owners), ("name_contains", name)) if v}


def groups_query(campaign: Campaign) -> sa.Select[int, int]:
    """The standing groups the campaign is aimed at (id, member count)."""
    f = campaign.group_filter or {}
    q = sa.select(WecomGroupChat.id, WecomGroupChat.member_count).where(
        WecomGroupChat.dismissed.is_(False)
    )
    if f.get("owners"):
        q = q.where(WecomGroupChat.owner_userid.in_(list(f["owners"])))
    if f.get("name_contains"):
        q = q.where(WecomGroupChat.name.contains(str(f["name_contains"]), autoescape=True))
    return q


def audience(session: Session, campaign: Campaign) -> tuple[int, int]:
    """(groups, their members) the campaign would reach now."""
    sub = groups_query(campaign).subquery()
    n, members = session.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(sub.c.member_count), 0))
    ).one()
    return int(n), int(members)


def fan_out_groups(
    session: Session, campaign: Campaign, now: datetime, step: int
) -> dict[str, int]:
    """One row per targeted group for this step (a re-run adds none twice)."""
    existing = set(
        session.scalars(
            sa.select(GroupSend.group_id).where(
                GroupSend.campaign_id == campaign.id, GroupSend.step == step
            )
        )
    )
    added = 0
    for group_id, members in session.execute(groups_query(campaign)).all():
        if group_id in existing:
            continue
        session.add(
            GroupSend(
                campaign_id=campaign.id,
                step=step,
                group_id=group_id,
                members=members or 0,
                due_at=now,
                created_at=now,
            )
        )
        added += 1
    session.flush()
    return {"added": added, "held_out": 0, "already": len(existing)}


def submit_groups(
    session: Session, worker: str, settings: Settings, now: datetime | None = None
) -> int:
    """The worker's round: due group rows of sending campaigns go to WeCom, one task per owner
    (up to 2,000 groups each); returns how many rows were submitted."""
    now = now or clock.now()
    campaigns = session.scalars(
        sa.select(Campaign).where(Campaign.channel == "wecom_group", Campaign.status == "sending")
    ).all()
    done = 0
    for campaign in campaigns:
        due = session.execute(
            sa.select(
                GroupSend.id,
                WecomGroupChat.corp_id,
                WecomGroupChat.owner_userid,
                WecomGroupChat.chat_id,
            )
            .join(WecomGroupChat, WecomGroupChat.id == GroupSend.group_id)
            .where(
                GroupSend.campaign_id == campaign.id,
                GroupSend.state == "pending",
                GroupSend.due_at <= now,
            )
            .order_by(GroupSend.id)
        ).all()
        if not due:
            finish_if_done(session, campaign)
            continue
        if campaign.purpose == "marketing" and (later := next_allowed(now, settings)) is not None:
            _move(session, [r[0] for r in due], due_at=later, reason="quiet_hours")
            session.commit()
            continue
        try:
            link = Linker(session, settings).for_row(0, campaign.id, "wecom_group")
            text = render("wecom_group", campaign.template, {}, link=link)["text"]
        except (MissingVariable, TemplateProblem) as exc:
            _end(session, [r[0] for r in due], "failed", f"template_error:{exc}"[:40], now)
            session.commit()
            continue
        by_owner: dict[tuple[int, str], list[tuple[int, str]]] = defaultdict(list)
        for row_id, corp_pk, owner, chat_id in due:
            by_owner[(corp_pk, owner)].append((row_id, chat_id))
        for (corp_pk, owner), items in by_owner.items():
            for part in chunks(items, MAX_GROUPS):
                done += _submit(session, campaign, corp_pk, owner, text, list(part), now)
    return done


def _move(session: Session, ids: list[int], *, due_at: datetime, reason: str) -> None:
    session.execute(
        sa.update(GroupSend)
        .where(GroupSend.id.in_(ids), GroupSend.state == "pending")
        .values(due_at=due_at, reason=reason)
        .execution_options(synchronize_session=False)
    )


def _end(session: Session, ids: list[int], state: str, reason: str | None, now: datetime) -> None:
    for part in chunks(ids, 1000):
        session.execute(
            sa.update(GroupSend)
            .where(GroupSend.id.in_(list(part)))
            .values(state=state, reason=reason, finished_at=now)
            .execution_options(synchronize_session=False)
        )


def _submit(
    session: Session,
    campaign: Campaign,
    corp_pk: int,
    owner: str,
    text: str,
    items: list[tuple[int, str]],
    now: datetime,
) -> int:
    batch = WecomMassBatch(
        campaign_id=campaign.id,
        step=campaign.runs - 1,
        corp_id=corp_pk,
        sender=owner,
        chat_type="group",
        text=text,
        state="creating",
        recipients=len(items),
        send_by=now + timedelta(hours=campaign.send_by_hours),
    )
    session.add(batch)
    session.flush()
    # take the rows for this batch; another worker that took them first leaves none here
    rowcount(
        session.execute(
            sa.update(GroupSend)
            .where(GroupSend.id.in_([i for i, _c in items]), GroupSend.state == "pending")
            .values(state="submitted", batch_id=batch.id, reason=None)
            .execution_options(synchronize_session=False)
        )
    )
    mine = dict(
        session.execute(
            sa.select(GroupSend.id, WecomGroupChat.chat_id)
            .join(WecomGroupChat, WecomGroupChat.id == GroupSend.group_id)
            .where(GroupSend.batch_id == batch.id)
        ).all()
    )
    if not mine:
        session.delete(batch)
        session.commit()
        return 0
    batch.recipients = len(mine)
    session.commit()  # the intent is stored before WeCom is asked
    corp = session.get(WecomCorp, corp_pk)
    if corp is None:
        _end(session, list(mine), "failed", "wecom_not_connected", now)
        batch.state = "failed"
        session.commit()
        return 0
    client = cached_client(session, corp)
    body = {
        "chat_type": "group",
        "sender": owner,
        "chat_id_list": list(mine.values()),
        "text": {"content": text},
    }
    try:
        data = client.post("externalcontact/add_msg_template", body, retry=False)
    except RateLimited as exc:
        wait = max(60.0, exc.retry_at - time.monotonic())
        _back(
            session,
            batch,
            list(mine),
            now + timedelta(seconds=wait),
            f"retry:{exc.errcode}",
            str(exc),
        )
    except WecomError as exc:
        if exc.errcode in (NETWORK, BAD_RESPONSE):  # it may have created the task
            batch.state, batch.error = "ambiguous", str(exc)[:300]
        elif exc.transient:
            _back(
                session,
                batch,
                list(mine),
                now + timedelta(minutes=5),
                f"retry:{exc.errcode}",
                str(exc),
            )
        else:
            _end(session, list(mine), "failed", f"wecom:{exc.errcode}"[:40], now)
            batch.state, batch.error = "failed", str(exc)[:300]
    else:
        refused = set(data.get("fail_list") or [])
        _end(session, [i for i, c in mine.items() if c in refused], "skipped", "not_owner", now)
        batch.state, batch.msgid = "created", str(data.get("msgid") or "")
    record_calls(session, corp, client)
    session.commit()
    return len(mine)


def _back(
    session: Session, batch: WecomMassBatch, ids: list[int], due: datetime, reason: str, error: str
) -> None:
    """WeCom refused for now: the rows wait again (the batch never became a task)."""
    session.execute(
        sa.update(GroupSend)
        .where(GroupSend.id.in_(ids))
        .values(state="pending", batch_id=None, due_at=due, reason=reason[:40])
        .execution_options(synchronize_session=False)
    )
    batch.state, batch.error = "failed", error[:300]


def settle_batch(
    session: Session, batch: WecomMassBatch, by_chat: dict[str, tuple[int, int]], now: datetime
) -> int:
    """Per-group results of a confirmed task (status 1 sent, 2 gone, 3 over WeCom's limit);
    returns how many groups are still waiting."""
    rows = session.execute(
        sa.select(GroupSend.id, WecomGroupChat.chat_id)
        .join(WecomGroupChat, WecomGroupChat.id == GroupSend.group_id)
        .where(GroupSend.batch_id == batch.id, GroupSend.state == "submitted")
    ).all()
    waiting = 0
    for row_id, chat_id in rows:
        status, at = by_chat.get(chat_id, (0, 0))
        if status not in RESULT:
            waiting += 1
            continue
        state, reason = RESULT[status]
        session.execute(
            sa.update(GroupSend)
            .where(GroupSend.id == row_id)
            .values(
                state=state,
                reason="group_gone" if status == 2 else reason,
                finished_at=datetime.fromtimestamp(at, now.tzinfo) if at else now,
            )
        )
    return waiting


def end_open(session: Session, batch_id: int, state: str, reason: str, now: datetime) -> None:
    """The batch's groups still waiting end as ``state`` (the owner never confirmed) or go back
    to pending (WeCom has no such task: ``state`` pending)."""
    values: dict[str, Any] = {"state": state, "reason": reason}
    if state == "pending":
        values.update(batch_id=None, due_at=now)
    else:
        values["finished_at"] = now
    session.execute(
        sa.update(GroupSend)
        .where(GroupSend.batch_id == batch_id, GroupSend.state == "submitted")
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def cancel_groups(session: Session, campaign_id: int, now: datetime | None = None) -> int:
    """A cancelled campaign's groups not yet handed to WeCom end as skipped ``cancelled``."""
    return rowcount(
        session.execute(
            sa.update(GroupSend)
            .where(GroupSend.campaign_id == campaign_id, GroupSend.state == "pending")
            .values(state="skipped", reason="cancelled", finished_at=now or clock.now())
            .execution_options(synchronize_session=False)
        )
    )


def finish_if_done(session: Session, campaign: Campaign) -> None:
    if campaign.status != "sending":
        return
    left = session.scalar(
        sa.select(GroupSend.id)
        .where(GroupSend.campaign_id == campaign.id, GroupSend.state.in_(OPEN_STATES))
        .limit(1)
    )
    if left is None:
        if campaign.next_run_at is not None:
            campaign.status = CampaignStatus.scheduled
        else:
            campaign.status, campaign.finished_at = CampaignStatus.done, clock.now()
    session.commit()


def counts(session: Session, campaign_id: int) -> dict[str, int]:
    return {
        str(state): int(n)
        for state, n in session.execute(
            sa.select(GroupSend.state, sa.func.count())
            .where(GroupSend.campaign_id == campaign_id)
            .group_by(GroupSend.state)
        )
    }
