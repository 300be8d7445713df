"""Simulated messaging APIs: WeChat Customer Service (kf/sync_msg, kf/send_msg with its 48-hour,
5-reply window) and app messages to members (message/send)."""

from __future__ import annotations

import json
from typing import Any

from siyu.simulators.wecom.protocol import api, err, ok, page
from siyu.simulators.wecom.world import World, _rand

KF_WINDOW_SECONDS = 48 * 3600
KF_REPLIES = 5


@api("kf/sync_msg")
def kf_sync_msg(w: World, _q: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    limit = int(b.get("limit") or 1000)
    if not 1 <= limit <= 1000:
        return err(40058, "limit must be 1 to 1000")
    token = b.get("token")
    if token and w.kf_tokens.get(str(token), 0) < w.clock():
        return err(40058, "invalid or expired token")
    open_kfid = b.get("open_kfid")
    if open_kfid and open_kfid not in w.kf_accounts:
        return err(95000, "invalid open_kfid")
    msgs = [m for m in w.kf_messages if not open_kfid or m["open_kfid"] == open_kfid]
    got = page(msgs, b.get("cursor"), limit)
    if got is None:
        return err(40058, "invalid cursor")
    items, next_cursor = got
    # WeCom's cursor stays valid after the last page: it marks where the next read starts
    return ok(
        next_cursor=next_cursor or b.get("cursor") or "",
        has_more=int(bool(next_cursor)),
        msg_list=items,
    )


@api("kf/send_msg")
def kf_send_msg(w: World, _q: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    open_kfid, touser = str(b.get("open_kfid") or ""), str(b.get("touser") or "")
    if open_kfid not in w.kf_accounts:
        return err(95000, "invalid open_kfid")
    if b.get("msgtype") != "text" or not (b.get("text") or {}).get("content"):
        return err(40008, "invalid message type")
    if len(str(b["text"]["content"]).encode()) > 2048:
        return err(40058, "content longer than 2048 bytes")
    state = w.kf_state.get((open_kfid, touser))
    if state is None or w.clock() - state.last_customer_at > KF_WINDOW_SECONDS:
        return err(95018, "send msg session status invalid")
    if state.replies >= KF_REPLIES:
        return err(95001, "send msg count limit")
    state.replies += 1
    msgid = str(b.get("msgid") or _rand(32))
    w.kf_sent.append({**b, "msgid": msgid})
    return ok(msgid=msgid)


@api("message/send")
def message_send(w: World, _q: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    if str(b.get("agentid", "")) != w.agent_id:
        return err(40056, "invalid agentid")
    if b.get("msgtype") != "text" or not (b.get("text") or {}).get("content"):
        return err(40008, "invalid message type")
    users = [u for u in str(b.get("touser") or "").split("|") if u]
    valid = [u for u in users if u in w.staff]
    if not valid:
        return err(81013, "user & party & tag all invalid")
    if len(str((b.get("text") or {}).get("content") or "").encode()) > 2048:
        return err(44004, "text content exceeds 2048 bytes")
    invalid = "|".join(u for u in users if u not in w.staff)
    now = w.clock()
    key = json.dumps(b, sort_keys=True, ensure_ascii=False)
    if b.get("enable_duplicate_check"):
        # "同样内容(请求json)的消息,不会重复收到": the same request within the interval is taken
        # but not delivered again
        interval = min(int(b.get("duplicate_check_interval") or 1800), 4 * 3600)
        seen = w.extras.setdefault("app_seen", {})
        earlier = seen.get(key)
        if earlier is not None and now - earlier[0] < interval:
            return ok(invaliduser=invalid, msgid=earlier[1])
    msgid = _rand(32)
    w.app_sent.append(dict(b))
    w.extras.setdefault("app_seen", {})[key] = (now, msgid)
    return ok(invaliduser=invalid, msgid=msgid)
