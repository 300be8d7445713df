"""Fission campaigns (任务宝 / 群裂变) within WeChat's rules: a campaign's stages count the
participant's invitees' qualifying paid orders that have outlived the refund window — never
scans, adds, shares or invite counts — and each stage reached gives its reward once."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db import Base, UTCDateTime, utcnow


class FissionCampaign(Base):
    """A campaign on a loyalty programme's referral: its window (invitees who arrive inside it
    count), the poster's words (checked: nothing promised for sharing), and optionally a group
    live code (group fission): a new friend who added a participant's guide through the
    participant's code gets its QR in the welcome message, and their joining is noted on their
    referral — attributed to the participant, never rewarded by itself."""

    __tablename__ = "fission_campaign"

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(sa.ForeignKey("loyalty_programme.id"))
    name: Mapped[str] = mapped_column(sa.String(100))
    poster_text: Mapped[str] = mapped_column(sa.String(200), default="")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    group_code_id: Mapped[int | None] = mapped_column(sa.ForeignKey("group_live_code.id"))
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_by: Mapped[str] = mapped_column(sa.String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FissionStage(Base):
    """One stage: at ``orders`` qualifying paid orders of invitees, ``points`` and/or a coupon.
    The trigger is stored to say what was counted; only ``paid_orders`` is ever accepted."""

    __tablename__ = "fission_stage"
    __table_args__ = (sa.UniqueConstraint("campaign_id", "orders"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("fission_campaign.id"))
    trigger: Mapped[str] = mapped_column(sa.String(16), default="paid_orders")
    orders: Mapped[int] = mapped_column(sa.Integer)
    points: Mapped[int] = mapped_column(sa.Integer, default=0)
    coupon_template_id: Mapped[int | None] = mapped_column(sa.ForeignKey("coupon_template.id"))


class FissionReward(Base):
    """A stage reached by a participant, given once (unique), with what it gave."""

    __tablename__ = "fission_reward"
    __table_args__ = (sa.UniqueConstraint("stage_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    stage_id: Mapped[int] = mapped_column(sa.ForeignKey("fission_stage.id"))
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("loyalty_member.id"), index=True)
    counted: Mapped[int] = mapped_column(sa.Integer)  # qualifying orders when it was reached
    status: Mapped[str] = mapped_column(sa.String(10), default="granted")  # granted | failed
    note: Mapped[str] = mapped_column(sa.String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
