"""What the console, the member centre, the API and a person's data export read of referral:
the referrals with their reasons and rewards, a member's own referrals (invitees' names
masked: a referrer never sees who exactly came, DESIGN §12), and the export."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.orm import Session

from siyu.customers.queries import display_names
from siyu.growth.fraud import REASONS
from siyu.growth.models import (
    Referral,
    ReferralCode,
    ReferralProgramme,
    ReferralReward,
    ReferralStatus,
    ReferralVisit,
)
from siyu.i18n import gettext

PAGE = 100


def masked_name(name: str) -> str:
    """A person's name as another customer may see it: the first character, then stars."""
    name = (name or "").strip()
    return (name[:1] + "*" * min(max(len(name) - 1, 1), 2)) if name else "**"


def reason_words(reasons: Sequence[str]) -> list[str]:
    return [gettext(REASONS[r]) if r in REASONS else r for r in reasons]


class RewardView(BaseModel):
    side: str
    points: int
    coupon_template_id: int | None
    status: str
    reason: str
    reason_words: str
    due_at: datetime
    settled_at: datetime | None


class ReferralView(BaseModel):
    id: int
    programme_id: int
    referrer_member: int
    invitee: int | None
    invitee_name: str
    channel: str
    arrived_at: datetime
    status: str
    reasons: list[str]
    reason_words: list[str]
    order_fen: int
    decided_by: str
    rewards: list[RewardView]


def _rewards(session: Session, ids: Collection[int]) -> dict[int, list[RewardView]]:
    out: dict[int, list[RewardView]] = {}
    for r in session.scalars(
        sa.select(ReferralReward)
        .where(ReferralReward.referral_id.in_(list(ids)))
        .order_by(ReferralReward.referral_id, ReferralReward.side.desc())
    ):
        out.setdefault(r.referral_id, []).append(
            RewardView(
                side=r.side,
                points=r.points,
                coupon_template_id=r.coupon_template_id,
                status=r.status,
                reason=r.reason,
                reason_words=reason_words([r.reason])[0] if r.reason else "",
                due_at=r.due_at,
                settled_at=r.settled_at,
            )
        )
    return out


def referrals(
    session: Session,
    *,
    status: str | None = None,
    programme_id: int | None = None,
    referrer: int | None = None,
    referral_id: int | None = None,
    offset: int = 0,
    most: int = PAGE,
    masked: bool = True,
) -> tuple[int, list[ReferralView]]:
    """A page of referrals, newest first, with how many there are."""
    where: list[sa.ColumnElement[bool]] = []
    if status:
        where.append(Referral.status == status)
    if programme_id:
        where.append(Referral.programme_id == programme_id)
    if referrer:
        where.append(Referral.referrer_id == referrer)
    if referral_id:
        where.append(Referral.id == referral_id)
    total = session.scalar(sa.select(sa.func.count()).select_from(Referral).where(*where)) or 0
    rows = session.scalars(
        sa.select(Referral)
        .where(*where)
        .order_by(Referral.arrived_at.desc(), Referral.id.desc())
        .offset(max(offset, 0))
        .limit(min(max(most, 1), 500))
    ).all()
    names = display_names(session, [r.invitee_id for r in rows if r.invitee_id])
    rewards = _rewards(session, [r.id for r in rows])
    out = []
    for r in rows:
        name = names.get(r.invitee_id or 0, "")
        out.append(
            ReferralView(
                id=r.id,
                programme_id=r.programme_id,
                referrer_member=r.referrer_id,
                invitee=r.invitee_id,
                invitee_name=masked_name(name) if masked else name,
                channel=r.channel,
                arrived_at=r.arrived_at,
                status=r.status,
                reasons=list(r.reasons or []),
                reason_words=reason_words(r.reasons or []),
                order_fen=r.order_fen,
                decided_by=r.decided_by,
                rewards=rewards.get(r.id, []),
            )
        )
    return int(total), out


def any_referral_programme(session: Session) -> bool:
    return session.scalar(sa.select(ReferralProgramme.id).limit(1)) is not None


def waiting_for_review(session: Session) -> int:
    return int(
        session.scalar(sa.select(sa.func.count()).where(Referral.status == ReferralStatus.review))
        or 0
    )


class MyReferral(BaseModel):
    """One of a member's invitees as the member centre shows it."""

    name: str
    arrived_at: datetime
    status: str
    reward: RewardView | None


def my_referrals(session: Session, member_id: int, most: int = 50) -> list[MyReferral]:
    """The member's invitees (names masked) with the member's own reward for each."""
    _total, rows = referrals(session, referrer=member_id, most=most)
    return [
        MyReferral(
            name=r.invitee_name,
            arrived_at=r.arrived_at,
            status=r.status,
            reward=next((w for w in r.rewards if w.side == "referrer"), None),
        )
        for r in rows
    ]


def my_invitation(session: Session, customer_ids: Collection[int]) -> list[RewardView]:
    """The rewards the customer gets as an invitee (the welcome of a friend's invitation)."""
    ids = session.scalars(
        sa.select(Referral.id).where(
            Referral.invitee_id.in_(list(customer_ids)), Referral.status != ReferralStatus.void
        )
    ).all()
    return [w for ws in _rewards(session, ids).values() for w in ws if w.side == "invitee"]


def visits_of(session: Session, code_id: int) -> int:
    return int(
        session.scalar(sa.select(sa.func.count()).where(ReferralVisit.code_id == code_id)) or 0
    )


def export_referrals(session: Session, customer_ids: Collection[int]) -> dict[str, list[Any]]:
    """A person's referral data for their export: their codes and how often their links were
    opened, the referrals they made (when, the outcome — never who came), the one they came
    by, and their rewards."""
    ids = list(customer_ids)
    codes = session.scalars(sa.select(ReferralCode).where(ReferralCode.customer_id.in_(ids))).all()
    made = session.scalars(
        sa.select(Referral).where(Referral.code_id.in_([c.id for c in codes]))
    ).all()
    came = session.scalars(sa.select(Referral).where(Referral.invitee_id.in_(ids))).all()
    rewards = _rewards(session, [r.id for r in made] + [r.id for r in came])

    def row(r: Referral, side: str) -> dict[str, Any]:
        return {
            "arrived_at": r.arrived_at.isoformat(),
            "channel": r.channel,
            "status": r.status,
            "reasons": list(r.reasons or []),
            "rewards": [w.model_dump(mode="json") for w in rewards.get(r.id, []) if w.side == side],
        }

    return {
        "referral_codes": [
            {
                "code": c.code,
                "created_at": c.created_at.isoformat(),
                "link_opened": visits_of(session, c.id),
            }
            for c in codes
        ],
        "referrals_made": [row(r, "referrer") for r in made],
        "referred_by": [row(r, "invitee") for r in came],
    }
