"""What the console, the member centre and the CLI read about a member's points: the balance
as the member sees it (spendable, pending, owed), the open lots with their expiry, and the
latest moves. Read from the summary and the member's own rows by index, so it stays fast at a
million members."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.orm import Session

from siyu import clock
from siyu.loyalty.models import Member, PointsBalance, PointsEntry, PointsLot, Programme

HISTORY = 50


class LotView(BaseModel):
    source: str
    points: int
    left: int
    available_at: datetime
    expires_at: datetime | None


class MoveView(BaseModel):
    at: datetime
    kind: str
    points: int
    source: str
    reason: str


class MemberPoints(BaseModel):
    member_id: int
    programme: str
    spendable: int
    pending: int
    debt: int
    earned: int
    spent: int
    expired: int
    taken_back: int
    lots: list[LotView]
    history: list[MoveView]


def member_points(
    session: Session, member_id: int, *, history: int = HISTORY
) -> MemberPoints | None:
    row = session.execute(
        sa.select(Member, PointsBalance, Programme)
        .join(PointsBalance, PointsBalance.member_id == Member.id)
        .join(Programme, Programme.id == Member.programme_id)
        .where(Member.id == member_id)
    ).first()
    if row is None:
        return None
    member, balance, programme = row
    now = clock.now()
    left = sa.func.sum(PointsEntry.points)
    lots = [
        LotView(
            source=f"{lot.source_kind}:{lot.source_id}",
            points=lot.points,
            left=int(rest),
            available_at=lot.available_at,
            expires_at=lot.expires_at,
        )
        for lot, rest in session.execute(
            sa.select(PointsLot, left)
            .join(PointsEntry, PointsEntry.lot_id == PointsLot.id)
            .where(PointsLot.member_id == member_id)
            .group_by(PointsLot.id)
            .having(left > 0)
            .order_by(PointsLot.expires_at, PointsLot.id)
        )
    ]
    open_now = [v for v in lots if v.expires_at is None or v.expires_at > now]
    pending = sum(v.left for v in open_now if v.available_at > now)
    ready = sum(v.left for v in open_now if v.available_at <= now)
    owed = int(balance.debt) if programme.refund_rule == "negative" else 0
    moves = [
        MoveView(
            at=e.created_at,
            kind=e.kind,
            points=e.points,
            source=f"{e.source_kind}:{e.source_id}",
            reason=e.reason,
        )
        for e in session.scalars(
            sa.select(PointsEntry)
            .where(PointsEntry.member_id == member_id)
            .order_by(PointsEntry.id.desc())
            .limit(history)
        )
    ]
    return MemberPoints(
        member_id=member.id,
        programme=programme.code,
        spendable=max(ready - owed, 0),
        pending=pending,
        debt=int(balance.debt),
        earned=int(balance.earned),
        spent=int(balance.spent),
        expired=int(balance.expired),
        taken_back=int(balance.taken_back),
        lots=open_now,
        history=moves,
    )
