"""What the worker does with each kind of WeCom callback about contacts and groups: ask WeCom
for the current facts (a callback names who changed, not what they look like now) and store
them. Welcome messages, keyword replies and handover register their own handlers."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu.db import rowcount
from siyu.reactions import Topic, publish
from siyu.wecom.callbacks.models import WecomCallback
from siyu.wecom.callbacks.service import corp_of, on
from siyu.wecom.connection.client import WecomError
from siyu.wecom.connection.models import WecomCorp
from siyu.wecom.connection.service import cached_client, record_calls
from siyu.wecom.contacts.alerts import raise_alert
from siyu.wecom.contacts.models import WecomGroupChat, WecomGroupMember
from siyu.wecom.contacts.service import ContactFacts, mark_deleted, store_contacts
from siyu.wecom.contacts.sync import store_group


@on("change_external_contact/edit_external_contact")
def contact_changed(session: Session, row: WecomCallback) -> str | None:
    """A friendship was edited (remark, mobiles, tags): fetch it again and store it. Adds are
    handled in ``arrivals`` (welcome messages, live codes)."""
    corp = corp_of(session, row)
    staff, external = row.payload.get("UserID", ""), row.payload.get("ExternalUserID", "")
    if not staff or not external:
        return "event names no UserID/ExternalUserID"
    client = cached_client(session, corp)
    try:
        data = client.get("externalcontact/get", external_userid=external)
    finally:
        record_calls(session, corp, client)
    follow = next((f for f in data.get("follow_user") or [] if f.get("userid") == staff), None)
    if follow is None:  # deleted again before we asked: the delete event follows
        return "the friendship no longer exists at WeCom"
    customers = store_contacts(
        session, corp, [ContactFacts.from_api(data["external_contact"], follow)]
    )
    row.customer_id = customers.get(external)
    return None


@on("change_external_contact/del_external_contact")
def staff_deleted_customer(session: Session, row: WecomCallback) -> str | None:
    by = "transfer" if row.payload.get("Source") == "DELETE_BY_TRANSFER" else "staff"
    staff = row.payload.get("UserID", "")
    found = mark_deleted(
        session, corp_of(session, row), staff, row.payload.get("ExternalUserID", ""), by
    )
    row.customer_id = found.customer_id if found else None
    if found and by == "staff":
        raise_alert(
            session,
            row.corp_id,
            "staff_deleted",
            f"员工 {staff} 删除了客户 {found.nickname or found.external_userid}",
            staff_userid=staff,
            customer_id=found.customer_id,
        )
    return None if found else "unknown friendship"


@on("change_external_contact/del_follow_user")
def customer_deleted_staff(session: Session, row: WecomCallback) -> str | None:
    staff = row.payload.get("UserID", "")
    found = mark_deleted(
        session, corp_of(session, row), staff, row.payload.get("ExternalUserID", ""), "customer"
    )
    row.customer_id = found.customer_id if found else None
    if found:  # 流失提醒: the guide should know at once
        raise_alert(
            session,
            row.corp_id,
            "customer_deleted",
            f"客户 {found.nickname or found.external_userid} 删除了员工 {staff}",
            staff_userid=staff,
            customer_id=found.customer_id,
        )
    return None if found else "unknown friendship"


@on("change_external_chat/create", "change_external_chat/update")
def group_changed(session: Session, row: WecomCallback) -> str | None:
    corp = corp_of(session, row)
    client = cached_client(session, corp)
    try:
        data = client.post(
            "externalcontact/groupchat/get",
            {"chat_id": row.payload.get("ChatId", ""), "need_name": 1},
        )
    except WecomError as exc:
        if exc.errcode == 40050:  # dismissed meanwhile
            return "group no longer exists at WeCom"
        raise
    finally:
        record_calls(session, corp, client)
    before = _customers_in(session, corp.id, row.payload.get("ChatId", ""))
    group = store_group(session, corp, data.get("group_chat") or {})
    joined = sorted(_customers_in(session, corp.id, group.chat_id) - before)
    if joined:
        publish(
            session,
            Topic.group_joined,
            {
                "corp": corp.id,
                "chat": group.chat_id,
                "customers": joined,
                "at": row.received_at.isoformat(),
            },
        )
    _refresh_group_codes(session, corp, row.payload.get("ChatId", ""))
    return None


def _customers_in(session: Session, corp_pk: int, chat_id: str) -> set[int]:
    """The customers who are members of the group now."""
    return {
        c
        for c in session.scalars(
            sa.select(WecomGroupMember.customer_id)
            .join(WecomGroupChat, WecomGroupChat.id == WecomGroupMember.group_id)
            .where(
                WecomGroupChat.corp_id == corp_pk,
                WecomGroupChat.chat_id == chat_id,
                WecomGroupMember.customer_id.is_not(None),
            )
        )
        if c is not None
    }


def _refresh_group_codes(session: Session, corp: WecomCorp, chat_id: str) -> None:
    """A group's size changed: group live codes over it move full groups out of their join way."""
    from siyu.wecom.live_codes.group_codes import codes_with, refresh

    codes = codes_with(session, corp.id, chat_id)
    if not codes:
        return
    session.commit()  # no write lock is held across the calls to WeCom
    client = cached_client(session, corp)
    try:
        for code in codes:
            refresh(session, client, code)
    finally:
        record_calls(session, corp, client)


@on("change_external_chat/dismiss")
def group_dismissed(session: Session, row: WecomCallback) -> str | None:
    n = rowcount(
        session.execute(
            sa.update(WecomGroupChat)
            .where(
                WecomGroupChat.corp_id == row.corp_id,
                WecomGroupChat.chat_id == row.payload.get("ChatId", ""),
            )
            .values(dismissed=True)
        )
    )
    if n:
        _refresh_group_codes(session, corp_of(session, row), row.payload.get("ChatId", ""))
    return None if n else "unknown group"


@on("change_external_contact/transfer_fail")
def transfer_failed_event(session: Session, row: WecomCallback) -> str | None:
    """A customer refused a handover, or the takeover member was full: the item ends now."""
    from siyu.wecom.handover.service import transfer_failed

    item = transfer_failed(
        session,
        row.corp_id,
        row.payload.get("UserID", ""),
        row.payload.get("ExternalUserID", ""),
        row.payload.get("FailReason", ""),
    )
    if item is None:
        return "no transfer waiting for this customer"
    row.customer_id = item.customer_id
    return None


@on("change_external_tag/create", "change_external_tag/update", "change_external_tag/delete")
def corp_tags_changed(session: Session, row: WecomCallback) -> str | None:
    """Someone edited the corp tags in WeCom: read them again and re-pair."""
    from siyu.wecom.tagsync.service import sync_corp_tags

    corp = corp_of(session, row)
    client = cached_client(session, corp)
    try:
        sync_corp_tags(session, corp, client)
    finally:
        record_calls(session, corp, client)
    return None
