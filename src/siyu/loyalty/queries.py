"""What the console, the member centre and the CLI read about a member's points: the balance
as the member sees it (spendable, pending, owed), the open lots with their expiry, and the
latest moves. Read from the summary and the member's own rows by index, so it stays fast at a
million members. And the members' template variables (tier, points). The console's lists are
in ``listing``."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.orm import Session

from siyu import clock
from siyu.bulk import from_db_time, rows_where_in, session_reads
from siyu.capability import TemplateVariables
from siyu.loyalty.models import (
    Member,
    PointsBalance,
    PointsEntry,
    PointsLot,
    Programme,
    Tier,
)

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


def member_variables(
    session: Session,
    ids: Sequence[int],
    out: dict[int, dict[str, Any]],
    _today: date,
    _wanted: Collection[str] | None,
) -> None:
    """Template variables from loyalty: the member's tier and the points they hold (their
    first programme's, when they are in several)."""
    rows = session.execute(
        sa.select(
            Member.customer_id,
            Tier.name,
            PointsBalance.remaining - PointsBalance.debt,
        )
        .outerjoin(Tier, Tier.id == Member.tier_id)
        .outerjoin(PointsBalance, PointsBalance.member_id == Member.id)
        .where(Member.customer_id.in_(ids), Member.status == "active")
        .order_by(Member.customer_id, Member.programme_id.desc())
    )
    for cid, tier, points in rows:
        if cid is not None:
            out[cid].update(member_tier=tier or "", points=max(int(points or 0), 0))


TEMPLATE_VARIABLES = (
    TemplateVariables(
        labels={"member_tier": "会员等级", "points": "会员积分"},
        samples={"member_tier": "金卡", "points": 1280},
        load=member_variables,
        personal=frozenset({"member_tier", "points"}),
    ),
)


# -- what other capabilities (growth) read of a membership, without the loyalty tables ------------
@dataclass(frozen=True, slots=True)
class MemberView:
    """A membership as another capability needs it: whose, in which programme and brand, since
    when, and whether it is still active (an erased member has no customer)."""

    id: int
    programme_id: int
    programme_code: str
    programme_name: str
    brand_id: int | None
    customer_id: int | None
    active: bool
    joined_at: datetime


def member_view(session: Session, member_id: int) -> MemberView | None:
    return member_views(session, [member_id]).get(member_id)


def member_views(session: Session, member_ids: Collection[int]) -> dict[int, MemberView]:
    """``member_view`` for many members, by id, in one query per 5,000."""
    out: dict[int, MemberView] = {}
    for mid, pid, code, name, brand, cid, status, joined in rows_where_in(
        session_reads(session),
        "SELECT m.id, p.id, p.code, p.name, p.brand_id, m.customer_id, m.status, m.joined_at"
        " FROM loyalty_member m JOIN loyalty_programme p ON p.id = m.programme_id"
        " WHERE m.id IN ({in})",
        (),
        sorted(set(member_ids)),
    ):
        out[int(mid)] = MemberView(
            id=int(mid),
            programme_id=int(pid),
            programme_code=str(code),
            programme_name=str(name),
            brand_id=brand,
            customer_id=cid,
            active=status == "active" and cid is not None,
            joined_at=from_db_time(joined),  # type: ignore[arg-type]
        )
    return out


def member_among(session: Session, programme_id: int, customer_ids: Collection[int]) -> int | None:
    """The oldest active membership of the programme any of these profiles holds."""
    return session.scalar(
        sa.select(Member.id)
        .where(
            Member.programme_id == programme_id,
            Member.customer_id.in_(list(customer_ids)),
            Member.status == "active",
        )
        .order_by(Member.id)
        .limit(1)
    )


def joined_before(
    session: Session, programme_id: int, customer_ids: Collection[int], at: datetime
) -> bool:
    """Whether any of these profiles had joined the programme before ``at``."""
    first = session.scalar(
        sa.select(sa.func.min(Member.joined_at)).where(
            Member.programme_id == programme_id, Member.customer_id.in_(list(customer_ids))
        )
    )
    return first is not None and first < at


def programme_brands(session: Session, programme_ids: Collection[int]) -> dict[int, int | None]:
    """Each programme's brand (None: a group programme, across brands)."""
    return dict(
        session.execute(
            sa.select(Programme.id, Programme.brand_id).where(Programme.id.in_(list(programme_ids)))
        ).all()
    )


def programme_named(session: Session, code: str) -> Programme | None:
    return session.scalar(sa.select(Programme).where(Programme.code == code[:40]))


def programme_list(session: Session) -> list[tuple[int, str, str]]:
    """(id, code, name) of every programme, oldest first."""
    return [
        (int(i), str(c), str(n))
        for i, c, n in session.execute(
            sa.select(Programme.id, Programme.code, Programme.name).order_by(Programme.id)
        )
    ]


def joined_each(
    session: Session, programme_id: int, customer_ids: Collection[int]
) -> dict[int, datetime]:
    """When each of these profiles joined the programme (those who did)."""
    out: dict[int, datetime] = {}
    for cid, at in rows_where_in(
        session_reads(session),
        "SELECT customer_id, joined_at FROM loyalty_member"
        " WHERE programme_id = ? AND customer_id IN ({in})",
        (programme_id,),
        sorted(set(customer_ids)),
    ):
        if cid is not None:
            joined = from_db_time(at)
            assert joined is not None
            out[int(cid)] = min(joined, out.get(int(cid), joined))
    return out
