"""A customer adds a staff member: welcome them within the welcome_code's 20 s, store the
friendship and the customer, credit the live code they scanned (tags, rotation, capacity).

The welcome is the one message that does not go through the send ledger (DESIGN §5): its code
lives 20 s, and WeCom itself makes it once-only (a second use answers 41051), so a retry can
never double it. The delivery is committed at once, before the slower work that follows.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.brands.models import Store
from siyu.config import get_settings
from siyu.reactions import Topic, publish
from siyu.sandbox import TemplateRefused
from siyu.tags.models import Tag
from siyu.tags.service import assign
from siyu.wecom.callbacks.models import WecomCallback
from siyu.wecom.callbacks.service import corp_of, on
from siyu.wecom.connection.client import WecomClient, WecomError
from siyu.wecom.connection.models import WecomStaff
from siyu.wecom.connection.service import cached_client, record_calls
from siyu.wecom.contacts.alerts import raise_alert
from siyu.wecom.contacts.service import ContactFacts, store_contacts
from siyu.wecom.live_codes.models import LiveCode, WelcomeDelivery
from siyu.wecom.live_codes.service import credit_add, first_owner, switch_to
from siyu.wecom.live_codes.welcome import (
    MAX_ATTACHMENTS,
    message_body,
    welcome_extras,
    welcome_for,
)

WELCOME_CODE_SECONDS = 20


@on(
    "change_external_contact/add_external_contact",
    "change_external_contact/add_half_external_contact",
)
def customer_arrived(session: Session, row: WecomCallback) -> str | None:
    corp = corp_of(session, row)
    staff, external = row.payload.get("UserID", ""), row.payload.get("ExternalUserID", "")
    if not staff or not external:
        return "event names no UserID/ExternalUserID"
    client = cached_client(session, corp)
    code = None
    if row.payload.get("State"):
        code = session.scalar(
            sa.select(LiveCode).where(
                LiveCode.corp_id == corp.id, LiveCode.state == row.payload["State"]
            )
        )
    try:
        try:
            data = client.get("externalcontact/get", external_userid=external)
        except WecomError:
            if row.payload.get("WelcomeCode"):  # welcome them anyway, by name next time
                _welcome(session, client, row, code, staff, None)
            raise
        follow = next((f for f in data.get("follow_user") or [] if f.get("userid") == staff), None)
        contact = data.get("external_contact") or {}
        if row.payload.get("WelcomeCode"):
            _welcome(session, client, row, code, staff, contact.get("name"))
        if follow is None:
            return "the friendship no longer exists at WeCom"
        customers = store_contacts(session, corp, [ContactFacts.from_api(contact, follow)])
        row.customer_id = customers.get(external)
        session.execute(
            sa.update(WelcomeDelivery)
            .where(WelcomeDelivery.callback_id == row.id)
            .values(customer_id=row.customer_id)
        )
        if code is not None and row.customer_id is not None:
            _credit(session, client, code, staff, row.customer_id)
        if row.payload.get("State") and row.customer_id is not None:
            publish(
                session,
                Topic.friend_added,
                {
                    "customer": row.customer_id,
                    "corp": corp.id,
                    "state": str(row.payload["State"])[:64],
                    "staff": staff,
                    "at": row.received_at.isoformat(),
                },
            )
    finally:
        record_calls(session, corp, client)
    return None


def _welcome(
    session: Session,
    client: WecomClient,
    row: WecomCallback,
    code: LiveCode | None,
    staff: str,
    nickname: str | None,
) -> None:
    """Send the welcome once per callback and commit the delivery record straight away."""
    if session.scalar(sa.select(WelcomeDelivery.id).where(WelcomeDelivery.callback_id == row.id)):
        return
    welcome = welcome_for(session, row.corp_id, code.welcome_id if code else None)
    extras = welcome_extras(session, row.corp_id, str(row.payload.get("State") or ""))
    if extras and welcome is not None and len(welcome.attachments) + len(extras) > MAX_ATTACHMENTS:
        raise_alert(
            session,
            row.corp_id,
            "welcome_extras_dropped",
            f"欢迎语「{welcome.name}」已有 {len(welcome.attachments)} 个附件，"
            f"群裂变的入群二维码放不下（最多 {MAX_ATTACHMENTS} 个），请删掉一个附件",
            once=True,
        )
    delivery = WelcomeDelivery(
        corp_id=row.corp_id,
        callback_id=row.id,
        live_code_id=code.id if code else None,
        welcome_id=welcome.id if welcome else None,
        staff_userid=staff,
        external_userid=row.payload.get("ExternalUserID", ""),
        status="none",
    )
    if welcome is not None or extras:
        member = session.scalar(
            sa.select(WecomStaff).where(
                WecomStaff.corp_id == row.corp_id, WecomStaff.userid == staff
            )
        )
        store_id = (code.store_id if code else None) or (member.store_id if member else None)
        store = session.get(Store, store_id) if store_id else None
        variables = {
            "nickname": nickname,
            "staff": member.name if member else "",
            "store": store.name if store else "",
        }
        try:
            body = message_body(welcome, row.payload["WelcomeCode"], variables, extras)
            client.post("externalcontact/send_welcome_msg", body)
            delivery.status = "sent"
        except TemplateRefused as exc:  # nothing is sent: not a broken text, not its source
            delivery.status = "render_error"
            name = welcome.name if welcome else ""
            raise_alert(
                session,
                row.corp_id,
                "welcome_render_error",
                f"欢迎语「{name}」未能生成，没有发送（{exc}）；请修改后重新保存",
                once=True,
            )
        except WecomError as exc:
            delivery.errcode = exc.errcode
            age = (clock.now() - row.received_at).total_seconds()
            delivery.status = (
                "expired" if exc.errcode == 41051 and age > WELCOME_CODE_SECONDS else "failed"
            )
    delivery.at = clock.now()
    delivery.latency_ms = int((delivery.at - row.received_at).total_seconds() * 1000)
    session.add(delivery)
    session.commit()


def _credit(
    session: Session, client: WecomClient, code: LiveCode, staff: str, customer_id: int
) -> None:
    for tag in session.scalars(sa.select(Tag).where(Tag.id.in_(code.tag_ids or []))):
        assign(session, tag, [customer_id], actor=f"live_code:{code.id}", source="wecom")
    settings = get_settings()
    if settings.wecom_keep_first_owner:
        owner = first_owner(session, code.corp_id, customer_id, staff)
        if owner is not None:  # a customer who already has a guide stays with them
            raise_alert(
                session,
                code.corp_id,
                "duplicate_add",
                f"客户 {owner.nickname or owner.external_userid} 已是 {owner.staff_userid} 的客户，"
                f"经活码「{code.name}」又加了 {staff}：按规则保留首个跟进人",
                staff_userid=staff,
                customer_id=customer_id,
            )
            return
    nxt = credit_add(session, code, staff, settings)
    if nxt is not None:
        session.commit()  # the write lock is not held across the call to WeCom
        switch_to(client, code, nxt)
