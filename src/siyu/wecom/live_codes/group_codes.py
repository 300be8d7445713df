"""Group live codes (群活码): one QR code for a series of customer groups.

WeCom's "join way" (externalcontact/groupchat/add_join_way) holds at most 5 groups and admits
only a group's first 200 members by QR code, filling its groups in order. Siyu keeps the
operator's whole list and, whenever a group's membership changes (change_external_chat
callbacks), puts the first groups that still have room into the join way; when every group is
full it raises an alert so someone opens a new group before customers meet a dead code.
"""

from __future__ import annotations

import secrets
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu.accounts.service import record_audit
from siyu.wecom.connection.client import WecomClient, WecomError
from siyu.wecom.contacts.alerts import raise_alert
from siyu.wecom.contacts.models import WecomGroupChat
from siyu.wecom.live_codes.models import GroupLiveCode
from siyu.wecom.live_codes.service import LiveCodeError, WecomRefused, fetch_qr

JOIN_WAY_GROUPS = 5  # groups one join way may hold
QR_JOIN_LIMIT = 200  # members a group admits by QR code
MAX_GROUPS = 100


def _room(session: Session, corp_pk: int, chat_ids: list[str]) -> list[str]:
    """The groups of ``chat_ids`` (in that order) that still admit members by QR code."""
    counts = dict(
        session.execute(
            sa.select(WecomGroupChat.chat_id, WecomGroupChat.member_count).where(
                WecomGroupChat.corp_id == corp_pk,
                WecomGroupChat.chat_id.in_(chat_ids),
                WecomGroupChat.dismissed.is_(False),
            )
        ).all()
    )
    return [c for c in chat_ids if c in counts and counts[c] < QR_JOIN_LIMIT]


def create_group_code(
    session: Session,
    client: WecomClient,
    corp_pk: int,
    *,
    name: str,
    chat_ids: list[str],
    actor: str,
) -> GroupLiveCode:
    """Check the groups, create the join way at WeCom with the first ones that have room, then
    store the code (nothing is stored if WeCom refuses)."""
    name = name.strip()
    if not name or len(name) > 100:
        raise LiveCodeError("name: 1–100 characters")
    chat_ids = list(dict.fromkeys(c.strip() for c in chat_ids if c.strip()))
    if not chat_ids or len(chat_ids) > MAX_GROUPS:
        raise LiveCodeError("groups: 1–{n} customer groups", n=MAX_GROUPS)
    known = set(
        session.scalars(
            sa.select(WecomGroupChat.chat_id).where(
                WecomGroupChat.corp_id == corp_pk,
                WecomGroupChat.chat_id.in_(chat_ids),
                WecomGroupChat.dismissed.is_(False),
            )
        )
    )
    unknown = [c for c in chat_ids if c not in known]
    if unknown:
        raise LiveCodeError(
            "groups: unknown or dismissed {group!r} (run siyu wecom sync?)", group=unknown[0]
        )
    active = _room(session, corp_pk, chat_ids)[:JOIN_WAY_GROUPS]
    if not active:
        raise LiveCodeError("groups: every group already has {n} members", n=QR_JOIN_LIMIT)
    state = "gc" + secrets.token_hex(6)
    try:
        made = client.post(
            "externalcontact/groupchat/add_join_way",
            {"scene": 2, "remark": name[:30], "chat_id_list": active, "state": state},
        )
        way = (
            client.post(
                "externalcontact/groupchat/get_join_way", {"config_id": made["config_id"]}
            ).get("join_way")
            or {}
        )
    except WecomError as exc:
        raise WecomRefused("WeCom refused the join way: {reason}", reason=exc) from None
    code = GroupLiveCode(
        corp_id=corp_pk,
        name=name,
        state=state,
        config_id=made["config_id"],
        qr_url=way.get("qr_code"),
        qr_png=fetch_qr(way.get("qr_code")),
        chat_ids=chat_ids,
        active_chat_ids=active,
        full=False,
    )
    session.add(code)
    session.flush()
    record_audit(session, actor, "wecom.group_code.create", "group_live_code", str(code.id), {})
    return code


def codes_with(session: Session, corp_pk: int, chat_id: str) -> list[GroupLiveCode]:
    """Group codes whose rotation includes ``chat_id`` (few per corp: filtered here)."""
    codes = session.scalars(sa.select(GroupLiveCode).where(GroupLiveCode.corp_id == corp_pk))
    return [c for c in codes if chat_id in (c.chat_ids or [])]


def refresh(session: Session, client: WecomClient, code: GroupLiveCode) -> bool:
    """Put the first groups with room into the join way; returns whether it changed. With no
    room anywhere the join way is left as it is and an alert is raised (once)."""
    active = _room(session, code.corp_id, list(code.chat_ids or []))[:JOIN_WAY_GROUPS]
    if not active:
        if not code.full:
            code.full = True
            raise_alert(
                session,
                code.corp_id,
                "group_code_full",
                f"群活码「{code.name}」的群都已满 {QR_JOIN_LIMIT} 人，请新建群并加入活码",
                once=True,
            )
        return False
    code.full = False
    if active == list(code.active_chat_ids or []):
        return False
    client.post(
        "externalcontact/groupchat/update_join_way",
        {
            "config_id": code.config_id,
            "scene": 2,
            "remark": code.name[:30],
            "chat_id_list": active,
            "state": code.state,
        },
    )
    code.active_chat_ids = active
    return True


def add_groups(
    session: Session, client: WecomClient, code: GroupLiveCode, chat_ids: list[str], *, actor: str
) -> None:
    """Append groups to the rotation (a new group opened when the others filled)."""
    new = [c for c in dict.fromkeys(chat_ids) if c not in (code.chat_ids or [])]
    known = set(
        session.scalars(
            sa.select(WecomGroupChat.chat_id).where(
                WecomGroupChat.corp_id == code.corp_id,
                WecomGroupChat.chat_id.in_(new),
                WecomGroupChat.dismissed.is_(False),
            )
        )
    )
    if any(c not in known for c in new):
        raise LiveCodeError("groups: unknown or dismissed group (run siyu wecom sync?)")
    if len(code.chat_ids or []) + len(new) > MAX_GROUPS:
        raise LiveCodeError("groups: at most {n} in one code", n=MAX_GROUPS)
    code.chat_ids = [*(code.chat_ids or []), *new]
    try:
        refresh(session, client, code)
    except WecomError as exc:
        raise WecomRefused("WeCom refused the join way: {reason}", reason=exc) from None
    record_audit(
        session, actor, "wecom.group_code.add", "group_live_code", str(code.id), {"groups": new}
    )


def group_code_summary(session: Session, code: GroupLiveCode) -> dict[str, Any]:
    groups = {
        g.chat_id: g
        for g in session.scalars(
            sa.select(WecomGroupChat).where(
                WecomGroupChat.corp_id == code.corp_id,
                WecomGroupChat.chat_id.in_(code.chat_ids or []),
            )
        )
    }
    return {
        "id": code.id,
        "name": code.name,
        "state": code.state,
        "qr": f"/api/v1/wecom/group-codes/{code.id}/qr.png",
        "full": code.full,
        "groups": [
            {
                "chat_id": c,
                "name": groups[c].name if c in groups else "",
                "members": groups[c].member_count if c in groups else 0,
                "dismissed": groups[c].dismissed if c in groups else True,
                "in_join_way": c in (code.active_chat_ids or []),
            }
            for c in code.chat_ids or []
        ],
    }
