"""Simulated corp mass messages (企业群发): add_msg_template creates a task for a staff member,
who confirms it in their WeCom before anything is sent; get_groupmsg_list_v2, _task and
_send_result report it. A customer receives at most one corp mass message a day and four a
calendar month (later ones come back as status 3), and only from a member they are still friends with (status 2).
With chat_type group the same holds for the owner's customer groups (chat_id_list), a dismissed
group coming back as status 2."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from siyu.simulators.wecom.protocol import api, err, ok, page
from siyu.simulators.wecom.world import World, _rand

MAX_RECIPIENTS = 10000
MAX_GROUPS = 2000  # chat_id_list: "最多可一次指定2000个客户群"
PER_CUSTOMER_PER_DAY = 1
PER_CUSTOMER_PER_MONTH = 4  # "每个自然月内仅可针对一个客户发送4条消息"
DAY = 86400
SHANGHAI = 8 * 3600

# per-customer result: 0 not sent yet, 1 sent, 2 not a friend, 3 already received one today


@dataclass
class MassMessage:
    msgid: str
    sender: str
    recipients: list[str]
    text: str
    attachments: list[dict[str, Any]]
    created: int
    chat_type: str = "single"
    confirmed_at: int = 0
    results: dict[str, int] = field(default_factory=dict)  # external_userid → status
    sent_at: dict[str, int] = field(default_factory=dict)


def _messages(w: World) -> dict[str, MassMessage]:
    msgs: dict[str, MassMessage] = w.extras.setdefault("mass", {})
    return msgs


@api("externalcontact/add_msg_template")
def add_msg_template(w: World, _q: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    chat_type = b.get("chat_type") or "single"
    if chat_type not in ("single", "group"):
        return err(40058, "chat_type: single or group")
    sender = str(b.get("sender") or "")
    if sender not in w.staff:
        return err(60111, "userid not found")
    key, most = (
        ("chat_id_list", MAX_GROUPS)
        if chat_type == "group"
        else ("external_userid", MAX_RECIPIENTS)
    )
    recipients = b.get(key) or []
    if not isinstance(recipients, list) or not 1 <= len(recipients) <= most:
        return err(40058, f"{key} must list 1 to {most}")
    text = str((b.get("text") or {}).get("content") or "")
    attachments = b.get("attachments") or []
    if not text and not attachments:
        return err(41048, "text or attachments required")
    if len(text.encode()) > 4000 or len(attachments) > 9:
        return err(40058, "text longer than 4000 bytes or more than 9 attachments")
    if chat_type == "group":  # only the owner's own standing groups
        fail = [
            c
            for c in recipients
            if c not in w.groups or w.groups[c].owner != sender or w.groups[c].dismissed
        ]
    else:
        fail = [e for e in recipients if (sender, e) not in w.follows]
    msg = MassMessage(
        "msg" + _rand(28),
        sender,
        [e for e in recipients if e not in fail],
        text,
        list(attachments),
        int(w.clock()),
        chat_type,
    )
    msg.results = dict.fromkeys(msg.recipients, 0)
    _messages(w)[msg.msgid] = msg
    return ok(fail_list=fail, msgid=msg.msgid)


def confirm(w: World, msgid: str) -> MassMessage:
    """The member taps "send" in WeCom: each customer gets it unless today's quota is used."""
    msg = _messages(w)[msgid]
    now = int(w.clock())
    msg.confirmed_at = now
    for ext in msg.recipients:  # a customer, or a group for chat_type group
        gone = (
            ext not in w.groups or w.groups[ext].dismissed
            if msg.chat_type == "group"
            else (msg.sender, ext) not in w.follows
        )
        if gone:
            msg.results[ext] = 2
            continue
        today = sum(
            1
            for other in _messages(w).values()
            if other is not msg and now - other.sent_at.get(ext, -DAY) < DAY
        )
        month = time.strftime("%Y%m", time.gmtime(now + SHANGHAI))
        this_month = sum(
            1
            for other in _messages(w).values()
            if other is not msg
            and ext in other.sent_at
            and time.strftime("%Y%m", time.gmtime(other.sent_at[ext] + SHANGHAI)) == month
        )
        if today >= PER_CUSTOMER_PER_DAY or this_month >= PER_CUSTOMER_PER_MONTH:
            msg.results[ext] = 3
            continue
        msg.results[ext], msg.sent_at[ext] = 1, now
    return msg


def confirm_waiting(w: World, older_than: float = 0.0) -> list[str]:
    """The members tap "send" on every task that has waited at least ``older_than`` seconds
    (the demo's guides, who confirm a little while after a campaign is sent); returns the
    msgids confirmed. A member who has left confirms nothing."""
    with w.lock:
        now = w.clock()
        due = [
            m.msgid
            for m in _messages(w).values()
            if not m.confirmed_at
            and now - m.created >= older_than
            and m.sender in w.staff
            and w.staff[m.sender].status == 1
        ]
        for msgid in due:
            confirm(w, msgid)
    return due


@api("externalcontact/get_groupmsg_list_v2")
def get_groupmsg_list_v2(w: World, _q: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    try:
        start, end = int(b["start_time"]), int(b["end_time"])
    except (KeyError, TypeError, ValueError):
        return err(40058, "start_time and end_time are required")
    if end < start or end - start > 31 * DAY:
        return err(40058, "the time range must be at most one month")
    chat_type = b.get("chat_type") or "single"
    msgs = sorted(
        (
            m
            for m in _messages(w).values()
            if start <= m.created <= end and m.chat_type == chat_type
        ),
        key=lambda m: m.created,
    )
    got = page(msgs, b.get("cursor"), int(b.get("limit") or 50))
    if got is None:
        return err(40058, "invalid cursor")
    return ok(
        next_cursor=got[1],
        group_msg_list=[
            {
                "msgid": m.msgid,
                "creator": m.sender,
                "create_time": str(m.created),
                "create_type": 0,
                "text": {"content": m.text},
                "attachments": m.attachments,
            }
            for m in got[0]
        ],
    )


@api("externalcontact/get_groupmsg_task")
def get_groupmsg_task(w: World, _q: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    msg = _messages(w).get(str(b.get("msgid") or ""))
    if msg is None:
        return err(41063, "invalid msgid")
    status = 2 if msg.confirmed_at else 0
    return ok(
        next_cursor="",
        task_list=[{"userid": msg.sender, "status": status, "send_time": msg.confirmed_at}],
    )


@api("externalcontact/get_groupmsg_send_result")
def get_groupmsg_send_result(w: World, _q: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    msg = _messages(w).get(str(b.get("msgid") or ""))
    if msg is None:
        return err(41063, "invalid msgid")
    if str(b.get("userid") or "") != msg.sender:
        return err(60111, "userid not found")
    who = "chat_id" if msg.chat_type == "group" else "external_userid"
    rows = [
        {
            who: ext,
            "userid": msg.sender,
            "status": st,
            "send_time": msg.sent_at.get(ext, 0),
        }
        for ext, st in msg.results.items()
    ]
    got = page(rows, b.get("cursor"), int(b.get("limit") or 500))
    if got is None:
        return err(40058, "invalid cursor")
    return ok(next_cursor=got[1], send_list=got[0])
