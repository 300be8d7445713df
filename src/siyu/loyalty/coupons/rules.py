"""Coupons given out by rules (入会礼, 升级礼, a coupon for an event): what qualifies, and the
issuing itself, at once where the member acts (joining in the member centre or at a store, an
event settled) and by a periodic sweep for the rest (a tier reached as orders settle), so a
member qualifies once and gets the coupon once whichever comes first: each coupon is keyed by
its rule in the coupon's unique source."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu import clock
from siyu.loyalty.coupons.models import Coupon, CouponRule, CouponTemplate, CouponTrigger
from siyu.loyalty.coupons.service import CouponError, issue
from siyu.loyalty.ledger import LoyaltyError
from siyu.loyalty.models import Member, Programme, Tier, TierChange
from siyu.refusals import NotFound

log = logging.getLogger("siyu.loyalty")

RULE_CODE = re.compile(r"[A-Za-z0-9_-]{1,40}")
EVENT_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
REACHED = ("join", "upgrade", "manual")  # a downgrade or a migrated tier is not a reward
SWEEP_MOST = 5000  # coupons a rule gives per sweep (the next sweep goes on)


class NoSuchRule(CouponError, NotFound):
    pass


@dataclass(frozen=True)
class RuleView:
    code: str
    coupon: str
    on: str  # joined | tier:<code> | event:<name>
    active: bool
    issued: int


def set_rule(
    session: Session, programme: Programme, code: str, coupon: str, on: str, active: bool = True
) -> CouponRule:
    """Create or change the rule ``code``: ``on`` is ``joined``, ``tier:<tier code>`` or
    ``event:<event name>``. Changing what a rule is on counts from now, as a new rule would."""
    if not RULE_CODE.fullmatch(code):
        raise CouponError("a rule's code is 1–40 letters, digits, - or _")
    template = session.scalar(
        sa.select(CouponTemplate).where(
            CouponTemplate.programme_id == programme.id, CouponTemplate.code == coupon
        )
    )
    if template is None:
        raise CouponError("no coupon {code} in this programme", code=coupon[:40])
    trigger, _, what = on.partition(":")
    tier_id, event = None, ""
    if trigger == CouponTrigger.tier:
        tier = session.scalar(
            sa.select(Tier).where(Tier.programme_id == programme.id, Tier.code == what)
        )
        if tier is None:
            raise CouponError("no tier {code} in this programme", code=what[:40])
        tier_id = tier.id
    elif trigger == CouponTrigger.event:
        if not EVENT_NAME.fullmatch(what):
            raise CouponError("an event name is 1–64 letters, digits, ., :, - or _")
        event = what
    elif on != CouponTrigger.joined:
        raise CouponError("a rule is on joined, tier:<tier code> or event:<event name>")
    rule = session.scalar(
        sa.select(CouponRule).where(
            CouponRule.programme_id == programme.id, CouponRule.code == code
        )
    )
    if rule is None:
        rule = CouponRule(programme_id=programme.id, code=code, created_at=clock.now())
        session.add(rule)
    elif (rule.trigger, rule.tier_id, rule.event, rule.template_id, rule.active) != (
        trigger,
        tier_id,
        event,
        template.id,
        True,
    ):
        # a changed rule, or one switched on again, counts from now: not for those who joined
        # while it was off
        rule.created_at = clock.now()
    rule.template_id, rule.trigger, rule.tier_id, rule.event = template.id, trigger, tier_id, event
    rule.active = active
    session.flush()
    return rule


def rules_of(session: Session, programme_id: int) -> list[RuleView]:
    """The programme's rules, with how many coupons each gave."""
    rows = session.execute(
        sa.select(CouponRule, CouponTemplate.code, Tier.code)
        .join(CouponTemplate, CouponTemplate.id == CouponRule.template_id)
        .outerjoin(Tier, Tier.id == CouponRule.tier_id)
        .where(CouponRule.programme_id == programme_id)
        .order_by(CouponRule.code)
    ).all()
    return [
        RuleView(rule.code, coupon, _on(rule, tier), rule.active, _given(session, rule))
        for rule, coupon, tier in rows
    ]


def _given(session: Session, rule: CouponRule) -> int:
    return int(
        session.scalar(
            sa.select(sa.func.count()).where(
                Coupon.template_id == rule.template_id,
                Coupon.source_kind == "rule",
                sa.or_(Coupon.source_id == str(rule.id), Coupon.source_id.like(f"{rule.id}:%")),
            )
        )
        or 0
    )


def _on(rule: CouponRule, tier_code: str | None) -> str:
    if rule.trigger == CouponTrigger.tier:
        return f"tier:{tier_code}"
    if rule.trigger == CouponTrigger.event:
        return f"event:{rule.event}"
    return str(rule.trigger)


def give_by_rules(session: Session, member_ids: Collection[int] | None = None) -> int:
    """Coupons of the joined and tier rules for the members who qualify and have none yet
    (only ``member_ids`` when given: the member who just joined); returns how many."""
    given = 0
    for rule in session.scalars(
        sa.select(CouponRule).where(
            CouponRule.active.is_(True), CouponRule.trigger != CouponTrigger.event
        )
    ):
        template = session.get(CouponTemplate, rule.template_id)
        if template is None or not _giving(template):
            continue
        for member_id in _qualified(session, rule, template, member_ids):
            given += _give(session, template, member_id, str(rule.id))
    return given


def _giving(template: CouponTemplate) -> bool:
    """Whether the template is still given out (on, not ended, some of its total left)."""
    if not template.active or (template.total and template.issued >= template.total):
        return False
    return template.ends_at is None or template.ends_at > clock.now()


def _qualified(
    session: Session, rule: CouponRule, template: CouponTemplate, only: Collection[int] | None
) -> list[int]:
    """Active members of the rule's programme who qualified since it was set, hold no coupon
    of it and have room under the template's per-member limit (one who has none is not tried
    again each sweep, in front of those who have)."""
    held = sa.exists().where(
        Coupon.template_id == rule.template_id,
        Coupon.member_id == Member.id,
        Coupon.source_kind == "rule",
        Coupon.source_id == str(rule.id),
    )
    query = sa.select(Member.id).where(
        Member.programme_id == rule.programme_id, Member.status == "active", ~held
    )
    if template.per_member:
        holding = (
            sa.select(sa.func.count())
            .where(
                Coupon.template_id == rule.template_id,
                Coupon.member_id == Member.id,
                Coupon.status != "void",
            )
            .scalar_subquery()
        )
        query = query.where(holding < template.per_member)
    if rule.trigger == CouponTrigger.joined:
        query = query.where(Member.joined_at >= rule.created_at)
    else:
        at_least = sa.select(Tier.rank).where(Tier.id == rule.tier_id).scalar_subquery()
        reached = (
            sa.exists()
            .where(
                TierChange.member_id == Member.id,
                TierChange.changed_at >= rule.created_at,
                TierChange.reason.in_(REACHED),
            )
            .where(
                TierChange.to_tier_id.in_(
                    sa.select(Tier.id).where(
                        Tier.programme_id == rule.programme_id, Tier.rank >= at_least
                    )
                )
            )
        )
        query = query.where(reached)
    if only is not None:
        query = query.where(Member.id.in_(list(only)))
    return list(session.scalars(query.order_by(Member.id).limit(SWEEP_MOST)))


def event_names(session: Session) -> set[str]:
    """The events some active rule gives a coupon for."""
    return set(
        session.scalars(
            sa.select(CouponRule.event).where(
                CouponRule.active.is_(True), CouponRule.trigger == CouponTrigger.event
            )
        )
    )


def give_for_events(session: Session, events: Collection[tuple[int, str, str, datetime]]) -> int:
    """Coupons of the event rules: ``events`` are (member id, event name, message id, when) of
    events that happened while the member was a member; each event after its rule was set
    gives once."""
    if not events:
        return 0
    given = 0
    rules = session.scalars(
        sa.select(CouponRule).where(
            CouponRule.active.is_(True), CouponRule.trigger == CouponTrigger.event
        )
    ).all()
    if not rules:
        return 0
    programmes = dict(
        session.execute(
            sa.select(Member.id, Member.programme_id).where(Member.id.in_({e[0] for e in events}))
        ).all()
    )
    for member_id, name, message_id, at in events:
        for rule in rules:
            if rule.event != name or programmes.get(member_id) != rule.programme_id:
                continue
            if at < rule.created_at:
                continue
            template = session.get(CouponTemplate, rule.template_id)
            if template is not None and _giving(template):
                given += _give(session, template, member_id, _event_source(rule.id, message_id))
    return given


def _event_source(rule_id: int, message_id: str) -> str:
    """The coupon's source for one event: the message id, hashed when too long to keep whole
    (two long ids sharing a beginning are still two events)."""
    source = f"{rule_id}:{message_id}"
    if len(source) <= 100:
        return source
    return f"{rule_id}:sha256:{hashlib.sha256(message_id.encode()).hexdigest()[:40]}"


def _give(session: Session, template: CouponTemplate, member_id: int, source_id: str) -> int:
    """One coupon, or none when a limit says so or another worker gave it meanwhile (logged:
    the rule goes on for the others)."""
    try:
        with session.begin_nested():
            before = template.issued
            issue(session, template, member_id, ("rule", source_id))
            session.refresh(template)
            return 1 if template.issued > before else 0
    except (LoyaltyError, IntegrityError) as exc:
        log.info("coupon %s not given to member %s: %s", template.code, member_id, exc)
        return 0
