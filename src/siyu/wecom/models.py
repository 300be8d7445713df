"""WeCom (企业微信) as Siyu keeps it: the corps a brand connects, their staff, the friendships
between staff and customers (follow relations), customer groups, the callback inbox and the
record of every sync and API call, so that a failure is visible rather than silent (the
complaint users of other WeCom SCRMs make most often).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db import Base, UTCDateTime, utcnow


class WecomCorp(Base):
    """A connected WeCom corp (one self-built app with customer-contact rights). Secrets are
    sealed under SIYU_SECRET_KEY (siyu.secretbox); only their last characters are ever shown."""

    __tablename__ = "wecom_corp"
    id: Mapped[int] = mapped_column(primary_key=True)
    corp_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100), default="")
    brand_id: Mapped[int | None] = mapped_column(sa.ForeignKey("brand.id"))
    agent_id: Mapped[str] = mapped_column(sa.String(32))
    secret_sealed: Mapped[str] = mapped_column(sa.Text)
    secret_hint: Mapped[str] = mapped_column(sa.String(16))
    token_sealed: Mapped[str] = mapped_column(sa.Text)
    aes_key_sealed: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class WecomDepartment(Base):
    """A department of the corp's address book (stores are often departments)."""

    __tablename__ = "wecom_department"
    __table_args__ = (sa.UniqueConstraint("corp_id", "dept_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    corp_id: Mapped[int] = mapped_column(sa.ForeignKey("wecom_corp.id"))
    dept_id: Mapped[int] = mapped_column(sa.Integer)
    name: Mapped[str] = mapped_column(sa.String(100))
    parent_dept_id: Mapped[int] = mapped_column(sa.Integer, default=0)
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WecomStaff(Base):
    """A member of the corp (导购/客服) who can hold customer friendships. ``status`` is WeCom's:
    1 active, 2 disabled, 4 not activated, 5 left the company; a member who leaves keeps the row,
    because resigned inheritance (离职继承) needs it."""

    __tablename__ = "wecom_staff"
    __table_args__ = (sa.UniqueConstraint("corp_id", "userid"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    corp_id: Mapped[int] = mapped_column(sa.ForeignKey("wecom_corp.id"))
    userid: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(100), default="")
    departments: Mapped[list[int]] = mapped_column(sa.JSON, default=list)
    store_id: Mapped[int | None] = mapped_column(sa.ForeignKey("store.id"))
    status: Mapped[int] = mapped_column(sa.Integer, default=1)
    has_contact_rights: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WecomContact(Base):
    """One friendship between a staff member and a customer (WeCom's follow_user). A customer
    added by three guides has three rows and one Siyu customer. Deletions are kept with who
    deleted whom (流失提醒), so the history of the relationship survives."""

    __tablename__ = "wecom_contact"
    __table_args__ = (
        sa.UniqueConstraint("corp_id", "staff_userid", "external_userid"),
        sa.Index("ix_wecom_contact_external", "corp_id", "external_userid"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    corp_id: Mapped[int] = mapped_column(sa.ForeignKey("wecom_corp.id"))
    staff_userid: Mapped[str] = mapped_column(sa.String(64))
    external_userid: Mapped[str] = mapped_column(sa.String(100))
    customer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customer.id"), index=True)
    nickname: Mapped[str | None] = mapped_column(sa.String(100))
    remark: Mapped[str | None] = mapped_column(sa.String(200))
    add_way: Mapped[int | None] = mapped_column(sa.Integer)
    state: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    wecom_tags: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    added_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # customer (the customer deleted the staff member), staff, transfer (handed over)
    deleted_by: Mapped[str | None] = mapped_column(sa.String(16))
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # when a sync or callback last saw the friendship; a full sync ends the ones it did not see
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class WecomGroupChat(Base):
    """A customer group (客户群) owned by a staff member."""

    __tablename__ = "wecom_group_chat"
    __table_args__ = (sa.UniqueConstraint("corp_id", "chat_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    corp_id: Mapped[int] = mapped_column(sa.ForeignKey("wecom_corp.id"))
    chat_id: Mapped[str] = mapped_column(sa.String(100))
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    owner_userid: Mapped[str] = mapped_column(sa.String(64), default="")
    member_count: Mapped[int] = mapped_column(sa.Integer, default=0)
    dismissed: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WecomGroupMember(Base):
    """A member of a customer group: staff (type 1) or an external customer (type 2)."""

    __tablename__ = "wecom_group_member"
    __table_args__ = (sa.UniqueConstraint("group_id", "member_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(sa.ForeignKey("wecom_group_chat.id"))
    member_id: Mapped[str] = mapped_column(sa.String(100))
    member_type: Mapped[int] = mapped_column(sa.Integer)
    customer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customer.id"), index=True)
    joined_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    join_scene: Mapped[int | None] = mapped_column(sa.Integer)


class WecomCallback(Base):
    """The callback inbox: every verified callback is stored here first and answered at once;
    the worker processes it. WeCom contact events carry no id, so ``digest`` (corp, event,
    change type, user, external user, create time…) is the idempotency key: WeCom retries a
    callback it thinks failed, and the retry must not add a friend twice."""

    __tablename__ = "wecom_callback"
    __table_args__ = (sa.Index("ix_wecom_callback_due", "status", "priority", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    corp_id: Mapped[int] = mapped_column(sa.ForeignKey("wecom_corp.id"))
    digest: Mapped[str] = mapped_column(sa.String(64), unique=True)
    event: Mapped[str] = mapped_column(sa.String(80))
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    # 0 = a welcome_code is waiting (it lives 20 s); 5 = everything else
    priority: Mapped[int] = mapped_column(sa.Integer, default=5)
    # queued | done | failed | ignored
    status: Mapped[str] = mapped_column(sa.String(12), default="queued")
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(sa.String(100))
    error: Mapped[str | None] = mapped_column(sa.Text)
    customer_id: Mapped[int | None] = mapped_column(sa.Integer, index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)  # retries wait
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WecomSyncRun(Base):
    """One full sync (staff, contacts, groups, tags). ``position`` records how far it got so a
    sync stopped by a WeCom error resumes where it stopped instead of starting over."""

    __tablename__ = "wecom_sync_run"
    id: Mapped[int] = mapped_column(primary_key=True)
    corp_id: Mapped[int] = mapped_column(sa.ForeignKey("wecom_corp.id"))
    # running | done | failed
    status: Mapped[str] = mapped_column(sa.String(12), default="running")
    position: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    counts: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    error: Mapped[str | None] = mapped_column(sa.Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WecomApiCall(Base):
    """Every call Siyu made to WeCom with its errcode, kept a week: the sync status page and
    `siyu wecom status` read failures and rate-limit back-offs from here."""

    __tablename__ = "wecom_api_call"
    __table_args__ = (sa.Index("ix_wecom_api_call_at", "corp_id", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    corp_id: Mapped[int] = mapped_column(sa.ForeignKey("wecom_corp.id"))
    api: Mapped[str] = mapped_column(sa.String(80))
    errcode: Mapped[int] = mapped_column(sa.Integer)
    errmsg: Mapped[str] = mapped_column(sa.String(200), default="")
    elapsed_ms: Mapped[int] = mapped_column(sa.Integer, default=0)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LiveCode(Base):
    """A channel live code (渠道活码): one QR code for one channel (a store's counter, a poster,
    a parcel card, a live stream) whose WeCom contact way hands each scanning customer to one
    staff member in turn. ``state`` comes back on every add event, which is how an add is
    credited to the channel. Siyu keeps one member in the contact way at a time and moves it on
    after each add, so rotation, weights, daily limits and the 5,000-friend cap are exact."""

    __tablename__ = "live_code"
    __table_args__ = (sa.UniqueConstraint("corp_id", "state"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    corp_id: Mapped[int] = mapped_column(sa.ForeignKey("wecom_corp.id"))
    name: Mapped[str] = mapped_column(sa.String(100))
    channel: Mapped[str] = mapped_column(sa.String(32), default="other")
    state: Mapped[str] = mapped_column(sa.String(30))
    config_id: Mapped[str | None] = mapped_column(sa.String(100))
    qr_url: Mapped[str | None] = mapped_column(sa.String(500))
    qr_png: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    rotation: Mapped[str] = mapped_column(sa.String(16), default="round_robin")  # or weighted
    skip_verify: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    tag_ids: Mapped[list[int]] = mapped_column(sa.JSON, default=list)
    welcome_id: Mapped[int | None] = mapped_column(sa.ForeignKey("welcome_message.id"))
    store_id: Mapped[int | None] = mapped_column(sa.ForeignKey("store.id"))
    current_userid: Mapped[str | None] = mapped_column(sa.String(64))
    turn: Mapped[int] = mapped_column(sa.Integer, default=0)
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class LiveCodeStaff(Base):
    """A staff member behind a live code: weight for weighted rotation, a daily add limit
    (0 = none)."""

    __tablename__ = "live_code_staff"
    __table_args__ = (sa.UniqueConstraint("live_code_id", "staff_userid"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    live_code_id: Mapped[int] = mapped_column(sa.ForeignKey("live_code.id"))
    staff_userid: Mapped[str] = mapped_column(sa.String(64))
    weight: Mapped[int] = mapped_column(sa.Integer, default=1)
    daily_limit: Mapped[int] = mapped_column(sa.Integer, default=0)
    position: Mapped[int] = mapped_column(sa.Integer, default=0)


class WelcomeMessage(Base):
    """A welcome message (欢迎语): text with variables ({{ nickname }}, {{ staff }}, {{ store }})
    and up to 9 attachments (image, link, mini-program card). One per corp is the default; a
    live code may name its own."""

    __tablename__ = "welcome_message"
    id: Mapped[int] = mapped_column(primary_key=True)
    corp_id: Mapped[int] = mapped_column(sa.ForeignKey("wecom_corp.id"))
    name: Mapped[str] = mapped_column(sa.String(100))
    is_default: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    text: Mapped[str] = mapped_column(sa.Text, default="")
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class WelcomeDelivery(Base):
    """Each welcome Siyu sent (or could not): with the latency from the callback's arrival, so
    "welcome messages that don't fire" (a common complaint about other SCRMs) are visible."""

    __tablename__ = "welcome_delivery"
    id: Mapped[int] = mapped_column(primary_key=True)
    corp_id: Mapped[int] = mapped_column(sa.ForeignKey("wecom_corp.id"))
    callback_id: Mapped[int] = mapped_column(sa.Integer, unique=True)
    live_code_id: Mapped[int | None] = mapped_column(sa.Integer, index=True)
    welcome_id: Mapped[int | None] = mapped_column(sa.Integer)
    staff_userid: Mapped[str] = mapped_column(sa.String(64))
    external_userid: Mapped[str] = mapped_column(sa.String(100))
    customer_id: Mapped[int | None] = mapped_column(sa.Integer, index=True)
    # sent | failed | expired (the code's 20 s had passed) | none (no welcome configured) |
    # render_error (the text could not be rendered: nothing sent, an alert raised)
    status: Mapped[str] = mapped_column(sa.String(12))
    errcode: Mapped[int] = mapped_column(sa.Integer, default=0)
    latency_ms: Mapped[int] = mapped_column(sa.Integer, default=0)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WecomAlert(Base):
    """Something an operator should know now: a staff member near the 5,000-friend cap, a
    customer who deleted their guide (流失提醒), a guide who deleted a customer, a failed
    transfer."""

    __tablename__ = "wecom_alert"
    __table_args__ = (sa.Index("ix_wecom_alert_open", "corp_id", "resolved", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    corp_id: Mapped[int] = mapped_column(sa.ForeignKey("wecom_corp.id"))
    kind: Mapped[str] = mapped_column(sa.String(32))
    staff_userid: Mapped[str | None] = mapped_column(sa.String(64))
    customer_id: Mapped[int | None] = mapped_column(sa.Integer, index=True)
    message: Mapped[str] = mapped_column(sa.String(500))
    resolved: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class KeywordRule(Base):
    """A keyword auto-reply (关键词回复): when a customer's message matches, Siyu answers with
    the reply text and/or a benefit code from a pool (one per customer) and tags the customer.
    ``match`` is exact, contains, regex or words (jieba word segmentation, so "优惠" does not
    match inside an unrelated longer word). Rules are tried by ``priority``, first match wins."""

    __tablename__ = "keyword_rule"
    __table_args__ = (sa.Index("ix_keyword_rule_corp", "corp_id", "active", "priority"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    corp_id: Mapped[int] = mapped_column(sa.ForeignKey("wecom_corp.id"))
    name: Mapped[str] = mapped_column(sa.String(100))
    match: Mapped[str] = mapped_column(sa.String(12))
    pattern: Mapped[str] = mapped_column(sa.String(200))
    reply_text: Mapped[str] = mapped_column(sa.Text, default="")
    benefit_pool_id: Mapped[int | None] = mapped_column(sa.ForeignKey("benefit_pool.id"))
    tag_ids: Mapped[list[int]] = mapped_column(sa.JSON, default=list)
    channels: Mapped[list[str]] = mapped_column(sa.JSON, default=list)  # kf, app
    priority: Mapped[int] = mapped_column(sa.Integer, default=100)
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class BenefitPool(Base):
    """A pool of benefit codes (coupon codes issued elsewhere, loaded from a file). Each holder
    gets at most one code from a pool; asking again returns the same code."""

    __tablename__ = "benefit_pool"
    __table_args__ = (sa.UniqueConstraint("corp_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    corp_id: Mapped[int] = mapped_column(sa.ForeignKey("wecom_corp.id"))
    name: Mapped[str] = mapped_column(sa.String(100))
    # what the customer is told when the pool has run out
    exhausted_text: Mapped[str] = mapped_column(sa.String(500), default="本次福利已领完,感谢关注!")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BenefitCode(Base):
    """One code of a pool. ``holder`` names who got it (``customer:<id>``, or ``staff:<userid>``
    for a member asking through the app); unique per pool, which makes "one per customer" hold
    even when two workers answer the same customer at once."""

    __tablename__ = "benefit_code"
    __table_args__ = (
        sa.UniqueConstraint("pool_id", "code"),
        sa.UniqueConstraint("pool_id", "holder"),
        sa.Index("ix_benefit_code_free", "pool_id", "claimed_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    pool_id: Mapped[int] = mapped_column(sa.ForeignKey("benefit_pool.id"))
    code: Mapped[str] = mapped_column(sa.String(64))
    holder: Mapped[str | None] = mapped_column(sa.String(120))
    customer_id: Mapped[int | None] = mapped_column(sa.Integer, index=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class KfCursor(Base):
    """Where Siyu has read up to in a WeChat Customer Service (微信客服) account's message stream
    (kf/sync_msg's cursor), so each message is read once and a restart resumes."""

    __tablename__ = "wecom_kf_cursor"
    __table_args__ = (sa.UniqueConstraint("corp_id", "open_kfid"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    corp_id: Mapped[int] = mapped_column(sa.ForeignKey("wecom_corp.id"))
    open_kfid: Mapped[str] = mapped_column(sa.String(64))
    cursor: Mapped[str] = mapped_column(sa.String(200), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class KeywordReply(Base):
    """Every customer message a keyword rule looked at, and what Siyu answered: one row per
    WeCom message id, written (status ``sending``) and committed before the reply goes out, so
    a retry or a second worker never answers the same message twice."""

    __tablename__ = "keyword_reply"
    __table_args__ = (sa.UniqueConstraint("corp_id", "message_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    corp_id: Mapped[int] = mapped_column(sa.ForeignKey("wecom_corp.id"))
    channel: Mapped[str] = mapped_column(sa.String(8))  # kf | app
    message_id: Mapped[str] = mapped_column(sa.String(128))
    sender: Mapped[str] = mapped_column(sa.String(100))  # external_userid (kf) or userid (app)
    open_kfid: Mapped[str | None] = mapped_column(sa.String(64))
    customer_id: Mapped[int | None] = mapped_column(sa.Integer, index=True)
    text: Mapped[str] = mapped_column(sa.String(500))
    rule_id: Mapped[int | None] = mapped_column(sa.Integer, index=True)
    benefit_code: Mapped[str | None] = mapped_column(sa.String(64))
    # sending | sent | failed | no_match | window_closed (48 h passed) | quota (5 replies used)
    # | render_error (the reply could not be rendered: nothing sent, an alert raised)
    status: Mapped[str] = mapped_column(sa.String(16))
    errcode: Mapped[int] = mapped_column(sa.Integer, default=0)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Handover(Base):
    """A handover of one staff member's customers (and groups) to another: on-job transfer
    (在职转接, the guide moves stores) or resigned inheritance (离职继承, the guide left). WeCom
    completes a customer's transfer 24 hours after it is asked unless the customer refuses, so
    each item is tracked until WeCom reports how it ended."""

    __tablename__ = "wecom_handover"
    id: Mapped[int] = mapped_column(primary_key=True)
    corp_id: Mapped[int] = mapped_column(sa.ForeignKey("wecom_corp.id"))
    kind: Mapped[str] = mapped_column(sa.String(10))  # onjob | resigned
    handover_userid: Mapped[str] = mapped_column(sa.String(64))
    takeover_userid: Mapped[str] = mapped_column(sa.String(64))
    selection: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)  # the filter used
    message: Mapped[str] = mapped_column(sa.String(200), default="")  # told to the customer
    status: Mapped[str] = mapped_column(sa.String(12), default="running")  # running | done
    created_by: Mapped[str] = mapped_column(sa.String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class HandoverItem(Base):
    """One customer or group in a handover and how its transfer stands: ``queued`` (not yet
    asked), ``waiting`` (WeCom accepted; 24 h), ``succeeded``, ``refused`` (the customer said
    no; not retried), ``limit`` (the takeover member was at the 5,000 cap; retry to someone
    else), ``failed`` (an errcode, or a WeCom rule Siyu checked first)."""

    __tablename__ = "wecom_handover_item"
    __table_args__ = (
        sa.UniqueConstraint("handover_id", "target_type", "target_id"),
        sa.Index("ix_wecom_handover_item_target", "corp_id", "target_id", "status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    handover_id: Mapped[int] = mapped_column(sa.ForeignKey("wecom_handover.id"), index=True)
    corp_id: Mapped[int] = mapped_column(sa.ForeignKey("wecom_corp.id"))
    target_type: Mapped[str] = mapped_column(sa.String(10))  # customer | group
    target_id: Mapped[str] = mapped_column(sa.String(100))  # external_userid or chat_id
    customer_id: Mapped[int | None] = mapped_column(sa.Integer)
    takeover_userid: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(10), default="queued")
    errcode: Mapped[int] = mapped_column(sa.Integer, default=0)
    error: Mapped[str | None] = mapped_column(sa.String(300))
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WecomTagLink(Base):
    """A Siyu tag and the WeCom corp tag (企业客户标签) it is kept in step with. Linked by id, so
    renaming on either side keeps the link; created by a sync (WeCom's tags become Siyu tags in
    a group of the same name) or by pushing a Siyu tag to WeCom."""

    __tablename__ = "wecom_tag_link"
    __table_args__ = (
        sa.UniqueConstraint("corp_id", "tag_id"),
        sa.UniqueConstraint("corp_id", "wecom_tag_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    corp_id: Mapped[int] = mapped_column(sa.ForeignKey("wecom_corp.id"))
    tag_id: Mapped[int] = mapped_column(sa.ForeignKey("tag.id"), index=True)
    wecom_tag_id: Mapped[str] = mapped_column(sa.String(64))
    wecom_group_id: Mapped[str] = mapped_column(sa.String(64), default="")
    deleted: Mapped[bool] = mapped_column(sa.Boolean, default=False)  # gone at WeCom
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class GroupLiveCode(Base):
    """A group live code (群活码): one QR code that lets customers join the brand's groups one
    after another. WeCom's join way takes at most 5 groups and lets only the first 200 members
    of a group join by QR code; Siyu keeps the operator's longer list of groups and, as the
    groups in the join way fill, moves the next ones in, so the printed code keeps working."""

    __tablename__ = "group_live_code"
    __table_args__ = (sa.UniqueConstraint("corp_id", "state"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    corp_id: Mapped[int] = mapped_column(sa.ForeignKey("wecom_corp.id"))
    name: Mapped[str] = mapped_column(sa.String(100))
    state: Mapped[str] = mapped_column(sa.String(30))
    config_id: Mapped[str] = mapped_column(sa.String(100))
    qr_url: Mapped[str | None] = mapped_column(sa.String(500))
    qr_png: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    chat_ids: Mapped[list[str]] = mapped_column(sa.JSON, default=list)  # the whole rotation
    active_chat_ids: Mapped[list[str]] = mapped_column(sa.JSON, default=list)  # in the join way
    full: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
