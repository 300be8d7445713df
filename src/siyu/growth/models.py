"""Referral (老带新): a programme's rules, members' codes, visits to their links, arrivals
attributed to a referrer after the fraud checks, and the rewards those arrivals earn.

DESIGN §12: a reward rewards a purchase, never a share. An arrival is only attributed (once per
invitee and programme: the first arrival wins); the rewards of both sides are created pending
when the invitee's first qualifying paid order arrives, granted when its refund window has
passed, voided on a refund or a cancellation. Every check that held an arrival or a reward back
is written down with it (``reasons``), so an operator and the customer can see why."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from siyu.analytics.tables import INT, JSON, TEXT, TIME, CopiedTable
from siyu.db import Base, UTCDateTime, utcnow


class ReferralStatus(StrEnum):
    attributed = "attributed"  # counts: the invitee's orders may earn rewards
    review = "review"  # a device or network rule fired: an operator decides
    void = "void"  # an identity rule fired, or an operator said no


class RewardStatus(StrEnum):
    pending = "pending"  # waiting for the order's refund window (or an operator's review)
    granted = "granted"  # points or the coupon are the member's
    void = "void"  # refunded, cancelled, over a cap, or refused: ``reason`` says which


class ReferralProgramme(Base):
    """A loyalty programme's referral rules: what each side earns when an invitee's first paid
    order of at least ``min_order_fen`` has outlived ``refund_days``, the caps per referrer, and
    the thresholds of the device, network and burst checks. ``store_networks`` are the stores'
    Wi-Fi egress addresses (IPs or CIDR blocks): many sign-ups from one of them are a busy
    store, not fraud."""

    __tablename__ = "referral_programme"

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(sa.ForeignKey("loyalty_programme.id"), unique=True)
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    referrer_points: Mapped[int] = mapped_column(sa.Integer, default=0)
    referrer_coupon_id: Mapped[int | None] = mapped_column(sa.ForeignKey("coupon_template.id"))
    invitee_points: Mapped[int] = mapped_column(sa.Integer, default=0)
    invitee_coupon_id: Mapped[int | None] = mapped_column(sa.ForeignKey("coupon_template.id"))
    min_order_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    refund_days: Mapped[int] = mapped_column(sa.Integer, default=7)
    arrival_days: Mapped[int] = mapped_column(sa.Integer, default=30)  # link opened → joined
    cap_day: Mapped[int] = mapped_column(sa.Integer, default=5)  # referrer rewards per day
    cap_month: Mapped[int] = mapped_column(sa.Integer, default=30)
    device_most: Mapped[int] = mapped_column(sa.Integer, default=2)  # invitees per device
    device_days: Mapped[int] = mapped_column(sa.Integer, default=30)
    network_most: Mapped[int] = mapped_column(sa.Integer, default=5)  # invitees per address
    network_hours: Mapped[int] = mapped_column(sa.Integer, default=24)
    burst_most: Mapped[int] = mapped_column(sa.Integer, default=10)  # one referrer's arrivals
    burst_minutes: Mapped[int] = mapped_column(sa.Integer, default=60)
    delete_days: Mapped[int] = mapped_column(sa.Integer, default=7)  # friend deleted soon after
    store_networks: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    poster_art: Mapped[bytes | None] = mapped_column(sa.LargeBinary)  # re-encoded PNG
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReferralCode(Base):
    """A member's referral code, made the first time they ask for it. ``customer_id`` is the
    member's profile, kept here so an erasure finds the code after loyalty has made the member
    a tombstone. ``way_*`` is the member's own WeCom contact way, whose ``state`` names the
    code: made when the poster is first opened, deleted after 90 days unused."""

    __tablename__ = "referral_code"
    __table_args__ = (sa.UniqueConstraint("programme_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(12), unique=True)
    programme_id: Mapped[int] = mapped_column(sa.ForeignKey("loyalty_programme.id"))
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("loyalty_member.id"))
    customer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customer.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # last visit or poster
    way_corp_id: Mapped[int | None] = mapped_column(sa.Integer)
    way_config_id: Mapped[str | None] = mapped_column(sa.String(64))
    way_qr_url: Mapped[str | None] = mapped_column(sa.String(500))
    way_qr_png: Mapped[bytes | None] = mapped_column(sa.LargeBinary)  # fetched once, kept
    way_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ReferralVisit(Base):
    """Someone opened a referral link: the ``i`` of the K-factor (visits per member), and the
    device and network an arrival from it is checked against. ``device`` is the member
    centre's signed first-party cookie; ``address`` the client address the trusted-proxy
    setting gives."""

    __tablename__ = "referral_visit"
    __table_args__ = (sa.Index("ix_referral_visit_code", "code_id", "at"),)

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    code_id: Mapped[int] = mapped_column(sa.ForeignKey("referral_code.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    device: Mapped[str] = mapped_column(sa.String(40), default="")
    address: Mapped[str] = mapped_column(sa.String(64), default="")


class Referral(Base):
    """An invitee attributed to a referrer: one per invitee and programme, the first arrival
    (a WeCom add with the code's state, a member-centre sign-up from the link, an order naming
    the code). ``reasons`` are the checks that fired (codes, see ``growth.fraud``); an erased
    invitee leaves the row with no customer, for the figures."""

    __tablename__ = "referral"
    __table_args__ = (
        sa.UniqueConstraint("programme_id", "invitee_id"),
        sa.Index("ix_referral_referrer", "referrer_id", "arrived_at"),
        sa.Index("ix_referral_arrived", "programme_id", "arrived_at"),
        sa.Index("ix_referral_order", "order_id"),  # a refund finds its referral
        # the device and network checks (``growth.fraud``): earlier arrivals per key and time;
        # partial, as WeCom adds and orders have neither (and each index costs every insert)
        sa.Index(
            "ix_referral_device",
            "programme_id",
            "device",
            "arrived_at",
            sqlite_where=sa.text("device != ''"),
            postgresql_where=sa.text("device != ''"),
        ),
        sa.Index(
            "ix_referral_address",
            "programme_id",
            "address",
            "arrived_at",
            sqlite_where=sa.text("address != ''"),
            postgresql_where=sa.text("address != ''"),
        ),
        sa.Index(
            "ix_referral_wechat",
            "programme_id",
            "wechat",
            "arrived_at",
            sqlite_where=sa.text("wechat != ''"),
            postgresql_where=sa.text("wechat != ''"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(sa.ForeignKey("loyalty_programme.id"))
    code_id: Mapped[int] = mapped_column(sa.ForeignKey("referral_code.id"))
    referrer_id: Mapped[int] = mapped_column(sa.ForeignKey("loyalty_member.id"))
    invitee_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customer.id"), index=True)
    channel: Mapped[str] = mapped_column(sa.String(12))  # wecom | centre | order
    visit_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    device: Mapped[str] = mapped_column(sa.String(40), default="")
    address: Mapped[str] = mapped_column(sa.String(64), default="")
    arrived_at: Mapped[datetime] = mapped_column(UTCDateTime)
    referrer_joined_at: Mapped[datetime] = mapped_column(UTCDateTime)  # for the cycle time
    status: Mapped[str] = mapped_column(sa.String(12))
    reasons: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    decided_by: Mapped[str] = mapped_column(sa.String(100), default="")
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # set when a qualifying order made the rewards (the referral revenue counts it)
    order_id: Mapped[int | None] = mapped_column(sa.Integer)
    order_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    # the WeChat half of the sign-up's device (``fraud.wechat_key`` of its openid), if any
    wechat: Mapped[str] = mapped_column(sa.String(32), default="")
    # the invitee joined the group of a fission campaign (group fission: noted, not rewarded)
    group_joined_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ReferralReward(Base):
    """One side's reward of one referral (``side``: referrer | invitee), made pending by the
    invitee's first qualifying paid order and due when its refund window has passed. What it
    gives is copied from the programme when made: a rule changed later pays what was promised.
    ``reason`` says why it is void or still waiting."""

    __tablename__ = "referral_reward"
    __table_args__ = (
        sa.UniqueConstraint("referral_id", "side"),
        sa.Index("ix_referral_reward_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    referral_id: Mapped[int] = mapped_column(sa.ForeignKey("referral.id"))
    side: Mapped[str] = mapped_column(sa.String(10))
    member_id: Mapped[int | None] = mapped_column(sa.ForeignKey("loyalty_member.id"), index=True)
    points: Mapped[int] = mapped_column(sa.Integer, default=0)
    coupon_template_id: Mapped[int | None] = mapped_column(sa.ForeignKey("coupon_template.id"))
    order_id: Mapped[int] = mapped_column(sa.Integer)
    status: Mapped[str] = mapped_column(sa.String(10), default=RewardStatus.pending)
    reason: Mapped[str] = mapped_column(sa.String(40), default="")
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    coupon_id: Mapped[int | None] = mapped_column(sa.Integer)


def as_reasons(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


# What the analytical copy holds (no devices or addresses): the K-factor and the cycle time.
COPIED = (
    CopiedTable(
        "referral",
        (
            ("id", INT),
            ("programme_id", INT),
            ("referrer_id", INT),
            ("invitee_id", INT),
            ("channel", TEXT),
            ("status", TEXT),
            ("reasons", JSON),
            ("arrived_at", TIME),
            ("referrer_joined_at", TIME),
            ("order_fen", INT),
        ),
        customer_key="invitee_id",
    ),
    CopiedTable("referral_visit", (("id", INT), ("code_id", INT), ("at", TIME))),
    CopiedTable("referral_code", (("id", INT), ("programme_id", INT), ("member_id", INT))),
)
