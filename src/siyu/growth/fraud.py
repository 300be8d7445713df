"""The checks an arrival goes through before it is attributed, each with a recorded reason.

Identity rules void the referral: the invitee was a customer already (any profile of the person
existed, ordered or was a member before the arrival), or is the referrer (the same person or a
profile the pool linked to theirs — a shared phone or unionid — or the referrer's own device).
Device, network and burst rules only send it to review: a store's Wi-Fi and a carrier's NAT
put many honest people behind one address, so an operator decides (DESIGN §12).

A device is the member centre's signed first-party cookie plus, when the sign-up came from
WeChat, the WeChat reader (its openid, as a keyed hash): either one seen again counts, so
clearing the browser's cookies inside WeChat does not make a new device. A referrer's readers
are the openids the pool holds for them.

What Siyu does not keep it cannot compare: delivery addresses and payers' names are not stored
(orders keep no receiver data, PIPL minimisation), so "same address or payment name" is checked
by the pool's identity links (a platform buyer id or phone the two profiles share), not by text.
"""

from __future__ import annotations

import ipaddress
from bisect import bisect_left, bisect_right, insort
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from siyu import clock
from siyu.bulk import db_time, from_db_time, rows_where_in, session_reads
from siyu.centre.service import devices_of, reader_key
from siyu.customers.queries import first_seen_each, linked_pairs, openids_each
from siyu.growth.models import ReferralProgramme, ReferralStatus
from siyu.i18n import N_
from siyu.loyalty.queries import MemberView, joined_each
from siyu.orders.queries import first_paid_each
from siyu.privacy.service import families_of

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
    "same_person": N_("The same person arrived earlier under another profile"),
    "order_moved": N_("The order no longer belongs to the invitee"),
}
REASONS = {**VOIDING, **REVIEWING, **LATER}


@dataclass(frozen=True, slots=True)
class Arrival:
    """A new customer who came through a referral code: by which way, when, and (from the
    member centre) on which device and network."""

    invitee_id: int
    channel: str  # wecom | centre | order
    at: datetime
    device: str = ""
    address: str = ""
    visit_id: int | None = None
    # when they signed up, if later than ``at`` (the link opened then): the device, network
    # and burst windows are about sign-ups, so they are judged at this time
    signed_up_at: datetime | None = None
    # the WeChat half of the device: the sign-up's WeChat reader (``centre.reader_key`` of
    # its openid), which clearing the browser's cookies does not change
    wechat: str = ""

    @property
    def window_at(self) -> datetime:
        return self.signed_up_at or self.at


@dataclass(slots=True)
class Verdict:
    status: str = ReferralStatus.attributed
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Candidate:
    """An arrival to judge, with the referrer it names."""

    referrer: MemberView
    arrival: Arrival


def judge(
    session: Session, rules: ReferralProgramme, referrer: MemberView, arrival: Arrival
) -> Verdict:
    """Every check on one arrival; all the reasons that fired are kept, the worst decides."""
    return judge_many(session, rules, [Candidate(referrer, arrival)])[0]


def judge_many(
    session: Session, rules: ReferralProgramme, candidates: Sequence[Candidate]
) -> list[Verdict]:
    """The checks on many arrivals of one programme, in their order (sort by time first): what
    they look up is read once for all of them, and each arrival counts in the windows of those
    after it, as if they had come one by one. Identity rules void; device, network and burst
    rules send to review."""
    facts = _Facts(session, rules, candidates)
    family, devices, recent = facts.family, facts.devices, facts.recent
    readers = facts.readers
    # the programme's thresholds, read once for the batch
    device_most, network_most = max(rules.device_most, 1), max(rules.network_most, 1)
    burst_most, networks = max(rules.burst_most, 1), rules.store_networks
    out = []
    for c in candidates:
        a = c.arrival
        at, device, address, by = a.window_at, a.device, a.address, str(c.referrer.id)
        invitee = family[a.invitee_id]
        referrer = family.get(c.referrer.customer_id or 0, [])
        reasons = []
        if facts.existed_before(invitee, a.at):
            reasons.append("already_customer")
        if not set(invitee).isdisjoint(referrer) or facts.linked(invitee, referrer):
            reasons.append("self_referral")
        wechat = a.wechat
        if (device and any(device in devices.get(r, ()) for r in referrer)) or (
            wechat and any(wechat in readers.get(r, ()) for r in referrer)
        ):
            reasons.append("own_device")
        if (device and recent("device", device, at) >= device_most) or (
            wechat and recent("wechat", wechat, at) >= device_most
        ):
            reasons.append("shared_device")
        if (
            address
            and recent("address", address, at) >= network_most
            and not in_networks(address, networks)
        ):
            reasons.append("shared_network")
        if recent("referrer", by, at) >= burst_most:
            reasons.append("burst")
        verdict = Verdict(reasons=reasons)
        if any(r in VOIDING for r in reasons):
            verdict.status = ReferralStatus.void
        elif reasons:
            verdict.status = ReferralStatus.review
        out.append(verdict)
        facts.arrived(device, address, by, at, wechat)
    return out


class _Facts:
    """What the checks of a batch need, read in a few queries: families, when each profile
    was made, first paid, joined; the pool's links; the referrers' devices; and the earlier
    arrivals in each device, network and referrer window."""

    def __init__(
        self, session: Session, rules: ReferralProgramme, candidates: Sequence[Candidate]
    ) -> None:
        self.rules = rules
        people = {c.arrival.invitee_id for c in candidates} | {
            c.referrer.customer_id for c in candidates if c.referrer.customer_id
        }
        self.family = families_of(session, people)
        everyone = {m for fam in self.family.values() for m in fam}
        # what "already a customer" asks is asked of the invitees only: each profile's first
        # sign of being a customer (made, first paid, joined), whichever came first
        invitees = {m for c in candidates for m in self.family[c.arrival.invitee_id]}
        self.first: dict[int, datetime] = {}
        for known in (
            first_seen_each(session, invitees),
            first_paid_each(session, invitees),
            joined_each(session, rules.programme_id, invitees),
        ):
            for m, at in known.items():
                if at is not None and (m not in self.first or at < self.first[m]):
                    self.first[m] = at
        self.pairs = linked_pairs(session, everyone)
        referrers = {
            m for c in candidates for m in self.family.get(c.referrer.customer_id or 0, [])
        }
        self.devices = devices_of(session, referrers)
        self.readers = {  # the referrers' WeChat readers, as the arrivals' keys are made
            cid: {reader_key(o) for o in found}
            for cid, found in openids_each(session, referrers).items()
        }
        earliest = min((c.arrival.window_at for c in candidates), default=clock.now())
        self.windows: dict[tuple[str, str], list[datetime]] = {}
        spans: dict[str, tuple[str, set[Any], timedelta]] = {
            "device": (
                "device",
                {c.arrival.device for c in candidates if c.arrival.device},
                timedelta(days=rules.device_days),
            ),
            "address": (
                "address",
                {c.arrival.address for c in candidates if c.arrival.address},
                timedelta(hours=rules.network_hours),
            ),
            "wechat": (
                "wechat",
                {c.arrival.wechat for c in candidates if c.arrival.wechat},
                timedelta(days=rules.device_days),
            ),
            "referrer": (
                "referrer_id",
                {c.referrer.id for c in candidates},
                timedelta(minutes=rules.burst_minutes),
            ),
        }
        self.spans = {kind: span for kind, (_col, _keys, span) in spans.items()}
        conn = session_reads(session)
        for kind, (column, keys, span) in spans.items():
            # each through its index: (programme, key, time), partial (the condition named for
            # the planner); a referrer is a member of this programme, as all its referrals are:
            # by referrer alone, (referrer, time) serves
            since = db_time(conn, earliest - span)
            params: tuple[Any, ...] = (
                (since,) if kind == "referrer" else (rules.programme_id, since)
            )
            sql = (
                "arrived_at >= ?"
                if kind == "referrer"
                else f"programme_id = ? AND {column} != '' AND arrived_at >= ?"
            )
            for key, at in rows_where_in(
                conn,
                f"SELECT {column}, arrived_at FROM referral WHERE {sql} AND {column} IN ({{in}})",  # noqa: S608 - names are ours
                params,
                sorted(keys, key=str),
                2000,
            ):
                self.windows.setdefault((kind, str(key)), []).append(from_db_time(at))  # type: ignore[arg-type]
        for times in self.windows.values():
            times.sort()

    def existed_before(self, family: Sequence[int], at: datetime) -> bool:
        first = self.first
        return any(m in first and first[m] < at for m in family)

    def linked(self, these: Sequence[int], those: Sequence[int]) -> bool:
        if not self.pairs:
            return False
        return any(frozenset((a, b)) in self.pairs for a in these for b in those if a != b)

    def recent(self, kind: str, key: str, at: datetime) -> int:
        """Other arrivals within the window either side of ``at`` (those judged before it in
        this batch included). Either side: an arrival's time is when its link was opened, and
        sign-ups from one device share the day's visit, so a later sign-up can carry an
        earlier time than the one recorded before it."""
        times = self.windows.get((kind, key), [])
        span = self.spans[kind]
        return bisect_right(times, at + span) - bisect_left(times, at - span)

    def arrived(
        self, device: str, address: str, referrer: str, at: datetime, wechat: str = ""
    ) -> None:
        """An arrival judged: it counts in the windows of those after it."""
        for kind, key in (
            ("device", device),
            ("address", address),
            ("referrer", referrer),
            ("wechat", wechat),
        ):
            if key:
                insort(self.windows.setdefault((kind, key), []), at)


def in_networks(address: str, networks: Collection[str]) -> bool:
    """Whether a client address (or the /64 an IPv6 one is counted by) is inside one of the
    stores' Wi-Fi networks (IPs or CIDR blocks)."""
    if not networks:
        return False
    try:
        found = ipaddress.ip_network(address, strict=False)
    except ValueError:
        return False
    for net in networks:
        try:
            store = ipaddress.ip_network(net, strict=False)
        except ValueError:
            continue
        if found.version == store.version and found.subnet_of(store):  # type: ignore[arg-type]
            return True
    return False
