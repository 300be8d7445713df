"""The console's read models for loyalty: programmes with their terms (rules, tiers, how
members qualify), and members listed and shown within the customer list's scope (a store guide
sees their own store's members only; phones masked as on the customer list)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session

from siyu.accounts.service import Principal
from siyu.brands.service import brand_code_of
from siyu.customers.queries import customer_rows, customers_by_identity, customers_by_phones
from siyu.customers.service import get_visible, only_visible
from siyu.loyalty.models import (
    EarnRule,
    Member,
    PointsBalance,
    Programme,
    Tier,
    TierChange,
)
from siyu.loyalty.queries import HISTORY
from siyu.loyalty.tiers import standing, tiers_of
from siyu.untrusted import whole_number


class _Read(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ProgrammeRow(_Read):
    id: int
    code: str
    name: str
    pending_days: int
    lot_months: int
    refund_rule: str
    tier_measure: str
    tier_window: str
    tier_months: int
    tier_downgrade: str
    tier_grace_days: int
    brand_id: int | None
    brand: str | None = None  # the brand's code; None: the group's programme
    members: int = 0  # active


class RuleView(_Read):
    id: int
    basis: str  # spend | event
    brand_id: int | None
    store_id: int | None
    category: str | None
    event: str | None
    rate: int  # spend: points per 100 yuan
    points: int  # event: points per event
    active: bool
    brand: str | None = None


class TierView(_Read):
    id: int
    code: str
    name: str
    rank: int
    threshold: int
    multiplier_pct: int
    members: int = 0


class ProgrammeTerms(BaseModel):
    programme: ProgrammeRow
    rules: list[RuleView]
    tiers: list[TierView]


def _brand(session: Session, brand_id: int | None) -> str | None:
    return None if brand_id is None else brand_code_of(session, brand_id)


def programmes(session: Session, only: int | None = None) -> list[ProgrammeRow]:
    """Every programme (or the one asked for) with its active members."""
    which = sa.true() if only is None else Programme.id == only
    its = sa.true() if only is None else Member.programme_id == only
    members = dict(
        session.execute(
            sa.select(Member.programme_id, sa.func.count())
            .where(Member.status == "active", its)
            .group_by(Member.programme_id)
        ).all()
    )
    return [
        ProgrammeRow.model_validate(p).model_copy(
            update={"brand": _brand(session, p.brand_id), "members": int(members.get(p.id, 0))}
        )
        for p in session.scalars(sa.select(Programme).where(which).order_by(Programme.id))
    ]


def programme_terms(session: Session, programme_id: int) -> ProgrammeTerms | None:
    """A programme's earn rules (spend first) and tiers, with members per tier."""
    found = next(iter(programmes(session, programme_id)), None)
    if found is None:
        return None
    rules = [
        RuleView.model_validate(r).model_copy(update={"brand": _brand(session, r.brand_id)})
        for r in session.scalars(
            sa.select(EarnRule)
            .where(EarnRule.programme_id == programme_id)
            .order_by(EarnRule.basis.desc(), EarnRule.id)
        )
    ]
    held = dict(
        session.execute(
            sa.select(Member.tier_id, sa.func.count())
            .where(Member.programme_id == programme_id, Member.status == "active")
            .group_by(Member.tier_id)
        ).all()
    )
    tiers = [
        TierView.model_validate(t).model_copy(update={"members": int(held.get(t.id, 0))})
        for t in tiers_of(session, programme_id)
    ]
    return ProgrammeTerms(programme=found, rules=rules, tiers=tiers)


@dataclass
class MemberFilter:
    q: str | None = None  # phone, member card number or member id
    programme_id: int | None = None
    tier_id: int | None = None
    page: int = 1
    per_page: int = 50


class MemberRow(BaseModel):
    id: int
    programme: str
    customer_id: int | None
    name: str | None  # masked, as the customer list shows them
    phone: str | None
    store: str | None
    tier: str | None
    points: int  # left in lots, pending ones included
    debt: int
    joined_at: datetime


class MemberPage(BaseModel):
    total: int
    page: int
    per_page: int
    items: list[MemberRow]


def list_members(session: Session, principal: Principal, f: MemberFilter) -> MemberPage:
    """Active members the principal may see (the customer list's scope), newest first, with
    their customers masked as the customer list shows them."""
    stmt = (
        sa.select(Member, Programme.name, Tier.name, PointsBalance.remaining, PointsBalance.debt)
        .join(Programme, Programme.id == Member.programme_id)
        .join(PointsBalance, PointsBalance.member_id == Member.id)
        .outerjoin(Tier, Tier.id == Member.tier_id)
        .where(Member.status == "active", only_visible(principal, Member.customer_id))
    )
    if f.q:
        stmt = stmt.where(_matching(session, f.q))
    if f.programme_id:
        stmt = stmt.where(Member.programme_id == f.programme_id)
    if f.tier_id:
        stmt = stmt.where(Member.tier_id == f.tier_id)
    total = session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery())) or 0
    per_page, page = max(1, min(f.per_page, 200)), max(1, f.page)
    rows = session.execute(
        stmt.order_by(Member.id.desc()).limit(per_page).offset((page - 1) * per_page)
    ).all()
    people = {
        c["id"]: c
        for c in customer_rows(
            session,
            [get_visible(session, principal, m.customer_id) for m, *_ in rows if m.customer_id],
        )
    }
    items = []
    for member, programme, tier, points, debt in rows:
        person = people.get(member.customer_id, {})
        items.append(
            MemberRow(
                id=member.id,
                programme=programme,
                customer_id=member.customer_id,
                name=person.get("name"),
                phone=person.get("phone"),
                store=person.get("store"),
                tier=tier,
                points=int(points),
                debt=int(debt),
                joined_at=member.joined_at,
            )
        )
    return MemberPage(total=total, page=page, per_page=per_page, items=items)


def _matching(session: Session, q: str) -> sa.ColumnElement[bool]:
    """Members whose customer has this phone or member card number, or whose id it is."""
    q = q.strip()
    found = set(customers_by_phones(session, [q])[0])
    found |= set(customers_by_identity(session, "member_id", None, [q]).values())
    tests: list[sa.ColumnElement[bool]] = [Member.customer_id.in_(found)] if found else []
    if (number := whole_number(q)) is not None:
        tests.append(Member.id == number)
    return sa.or_(*tests) if tests else sa.false()


def member_choices(
    session: Session,
) -> tuple[list[tuple[int, str]], list[tuple[int, str, str]]]:
    """The member list's filters: (id, name) of every programme, and (tier id, programme name,
    tier name) of every tier."""
    names = list(session.execute(sa.select(Programme.id, Programme.name).order_by(Programme.id)))
    tiers = session.execute(
        sa.select(Tier.id, Programme.name, Tier.name)
        .join(Programme, Programme.id == Tier.programme_id)
        .order_by(Programme.id, Tier.rank)
    )
    return [(i, n) for i, n in names], [(i, p, n) for i, p, n in tiers]


class TierMove(BaseModel):
    at: datetime
    from_tier: str | None
    to_tier: str | None
    reason: str  # join | upgrade | downgrade | import | manual


class MemberView(BaseModel):
    """One member as the console's member page shows them (their points: ``member_points``)."""

    id: int
    programme_id: int
    programme: str
    customer_id: int | None
    status: str
    tombstone: str | None
    join_channel: str
    joined_at: datetime
    tier: str | None
    tier_since: datetime | None
    tier_measure: str
    measure: int  # what counts toward a tier in the current window
    next_tier: str | None
    missing: int  # what the next tier still needs
    moves: list[TierMove]


def member_view(session: Session, member_id: int) -> MemberView | None:
    member = session.get(Member, member_id)
    if member is None:
        return None
    programme = session.get(Programme, member.programme_id)
    assert programme is not None
    names = {t.id: t.name for t in tiers_of(session, programme.id)}
    stand = standing(session, member, programme)
    moves = [
        TierMove(
            at=c.changed_at,
            from_tier=names.get(c.from_tier_id) if c.from_tier_id else None,
            to_tier=names.get(c.to_tier_id) if c.to_tier_id else None,
            reason=c.reason,
        )
        for c in session.scalars(
            sa.select(TierChange)
            .where(TierChange.member_id == member_id)
            .order_by(TierChange.changed_at.desc(), TierChange.id.desc())
            .limit(HISTORY)
        )
    ]
    return MemberView(
        id=member.id,
        programme_id=programme.id,
        programme=programme.name,
        customer_id=member.customer_id,
        status=member.status,
        tombstone=member.tombstone,
        join_channel=member.join_channel,
        joined_at=member.joined_at,
        tier=names.get(member.tier_id) if member.tier_id else None,
        tier_since=member.tier_since,
        tier_measure=programme.tier_measure,
        measure=stand.measure,
        next_tier=stand.next.name if stand.next else None,
        missing=stand.missing,
        moves=moves,
    )
