"""Referral rewards follow the invitee's orders (``order.changed``): the first qualifying paid
order after the arrival makes both sides' rewards pending, due when its refund window has
passed; a refund or cancellation before then voids them; a sweep grants what is due (points
through the ledger, coupons through loyalty) once, under the reward's own source key.

A referral waiting for an operator keeps its rewards pending past their date: they are paid
the sweep after it is approved, voided if it is not."""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.config import get_settings
from siyu.growth.models import (
    Referral,
    ReferralProgramme,
    ReferralReward,
    ReferralStatus,
    RewardStatus,
)
from siyu.growth.notices import notify_reward
from siyu.loyalty.coupons.service import CouponError, issue_by_id
from siyu.loyalty.ledger import LoyaltyError
from siyu.loyalty.queries import member_among, member_view, programme_brands
from siyu.loyalty.service import earn
from siyu.orders.queries import PAID_STATUSES, order_money, order_states
from siyu.privacy.service import family_of
from siyu.wecom.queries import deleted_friends

log = logging.getLogger("siyu.growth")
JOIN_WAIT = timedelta(days=90)  # an invitee's reward waits this long for them to join
SIDES = ("referrer", "invitee")


def follow_orders(session: Session, order_ids: Sequence[int]) -> int:
    """Rewards made pending, or voided, for these orders; returns how many changed (nothing
    is read while no programme runs referral: an import's millions of orders cost nothing)."""
    if session.scalar(sa.select(ReferralProgramme.id).limit(1)) is None:
        return 0
    changed = 0
    for row in order_states(session, order_ids):
        oid, brand_id, _store, customer_id, status, paid, refunded, paid_at, ordered_at = row[:9]
        net = max(int(paid or 0) - int(refunded or 0), 0)
        if status in PAID_STATUSES:
            changed += _qualify(session, oid, brand_id, customer_id, net, paid_at or ordered_at)
        changed += _refunded(session, oid, status, net)
    return changed


def _qualify(
    session: Session,
    order_id: int,
    brand_id: int,
    customer_id: int,
    net: int,
    paid_at: datetime | None,
) -> int:
    if paid_at is None:
        return 0
    family = family_of(session, customer_id)
    rows = session.execute(
        sa.select(Referral, ReferralProgramme)
        .join(ReferralProgramme, ReferralProgramme.programme_id == Referral.programme_id)
        .where(
            Referral.invitee_id.in_(family),
            Referral.status != ReferralStatus.void,
            Referral.arrived_at <= paid_at,
        )
        .order_by(Referral.arrived_at, Referral.id)
    ).all()
    kept = _one_per_person(session, list(rows), family)
    made = 0
    brands = programme_brands(session, {r.programme_id for r, _rules in kept})
    for referral, rules in kept:
        if brands.get(rules.programme_id) not in (None, brand_id) or net < max(
            rules.min_order_fen, 1
        ):
            continue
        taken = session.execute(
            sa.update(Referral)
            .where(Referral.id == referral.id, Referral.order_id.is_(None))
            .values(order_id=order_id, order_fen=net)
            .execution_options(synchronize_session=False)
        )
        if not getattr(taken, "rowcount", 0):  # another worker took another order first
            continue
        due = paid_at + timedelta(days=rules.refund_days)
        for side in SIDES:
            points = getattr(rules, f"{side}_points")
            coupon = getattr(rules, f"{side}_coupon_id")
            if not points and not coupon:
                continue
            reward = ReferralReward(
                referral_id=referral.id,
                side=side,
                member_id=referral.referrer_id if side == "referrer" else None,
                points=points,
                coupon_template_id=coupon,
                order_id=order_id,
                due_at=due,
                created_at=clock.now(),
            )
            if side == "referrer":
                reward.reason = _over_cap(session, rules, referral.referrer_id)
                if reward.reason:
                    reward.status, reward.settled_at = RewardStatus.void, clock.now()
            session.add(reward)
            made += 1
        session.flush()
    return made


def _one_per_person(session: Session, rows: list[Any], family: list[int]) -> list[Any]:
    """One person, one referral per programme: profiles merged later (a WeCom-only profile and
    a phone one) may each have arrived by a code. The first arrival keeps its referral; the
    others are void (``same_person``), and so is the first when the person, seen whole now,
    was a customer before it (``already_customer``). Only a referral with no order yet can
    take this one."""
    from siyu.growth.fraud import Arrival, Candidate, judge_many

    kept: list[Any] = []
    seen: set[int] = set()
    for referral, rules in rows:
        if referral.programme_id in seen:
            if referral.order_id is None:
                referral.status = ReferralStatus.void
                referral.reasons = [*referral.reasons, "same_person"]
            continue
        seen.add(referral.programme_id)
        if len(family) > 1 and referral.order_id is None:
            referrer = member_view(session, referral.referrer_id)
            if referrer is not None:
                arrival = Arrival(
                    invitee_id=family[0], channel=referral.channel, at=referral.arrived_at
                )
                verdict = judge_many(session, rules, [Candidate(referrer, arrival)])[0]
                if "already_customer" in verdict.reasons or "self_referral" in verdict.reasons:
                    referral.status = ReferralStatus.void
                    referral.reasons = [*referral.reasons, *verdict.reasons]
                    continue
        if referral.order_id is None:
            kept.append((referral, rules))
    session.flush()
    return kept


def _over_cap(session: Session, rules: ReferralProgramme, referrer_id: int) -> str:
    """``cap_day`` or ``cap_month`` when the referrer already has that many rewards (not void)
    made this local day or month; "" when there is room."""
    tz = ZoneInfo(get_settings().timezone)
    local = clock.now().astimezone(tz)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    month = day.replace(day=1)
    for reason, since, most in (
        ("cap_day", day, rules.cap_day),
        ("cap_month", month, rules.cap_month),
    ):
        if not most:
            continue
        held = session.scalar(
            sa.select(sa.func.count()).where(
                ReferralReward.member_id == referrer_id,
                ReferralReward.side == "referrer",
                ReferralReward.status != RewardStatus.void,
                ReferralReward.created_at >= since,
            )
        )
        if (held or 0) >= most:
            return reason
    return ""


def _refunded(session: Session, order_id: int, status: str, net: int) -> int:
    """The pending rewards of a qualifying order that was refunded (below the programme's
    minimum, or wholly) or cancelled are void."""
    rows = session.execute(
        sa.select(Referral.id, ReferralProgramme.min_order_fen)
        .join(ReferralProgramme, ReferralProgramme.programme_id == Referral.programme_id)
        .where(Referral.order_id == order_id)
    ).all()
    gone = [rid for rid, least in rows if status not in PAID_STATUSES or net <= 0 or net < least]
    return void_rewards(session, gone, "refunded") if gone else 0


def void_rewards(
    session: Session, referral_ids: Collection[int], reason: str, sides: Sequence[str] = SIDES
) -> int:
    """Void the pending rewards of these referrals (granted ones stay: a refund after the
    window is the brand's to chase, as the window promised)."""
    done = session.execute(
        sa.update(ReferralReward)
        .where(
            ReferralReward.referral_id.in_(list(referral_ids)),
            ReferralReward.status == RewardStatus.pending,
            ReferralReward.side.in_(list(sides)),
        )
        .values(status=RewardStatus.void, reason=reason, settled_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    return int(getattr(done, "rowcount", 0) or 0)


def grant_due(session: Session, page: int = 500) -> int:
    """Grant every reward whose refund window has passed, in pages by id (a reward that stays
    pending — an invitee not yet a member, one that failed — never holds back those after it);
    each is committed on its own (one member's failure never holds the others). Returns how
    many were granted."""
    now = clock.now()
    granted, after = 0, 0
    while True:
        ids = session.scalars(
            sa.select(ReferralReward.id)
            .join(Referral, Referral.id == ReferralReward.referral_id)
            .where(
                ReferralReward.status == RewardStatus.pending,
                ReferralReward.due_at <= now,
                ReferralReward.id > after,
                Referral.status != ReferralStatus.review,
            )
            .order_by(ReferralReward.id)
            .limit(page)
        ).all()
        session.commit()
        for reward_id in ids:
            try:
                granted += _grant(session, reward_id, now)
                session.commit()
            except Exception:
                session.rollback()
                log.exception("referral reward %s could not be granted; tried later", reward_id)
        if len(ids) < page:
            return granted
        after = ids[-1]


def _grant(session: Session, reward_id: int, now: datetime) -> int:
    reward = session.get(ReferralReward, reward_id, with_for_update=True)
    if reward is None or reward.status != RewardStatus.pending:
        return 0
    referral = session.get(Referral, reward.referral_id)
    rules = (
        session.scalar(
            sa.select(ReferralProgramme).where(
                ReferralProgramme.programme_id == referral.programme_id
            )
        )
        if referral
        else None
    )
    if referral is None or rules is None:
        return 0
    if referral.status == ReferralStatus.void:
        return _settle(
            reward, RewardStatus.void, referral.reasons[-1] if referral.reasons else "operator"
        )
    if not _still_paid(session, reward.order_id, rules):
        return _settle(reward, RewardStatus.void, "refunded")
    owner = order_states(session, [reward.order_id])
    if (
        referral.invitee_id is None
        or not owner
        or owner[0][3] not in family_of(session, referral.invitee_id)
    ):  # an unmerge gave the order back to someone else
        return _settle(reward, RewardStatus.void, "order_moved")
    if referral.invitee_id is not None and deleted_friends(
        session, family_of(session, referral.invitee_id), referral.arrived_at
    ):
        return _settle(reward, RewardStatus.void, "friend_deleted")
    if reward.member_id is None:
        reward.member_id = _invitee_member(session, referral)
        if reward.member_id is None:
            if now - reward.due_at > JOIN_WAIT:
                return _settle(reward, RewardStatus.void, "not_a_member")
            reward.reason = "not_a_member"  # shown as waiting; paid once they join
            return 0
    member = member_view(session, reward.member_id)
    if member is None or not member.active:
        return _settle(reward, RewardStatus.void, "erased")
    source = ("referral", f"{reward.id}")
    given = False
    if reward.points:
        try:
            earn(session, member.id, source, reward.points, available_at=now, reason="referral")
            given = True
        except LoyaltyError:
            return _settle(reward, RewardStatus.void, "erased")
    if reward.coupon_template_id:
        try:
            with session.begin_nested():
                coupon = issue_by_id(session, reward.coupon_template_id, member.id, source)
                reward.coupon_id = coupon.id
            given = True
        except CouponError:
            if not given:
                return _settle(reward, RewardStatus.void, "coupon_unavailable")
            reward.reason = "coupon_unavailable"  # the points were given; the coupon was not
    reward.status, reward.settled_at = RewardStatus.granted, now
    if reward.reason == "not_a_member":
        reward.reason = ""
    if reward.side == "referrer":  # the notice's words are the referrer's; the new member sees
        words = f"{reward.points} 积分" if reward.points else "优惠券"  # theirs on their page
        notify_reward(session, member.customer_id, f"referral-reward:{reward.id}", words)
    return 1


def _settle(reward: ReferralReward, status: str, reason: str) -> int:
    reward.status, reward.reason, reward.settled_at = status, reason[:40], clock.now()
    return 0


def _still_paid(session: Session, order_id: int, rules: ReferralProgramme) -> bool:
    found = order_money(session, [order_id]).get(order_id)
    if found is None:
        return False
    status, paid, refunded = found
    net = paid - refunded
    return status in PAID_STATUSES and net > 0 and net >= rules.min_order_fen


def _invitee_member(session: Session, referral: Referral) -> int | None:
    if referral.invitee_id is None:
        return None
    return member_among(session, referral.programme_id, family_of(session, referral.invitee_id))


def deletions_after_reward(session: Session) -> int:
    """Referrals whose invitee deleted the WeCom friend within the programme's days after the
    reward was granted: marked (``deleted_after_reward``) and held for review, where the fraud
    rate counts them and an operator sees them."""
    now = clock.now()
    rows = session.execute(
        sa.select(Referral, ReferralProgramme.delete_days, sa.func.max(ReferralReward.settled_at))
        .join(ReferralProgramme, ReferralProgramme.programme_id == Referral.programme_id)
        .join(ReferralReward, ReferralReward.referral_id == Referral.id)
        .where(
            ReferralReward.status == RewardStatus.granted,
            ReferralReward.settled_at >= now - timedelta(days=60),
            Referral.status == ReferralStatus.attributed,
            Referral.invitee_id.is_not(None),
        )
        .group_by(Referral.id, ReferralProgramme.delete_days)
    ).all()
    marked = 0
    for referral, days, granted_at in rows:
        if granted_at is None or referral.invitee_id is None:
            continue
        if now - granted_at > timedelta(days=days):
            continue
        if deleted_friends(session, family_of(session, referral.invitee_id), granted_at):
            referral.status = ReferralStatus.review
            referral.reasons = [*referral.reasons, "deleted_after_reward"]
            marked += 1
    return marked
