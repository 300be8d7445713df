"""Simulated handover APIs: on-job transfer and resigned inheritance of customers (completed
24 hours later, refusable) and of groups (immediate), with their result queries."""

from __future__ import annotations

from typing import Any

from siyu.simulators.wecom.protocol import api, err, ok, page
from siyu.simulators.wecom.world import Transfer, World

BATCH = 100


def _transfer(w: World, b: dict[str, Any], kind: str) -> dict[str, Any]:
    handover, takeover = str(b.get("handover_userid") or ""), str(b.get("takeover_userid") or "")
    externals = b.get("external_userid") or []
    if not isinstance(externals, list) or not 1 <= len(externals) <= BATCH:
        return err(40058, "external_userid must list 1 to 100 customers")
    if handover not in w.staff or takeover not in w.staff:
        return err(60111, "userid not found")
    if handover == takeover:
        return err(40058, "handover and takeover are the same member")
    left = w.staff[handover].status == 5
    if kind == "resigned" and not left:
        return err(40058, "handover_userid has not left the company")
    if kind == "onjob" and left:
        return err(40058, "handover_userid has left: use resigned transfer")
    if len(str(b.get("transfer_success_msg") or "")) > 200:
        return err(40058, "transfer_success_msg longer than 200 characters")
    result = []
    for ext in externals:
        if (handover, ext) not in w.follows:
            code = 84061
        elif w.pending_transfer(ext) is not None:
            code = 40129  # this customer is being transferred already
        else:
            w.transfers.append(Transfer(kind, handover, takeover, ext, w.clock()))
            code = 0
        result.append({"external_userid": ext, "errcode": code})
    return ok(customer=result)


@api("externalcontact/transfer_customer")
def transfer_customer(w: World, _q: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    return _transfer(w, b, "onjob")


@api("externalcontact/resigned/transfer_customer")
def resigned_transfer_customer(w: World, _q: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    return _transfer(w, b, "resigned")


def _result(w: World, b: dict[str, Any], kind: str) -> dict[str, Any]:
    w.settle_transfers()
    handover, takeover = str(b.get("handover_userid") or ""), str(b.get("takeover_userid") or "")
    items = [
        {"external_userid": t.external_userid, "status": t.status, "takeover_time": t.takeover_time}
        for t in w.transfers
        if t.kind == kind and t.handover == handover and t.takeover == takeover
    ]
    got = page(items, b.get("cursor"), 1000)
    if got is None:
        return err(40058, "invalid cursor")
    return ok(customer=got[0], next_cursor=got[1])


@api("externalcontact/transfer_result")
def transfer_result(w: World, _q: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    return _result(w, b, "onjob")


@api("externalcontact/resigned/transfer_result")
def resigned_transfer_result(w: World, _q: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    return _result(w, b, "resigned")


def _group_transfer(w: World, b: dict[str, Any], resigned: bool) -> dict[str, Any]:
    chats, owner = b.get("chat_id_list") or [], str(b.get("new_owner") or "")
    if not isinstance(chats, list) or not 1 <= len(chats) <= BATCH:
        return err(40058, "chat_id_list must list 1 to 100 groups")
    if owner not in w.staff:
        return err(60111, "userid not found")
    failed = []
    for chat_id in chats:
        group = w.groups.get(str(chat_id))
        if group is None or group.dismissed:
            failed.append({"chat_id": chat_id, "errcode": 40050, "errmsg": "invalid chatid"})
        elif (group.owner in w.staff and w.staff[group.owner].status == 5) != resigned:
            why = "owner has not left" if resigned else "owner has left: use groupchat/transfer"
            failed.append({"chat_id": chat_id, "errcode": 40058, "errmsg": why})
        else:
            group.owner = owner
            group.members.setdefault(
                owner, {"userid": owner, "type": 1, "join_time": int(w.clock()), "join_scene": 1}
            )
    return ok(failed_chat_list=failed)


@api("externalcontact/groupchat/transfer")
def groupchat_transfer(w: World, _q: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    return _group_transfer(w, b, resigned=True)


@api("externalcontact/groupchat/onjob_transfer")
def groupchat_onjob_transfer(w: World, _q: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    return _group_transfer(w, b, resigned=False)
