"""The checks an arrival goes through before it is attributed, each with a recorded reason.

Identity rules void the referral: the invitee was a customer already (any profile of the person
existed, ordered or was a member before the arrival), or is the referrer (the same person or a
profile the pool linked to theirs — a shared phone or unionid — or the referrer's own device).
Device, network and burst rules only send it to review: a store's Wi-Fi and a carrier's NAT
put many honest people behind one address, so an operator decides (DESIGN §12).

What Siyu does not keep it cannot compare: delivery addresses and payers' names are not stored
(orders keep no receiver data, PIPL minimisation), so "same address or payment name" is checked
by the pool's identity links (a platform buyer id or phone the two profiles share), not by text.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu.centre.service import signed_in_on
from siyu.customers.queries import first_seen, linked
from siyu.growth.models import Referral, ReferralProgramme, ReferralStatus
from siyu.i18n import N_
from siyu.loyalty.queries import MemberView, joined_before
from siyu.orders.queries import first_paid_before
from siyu.privacy.service import family_of

# reason → what it means (translated where shown); the first group voids, the second reviews
VOIDING = {
    "already_customer": N_("The invitee was already a customer before the link was opened"),
    "self_referral": N_("The invitee is the referrer (the same person or linked profiles)"),
    "own_device": N_("The invitee signed up on a device the referrer uses"),
}
REVIEWING = {
    "shared_device": N_("Several invitees signed up on one device"),
    "shared_network": N_("Many invitees signed up from one network in a short time"),
    "burst": N_("The referrer brought many arrivals in a short time"),
}
LATER = {
    "friend_deleted": N_("The invitee deleted the WeCom friend before the reward was due"),
    "deleted_after_reward": N_("The invitee deleted the WeCom friend soon after the reward"),
    "refunded": N_("The order was refunded or cancelled within the refund window"),
    "cap_day": N_("The referrer reached the day's limit of rewards"),
    "cap_month": N_("The referrer reached the month's limit of rewards"),
    "operator": N_("An operator refused it"),
    "not_a_member": N_("The invitee did not join the programme in time"),
    "coupon_unavailable": N_("The coupon could not be given (ended or given out)"),
    "erased": N_("The person asked for their data to be erased"),
}
REASONS = {**VOIDING, **REVIEWING, **LATER}


@dataclass(frozen=True)
class Arrival:
    """A new customer who came through a referral code: by which way, when, and (from the
    member centre) on which device and network."""

    invitee_id: int
    channel: str  # wecom | centre | order
    at: datetime
    device: str = ""
    address: str = ""
    visit_id: int | None = None


@dataclass
class Verdict:
    status: str = ReferralStatus.attributed
    reasons: list[str] = field(default_factory=list)


def judge(
    session: Session, rules: ReferralProgramme, referrer: MemberView, arrival: Arrival
) -> Verdict:
    """Every check on one arrival; all the reasons that fired are kept, the worst decides."""
    verdict = Verdict()
    invitee = family_of(session, arrival.invitee_id)
    referrer_family = family_of(session, referrer.customer_id) if referrer.customer_id else []
    if _existed_before(session, rules.programme_id, invitee, arrival.at):
        verdict.reasons.append("already_customer")
    if set(invitee) & set(referrer_family) or linked(session, invitee, referrer_family):
        verdict.reasons.append("self_referral")
    if arrival.device and signed_in_on(session, referrer_family, arrival.device):
        verdict.reasons.append("own_device")
    if arrival.device and _count(
        session,
        rules.programme_id,
        Referral.device == arrival.device,
        arrival.at - timedelta(days=rules.device_days),
    ) >= max(rules.device_most, 1):
        verdict.reasons.append("shared_device")
    if (
        arrival.address
        and not in_networks(arrival.address, rules.store_networks)
        and _count(
            session,
            rules.programme_id,
            Referral.address == arrival.address,
            arrival.at - timedelta(hours=rules.network_hours),
        )
        >= max(rules.network_most, 1)
    ):
        verdict.reasons.append("shared_network")
    if _count(
        session,
        rules.programme_id,
        Referral.referrer_id == referrer.id,
        arrival.at - timedelta(minutes=rules.burst_minutes),
    ) >= max(rules.burst_most, 1):
        verdict.reasons.append("burst")
    if any(r in VOIDING for r in verdict.reasons):
        verdict.status = ReferralStatus.void
    elif verdict.reasons:
        verdict.status = ReferralStatus.review
    return verdict


def _existed_before(
    session: Session, programme_id: int, family: Sequence[int], at: datetime
) -> bool:
    """Whether any profile of the person was there before the arrival, had paid an order
    before it, or had joined the programme before it."""
    first = first_seen(session, family)
    return (
        (first is not None and first < at)
        or first_paid_before(session, family, at)
        or joined_before(session, programme_id, family, at)
    )


def _count(
    session: Session, programme_id: int, where: sa.ColumnElement[bool], since: datetime
) -> int:
    return int(
        session.scalar(
            sa.select(sa.func.count()).where(
                Referral.programme_id == programme_id, where, Referral.arrived_at >= since
            )
        )
        or 0
    )


def in_networks(address: str, networks: Collection[str]) -> bool:
    """Whether a client address is one of the stores' Wi-Fi networks (IPs or CIDR blocks)."""
    try:
        found = ipaddress.ip_address(address)
    except ValueError:
        return False
    for net in networks:
        try:
            if found in ipaddress.ip_network(net, strict=False):
                return True
        except ValueError:
            continue
    return False
