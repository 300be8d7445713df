"""The simulated WeCom's HTTP API: the same paths, parameters, JSON and errcodes as
qyapi.weixin.qq.com for the calls Siyu makes. Paging cursors are opaque strings, as WeCom's are."""

from __future__ import annotations

import io
import json
from typing import Any

import segno
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from siyu.simulators.wecom import handover, joinways, mass, messaging  # noqa: F401  (their APIs)
from siyu.simulators.wecom.protocol import HANDLERS, api, err, ok, page
from siyu.simulators.wecom.world import ContactWay, World, _rand


# -- address book ---------------------------------------------------------------------------------
@api("department/list")
def department_list(w: World, q: dict[str, Any], _b: dict[str, Any]) -> dict[str, Any]:
    return ok(department=sorted(w.departments.values(), key=lambda d: d["id"]))


@api("user/list")
def user_list(w: World, q: dict[str, Any], _b: dict[str, Any]) -> dict[str, Any]:
    try:
        dept = int(q.get("department_id", ""))
    except ValueError:
        return err(60123, "invalid party id")
    if dept not in w.departments:
        return err(60123, "invalid party id")
    users = [
        {"userid": s.userid, "name": s.name, "department": s.departments, "status": s.status}
        for s in w.staff.values()
        if dept in s.departments or (q.get("fetch_child") == "1" and dept == 1)
    ]
    return ok(userlist=users)


# -- customers ------------------------------------------------------------------------------------
@api("externalcontact/get_follow_user_list")
def follow_user_list(w: World, _q: dict[str, Any], _b: dict[str, Any]) -> dict[str, Any]:
    return ok(follow_user=[s.userid for s in w.staff.values() if s.contact_rights])


@api("externalcontact/list")
def external_list(w: World, q: dict[str, Any], _b: dict[str, Any]) -> dict[str, Any]:
    userid = q.get("userid", "")
    if userid not in w.staff:
        return err(60111, "userid not found")
    friends = w.friends_of(userid)
    if not friends:
        return err(84061, "not external contact")
    return ok(external_userid=[f.external_userid for f in friends])


def _contact(w: World, external_userid: str) -> dict[str, Any]:
    c = w.customers[external_userid]
    out: dict[str, Any] = {
        "external_userid": c.external_userid,
        "name": c.name,
        "type": 1,
        "gender": c.gender,
        "avatar": "",
    }
    if c.unionid:
        out["unionid"] = c.unionid
    return out


def _follow_info(f: Any) -> dict[str, Any]:
    return {
        "userid": f.userid,
        "remark": f.remark,
        "description": "",
        "createtime": f.createtime,
        "tag_id": list(f.tag_ids),
        "remark_mobiles": list(f.remark_mobiles),
        "add_way": f.add_way,
        "state": f.state,
        "oper_userid": f.external_userid,
    }


@api("externalcontact/get")
def external_get(w: World, q: dict[str, Any], _b: dict[str, Any]) -> dict[str, Any]:
    ext = q.get("external_userid", "")
    if ext not in w.customers:
        return err(40096, "invalid external userid")
    follows = [f for (_u, e), f in w.follows.items() if e == ext]
    return ok(external_contact=_contact(w, ext), follow_user=[_follow_info(f) for f in follows])


@api("externalcontact/batch/get_by_user")
def batch_get_by_user(w: World, _q: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    users = b.get("userid_list") or []
    if not isinstance(users, list) or not 1 <= len(users) <= 100:
        return err(40058, "userid_list must hold 1 to 100 userids")
    limit = int(b.get("limit") or 50)
    if not 1 <= limit <= 100:
        return err(40058, "limit must be 1 to 100")
    unknown = [u for u in users if u not in w.staff]
    if unknown:
        return err(60111, f"userid not found: {unknown[0]}")
    follows = sorted(
        (f for (u, _e), f in w.follows.items() if u in users),
        key=lambda f: (f.userid, f.createtime, f.external_userid),
    )
    got = page(follows, b.get("cursor"), limit)
    if got is None:
        return err(40058, "invalid cursor")
    items, next_cursor = got
    return ok(
        external_contact_list=[
            {"external_contact": _contact(w, f.external_userid), "follow_info": _follow_info(f)}
            for f in items
        ],
        next_cursor=next_cursor,
    )


# -- groups -----------------------------------------------------------------------------------------
@api("externalcontact/groupchat/list")
def groupchat_list(w: World, _q: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    limit = int(b.get("limit") or 100)
    if not 1 <= limit <= 1000:
        return err(40058, "limit must be 1 to 1000")
    owners = (b.get("owner_filter") or {}).get("userid_list") or []
    chats = [g for g in w.groups.values() if not owners or g.owner in owners]
    chats.sort(key=lambda g: g.chat_id)
    got = page(chats, b.get("cursor"), limit)
    if got is None:
        return err(40058, "invalid cursor")
    items, next_cursor = got
    return ok(
        group_chat_list=[{"chat_id": g.chat_id, "status": 0} for g in items],
        next_cursor=next_cursor,
    )


@api("externalcontact/groupchat/get")
def groupchat_get(w: World, _q: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    group = w.groups.get(str(b.get("chat_id", "")))
    if group is None or group.dismissed:
        return err(40050, "invalid chatid")
    return ok(
        group_chat={
            "chat_id": group.chat_id,
            "name": group.name,
            "owner": group.owner,
            "create_time": group.create_time,
            "notice": "",
            "member_list": list(group.members.values()),
            "admin_list": [],
        }
    )


# -- corp tags ------------------------------------------------------------------------------------
@api("externalcontact/get_corp_tag_list")
def corp_tag_list(w: World, _q: dict[str, Any], _b: dict[str, Any]) -> dict[str, Any]:
    return ok(tag_group=list(w.tag_groups.values()))


@api("externalcontact/add_corp_tag")
def add_corp_tag(w: World, _q: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    name = str(b.get("group_name") or "")
    tags = b.get("tag") or []
    if not name or not tags:
        return err(40058, "group_name and tag are required")
    group = next((g for g in w.tag_groups.values() if g["group_name"] == name), None)
    if group is None:
        group = {
            "group_id": "et" + _rand(20),
            "group_name": name,
            "create_time": int(w.clock()),
            "order": 0,
            "deleted": False,
            "tag": [],
        }
        w.tag_groups[group["group_id"]] = group
    for t in tags:
        if any(x["name"] == t.get("name") for x in group["tag"]):
            return err(40071, "tag name already exists")
        group["tag"].append(
            {
                "id": "et" + _rand(20),
                "name": str(t.get("name", ""))[:30],
                "create_time": int(w.clock()),
                "order": 0,
                "deleted": False,
            }
        )
    return ok(tag_group=group)


@api("externalcontact/mark_tag")
def mark_tag(w: World, _q: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    follow = w.follows.get((str(b.get("userid", "")), str(b.get("external_userid", ""))))
    if follow is None:
        return err(84061, "not external contact")
    known = {t["id"] for g in w.tag_groups.values() for t in g["tag"]}
    for tag_id in list(b.get("add_tag") or []) + list(b.get("remove_tag") or []):
        if tag_id not in known:
            return err(40068, "invalid tagid")
    follow.tag_ids = [t for t in follow.tag_ids if t not in (b.get("remove_tag") or [])]
    follow.tag_ids += [t for t in b.get("add_tag") or [] if t not in follow.tag_ids]
    return ok()


# -- contact ways and welcome messages ------------------------------------------------------------------
@api("externalcontact/add_contact_way")
def add_contact_way(w: World, _q: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    users = b.get("user") or []
    if b.get("type") not in (1, 2) or b.get("scene") not in (1, 2):
        return err(40058, "type and scene must be 1 or 2")
    if not users or (b["type"] == 1 and len(users) != 1) or len(users) > 100:
        return err(40058, "a single contact way takes one user, a multi one 1 to 100")
    if any(u not in w.staff for u in users):
        return err(60111, "userid not found")
    if len(str(b.get("state") or "")) > 30:
        return err(40058, "state longer than 30 characters")
    way = ContactWay(
        "cw" + _rand(30),
        b["type"],
        b["scene"],
        list(users),
        str(b.get("state") or ""),
        bool(b.get("skip_verify", True)),
        str(b.get("remark") or ""),
        w.base,
    )
    w.contact_ways[way.config_id] = way
    return ok(config_id=way.config_id, qr_code=way.qr_code)


@api("externalcontact/update_contact_way")
def update_contact_way(w: World, _q: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    way = w.contact_ways.get(str(b.get("config_id", "")))
    if way is None:
        return err(41044, "invalid config_id")
    if "user" in b:
        users = b["user"] or []
        if not users or any(u not in w.staff for u in users):
            return err(60111, "userid not found")
        way.users = list(users)
    if "state" in b:
        way.state = str(b["state"] or "")
    if "skip_verify" in b:
        way.skip_verify = bool(b["skip_verify"])
    return ok()


@api("externalcontact/get_contact_way")
def get_contact_way(w: World, _q: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    way = w.contact_ways.get(str(b.get("config_id", "")))
    if way is None:
        return err(41044, "invalid config_id")
    return ok(
        contact_way={
            "config_id": way.config_id,
            "type": way.type,
            "scene": way.scene,
            "user": way.users,
            "state": way.state,
            "skip_verify": way.skip_verify,
            "qr_code": way.qr_code,
        }
    )


@api("externalcontact/del_contact_way")
def del_contact_way(w: World, _q: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    if w.contact_ways.pop(str(b.get("config_id", "")), None) is None:
        return err(41044, "invalid config_id")
    return ok()


@api("externalcontact/send_welcome_msg")
def send_welcome_msg(w: World, _q: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    if not b.get("welcome_code"):
        return err(40058, "welcome_code is required")
    if not b.get("text") and not b.get("attachments"):
        return err(40058, "text or attachments required")
    if len(b.get("attachments") or []) > 9:
        return err(40058, "at most 9 attachments")
    for a in b.get("attachments") or []:
        link = a.get("link") if a.get("msgtype") == "link" else None
        if a.get("msgtype") == "link" and not (
            isinstance(link, dict)
            and link.get("title")
            and len(str(link["title"]).encode()) <= 128
            and str(link.get("url") or "").startswith(("http://", "https://"))
        ):
            return err(40058, "a link needs a title of at most 128 bytes and a url")
    code = w.use_welcome_code(str(b["welcome_code"]), b)
    return ok() if code == 0 else err(code, "externaluser has started chatting")


def dispatch(w: World, path: str, query: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """One API call against the world, with WeCom's checks in WeCom's order."""
    with w.lock:
        if path == "gettoken":
            if query.get("corpid") != w.corp_id:
                return err(40013, "invalid corpid")
            if query.get("corpsecret") != w.secret:
                return err(40001, "invalid credential")
            return ok(access_token=w.new_token(), expires_in=7200)
        handler = HANDLERS.get(path)
        if handler is None:
            return err(404, f"api not supported by the simulator: {path}")
        fault = w.fault_for(path)
        if fault in (42001, 40014):
            w.expire_tokens()
        code = w.token_error(query.get("access_token"))
        if code:
            return err(code, "access_token expired" if code == 42001 else "invalid access_token")
        if fault:
            return err(fault, "injected by the simulator")
        if w.over_limit(path):
            return err(45009, "api freq out of limit")
        out = handler(w, query, body)
        w.call_log.append((path, int(out.get("errcode", 0))))
        return out


def create_app(world: World) -> Starlette:
    """The API over ``world``; ``app.state.world`` may be swapped (tests start afresh)."""

    async def endpoint(request: Request) -> JSONResponse:
        world: World = request.app.state.world
        path = request.path_params["api"]
        body: dict[str, Any] = {}
        if request.method == "POST":
            try:
                parsed = json.loads(await request.body() or b"{}")
            except ValueError:
                return JSONResponse(err(47001, "data format error"))
            if not isinstance(parsed, dict):
                return JSONResponse(err(47001, "data format error"))
            body = parsed
        return JSONResponse(dispatch(world, path, dict(request.query_params), body))

    async def qr(request: Request) -> Response:
        world: World = request.app.state.world
        config_id = request.path_params["config_id"]
        if config_id not in world.contact_ways and config_id not in world.contact_ways_qr:
            return Response(status_code=404)
        out = io.BytesIO()
        segno.make(f"https://work.weixin.qq.com/ca/{config_id}", error="m").save(
            out, kind="png", scale=6
        )
        return Response(out.getvalue(), media_type="image/png")

    app = Starlette(
        routes=[
            Route("/cgi-bin/{api:path}", endpoint, methods=["GET", "POST"]),
            Route("/sim/qr/{config_id}.png", qr),
        ]
    )
    app.state.world = world
    return app
