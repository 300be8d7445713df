"""The answers of the in-memory WeCom (``fakes.FakeWecomClient``): the corp's records and one
function per API Siyu calls, with WeCom's answer shapes and errcodes, registered by path."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from siyu.wecom.fakes import FakeWecomClient

J = dict[str, Any]  # a JSON object, as WeCom takes and gives them
Handler = Callable[["FakeWecomClient", str, J, J], J]  # (corp, api, query, body) → answer
HANDLERS: dict[str, Handler] = {}
BATCH = 100  # customers or groups per transfer call


def api(*paths: str) -> Callable[[Handler], Handler]:
    def add(fn: Handler) -> Handler:
        HANDLERS.update(dict.fromkeys(paths, fn))
        return fn

    return add


def ok(**data: Any) -> J:
    return {"errcode": 0, "errmsg": "ok", **data}


def err(code: int, msg: str) -> J:
    return {"errcode": code, "errmsg": msg}


@dataclass
class FakeStaff:
    userid: str
    name: str = ""
    department: list[int] = field(default_factory=lambda: [1])
    status: int = 1  # 1 active, 2 disabled, 4 not activated, 5 left
    contact_rights: bool = True


@dataclass
class FakeFollow:
    """A friendship: member ``userid`` has customer ``external_userid`` (WeCom's follow_user)."""

    userid: str
    external_userid: str
    createtime: int = 0
    remark: str = ""
    state: str = ""
    add_way: int = 1
    tag_ids: list[str] = field(default_factory=list)
    remark_mobiles: list[str] = field(default_factory=list)

    def info(self) -> J:
        return {
            "userid": self.userid,
            "remark": self.remark,
            "createtime": self.createtime,
            "tag_id": list(self.tag_ids),
            "remark_mobiles": list(self.remark_mobiles),
            "add_way": self.add_way,
            "state": self.state,
        }


@dataclass
class FakeTransfer:
    kind: str  # onjob | resigned
    handover: str
    takeover: str
    external_userid: str
    status: int = 2  # transfer_result: 1 done, 2 waiting, 3 refused, 4 takeover at the cap


def _page(items: list[Any], b: J, key: str, limit: int) -> J:
    cursor = str(b.get("cursor") or "0")
    if not cursor.isdigit():
        return err(40058, "invalid cursor")
    start, end = int(cursor), int(cursor) + limit
    return ok(**{key: items[start:end]}, next_cursor=str(end) if end < len(items) else "")


# -- address book and customers --------------------------------------------------------------------
@api("department/list")
def department_list(w: FakeWecomClient, _api: str, _q: J, _b: J) -> J:
    return ok(department=list(w.departments.values()))


@api("user/list")
def user_list(w: FakeWecomClient, _api: str, q: J, _b: J) -> J:
    dept = int(q.get("department_id") or 0)
    if dept not in w.departments:
        return err(60123, "invalid party id")
    children = str(q.get("fetch_child")) == "1" and dept == 1
    users = [
        {"userid": s.userid, "name": s.name, "department": s.department, "status": s.status}
        for s in w.staff.values()
        if dept in s.department or children
    ]
    return ok(userlist=users)


@api("externalcontact/get_follow_user_list")
def follow_user_list(w: FakeWecomClient, _api: str, _q: J, _b: J) -> J:
    return ok(follow_user=[s.userid for s in w.staff.values() if s.contact_rights])


@api("externalcontact/get")
def contact(w: FakeWecomClient, _api: str, q: J, _b: J) -> J:
    ext = str(q.get("external_userid", ""))
    if ext not in w.customers:
        return err(40096, "invalid external userid")
    follows = [f.info() for (_u, e), f in w.follows.items() if e == ext]
    return ok(external_contact=dict(w.customers[ext]), follow_user=follows)


@api("externalcontact/batch/get_by_user")
def batch_get_by_user(w: FakeWecomClient, _api: str, _q: J, b: J) -> J:
    users, limit = b.get("userid_list") or [], int(b.get("limit") or 50)
    if not 1 <= len(users) <= 100 or not 1 <= limit <= 100:
        return err(40058, "userid_list: 1 to 100 userids; limit: 1 to 100")
    if any(u not in w.staff for u in users):
        return err(60111, "userid not found")
    items = [
        {"external_contact": dict(w.customers[e]), "follow_info": f.info()}
        for (u, e), f in sorted(w.follows.items())
        if u in users
    ]
    return _page(items, b, "external_contact_list", limit)


@api("externalcontact/groupchat/list")
def group_list(w: FakeWecomClient, _api: str, _q: J, b: J) -> J:
    chats = [{"chat_id": c, "status": 0} for c in sorted(w.groups)]
    return _page(chats, b, "group_chat_list", int(b.get("limit") or 100))


@api("externalcontact/groupchat/get")
def group_get(w: FakeWecomClient, _api: str, _q: J, b: J) -> J:
    group = w.groups.get(str(b.get("chat_id", "")))
    if group is None or group["dismissed"]:
        return err(40050, "invalid chatid")
    return ok(group_chat={k: v for k, v in group.items() if k != "dismissed"})


# -- corp tags -------------------------------------------------------------------------------------
@api("externalcontact/get_corp_tag_list")
def corp_tag_list(w: FakeWecomClient, _api: str, _q: J, _b: J) -> J:
    return ok(tag_group=list(w.tag_groups.values()))


@api("externalcontact/add_corp_tag")
def add_corp_tag(w: FakeWecomClient, _api: str, _q: J, b: J) -> J:
    name, tags = str(b.get("group_name") or ""), b.get("tag") or []
    if not name or not tags:
        return err(40058, "group_name and tag are required")
    group = next((g for g in w.tag_groups.values() if g["group_name"] == name), None)
    if group is None:
        group = {"group_id": w.new_id("etg"), "group_name": name, "tag": []}
        w.tag_groups[group["group_id"]] = group
    for t in tags:
        if any(x["name"] == t.get("name") for x in group["tag"]):
            return err(40071, "tag name already exists")
        group["tag"].append({"id": w.new_id("et"), "name": str(t.get("name", ""))})
    return ok(tag_group=group)


@api("externalcontact/mark_tag")
def mark_tag(w: FakeWecomClient, _api: str, _q: J, b: J) -> J:
    follow = w.follows.get((str(b.get("userid")), str(b.get("external_userid"))))
    if follow is None:
        return err(84061, "not external contact")
    add, remove = list(b.get("add_tag") or []), list(b.get("remove_tag") or [])
    known = {t["id"] for g in w.tag_groups.values() for t in g["tag"]}
    if any(t not in known for t in add + remove):
        return err(40068, "invalid tagid")
    follow.tag_ids = [t for t in follow.tag_ids if t not in remove]
    follow.tag_ids += [t for t in add if t not in follow.tag_ids]
    return ok()


# -- contact ways (live codes) and messages --------------------------------------------------------
@api("externalcontact/add_contact_way")
def add_contact_way(w: FakeWecomClient, _api: str, _q: J, b: J) -> J:
    users = list(b.get("user") or [])
    if b.get("type") not in (1, 2) or b.get("scene") not in (1, 2):
        return err(40058, "type and scene must be 1 or 2")
    if not users or (b["type"] == 1 and len(users) != 1) or len(users) > 100:
        return err(40058, "a single contact way takes one user, a multi one 1 to 100")
    if any(u not in w.staff for u in users):
        return err(60111, "userid not found")
    if len(str(b.get("state") or "")) > 30:
        return err(40058, "state longer than 30 characters")
    config_id = w.new_id("cw")
    w.contact_ways[config_id] = {
        **{k: b.get(k) for k in ("type", "scene", "remark", "skip_verify")},
        "config_id": config_id,
        "user": users,
        "state": str(b.get("state") or ""),
    }
    return ok(config_id=config_id, qr_code="")  # no image to fetch


@api("externalcontact/update_contact_way")
def update_contact_way(w: FakeWecomClient, _api: str, _q: J, b: J) -> J:
    way = w.contact_ways.get(str(b.get("config_id", "")))
    if way is None:
        return err(41044, "invalid config_id")
    if "user" in b:
        if not b["user"] or any(u not in w.staff for u in b["user"]):
            return err(60111, "userid not found")
        way["user"] = list(b["user"])
    way.update({k: b[k] for k in ("state", "skip_verify", "remark") if k in b})
    return ok()


@api("externalcontact/get_contact_way", "externalcontact/del_contact_way")
def contact_way(w: FakeWecomClient, path: str, _q: J, b: J) -> J:
    config_id = str(b.get("config_id", ""))
    if config_id not in w.contact_ways:
        return err(41044, "invalid config_id")
    if path.endswith("del_contact_way"):
        del w.contact_ways[config_id]
        return ok()
    return ok(contact_way=dict(w.contact_ways[config_id]))


@api("externalcontact/send_welcome_msg")
def send_welcome_msg(w: FakeWecomClient, path: str, _q: J, b: J) -> J:
    if not b.get("text") and not b.get("attachments"):
        return err(40058, "text or attachments required")
    code = w.welcome_codes.get(str(b.get("welcome_code") or ""))
    if code is None or code.get("sent") is not None:  # used, expired or never issued
        return err(41051, "externaluser has started chatting")
    code["sent"] = b
    w.sent.append((path, b))
    return ok()


@api("externalcontact/add_msg_template")
def add_msg_template(w: FakeWecomClient, path: str, _q: J, b: J) -> J:
    sender = str(b.get("sender") or "")
    if sender not in w.staff:
        return err(60111, "userid not found")
    w.sent.append((path, b))
    strangers = [e for e in b.get("external_userid") or [] if (sender, e) not in w.follows]
    return ok(msgid=w.new_id("msg"), fail_list=strangers)


@api("message/send")
def message_send(w: FakeWecomClient, path: str, _q: J, b: J) -> J:
    if str(b.get("touser") or "") not in w.staff:
        return err(81013, "user & party & tag all invalid")
    w.sent.append((path, b))
    return ok(msgid=w.new_id("am"))


# -- handover ------------------------------------------------------------------------------------
@api("externalcontact/transfer_customer", "externalcontact/resigned/transfer_customer")
def transfer_customer(w: FakeWecomClient, path: str, _q: J, b: J) -> J:
    kind = "resigned" if "/resigned/" in path else "onjob"
    handover, takeover = str(b.get("handover_userid")), str(b.get("takeover_userid"))
    externals = b.get("external_userid") or []
    if not 1 <= len(externals) <= BATCH:
        return err(40058, "external_userid must list 1 to 100 customers")
    if handover not in w.staff or takeover not in w.staff:
        return err(60111, "userid not found")
    if handover == takeover:
        return err(40058, "handover and takeover are the same member")
    if (w.staff[handover].status == 5) != (kind == "resigned"):
        return err(40058, f"handover_userid: not a {kind} transfer")
    answers = []
    for ext in externals:
        if (handover, ext) not in w.follows:
            code = 84061
        elif any(t.external_userid == ext and t.status == 2 for t in w.transfers):
            code = 40129  # being transferred already
        else:
            w.transfers.append(FakeTransfer(kind, handover, takeover, ext))
            code = 0
        answers.append({"external_userid": ext, "errcode": code})
    return ok(customer=answers)


@api("externalcontact/transfer_result", "externalcontact/resigned/transfer_result")
def transfer_result(w: FakeWecomClient, path: str, _q: J, b: J) -> J:
    kind = "resigned" if "/resigned/" in path else "onjob"
    asked = (kind, str(b.get("handover_userid")), str(b.get("takeover_userid")))
    items = [
        {"external_userid": t.external_userid, "status": t.status}
        for t in w.transfers
        if (t.kind, t.handover, t.takeover) == asked
    ]
    return _page(items, b, "customer", 1000)


@api("externalcontact/groupchat/onjob_transfer", "externalcontact/groupchat/transfer")
def group_transfer(w: FakeWecomClient, path: str, _q: J, b: J) -> J:
    resigned = path.endswith("groupchat/transfer")
    chats, owner = b.get("chat_id_list") or [], str(b.get("new_owner") or "")
    if not 1 <= len(chats) <= BATCH:
        return err(40058, "chat_id_list must list 1 to 100 groups")
    if owner not in w.staff:
        return err(60111, "userid not found")
    failed = []
    for chat_id in chats:
        group = w.groups.get(str(chat_id))
        if group is None or group["dismissed"]:
            failed.append({"chat_id": chat_id, "errcode": 40050, "errmsg": "invalid chatid"})
            continue
        old = w.staff.get(group["owner"])
        if (old is not None and old.status == 5) != resigned:
            failed.append({"chat_id": chat_id, "errcode": 40058, "errmsg": "wrong transfer"})
            continue
        group["owner"] = owner
    return ok(failed_chat_list=failed)
