"""Keyword rules and the replies they gave, the benefit-code pools they hand out from, and the
cursor of WeCom's customer-service message stream."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db import Base, UTCDateTime, utcnow


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
    # "": codes loaded from a file; "<capability>:<ref>": each code issued when claimed by the
    # capability's benefit issuer (loyalty: a coupon of the programme's template ``ref``)
    issued_by: Mapped[str] = mapped_column(sa.String(60), default="")
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
