"""Tiers (DESIGN §12): a member qualifies by what they did in the programme's window — points
earned, yuan spent or orders — goes up at once when they reach a tier's threshold, and goes
down only when a window ends short of it (by one level, or to the level the measure reaches),
after the grace days. Every move is kept (``TierChange``) for the member's history and the
tier flow.

The window: ``rolling`` is the last ``tier_months`` months, and a tier is held for a whole
window from the day it was reached; ``calendar`` counts from the 1st of January (Asia/Shanghai
time, the settings' zone) and reviews downgrades at the year's turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.config import get_settings
from siyu.loyalty.ledger import LoyaltyError, add_months
from siyu.loyalty.models import (
    EntryKind,
    Member,
    PointsEntry,
    PointsLot,
    Programme,
    Tier,
    TierChange,
)
from siyu.orders.queries import spend_in_window

MEASURES = ("points", "spend_fen", "orders")
WINDOWS = ("rolling", "calendar")
DOWNGRADES = ("one_level", "by_measure")
TIERS_MAX = 20
THRESHOLD_MAX = 10**12


def configure(
    session: Session,
    programme: Programme,
    *,
    measure: str | None = None,
    window: str | None = None,
    months: int | None = None,
    downgrade: str | None = None,
    grace_days: int | None = None,
) -> None:
    """How the programme's tiers qualify; what is not given stays as it is."""
    if measure is not None and measure not in MEASURES:
        raise LoyaltyError("tier measure: points, spend_fen or orders")
    if window is not None and window not in WINDOWS:
        raise LoyaltyError("tier window: rolling or calendar")
    if downgrade is not None and downgrade not in DOWNGRADES:
        raise LoyaltyError("downgrade: one_level or by_measure")
    if months is not None and not 1 <= months <= 36:
        raise LoyaltyError("tier window: 1–36 months")
    if grace_days is not None and not 0 <= grace_days <= 365:
        raise LoyaltyError("grace: 0–365 days")
    for name, value in (
        ("tier_measure", measure),
        ("tier_window", window),
        ("tier_months", months),
        ("tier_downgrade", downgrade),
        ("tier_grace_days", grace_days),
    ):
        if value is not None:
            setattr(programme, name, value)
    session.flush()


def set_tier(
    session: Session,
    programme: Programme,
    code: str,
    name: str,
    *,
    rank: int,
    threshold: int,
    multiplier_pct: int = 100,
) -> Tier:
    """Add or change a tier. Rank 0 is the entry tier (threshold 0); a higher rank needs a
    higher threshold than every tier below it."""
    if not 0 < len(code) <= 40 or not 0 < len(name.strip()) <= 100:
        raise LoyaltyError("tier code 1–40 characters, name 1–100")
    if not 0 <= rank < TIERS_MAX or not 0 <= threshold <= THRESHOLD_MAX:
        raise LoyaltyError(
            "rank 0–{top}; threshold 0–{most}", top=TIERS_MAX - 1, most=THRESHOLD_MAX
        )
    if not 10 <= multiplier_pct <= 1000:
        raise LoyaltyError("multiplier: 10–1000 percent")
    if rank == 0 and threshold != 0:
        raise LoyaltyError("the entry tier (rank 0) has threshold 0")
    tiers = {t.code: t for t in tiers_of(session, programme.id)}
    tier = tiers.get(code) or Tier(programme_id=programme.id, code=code)
    others = [t for t in tiers.values() if t.code != code]
    if any(t.rank == rank for t in others):
        raise LoyaltyError("rank {rank} is another tier's", rank=rank)
    if any((t.rank < rank) != (t.threshold < threshold) for t in others):
        raise LoyaltyError("a higher tier needs a higher threshold than every tier below it")
    tier.name, tier.rank, tier.threshold = name.strip(), rank, threshold
    tier.multiplier_pct = multiplier_pct
    session.add(tier)
    session.flush()
    return tier


def tiers_of(session: Session, programme_id: int) -> list[Tier]:
    return list(
        session.scalars(
            sa.select(Tier).where(Tier.programme_id == programme_id).order_by(Tier.rank)
        )
    )


@dataclass(frozen=True)
class Standing:
    """Where a member stands: the measure in the current window, the tier it reaches and the
    next tier with what is missing for it (the member centre's progress bar)."""

    measure: int
    reached: Tier | None
    next: Tier | None
    missing: int


def window_start(programme: Programme, now: datetime) -> datetime:
    if programme.tier_window == "calendar":
        tz = ZoneInfo(get_settings().timezone)
        local = now.astimezone(tz)
        return local.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    return add_months(now, -programme.tier_months)


def measure(session: Session, member: Member, programme: Programme, since: datetime) -> int:
    """What the member did since ``since`` by the programme's measure: points earned (net of
    refunds' take-backs), money paid net of refunds (fen), or paid orders."""
    if programme.tier_measure == "points":
        # by when the points were earned (a lot's date), not when they were written: a backfill
        # of history or an opening balance is not this window's doing (openings never count)
        lots = (
            sa.select(PointsLot.id, PointsLot.points, PointsLot.source_kind, PointsLot.source_id)
            .where(
                PointsLot.member_id == member.id,
                PointsLot.source_kind != "opening",
                PointsLot.available_at >= since,
            )
            .subquery()
        )
        earned = session.scalar(sa.select(sa.func.coalesce(sa.func.sum(lots.c.points), 0)))
        back = session.scalar(
            sa.select(
                sa.func.coalesce(
                    sa.func.sum(sa.func.abs(PointsEntry.points) + PointsEntry.covers), 0
                )
            )
            .select_from(PointsEntry)
            .join(
                lots,
                PointsEntry.linked == lots.c.source_kind + sa.literal(":") + lots.c.source_id,
            )
            .where(
                PointsEntry.member_id == member.id,
                PointsEntry.kind.in_([EntryKind.take_back, EntryKind.debt, EntryKind.forgive]),
            )
        )
        return max(int(earned or 0) - int(back or 0), 0)
    if member.customer_id is None:
        return 0
    money, orders = spend_in_window(session, member.customer_id, programme.brand_id, since)
    return money if programme.tier_measure == "spend_fen" else orders


def standing(
    session: Session, member: Member, programme: Programme, now: datetime | None = None
) -> Standing:
    now = now or clock.now()
    done = measure(session, member, programme, window_start(programme, now))
    tiers = tiers_of(session, programme.id)
    reached = None
    for tier in tiers:
        if tier.threshold <= done:
            reached = tier
    above = [t for t in tiers if reached is None or t.rank > reached.rank]
    nxt = above[0] if above else None
    return Standing(done, reached, nxt, max(nxt.threshold - done, 0) if nxt else 0)


def join_entry_tier(session: Session, member: Member) -> None:
    """A new member starts in the entry tier, when the programme has tiers."""
    tiers = tiers_of(session, member.programme_id)
    if tiers and member.tier_id is None:
        _move(session, member, tiers[0], "join", clock.now())


def move_to(session: Session, member: Member, tier: Tier, reason: str) -> None:
    """Put the member in ``tier`` now (an import, an operator's decision), kept in the history."""
    _move(session, member, tier, reason, clock.now())


def _move(session: Session, member: Member, to: Tier | None, reason: str, now: datetime) -> None:
    session.add(
        TierChange(
            member_id=member.id,
            from_tier_id=member.tier_id,
            to_tier_id=to.id if to else None,
            reason=reason,
            changed_at=now,
        )
    )
    member.tier_id = to.id if to else None
    member.tier_since = now


def review(
    session: Session, member: Member, programme: Programme, now: datetime | None = None
) -> str | None:
    """Upgrade at once when the member's standing reaches a higher tier; downgrade only when
    the window the current tier was held for has ended (plus grace) short of its threshold.
    Returns ``upgrade``, ``downgrade`` or None. Idempotent: reviewing again changes nothing."""
    now = now or clock.now()
    tiers = tiers_of(session, programme.id)
    if not tiers or member.status != "active":
        return None
    current = next((t for t in tiers if t.id == member.tier_id), None)
    stand = standing(session, member, programme, now)
    reached = stand.reached
    if current is None:
        entry = reached or tiers[0]
        _move(session, member, entry, "upgrade" if entry.rank else "join", now)
        return "upgrade" if entry.rank else None
    if reached is not None and reached.rank > current.rank:
        _move(session, member, reached, "upgrade", now)
        return "upgrade"
    if reached is not None and reached.rank == current.rank:
        return None
    if now < _held_until(programme, member, now):
        return None
    below = [t for t in tiers if t.rank < current.rank]
    if not below:
        return None  # the lowest tier there is
    if programme.tier_downgrade == "one_level":
        to = below[-1]
    else:
        to = reached if reached is not None and reached.rank < current.rank else below[0]
    _move(session, member, to, "downgrade", now)
    return "downgrade"


def _held_until(programme: Programme, member: Member, now: datetime) -> datetime:
    """When the current tier's window ends, grace included: a rolling tier is held for one
    window from the day it was reached; a calendar tier until the year after it was reached."""
    since = member.tier_since or member.joined_at
    grace = timedelta(days=programme.tier_grace_days)
    if programme.tier_window == "calendar":
        tz = ZoneInfo(get_settings().timezone)
        local = since.astimezone(tz)
        turn = local.replace(
            year=local.year + 1, month=1, day=1, hour=0, minute=0, second=0, microsecond=0
        )
        return turn + grace
    return add_months(since, programme.tier_months) + grace


def review_all(
    session: Session, now: datetime | None = None, *, batch: int = 1000
) -> dict[str, int]:
    """Review every active member of every programme with tiers (the worker does it daily, so
    downgrades happen at the windows' ends); returns the moves by kind."""
    now = now or clock.now()
    moved = {"upgrade": 0, "downgrade": 0}
    programmes = {
        p.id: p
        for p in session.scalars(
            sa.select(Programme).where(
                sa.exists(sa.select(Tier.id).where(Tier.programme_id == Programme.id))
            )
        )
    }
    after = 0
    while programmes:
        members = list(
            session.scalars(
                sa.select(Member)
                .where(
                    Member.programme_id.in_(programmes),
                    Member.status == "active",
                    Member.id > after,
                )
                .order_by(Member.id)
                .limit(batch)
            )
        )
        if not members:
            break
        for member in members:
            what = review(session, member, programmes[member.programme_id], now)
            if what:
                moved[what] += 1
        after = members[-1].id
        session.flush()
    return moved
