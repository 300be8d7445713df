"""Answering customers' messages with keyword rules, on the two ways messages reach Siyu:

- WeChat Customer Service (微信客服): WeCom sends only a ``kf_msg_or_event`` callback with a
  token; Siyu reads the messages with kf/sync_msg from its stored cursor and answers each text
  a customer sent (origin 3) with kf/send_msg. WeCom allows replies for 48 hours after the
  customer's message and at most 5 of them; Siyu answers each message at most once, skips
  messages older than the window, and records 95001/95018 refusals as such.
- Text messages to the self-built app: answered with message/send to the sender, paced by the
  client's per-member limit (WeCom drops more than 30 a minute to one member).

Each message gets one ``KeywordReply`` row, committed as ``sending`` before the reply goes out
and keyed on WeCom's message id: a callback retried, a page read twice or a second worker
never answers twice. A reply whose send fails stays recorded as failed (at most once is the
respectful choice for an automatic answer); one whose text cannot be rendered is not sent,
recorded as render_error and raised as an alert."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu import clock
from siyu.config import get_settings
from siyu.customers import identifiers as ids
from siyu.customers.resolution import Resolver
from siyu.sandbox import TemplateRefused
from siyu.tags.models import Tag
from siyu.tags.service import assign
from siyu.wecom.callbacks.models import WecomCallback
from siyu.wecom.callbacks.service import corp_of, on
from siyu.wecom.connection.client import WecomClient, WecomError
from siyu.wecom.connection.models import WecomCorp
from siyu.wecom.connection.service import cached_client, record_calls
from siyu.wecom.contacts.alerts import raise_alert
from siyu.wecom.contacts.models import WecomContact
from siyu.wecom.replies.models import BenefitPool, KeywordReply, KeywordRule, KfCursor
from siyu.wecom.replies.pools import claim_benefit
from siyu.wecom.replies.service import active_rules, compose, first_match

REPLY_WINDOW = timedelta(hours=48)
CUSTOMER_SENT = 3  # kf message origin: 3 customer, 4 system event, 5 servicer
REFUSALS = {95001: "quota", 95018: "window_closed"}


def customer_for_external(session: Session, corp: WecomCorp, external_userid: str) -> int:
    """The Siyu customer behind a corp external_userid (a new profile if none holds it)."""
    known = session.scalar(
        sa.select(WecomContact.customer_id).where(
            WecomContact.corp_id == corp.id,
            WecomContact.external_userid == external_userid,
            WecomContact.customer_id.is_not(None),
        )
    )
    if known:
        return int(known)
    resolver = Resolver(
        session.connection(),
        "wecom",
        get_settings().secret_key_bytes(),
        actor=f"wecom:{corp.corp_id}",
    )
    key = (ids.Kind.external_userid.value, corp.corp_id, external_userid)
    resolver.prefetch([key])
    res = resolver.resolve([key], {"source": "wecom"}, clock.now())
    resolver.flush()
    return resolver.customer_for(res.customer_id)


def answer(
    session: Session,
    corp: WecomCorp,
    *,
    channel: str,
    message_id: str,
    sender: str,
    text: str,
    sent_at: datetime,
    customer_id: int | None,
    holder: str,
    send: Callable[[str], None],
    open_kfid: str | None = None,
) -> KeywordReply | None:
    """Match one message and answer it once; None if it was answered before."""
    if session.scalar(
        sa.select(KeywordReply.id).where(
            KeywordReply.corp_id == corp.id, KeywordReply.message_id == message_id
        )
    ):
        return None
    rule = first_match(active_rules(session, corp.id, channel), text)
    reply = KeywordReply(
        corp_id=corp.id,
        channel=channel,
        message_id=message_id[:128],
        sender=sender[:100],
        open_kfid=open_kfid,
        customer_id=customer_id,
        text=text[:500],
        rule_id=rule.id if rule else None,
        status="no_match",
        received_at=sent_at,
        at=clock.now(),
    )
    content = ""
    refused: TemplateRefused | None = None
    if rule is not None:
        reply.status = "sending"
        if clock.now() - sent_at > REPLY_WINDOW:
            reply.status = "window_closed"
        else:
            try:
                content = _content(session, corp, rule, holder, customer_id, reply)
            except TemplateRefused as exc:  # nothing is sent: not a broken text, not its source
                reply.status, refused = "render_error", exc
        if customer_id is not None:
            for tag in session.scalars(sa.select(Tag).where(Tag.id.in_(rule.tag_ids or []))):
                assign(session, tag, [customer_id], actor=f"keyword:{rule.id}", source="wecom")
    try:
        with session.begin_nested():
            session.add(reply)
    except IntegrityError:  # another worker took this message a moment ago
        return None
    if rule is not None and refused is not None:
        raise_alert(
            session,
            corp.id,
            "reply_render_error",
            f"关键词「{rule.name}」的回复未能生成，没有回复客户（{refused}）；请修改规则",
            once=True,
        )
    session.commit()
    if reply.status != "sending":
        return reply
    try:
        send(content)
        reply.status = "sent"
    except WecomError as exc:
        reply.status, reply.errcode = REFUSALS.get(exc.errcode, "failed"), exc.errcode
    reply.at = clock.now()
    session.commit()
    return reply


def _content(
    session: Session,
    corp: WecomCorp,
    rule: KeywordRule,
    holder: str,
    customer_id: int | None,
    reply: KeywordReply,
) -> str:
    code = None
    pool = session.get(BenefitPool, rule.benefit_pool_id) if rule.benefit_pool_id else None
    if pool is not None:
        got = claim_benefit(session, pool, holder, customer_id)
        if got.code is None:
            if got.exhausted:
                raise_alert(
                    session,
                    corp.id,
                    "benefit_exhausted",
                    f"福利码池「{pool.name}」已发完,关键词「{rule.name}」只回复提示语",
                    once=True,
                )
            return got.text
        code = got.code
        reply.benefit_code = code
    return compose(rule, code, None)


# -- WeChat Customer Service ----------------------------------------------------------------------------
@on("kf_msg_or_event")
def kf_messages(session: Session, row: WecomCallback) -> str | None:
    """Read the account's new messages from the stored cursor and answer the customers' texts.
    The cursor is committed after each page, so a failure resumes rather than rereads."""
    corp = corp_of(session, row)
    open_kfid = row.payload.get("OpenKfId", "")
    if not open_kfid:
        return "event names no OpenKfId"
    cur = session.scalar(
        sa.select(KfCursor).where(KfCursor.corp_id == corp.id, KfCursor.open_kfid == open_kfid)
    )
    if cur is None:
        cur = KfCursor(corp_id=corp.id, open_kfid=open_kfid, cursor="")
        session.add(cur)
        session.commit()
    client = cached_client(session, corp)
    try:
        for _page in range(100):  # 100 pages of 1,000 per callback; the next callback goes on
            body = {"cursor": cur.cursor, "limit": 1000, "open_kfid": open_kfid}
            if row.payload.get("Token"):
                body["token"] = row.payload["Token"]
            data = client.post("kf/sync_msg", body)
            for msg in data.get("msg_list") or []:
                if msg.get("origin") == CUSTOMER_SENT and msg.get("msgtype") == "text":
                    _answer_kf(session, corp, client, msg)
            cur.cursor = str(data.get("next_cursor") or cur.cursor)
            record_calls(session, corp, client)
            session.commit()
            if not data.get("has_more"):
                break
    finally:
        record_calls(session, corp, client)
    return None


def _answer_kf(session: Session, corp: WecomCorp, client: WecomClient, msg: dict[str, Any]) -> None:
    external = str(msg.get("external_userid") or "")
    open_kfid = str(msg.get("open_kfid") or "")
    text = str((msg.get("text") or {}).get("content") or "")
    if not external or not msg.get("msgid"):
        return
    customer_id = customer_for_external(session, corp, external)
    sent_at = datetime.fromtimestamp(int(msg.get("send_time") or 0), UTC)

    def send(content: str) -> None:
        client.post(
            "kf/send_msg",
            {
                "touser": external,
                "open_kfid": open_kfid,
                "msgtype": "text",
                "text": {"content": content},
            },
        )

    answer(
        session,
        corp,
        channel="kf",
        message_id=str(msg["msgid"]),
        sender=external,
        text=text,
        sent_at=sent_at,
        customer_id=customer_id,
        holder=f"customer:{customer_id}",
        send=send,
        open_kfid=open_kfid,
    )


# -- the self-built app ---------------------------------------------------------------------------------
@on("text")
def app_text(session: Session, row: WecomCallback) -> str | None:
    """A member wrote to the app: answer them with message/send (they are staff, not
    customers, so no customer is tagged; a benefit is held under their userid)."""
    corp = corp_of(session, row)
    userid = row.payload.get("FromUserName", "")
    msgid = row.payload.get("MsgId", "")
    if not userid or not msgid:
        return "message names no FromUserName/MsgId"
    client = cached_client(session, corp)

    def send(content: str) -> None:
        client.post(
            "message/send",
            {
                "touser": userid,
                "msgtype": "text",
                "agentid": int(corp.agent_id),
                "text": {"content": content},
            },
            member=userid,
        )

    try:
        created = int(row.payload.get("CreateTime") or 0)
    except ValueError:
        created = 0
    try:
        answer(
            session,
            corp,
            channel="app",
            message_id=f"app:{msgid}",
            sender=userid,
            text=row.payload.get("Content", ""),
            sent_at=datetime.fromtimestamp(created, UTC) if created else row.received_at,
            customer_id=None,
            holder=f"staff:{userid}",
            send=send,
        )
    finally:
        record_calls(session, corp, client)
    return None
