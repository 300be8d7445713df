"""Simulated group join ways (群活码): a QR code over up to 5 groups, filled in order, each
admitting its first 200 members by QR code."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from siyu.simulators.wecom.protocol import api, err, ok
from siyu.simulators.wecom.world import World, _rand

JOIN_WAY_GROUPS = 5
QR_JOIN_LIMIT = 200


@dataclass
class JoinWay:
    config_id: str
    scene: int
    remark: str
    chat_id_list: list[str]
    state: str
    base: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def qr_code(self) -> str:
        return f"{self.base}/sim/qr/{self.config_id}.png"


def _ways(w: World) -> dict[str, JoinWay]:
    ways: dict[str, JoinWay] = w.extras.setdefault("join_ways", {})
    return ways


def _check(w: World, b: dict[str, Any]) -> dict[str, Any] | None:
    chats = b.get("chat_id_list") or []
    if b.get("scene") not in (1, 2):
        return err(40058, "scene must be 1 or 2")
    if not isinstance(chats, list) or not 1 <= len(chats) <= JOIN_WAY_GROUPS:
        return err(40058, "chat_id_list must hold 1 to 5 groups")
    if any(c not in w.groups or w.groups[c].dismissed for c in chats):
        return err(40050, "invalid chatid")
    if len(str(b.get("state") or "")) > 30:
        return err(40058, "state longer than 30 characters")
    return None


@api("externalcontact/groupchat/add_join_way")
def add_join_way(w: World, _q: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    bad = _check(w, b)
    if bad:
        return bad
    way = JoinWay(
        "gw" + _rand(30),
        int(b["scene"]),
        str(b.get("remark") or ""),
        list(b["chat_id_list"]),
        str(b.get("state") or ""),
        w.base,
    )
    _ways(w)[way.config_id] = way
    w.contact_ways_qr.add(way.config_id)
    return ok(config_id=way.config_id)


@api("externalcontact/groupchat/get_join_way")
def get_join_way(w: World, _q: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    way = _ways(w).get(str(b.get("config_id") or ""))
    if way is None:
        return err(41044, "invalid config_id")
    return ok(
        join_way={
            "config_id": way.config_id,
            "scene": way.scene,
            "remark": way.remark,
            "auto_create_room": 0,
            "chat_id_list": way.chat_id_list,
            "qr_code": way.qr_code,
            "state": way.state,
        }
    )


@api("externalcontact/groupchat/update_join_way")
def update_join_way(w: World, _q: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    way = _ways(w).get(str(b.get("config_id") or ""))
    if way is None:
        return err(41044, "invalid config_id")
    bad = _check(w, b)
    if bad:
        return bad
    way.scene, way.chat_id_list = int(b["scene"]), list(b["chat_id_list"])
    way.remark, way.state = str(b.get("remark") or ""), str(b.get("state") or "")
    return ok()


@api("externalcontact/groupchat/del_join_way")
def del_join_way(w: World, _q: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    if _ways(w).pop(str(b.get("config_id") or ""), None) is None:
        return err(41044, "invalid config_id")
    return ok()


def join(w: World, config_id: str, external_userid: str, unionid: str | None) -> str | None:
    """A customer scans the join way: they enter its first group with room (None: all full)."""
    way = _ways(w)[config_id]
    for chat_id in way.chat_id_list:
        group = w.groups[chat_id]
        if len(group.members) < QR_JOIN_LIMIT and not group.dismissed:
            group.members[external_userid] = {
                "userid": external_userid,
                "type": 2,
                "join_time": int(w.clock()),
                "join_scene": 3,  # by QR code
                **({"unionid": unionid} if unionid else {}),
            }
            return chat_id
    return None
