"""Referral (老带新) on SQLite and PostgreSQL: an arrival from a member's link is attributed
once (the first arrival wins) after every fraud check, each rule alone and together with its
recorded reason; rewards wait for the invitee's first paid order and its refund window, are
voided by a refund, held by a review, capped per referrer, voided when the friend is deleted,
and granted once — points through the ledger, coupons through loyalty."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from siyu import clock
from tests import growth_world as w
from tests.growth_world import T0


def _rewards(session: Any, referral_id: int) -> dict[str, tuple[str, str]]:
    from siyu.growth.models import ReferralReward

    session.expire_all()
    return {
        r.side: (r.status, r.reason)
        for r in session.scalars(
            sa.select(ReferralReward).where(ReferralReward.referral_id == referral_id)
        )
    }


def _points(session: Any, member_id: int) -> int:
    from siyu.loyalty.service import ledger_totals

    return int(ledger_totals(session, member_id).remaining)


def _erase(session: Any, customer_id: int) -> None:
    from siyu.config import get_settings
    from siyu.privacy.service import erase_customer, find_person

    erase_customer(session, get_settings(), find_person(session, customer_id), "t")
    session.commit()


def _grant(at: Any) -> int:
    from siyu.db import session_scope
    from siyu.growth.rewards import grant_due

    with clock.frozen(at), session_scope() as s:
        return grant_due(s)


def test_an_invitee_from_the_link_is_attributed_and_both_sides_rewarded_after_the_window(
    session: Any,
) -> None:
    programme = w.programme(session)
    ref = w.referrer(session, programme)
    found, invitee = w.arrive(session, programme, ref)
    assert found is not None and found.status == "attributed" and found.reasons == []
    assert found.channel == "centre" and found.referrer_id == ref.member.id
    with clock.frozen(T0 + timedelta(days=1)):
        w.push_order(w.phone_of(session, invitee), paid_fen=20000)
        w.deliver()
    assert _rewards(session, found.id) == {"referrer": ("pending", ""), "invitee": ("pending", "")}
    assert _grant(T0 + timedelta(days=7)) == 0  # six days and some hours: still in the window
    assert _grant(T0 + timedelta(days=8, minutes=1)) == 2
    assert _rewards(session, found.id) == {"referrer": ("granted", ""), "invitee": ("granted", "")}
    from siyu.loyalty.queries import member_among

    invitee_member = member_among(session, programme.id, [invitee])
    assert _points(session, ref.member.id) == 100 and _points(session, invitee_member) == 50
    assert _grant(T0 + timedelta(days=9)) == 0  # granted once
    assert _points(session, ref.member.id) == 100


def test_a_refund_inside_the_window_voids_both_rewards_and_nothing_is_paid(session: Any) -> None:
    programme = w.programme(session)
    ref = w.referrer(session, programme)
    found, invitee = w.arrive(session, programme, ref)
    number = w.phone_of(session, invitee)
    with clock.frozen(T0 + timedelta(days=1)):
        order = w.push_order(number, order_id="REF-1")
        w.deliver()
    with clock.frozen(T0 + timedelta(days=2)):  # refunded the next day
        w.push_order(
            number,
            order_id="REF-1",
            status="refunded",
            refund_fen=20000,
            paid_at=(T0 + timedelta(days=1)).isoformat(),
            ordered_at=(T0 + timedelta(days=1)).isoformat(),
        )
        w.deliver()
    assert order.id
    assert _rewards(session, found.id) == {
        "referrer": ("void", "refunded"),
        "invitee": ("void", "refunded"),
    }
    _grant(T0 + timedelta(days=30))
    assert _points(session, ref.member.id) == 0


def test_an_order_refunded_after_it_qualified_but_before_the_sweep_is_not_paid(
    session: Any,
) -> None:
    """The sweep checks the order again when it grants: a refund it has not heard of yet (the
    reaction still queued) pays nothing."""
    programme = w.programme(session)
    ref = w.referrer(session, programme)
    found, invitee = w.arrive(session, programme, ref)
    number = w.phone_of(session, invitee)
    with clock.frozen(T0 + timedelta(days=1)):
        w.push_order(number, order_id="REF-2")
        w.deliver()
        w.push_order(number, order_id="REF-2", status="cancelled", paid_at=None)
    _grant(T0 + timedelta(days=9))
    assert _rewards(session, found.id)["referrer"] == ("void", "refunded")


def test_an_order_below_the_minimum_or_before_the_arrival_does_not_qualify(session: Any) -> None:
    programme = w.programme(session, min_order_fen=10000)
    ref = w.referrer(session, programme)
    found, invitee = w.arrive(session, programme, ref)
    with clock.frozen(T0 + timedelta(days=1)):
        w.push_order(w.phone_of(session, invitee), paid_fen=9999)
        w.deliver()
    assert _rewards(session, found.id) == {}
    with clock.frozen(T0 + timedelta(days=2)):
        w.push_order(w.phone_of(session, invitee), paid_fen=10000)
        w.deliver()
    assert set(_rewards(session, found.id)) == {"referrer", "invitee"}


# -- fraud rules, each alone ---------------------------------------------------------------------
def test_an_existing_customer_is_void_already_customer(session: Any) -> None:
    programme = w.programme(session)
    ref = w.referrer(session, programme)
    number = w.phone()
    with clock.frozen(T0 - timedelta(days=3)):
        w.customer(session, number)  # known before the link was opened
    found, _invitee = w.arrive(session, programme, ref, number=number)
    assert found.status == "void" and found.reasons == ["already_customer"]


def test_a_customer_who_bought_before_is_void_already_customer(session: Any) -> None:
    """Made before the visit by an order import, even when the profile looks new."""
    programme = w.programme(session)
    ref = w.referrer(session, programme)
    number = w.phone()
    with clock.frozen(T0 - timedelta(days=3)):
        w.push_order(number)
    found, _invitee = w.arrive(session, programme, ref, number=number)
    assert found.status == "void" and "already_customer" in found.reasons


def test_the_referrer_inviting_themselves_is_void_self_referral(session: Any) -> None:
    from siyu.growth.attribution import attribute
    from siyu.growth.fraud import Arrival

    programme = w.programme(session)
    ref = w.referrer(session, programme)
    with clock.frozen(T0):
        found = attribute(
            session, ref, Arrival(invitee_id=ref.member.customer_id, channel="order", at=T0)
        )
    assert found.status == "void"
    assert "self_referral" in found.reasons and "already_customer" in found.reasons


def test_profiles_the_pool_linked_are_void_self_referral(session: Any) -> None:
    """The invitee's profile shares a strong identity with the referrer's that the pool would
    not merge by itself (an identity conflict): the same person under two profiles."""
    from siyu.customers.models import IdentityConflict

    programme = w.programme(session)
    ref = w.referrer(session, programme)
    found_before, invitee = w.arrive(session, programme, ref, device="dev-x")
    assert found_before.status == "attributed"
    # a second programme's view of the same pair, after the pool linked them
    session.add(
        IdentityConflict(
            customer_id=invitee, other_customer_id=ref.member.customer_id, kind="phone", source="t"
        )
    )
    session.commit()
    from siyu.growth.fraud import Arrival, judge

    verdict = judge(
        session, ref.rules, ref.member, Arrival(invitee_id=invitee, channel="order", at=T0)
    )
    assert "self_referral" in verdict.reasons and verdict.status == "void"


def test_signing_up_on_the_referrers_own_phone_is_void_own_device(session: Any) -> None:
    from siyu.centre.service import open_session

    programme = w.programme(session)
    ref = w.referrer(session, programme)
    with clock.frozen(T0 - timedelta(days=1)):
        open_session(session, ref.member.customer_id, "sms", "dev-mine")
        session.commit()
    found, _invitee = w.arrive(session, programme, ref, device="dev-mine")
    assert found.status == "void" and found.reasons == ["own_device"]


def test_many_invitees_on_one_device_go_to_review_shared_device(session: Any) -> None:
    programme = w.programme(session, device_most=2)
    ref = w.referrer(session, programme)
    other = w.referrer(session, programme, name="张伟")
    outcomes = []
    for n, who in enumerate((ref, other, ref, other)):
        found, _ = w.arrive(
            session,
            programme,
            who,
            device="dev-farm",
            address=f"10.0.{n}.1",
            at=T0 + timedelta(hours=n),
        )
        outcomes.append((found.status, found.reasons))
    assert outcomes[:2] == [("attributed", []), ("attributed", [])]
    assert outcomes[2:] == [("review", ["shared_device"])] * 2


def test_one_wechat_reader_is_one_device_whatever_the_cookies(session: Any) -> None:
    """Cookies cleared between sign-ups inside WeChat: the reader is the same device; and a
    sign-up from the referrer's own WeChat is their own device."""
    from siyu.centre.service import reader_key
    from siyu.customers import identifiers as ids
    from siyu.customers.models import Identity

    programme = w.programme(session, device_most=2)
    ref = w.referrer(session, programme)
    farm = reader_key("wxapp:o-farm")
    outcomes = []
    for n in range(3):
        found, _ = w.arrive(
            session,
            programme,
            ref,
            device=f"dev-fresh-{n}",  # a new cookie each time
            address=f"10.0.{n}.1",
            at=T0 + timedelta(hours=n),
            wechat=farm,
        )
        outcomes.append((found.status, found.reasons))
    assert outcomes == [("attributed", []), ("attributed", []), ("review", ["shared_device"])]
    assert found.wechat == farm and "o-farm" not in found.wechat
    # the referrer's own WeChat (an openid the pool holds for them) is their own device
    session.add(
        Identity(
            customer_id=ref.member.customer_id,
            kind=ids.Kind.openid.value,
            namespace="wxapp",
            value="o-mine",
            source="test",
        )
    )
    session.commit()
    mine, _ = w.arrive(
        session,
        programme,
        ref,
        device="dev-other",
        address="10.9.9.1",
        at=T0 + timedelta(days=40),
        wechat=reader_key("wxapp:o-mine"),
    )
    assert mine.status == "void" and mine.reasons == ["own_device"]


def test_many_invitees_from_one_network_go_to_review_unless_it_is_a_stores_wifi(
    session: Any,
) -> None:
    from siyu.growth.service import set_rules

    programme = w.programme(session, network_most=3)
    ref = w.referrer(session, programme)
    statuses = []
    for n in range(5):
        found, _ = w.arrive(
            session,
            programme,
            ref,
            device=f"d{n}",
            address="203.0.113.9",
            at=T0 + timedelta(minutes=10 * n),
        )
        statuses.append(found.status)
    assert statuses == ["attributed"] * 3 + ["review"] * 2
    # the same flood from a store's listed Wi-Fi is a busy store
    set_rules(session, "vip", "test", store_networks=["198.51.100.0/24"])
    session.commit()
    ref2 = w.referrer(session, programme, name="赵六")
    statuses = []
    for n in range(5):
        found, _ = w.arrive(
            session,
            programme,
            ref2,
            device=f"e{n}",
            address="198.51.100.7",
            at=T0 + timedelta(hours=5, minutes=n),
        )
        statuses.append(found.status)
    assert statuses == ["attributed"] * 5


def test_a_burst_of_arrivals_for_one_referrer_goes_to_review(session: Any) -> None:
    programme = w.programme(session, burst_most=3, burst_minutes=60, network_most=100)
    ref = w.referrer(session, programme)
    statuses = []
    for n in range(4):
        found, _ = w.arrive(
            session,
            programme,
            ref,
            device=f"b{n}",
            address=f"10.1.{n}.1",
            at=T0 + timedelta(minutes=5 * n),
        )
        statuses.append((found.status, found.reasons))
    assert statuses[-1] == ("review", ["burst"]) and all(s == "attributed" for s, _ in statuses[:3])
    # an hour later the window has moved on
    found, _ = w.arrive(
        session, programme, ref, device="b9", address="10.9.9.9", at=T0 + timedelta(hours=3)
    )
    assert found.status == "attributed"


def test_identity_and_device_rules_together_keep_every_reason_and_void(session: Any) -> None:
    from siyu.centre.service import open_session

    programme = w.programme(session, device_most=1)
    ref = w.referrer(session, programme)
    with clock.frozen(T0 - timedelta(days=1)):
        open_session(session, ref.member.customer_id, "sms", "dev-both")
        session.commit()
    w.arrive(
        session, programme, ref, device="dev-both", address="10.2.0.1", at=T0 - timedelta(hours=2)
    )
    number = w.phone()
    with clock.frozen(T0 - timedelta(days=5)):
        w.customer(session, number)
    found, _ = w.arrive(session, programme, ref, device="dev-both", number=number)
    assert found.status == "void"
    assert set(found.reasons) == {"already_customer", "own_device", "shared_device"}


# -- attribution once ------------------------------------------------------------------------------
def test_an_invitee_who_arrives_through_two_codes_is_credited_to_the_first(session: Any) -> None:
    from siyu.growth.attribution import attribute
    from siyu.growth.fraud import Arrival
    from siyu.growth.models import Referral

    programme = w.programme(session)
    first, second = w.referrer(session, programme), w.referrer(session, programme, name="张伟")
    found, invitee = w.arrive(session, programme, first)
    with clock.frozen(T0 + timedelta(hours=1)):
        again = attribute(
            session, second, Arrival(invitee_id=invitee, channel="wecom", at=clock.now())
        )
        session.commit()
    assert again.id == found.id and again.referrer_id == first.member.id
    assert session.scalar(sa.select(sa.func.count()).select_from(Referral)) == 1


def test_a_via_copied_to_another_device_credits_nobody(session: Any) -> None:
    from siyu.growth.attribution import joined_by_link
    from siyu.growth.service import record_visit

    programme = w.programme(session)
    ref = w.referrer(session, programme)
    with clock.frozen(T0):
        visit = record_visit(session, ref, "dev-one", "10.0.0.1")
        session.commit()
        invitee = w.customer(session, w.phone())
        joined = w.member(session, programme, invitee)
        assert (
            joined_by_link(
                session,
                {"member": joined.id, "via": f"referral:{visit.id}", "device": "dev-two"},
            )
            is None
        )
        for via in ("referral:99999999", "referral:abc", "referral:" + "9" * 40, "live_code:1", ""):
            assert (
                joined_by_link(session, {"member": joined.id, "via": via, "device": "dev-one"})
                is None
            )


def test_an_unknown_erased_or_paused_code_is_no_such_code(session: Any) -> None:
    from siyu.growth.service import NoSuchCode, find_code, set_rules

    programme = w.programme(session)
    ref = w.referrer(session, programme)
    for text in ("", "ZZZZZZZZ", "<script>", "A" * 5000, "'; drop table referral;--"):
        with pytest.raises(NoSuchCode):
            find_code(session, text)
    set_rules(session, "vip", "t", active=False)
    session.commit()
    with pytest.raises(NoSuchCode):
        find_code(session, ref.code.code)
    set_rules(session, "vip", "t", active=True)
    session.commit()
    assert find_code(session, ref.code.code.lower()).member.id == ref.member.id
    code = ref.code.code
    _erase(session, ref.member.customer_id)
    with pytest.raises(NoSuchCode):
        find_code(session, code)


# -- review, caps, deletion, membership -----------------------------------------------------------
def test_a_held_referral_keeps_its_rewards_until_an_operator_approves_or_voids(
    session: Any,
) -> None:
    from siyu.growth.service import NotForReview, decide

    programme = w.programme(session, device_most=1)
    ref = w.referrer(session, programme)
    w.arrive(session, programme, ref, device="dev-shared", address="10.3.0.1")
    held, invitee = w.arrive(session, programme, ref, device="dev-shared", address="10.3.0.2")
    other, invitee2 = w.arrive(
        session,
        programme,
        ref,
        device="dev-shared",
        address="10.3.0.3",
        at=T0 + timedelta(minutes=5),
    )
    assert held.status == other.status == "review"
    with clock.frozen(T0 + timedelta(days=1)):
        w.push_order(w.phone_of(session, invitee))
        w.push_order(w.phone_of(session, invitee2))
        w.deliver()
    _grant(T0 + timedelta(days=10))
    assert _rewards(session, held.id)["referrer"] == ("pending", "")  # waits for a decision
    with clock.frozen(T0 + timedelta(days=10)):
        decide(session, held.id, True, "ops")
        decide(session, other.id, False, "ops")
        session.commit()
        with pytest.raises(NotForReview):
            decide(session, held.id, False, "ops")
        session.rollback()  # as the API's and the console's requests end on a refusal
    _grant(T0 + timedelta(days=10, minutes=5))
    assert _rewards(session, held.id) == {"referrer": ("granted", ""), "invitee": ("granted", "")}
    assert _rewards(session, other.id) == {
        "referrer": ("void", "operator"),
        "invitee": ("void", "operator"),
    }


def test_the_referrers_rewards_stop_at_the_days_cap(session: Any) -> None:
    programme = w.programme(session, cap_day=2, cap_month=3, burst_most=100, network_most=100)
    ref = w.referrer(session, programme)
    made = []
    for n in range(4):
        found, invitee = w.arrive(
            session,
            programme,
            ref,
            device=f"c{n}",
            address=f"10.4.{n}.1",
            at=T0 + timedelta(minutes=n),
        )
        made.append((found, invitee))
    # three orders on one local day: the third referrer reward is over the day's cap
    with clock.frozen(T0 + timedelta(hours=2)):
        for _found, invitee in made[:3]:
            w.push_order(w.phone_of(session, invitee))
        w.deliver()
    sides = [_rewards(session, f.id) for f, _ in made[:3]]
    assert [s["referrer"] for s in sides] == [("pending", ""), ("pending", ""), ("void", "cap_day")]
    assert all(s["invitee"] == ("pending", "") for s in sides)  # the new member is not capped
    with clock.frozen(T0 + timedelta(days=1, hours=2)):  # the next day, the month's cap
        w.push_order(w.phone_of(session, made[3][1]))
        w.deliver()
    assert _rewards(session, made[3][0].id)["referrer"] == ("pending", "")
    # and a fifth would be over the month's three
    found5, invitee5 = w.arrive(
        session, programme, ref, device="c9", address="10.4.9.1", at=T0 + timedelta(days=2)
    )
    with clock.frozen(T0 + timedelta(days=2, hours=1)):
        w.push_order(w.phone_of(session, invitee5))
        w.deliver()
    assert _rewards(session, found5.id)["referrer"] == ("void", "cap_month")


def test_a_friend_deleted_before_the_reward_voids_it(session: Any) -> None:
    from siyu.wecom.connection.models import WecomCorp
    from siyu.wecom.contacts.models import WecomContact

    programme = w.programme(session)
    ref = w.referrer(session, programme)
    found, invitee = w.arrive(session, programme, ref)
    with clock.frozen(T0 + timedelta(days=1)):
        w.push_order(w.phone_of(session, invitee))
        w.deliver()
    corp = WecomCorp(corp_id="ww1", agent_id="1", secret_sealed="x", secret_hint="x")
    corp.token_sealed = corp.aes_key_sealed = "x"
    session.add(corp)
    session.flush()
    session.add(
        WecomContact(
            corp_id=corp.id,
            staff_userid="guide1",
            external_userid="wmX",
            customer_id=invitee,
            added_at=T0,
            deleted_by="customer",
            deleted_at=T0 + timedelta(days=2),
        )
    )
    session.commit()
    _grant(T0 + timedelta(days=9))
    assert _rewards(session, found.id) == {
        "referrer": ("void", "friend_deleted"),
        "invitee": ("void", "friend_deleted"),
    }


def test_an_invitee_who_is_not_a_member_yet_waits_for_their_reward(session: Any) -> None:
    """A WeCom arrival need not have joined: the referrer is paid when due, the invitee's
    reward waits until they join (and is paid then)."""
    from siyu.growth.attribution import added_by_state

    programme = w.programme(session)
    ref = w.referrer(session, programme)
    number = w.phone()
    with clock.frozen(T0):
        invitee = w.customer(session, number)
        found = added_by_state(
            session,
            {"customer": invitee, "state": f"r_{ref.code.code}", "at": T0.isoformat()},
        )
        session.commit()
    assert found is not None and found.channel == "wecom" and found.status == "attributed"
    with clock.frozen(T0 + timedelta(days=1)):
        w.push_order(number)
        w.deliver()
    assert _grant(T0 + timedelta(days=9)) == 1
    assert _rewards(session, found.id) == {
        "referrer": ("granted", ""),
        "invitee": ("pending", "not_a_member"),
    }
    with clock.frozen(T0 + timedelta(days=10)):
        w.member(session, programme, invitee)
    assert _grant(T0 + timedelta(days=10, minutes=5)) == 1
    assert _rewards(session, found.id)["invitee"] == ("granted", "")


def test_coupons_are_granted_once_under_the_rewards_source(session: Any) -> None:
    from siyu.loyalty.coupons.models import Coupon
    from siyu.loyalty.coupons.service import create_template

    programme = w.programme(session, referrer_points=0)
    create_template(
        session, programme, "thanks", "谢谢券", "amount_off", amount_fen=1000, per_member=0
    )
    session.commit()
    from siyu.growth.service import set_rules

    set_rules(session, "vip", "t", referrer_coupon="thanks")
    session.commit()
    ref = w.referrer(session, programme)
    _found, invitee = w.arrive(session, programme, ref)
    with clock.frozen(T0 + timedelta(days=1)):
        w.push_order(w.phone_of(session, invitee))
        w.deliver()
    _grant(T0 + timedelta(days=9))
    _grant(T0 + timedelta(days=9, minutes=5))
    coupons = session.scalars(sa.select(Coupon).where(Coupon.member_id == ref.member.id)).all()
    assert len(coupons) == 1 and coupons[0].source_kind == "referral"
    with pytest.raises(Exception, match="no coupon"):
        set_rules(session, "vip", "t", referrer_coupon="nope")


def test_settings_are_checked(session: Any) -> None:
    from siyu.growth.service import NoSuchProgramme, ReferralRefused, network_list, set_rules

    w.programme(session)
    for bad in ({"refund_days": -1}, {"cap_day": 10**9}, {"device_most": 0}, {"bogus": 1}):
        with pytest.raises(ReferralRefused):
            set_rules(session, "vip", "t", **bad)
    with pytest.raises(NoSuchProgramme):
        set_rules(session, "nope", "t")
    with pytest.raises(ReferralRefused):
        network_list("10.0.0.1, not-an-ip")
    assert network_list("10.0.0.1，192.168.1.0/24\n") == ["10.0.0.1/32", "192.168.1.0/24"]


def test_erasing_an_invitee_keeps_the_figures_without_them(session: Any) -> None:
    from siyu.growth.models import Referral

    programme = w.programme(session)
    ref = w.referrer(session, programme)
    found, invitee = w.arrive(session, programme, ref, wechat="wx" + "0" * 30)
    assert found.wechat
    with clock.frozen(T0 + timedelta(days=1)):
        w.push_order(w.phone_of(session, invitee))
        w.deliver()
    _erase(session, invitee)
    session.expire_all()
    kept = session.get(Referral, found.id)
    assert kept.invitee_id is None and kept.device == "" and kept.address == ""
    assert kept.wechat == ""
    _grant(T0 + timedelta(days=9))
    # the order went with the person: it cannot be checked for a refund, so nothing is paid
    assert _rewards(session, found.id) == {
        "referrer": ("void", "erased"),
        "invitee": ("void", "erased"),
    }


def test_a_first_order_naming_a_code_attributes_its_new_buyer_once(session: Any) -> None:
    from siyu.growth.models import Referral

    programme = w.programme(session)
    ref = w.referrer(session, programme)
    newcomer, known = w.phone(), w.phone()
    with clock.frozen(T0 - timedelta(days=5)):
        w.push_order(known)  # bought before: an existing customer
    with clock.frozen(T0):
        w.push_order(newcomer, referral_code=ref.code.code.lower())
        w.push_order(known, referral_code=ref.code.code)
        w.push_order(w.phone(), referral_code="NOSUCHCD")  # unknown: nobody credited
        w.deliver()
    rows = {
        r.channel + ":" + r.status: r
        for r in session.scalars(sa.select(Referral).order_by(Referral.id))
    }
    assert set(rows) == {"order:attributed", "order:void"}
    assert rows["order:void"].reasons == ["already_customer"]
    made = rows["order:attributed"]
    assert made.order_id is not None  # the order itself qualified
    assert _rewards(session, made.id) == {"referrer": ("pending", ""), "invitee": ("pending", "")}
    with clock.frozen(T0 + timedelta(hours=1)):  # a second order with the code changes nothing
        w.push_order(newcomer, referral_code=ref.code.code)
        w.deliver()
    assert session.scalar(sa.select(sa.func.count()).select_from(Referral)) == 2


def test_a_batch_is_judged_as_if_its_arrivals_came_one_by_one(session: Any) -> None:
    """``attribute_many`` (a backlog, the benchmark): the arrivals of a batch count in each
    other's windows in time order, an invitee twice in the batch keeps the first, and an
    invitee attributed before keeps that one."""
    from siyu.growth.attribution import attribute, attribute_many
    from siyu.growth.fraud import Arrival

    programme = w.programme(session, device_most=2)
    first, second = w.referrer(session, programme), w.referrer(session, programme, name="张伟")
    with clock.frozen(T0 + timedelta(minutes=10)):  # made after the links were opened
        people = [w.customer(session, w.phone(), f"客{n}") for n in range(4)]
        earlier = attribute(session, second, Arrival(invitee_id=people[3], channel="wecom", at=T0))
        session.commit()
    batch = [
        (first, Arrival(people[2], "centre", T0 + timedelta(minutes=3), "dev-x", "10.0.0.3")),
        (first, Arrival(people[0], "centre", T0 + timedelta(minutes=1), "dev-x", "10.0.0.1")),
        (second, Arrival(people[1], "centre", T0 + timedelta(minutes=2), "dev-x", "10.0.0.2")),
        (second, Arrival(people[0], "wecom", T0 + timedelta(minutes=4))),  # second time
        (first, Arrival(people[3], "wecom", T0 + timedelta(minutes=5))),  # attributed before
    ]
    with clock.frozen(T0 + timedelta(minutes=11)):
        got = attribute_many(session, batch)
        session.commit()
    assert [(r.invitee_id, r.referrer_id, r.status) for r in got] == [
        (people[2], first.member.id, "review"),  # the third on dev-x, by time
        (people[0], first.member.id, "attributed"),
        (people[1], second.member.id, "attributed"),
        (people[0], first.member.id, "attributed"),  # the first arrival's referral
        (people[3], second.member.id, "attributed"),  # the one made before
    ]
    assert got[0].reasons == ["shared_device"] and got[4].id == earlier.id


def test_a_batch_racing_another_writer_keeps_theirs(session: Any, monkeypatch: Any) -> None:
    """Another process attributes an invitee of the batch between its reads and its insert:
    the batch's one statement fails, its rows go one by one, and theirs stays (returned as the
    invitee's referral), while the others of the batch are written."""
    from siyu.growth import attribution
    from siyu.growth.attribution import attribute, attribute_many
    from siyu.growth.fraud import Arrival

    programme = w.programme(session)
    first, second = w.referrer(session, programme), w.referrer(session, programme, name="张伟")
    with clock.frozen(T0 + timedelta(minutes=10)):
        people = [w.customer(session, w.phone(), f"客{n}") for n in range(2)]
        theirs = attribute(session, second, Arrival(invitee_id=people[0], channel="wecom", at=T0))
        session.commit()
    monkeypatch.setattr(attribution, "_attributed_family", lambda *_a: {})  # not seen yet
    batch = [
        (first, Arrival(people[0], "centre", T0 + timedelta(minutes=1), "dev-a", "10.0.0.1")),
        (first, Arrival(people[1], "centre", T0 + timedelta(minutes=2), "dev-b", "10.0.0.2")),
    ]
    with clock.frozen(T0 + timedelta(minutes=11)):
        got = attribute_many(session, batch)
        session.commit()
    assert (got[0].id, got[0].referrer_id, got[0].status) == (
        theirs.id,
        second.member.id,
        "attributed",
    )
    assert (got[1].invitee_id, got[1].referrer_id, got[1].status) == (
        people[1],
        first.member.id,
        "attributed",
    )
    made = session.get(attribution.Referral, got[1].id)
    assert made is not None and made.invitee_id == people[1] and made.device == "dev-b"
    assert session.scalar(sa.select(sa.func.count()).select_from(attribution.Referral)) == 2


def test_a_batch_rolled_back_by_its_caller_leaves_nothing(session: Any) -> None:
    """The batch's insert is nested in the caller's transaction on every engine (on SQLite a
    savepoint that began the transaction would commit the rows when released)."""
    from siyu.growth.attribution import attribute_many
    from siyu.growth.fraud import Arrival
    from siyu.growth.models import Referral

    programme = w.programme(session)
    ref = w.referrer(session, programme)
    with clock.frozen(T0 + timedelta(minutes=10)):
        invitee = w.customer(session, w.phone(), "客")
        session.commit()
        attribute_many(session, [(ref, Arrival(invitee, "wecom", T0 + timedelta(minutes=1)))])
        session.rollback()
    assert session.scalar(sa.select(sa.func.count()).select_from(Referral)) == 0


# -- what a hostile review found ------------------------------------------------------------------
def test_a_reward_waiting_for_its_invitee_to_join_holds_back_no_other(session: Any) -> None:
    from siyu.growth.attribution import attribute
    from siyu.growth.fraud import Arrival
    from siyu.growth.rewards import grant_due

    programme = w.programme(session)
    ref = w.referrer(session, programme)
    waiting = w.phone()
    with clock.frozen(T0):  # a WeCom arrival who never joins: their own reward waits
        cid = w.customer(session, waiting)
        first = attribute(session, ref, Arrival(invitee_id=cid, channel="wecom", at=T0))
        session.commit()
    found, invitee = w.arrive(session, programme, ref, device="d-later", at=T0 + timedelta(hours=1))
    with clock.frozen(T0 + timedelta(days=1)):
        w.push_order(waiting)
        w.push_order(w.phone_of(session, invitee))
        w.deliver()
    with clock.frozen(T0 + timedelta(days=9)):
        assert grant_due(session, page=1) == 3  # one a page: the waiting one is stepped over
    assert _rewards(session, first.id)["invitee"] == ("pending", "not_a_member")
    assert _rewards(session, found.id) == {"referrer": ("granted", ""), "invitee": ("granted", "")}


def test_one_person_under_two_profiles_earns_one_reward(session: Any) -> None:
    """P adds X's contact way (a WeCom-only profile), then signs up by Y's link with a phone (a
    second profile); the profiles are merged; P's order rewards the first referral only."""
    from siyu.customers.service import merge
    from siyu.growth.attribution import attribute
    from siyu.growth.fraud import Arrival
    from siyu.growth.models import Referral

    programme = w.programme(session)
    x, y = w.referrer(session, programme), w.referrer(session, programme, name="张伟")
    with clock.frozen(T0):
        wecom_only = w.customer(session, w.phone(), "微信用户")
        r1 = attribute(session, x, Arrival(invitee_id=wecom_only, channel="wecom", at=T0))
        session.commit()
    r2, phone_profile = w.arrive(session, programme, y, at=T0 + timedelta(hours=2))
    assert r1.status == r2.status == "attributed"
    with clock.frozen(T0 + timedelta(hours=3)):
        merge(session, phone_profile, wecom_only, "test", force=True)
        session.commit()
        w.push_order(w.phone_of(session, phone_profile))
        w.deliver()
    session.expire_all()
    assert set(_rewards(session, r1.id)) == {"referrer", "invitee"}
    assert _rewards(session, r2.id) == {}
    second = session.get(Referral, r2.id)
    assert second.status == "void" and "same_person" in second.reasons


def test_the_network_and_burst_windows_are_judged_when_people_sign_up(session: Any) -> None:
    """Links opened days apart, sign-ups in one sitting from one network: the network rule
    sees the sitting."""
    from siyu.growth.attribution import joined_by_link
    from siyu.growth.service import record_visit

    programme = w.programme(session, network_most=2, device_most=50)
    ref = w.referrer(session, programme)
    visits = []
    for n in range(4):
        with clock.frozen(T0 + timedelta(days=2 * n)):
            visits.append(record_visit(session, ref, f"prof-{n}", "10.5.0.1"))
            session.commit()
    outcomes = []
    for n, visit in enumerate(visits):
        with clock.frozen(T0 + timedelta(days=9, minutes=n)):
            invitee = w.customer(session, w.phone())
            joined = w.member(session, programme, invitee)
            found = joined_by_link(
                session,
                {
                    "member": joined.id,
                    "via": f"referral:{visit.id}",
                    "device": f"prof-{n}",
                    "address": "203.0.113.50",
                },
            )
            session.commit()
        outcomes.append(found.status)
    assert outcomes == ["attributed", "attributed", "review", "review"]


def test_fission_counts_no_referral_whose_reward_was_voided(session: Any) -> None:
    from siyu.growth.fission.service import StageSpec, create_campaign, qualified

    programme = w.programme(session, cap_day=1, burst_most=100, network_most=100)
    ref = w.referrer(session, programme)
    campaign = create_campaign(
        session,
        "vip",
        "三月",
        [StageSpec(1, 100)],
        starts_at=T0 - timedelta(days=1),
        ends_at=T0 + timedelta(days=30),
        actor="t",
    )
    session.commit()
    people = [
        w.arrive(
            session,
            programme,
            ref,
            device=f"q{n}",
            address=f"10.6.{n}.1",
            at=T0 + timedelta(minutes=n),
        )[1]
        for n in range(2)
    ]
    with clock.frozen(T0 + timedelta(hours=1)):  # the second is over the day's cap
        for cid in people:
            w.push_order(w.phone_of(session, cid))
        w.deliver()
    with clock.frozen(T0 + timedelta(days=9)):
        assert qualified(session, campaign) == {ref.member.id: 1}


def test_erasing_an_invitee_deletes_their_visit_and_a_referrer_their_posters(
    session: Any, settings: Any
) -> None:
    from siyu.growth.models import ReferralCode, ReferralVisit
    from siyu.growth.sharing import member_poster

    programme = w.programme(session)
    ref = w.referrer(session, programme)
    found, invitee = w.arrive(session, programme, ref)
    assert session.get(ReferralVisit, found.visit_id) is not None
    _erase(session, invitee)
    session.expire_all()
    assert session.scalar(sa.select(sa.func.count()).select_from(ReferralVisit)) == 0
    member_poster(session, settings, ref.member)
    posters = list((settings.data_dir / "posters").glob(f"{ref.code.id}-*.png"))
    assert len(posters) == 1
    _erase(session, ref.member.customer_id)
    assert not posters[0].exists()
    session.expire_all()
    code = session.get(ReferralCode, ref.code.id)
    assert code.customer_id is None and code.used_at.year == 2000


def test_addresses_are_counted_by_network_and_store_networks_are_bounded(session: Any) -> None:
    from siyu.growth.service import ReferralRefused, network_key, network_list, set_rules

    assert network_key("2001:db8:1:2:aaaa::1") == network_key("2001:db8:1:2:bbbb::9")
    assert network_key("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert network_key("::ffff:203.0.113.7") == "203.0.113.7"
    assert network_key("testclient") == "testclient"
    for wide in ("0.0.0.0/0", "10.0.0.0/8", "::/0", "2001:db8::/16"):
        with pytest.raises(ReferralRefused):
            network_list(wide)
    w.programme(session)
    with pytest.raises(ReferralRefused):
        set_rules(session, "vip", "t", refund_days=0)


def test_visits_from_one_device_stop_counting_past_the_hours_limit(session: Any) -> None:
    from siyu.growth.service import visit_counts

    with clock.frozen(T0):
        counted = [visit_counts("10.7.0.1", "flood") for _ in range(35)]
    assert counted.count(True) == 30


def test_an_order_heard_of_before_the_arrival_still_earns_the_reward(session: Any) -> None:
    """The worker may hear of the order before the sign-up (reactions in any order): the
    arrival looks at the invitee's paid orders since."""
    from siyu.growth.attribution import joined_by_link
    from siyu.growth.service import record_visit

    programme = w.programme(session)
    ref = w.referrer(session, programme)
    with clock.frozen(T0):
        visit = record_visit(session, ref, "dev-late", "10.8.0.1")
        session.commit()
    with clock.frozen(T0 + timedelta(minutes=5)):
        number = w.phone()
        invitee = w.customer(session, number)
        joined = w.member(session, programme, invitee)
        w.push_order(number)
        w.deliver()  # the order is followed first: no referral yet
        found = joined_by_link(
            session, {"member": joined.id, "via": f"referral:{visit.id}", "device": "dev-late"}
        )
        session.commit()
    assert found is not None and found.order_id is not None
    assert set(_rewards(session, found.id)) == {"referrer", "invitee"}
