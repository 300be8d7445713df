"""Coupons by rule (issue 25 §4: "issued by rules"): a welcome coupon for members who join after
the rule is set (not for those who joined before), an upgrade coupon when a member reaches a
tier (not on a downgrade, nor for a migrated tier), a coupon per event within the template's
limit; each once, whether the join, the sweep or both come first; a rule switched off gives
none. Bad rules are refused with their reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from siyu import clock

T0 = datetime(2026, 5, 1, 2, 0, tzinfo=UTC)


def _customers(session: Any, n: int) -> list[int]:
    from siyu.customers.models import Customer

    made = [Customer(name=f"顾客{k}", status="active") for k in range(n)]
    session.add_all(made)
    session.flush()
    return [c.id for c in made]


def _world(session: Any) -> Any:
    from siyu.loyalty.coupons.service import create_template
    from siyu.loyalty.service import create_programme
    from siyu.loyalty.tiers import set_tier

    programme = create_programme(session, "vip", "会员计划", pending_days=0)
    set_tier(session, programme, "silver", "银卡", rank=0, threshold=0)
    set_tier(session, programme, "gold", "金卡", rank=1, threshold=100)
    for code, per_member in (("welcome", 1), ("gold", 1), ("review", 2)):
        create_template(
            session,
            programme,
            code,
            f"{code} 券",
            "amount_off",
            amount_fen=500,
            valid_days=30,
            per_member=per_member,
        )
    session.flush()
    return programme


def _held(session: Any, member_id: int) -> list[str]:
    from siyu.loyalty.coupons.models import Coupon, CouponTemplate

    return sorted(
        session.scalars(
            sa.select(CouponTemplate.code)
            .join(Coupon, Coupon.template_id == CouponTemplate.id)
            .where(Coupon.member_id == member_id)
        )
    )


def test_welcome_and_upgrade_coupons_are_given_once_to_those_who_qualify_after(
    session: Any,
) -> None:
    from siyu.loyalty.coupons.rules import give_by_rules, rules_of, set_rule
    from siyu.loyalty.membership import join
    from siyu.loyalty.service import earn, enrol
    from siyu.loyalty.tiers import move_to, review, tiers_of

    clock.freeze(T0)
    programme = _world(session)
    old, new, migrated, centre = _customers(session, 4)
    before = enrol(session, programme, old, channel="store")
    clock.freeze(T0 + timedelta(days=1))
    set_rule(session, programme, "welcome", "welcome", "joined")
    set_rule(session, programme, "gold", "gold", "tier:gold")
    clock.freeze(T0 + timedelta(days=2))
    member = enrol(session, programme, new, channel="store")
    assert give_by_rules(session) == 1  # the new member's welcome; the old member gets none
    assert give_by_rules(session) == 0  # once
    assert _held(session, before.id) == [] and _held(session, member.id) == ["welcome"]
    # the member centre's join gives it at once, and the sweep after gives no second one
    joined = join(session, programme, centre, "sms 13800000000")
    assert _held(session, joined.id) == ["welcome"]
    assert give_by_rules(session) == 0
    # reaching gold by points gives the upgrade coupon; a migrated gold member gets none
    earn(session, member.id, ("adjust", "a1"), 150, available_at=clock.now())
    assert review(session, member, programme) == "upgrade"
    gold = tiers_of(session, programme.id)[1]
    moved = enrol(session, programme, migrated, channel="import")
    move_to(session, moved, gold, "import")
    assert give_by_rules(session) == 2  # the upgrade, and the migrated member's welcome
    assert _held(session, member.id) == ["gold", "welcome"]
    assert _held(session, moved.id) == ["welcome"]
    figures = {r.code: (r.on, r.issued) for r in rules_of(session, programme.id)}
    assert figures == {"gold": ("tier:gold", 1), "welcome": ("joined", 3)}
    # switched off: no more; switched on again a day later: not for those who joined meanwhile
    set_rule(session, programme, "welcome", "welcome", "joined", active=False)
    later = enrol(session, programme, _customers(session, 1)[0], channel="store")
    assert give_by_rules(session) == 0 and _held(session, later.id) == []
    clock.freeze(T0 + timedelta(days=3))
    set_rule(session, programme, "welcome", "welcome", "joined")
    assert give_by_rules(session) == 0 and _held(session, later.id) == []
    clock.freeze(T0 + timedelta(days=4))
    newest = enrol(session, programme, _customers(session, 1)[0], channel="store")
    assert give_by_rules(session) == 1 and _held(session, newest.id) == ["welcome"]


def test_an_event_rule_gives_a_coupon_per_event_within_the_limit(session: Any) -> None:
    from siyu.loyalty.coupons.rules import give_for_events, set_rule
    from siyu.loyalty.service import enrol

    clock.freeze(T0)
    programme = _world(session)
    member = enrol(session, programme, _customers(session, 1)[0], channel="store")
    set_rule(session, programme, "review", "review", "event:review_posted")
    at = clock.now() + timedelta(hours=1)
    before = clock.now() - timedelta(hours=1)
    events = [
        (member.id, "review_posted", "m1", at),
        (member.id, "review_posted", "m1", at),  # delivered twice
        (member.id, "review_posted", "m0", before),  # before the rule
        (member.id, "page_view", "m2", at),
        (member.id, "review_posted", "m3", at),
        (member.id, "review_posted", "m4", at),  # over the template's 2 a member
        (member.id, "review_posted", "x" * 300, at),  # over too, a long id kept whole
    ]
    assert give_for_events(session, events) == 2
    assert _held(session, member.id) == ["review", "review"]


@pytest.mark.parametrize(
    ("code", "coupon", "on", "says"),
    [
        ("bad code!", "welcome", "joined", "1–40 letters"),
        ("w", "nosuch", "joined", "no coupon nosuch"),
        ("w", "welcome", "tier:platinum", "no tier platinum"),
        ("w", "welcome", "event:<script>", "event name"),
        ("w", "welcome", "birthday", "joined, tier:"),
    ],
)
def test_bad_rules_are_refused_with_their_reason(
    session: Any, code: str, coupon: str, on: str, says: str
) -> None:
    from siyu.loyalty.coupons.rules import set_rule
    from siyu.loyalty.coupons.service import CouponError

    programme = _world(session)
    with pytest.raises(CouponError) as refused:
        set_rule(session, programme, code, coupon, on)
    assert says in str(refused.value)


def test_a_keyword_coupon_switched_off_or_held_is_said_so(session: Any) -> None:
    """The keyword issuer's answers: the coupon, the same again, "you have it" for a member
    at the template's limit from another way in, and the pool's own words (an alert) once it
    is no longer given out; "join first" for a customer who is not a member."""
    from siyu.loyalty.coupons.keywords import issue_for_keyword
    from siyu.loyalty.coupons.models import CouponTemplate
    from siyu.loyalty.coupons.service import claim
    from siyu.loyalty.service import enrol

    clock.freeze(T0)
    programme = _world(session)
    template = session.scalar(sa.select(CouponTemplate).where(CouponTemplate.code == "welcome"))
    asks, claimed, stranger = _customers(session, 3)
    enrol(session, programme, asks, channel="store")
    other = enrol(session, programme, claimed, channel="store")
    ref = str(template.id)
    first = issue_for_keyword(session, ref, asks)
    assert first.code and issue_for_keyword(session, ref, asks).code == first.code
    template.claimable = True
    claim(session, other.id, template)  # took it in the member centre: per member 1
    held = issue_for_keyword(session, ref, claimed)
    assert held.code is None and not held.exhausted and "领过" in held.text
    assert "加入会员" in issue_for_keyword(session, ref, stranger).text
    template.active = False
    session.flush()
    off = issue_for_keyword(session, ref, claimed)
    assert off.code is None and off.exhausted
    assert issue_for_keyword(session, "999999", asks).exhausted
