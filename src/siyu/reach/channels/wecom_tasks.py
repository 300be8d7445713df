"""Guide tasks (导购任务): a campaign that asks each customer's guide to reach out in person,
delivered to the guide through the corp's self-built app (``message/send``).

Each customer still has their own ledger row (and is checked by the send policy like any
message: consent, do-not-disturb, caps, quiet hours), but a guide gets one list of their
customers per round rather than one message per customer — WeCom takes at most 30 app
messages a minute for one member and silently drops the rest. Lists are cut at 2,000 bytes
(a text message takes 2,048).

``message/send`` has a duplicate check: the same request within ``duplicate_check_interval``
(at most four hours) is not delivered twice. Every call sets it, so the client's own retry of
a lost answer (seconds later, the same body) cannot double a task. An answer still lost after
those retries leaves the rows ambiguous for an operator; nothing is sent again blindly.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from siyu import clock
from siyu.config import Settings
from siyu.reach.channels.base import Delivery, Outgoing, SendResult
from siyu.reach.models import Campaign, SendState
from siyu.reach.sending.ledger import Claimed, record_many
from siyu.wecom.connection.client import BAD_RESPONSE, NETWORK, RateLimited, WecomError
from siyu.wecom.connection.models import WecomCorp
from siyu.wecom.connection.service import cached_client, record_calls

MAX_BYTES = 2000
MAX_LINE = 300  # characters of one customer's line (at most 900 bytes: a list always fits)
DUPLICATE_CHECK_SECONDS = 4 * 3600
STAFF_GONE = (60111, 81013)  # userid not found; no valid recipient (left, or not in the app)


class WecomGuideTask:
    """The ``wecom_app`` entry in the channel table: its rows go out in lists (``submit_tasks``)."""

    name = "wecom_app"
    reconcilable = False
    absence_proves_unsent = False

    def send(self, message: Outgoing) -> SendResult:
        raise RuntimeError("guide tasks are sent as one list per guide (submit_tasks)")

    def delivery(self, address: str, ref: str, since: datetime) -> Delivery:
        return Delivery(False)


def task_lists(title: str, lines: list[tuple[int, str]]) -> list[tuple[str, list[int]]]:
    """(text, row ids) per app message: a title, then one numbered line per customer."""
    out: list[tuple[str, list[int]]] = []
    text, ids = title, list[int]()
    for n, (row_id, line) in enumerate(lines, 1):
        entry = f"\n{n}. {line}"
        if ids and len((text + entry).encode()) > MAX_BYTES:
            out.append((text, ids))
            text, ids = title + "（续）", []
        text, ids = text + entry, [*ids, row_id]
    if ids:
        out.append((text, ids))
    return out


FOLLOW_UP_TITLE = "待跟进"
# line and paragraph breaks, other control characters, and the signs that reorder text: a
# customer's name must not start a line of its own in the guide's list
BREAKS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]+")


def one_line(text: str) -> str:
    return BREAKS.sub(" ", text).strip()  # the list of one-off tasks another capability asked for


def submit_tasks(session: Session, worker: str, items: list[tuple[Claimed, Outgoing]]) -> None:
    """Send the checked, rendered rows of this round as one task list per guide and campaign
    (one-off tasks, which have no campaign — a survey's detractor to call back — in a list of
    their own)."""
    groups: dict[tuple[int | None, int, str], list[tuple[int, str]]] = defaultdict(list)
    for row, message in items:
        corp, staff, _ext = message.address.split(":", 2)
        groups[(row.campaign_id, int(corp), staff)].append(
            (row.id, one_line(message.parts.get("text", ""))[:MAX_LINE])
        )
    for (campaign_id, corp_pk, staff), lines in groups.items():
        campaign = session.get(Campaign, campaign_id) if campaign_id is not None else None
        name = campaign.name if campaign else FOLLOW_UP_TITLE
        title = f"【{name}】请跟进以下 {len(lines)} 位客户："
        for text, ids in task_lists(title, lines):
            _send(session, worker, corp_pk, staff, text, ids)


def _send(
    session: Session, worker: str, corp_pk: int, staff: str, text: str, ids: list[int]
) -> None:
    session.commit()  # nothing is held while WeCom answers
    corp = session.get(WecomCorp, corp_pk)
    if corp is None:
        record_many(session, ids, worker, SendState.failed, reason="wecom_not_connected")
        session.commit()
        return
    client = cached_client(session, corp)
    body = {
        "touser": staff,
        "msgtype": "text",
        "agentid": int(corp.agent_id),
        "text": {"content": text},
        "enable_duplicate_check": 1,
        "duplicate_check_interval": DUPLICATE_CHECK_SECONDS,
    }
    try:
        data = client.post("message/send", body, member=staff)
    except RateLimited as exc:
        due = clock.now() + timedelta(seconds=max(60.0, exc.retry_at - time.monotonic()))
        record_many(
            session, ids, worker, SendState.deferred, reason=f"retry:{exc.errcode}", due_at=due
        )
    except WecomError as exc:
        if exc.errcode in (NETWORK, BAD_RESPONSE):  # retried already; it may have arrived
            record_many(
                session, ids, worker, SendState.ambiguous, reason="wecom_unanswered", error=str(exc)
            )
        elif exc.errcode in STAFF_GONE:
            record_many(session, ids, worker, SendState.skipped, reason="guide_not_in_app")
        elif exc.transient:
            due = clock.now() + timedelta(minutes=5)
            record_many(
                session, ids, worker, SendState.deferred, reason=f"retry:{exc.errcode}", due_at=due
            )
        else:
            record_many(session, ids, worker, SendState.failed, reason=f"wecom:{exc.errcode}"[:40])
    else:
        invalid = {u.lower() for u in str(data.get("invaliduser") or "").split("|") if u}
        if staff.lower() in invalid:
            record_many(session, ids, worker, SendState.skipped, reason="guide_not_in_app")
        else:
            record_many(
                session, ids, worker, SendState.sent, provider_ref=str(data.get("msgid") or "")[:64]
            )
    record_calls(session, corp, client)
    session.commit()


def channel(_settings: Settings) -> WecomGuideTask:
    """The channel's entry for the dispatcher (customers without a WeCom friendship fall
    through to the next channel, or are skipped)."""
    return WecomGuideTask()
