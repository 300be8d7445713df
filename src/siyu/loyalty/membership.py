"""Loyalty as a customer sees it in the member centre: which programme the centre runs, the
customer's membership and card (tier, progress to the next tier, points), the coupons they may
claim. Every read here is for one customer, named by the caller's customer session: nothing
takes a member or coupon id from the visitor without checking it is theirs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.brands.service import BrandError, store_id_of
from siyu.config import Settings
from siyu.customers.resolution import Resolver
from siyu.loyalty.coupons.models import Coupon, CouponStatus, CouponTemplate
from siyu.loyalty.coupons.rules import give_by_rules
from siyu.loyalty.coupons.service import NoSuchCoupon, claim
from siyu.loyalty.ledger import LoyaltyError
from siyu.loyalty.models import Member, Programme, Tier, TierChange
from siyu.loyalty.queries import member_points
from siyu.loyalty.service import enrol
from siyu.loyalty.tiers import standing
from siyu.privacy.service import family_of
from siyu.refusals import NotFound
from siyu.wecom.connection.service import corp_brand
from siyu.wecom.live_codes.service import NoSuchLiveCode, live_code_by_id

TERMS_VERSION = "v1"


class NoProgramme(LoyaltyError, NotFound):
    """The member centre has no programme to show (none set up, or several and none chosen)."""


def centre_programme(session: Session, code: str) -> Programme:
    """The programme named ``code`` (SIYU_CENTRE_PROGRAMME), or the only one there is."""
    if code:
        found = session.scalar(sa.select(Programme).where(Programme.code == code))
        if found is None:
            raise NoProgramme("no loyalty programme {code}", code=code)
        return found
    found_all = session.scalars(sa.select(Programme).order_by(Programme.id).limit(2)).all()
    if len(found_all) != 1:
        raise NoProgramme(
            "the member centre needs one loyalty programme: set SIYU_CENTRE_PROGRAMME"
        )
    return found_all[0]


def membership(session: Session, programme: Programme, customer_id: int) -> Member | None:
    """The customer's membership: theirs, or (after a merge) that of a profile merged into
    theirs, the oldest first (a merge moves no membership: the points stay where they were)."""
    return session.scalar(
        sa.select(Member)
        .where(
            Member.programme_id == programme.id,
            Member.customer_id.in_(family_of(session, customer_id)),
            Member.status == "active",
        )
        .order_by(Member.id)
        .limit(1)
    )


VIA = re.compile(r"(live_code|poster|oa_menu|sms|store|referral):[A-Za-z0-9_-]{1,30}")


def join(
    session: Session, programme: Programme, customer_id: int, how: str, via: str = ""
) -> Member:
    """The customer joins from the member centre, having accepted the terms (``how``: the
    sign-in that proved who they are). ``via`` is where the link came from (a WeCom live
    code's welcome message: ``live_code:<id>``); it becomes the join channel, and is kept in
    the evidence; anything else is ignored."""
    channel = "member_centre"
    if VIA.fullmatch(via or ""):
        if _known_source(session, programme.brand_id, *via.split(":", 1)):
            channel = via.partition(":")[0]
            how = f"{how}; via {via}"
        else:  # a link anyone can edit: a live code or store that is not there credits nobody
            how = f"{how}; the link named {via}, which is not known"
    evidence = f"member centre: terms {TERMS_VERSION} accepted; {how}; {clock.now().isoformat()}"
    member = enrol(session, programme, customer_id, channel=channel, evidence=evidence)
    give_by_rules(session, [member.id])  # the welcome coupon is in the wallet they land on
    return member


def _known_source(session: Session, brand_id: int | None, kind: str, ref: str) -> bool:
    """Whether a join link's source names a live code or a store that exists (posters, menus
    and SMS links are the brand's own labels)."""
    if kind == "live_code":
        if not ref.isdigit() or len(ref) > 9:  # an id, never one past the database's integers
            return False
        try:
            code = live_code_by_id(session, int(ref))
        except NoSuchLiveCode:
            return False
        return brand_id is None or corp_brand(session, code.corp_id) in (None, brand_id)
    elif kind == "store":
        try:
            return store_id_of(session, ref, brand_id) is not None
        except BrandError:  # a code several brands share, and the programme is the group's
            return False
    return True


def member_number(programme: Programme, member: Member) -> str:
    """The number printed on the card (会员卡号): the programme's code and the member's."""
    return f"{programme.code.upper()}{member.id:08d}"


@dataclass(frozen=True)
class Card:
    """The member's card: what the first page of the member centre shows."""

    programme: str
    number: str
    joined_at: datetime
    tier: str | None
    next_tier: str | None
    missing: int  # what is still needed for the next tier, in the programme's measure
    measure: str  # points | spend_fen | orders
    progress_pct: int


def card(session: Session, member: Member) -> Card:
    programme = session.get(Programme, member.programme_id)
    assert programme is not None
    where = standing(session, member, programme)
    tier = session.get(Tier, member.tier_id) if member.tier_id else None
    pct = 100
    if where.next is not None and where.next.threshold > 0:
        pct = min(int(where.measure * 100 / where.next.threshold), 99)
    return Card(
        programme=programme.name,
        number=member_number(programme, member),
        joined_at=member.joined_at,
        tier=tier.name if tier else None,
        next_tier=where.next.name if where.next else None,
        missing=where.missing,
        measure=programme.tier_measure,
        progress_pct=pct,
    )


@dataclass(frozen=True)
class TierMove:
    at: datetime
    to: str | None
    reason: str


def tier_history(session: Session, member: Member, most: int = 20) -> list[TierMove]:
    names = dict(
        session.execute(
            sa.select(Tier.id, Tier.name).where(Tier.programme_id == member.programme_id)
        ).all()
    )
    return [
        TierMove(c.changed_at, names.get(c.to_tier_id) if c.to_tier_id else None, c.reason)
        for c in session.scalars(
            sa.select(TierChange)
            .where(TierChange.member_id == member.id)
            .order_by(TierChange.id.desc())
            .limit(most)
        )
    ]


@dataclass(frozen=True)
class Offer:
    """A coupon the member may take now in the member centre."""

    template_id: int
    name: str
    kind: str
    amount_fen: int
    percent_off: int
    threshold_fen: int
    gift: str
    left_for_me: int  # how many more this member may take (per-member limit)


def offers(session: Session, member: Member) -> list[Offer]:
    now = clock.now()
    held = dict(
        session.execute(
            sa.select(Coupon.template_id, sa.func.count())
            .where(Coupon.member_id == member.id, Coupon.status != CouponStatus.void)
            .group_by(Coupon.template_id)
        ).all()
    )
    found = []
    for t in session.scalars(
        sa.select(CouponTemplate)
        .where(
            CouponTemplate.programme_id == member.programme_id,
            CouponTemplate.claimable.is_(True),
            CouponTemplate.active.is_(True),
            sa.or_(CouponTemplate.ends_at.is_(None), CouponTemplate.ends_at > now),
            sa.or_(CouponTemplate.total == 0, CouponTemplate.issued < CouponTemplate.total),
        )
        .order_by(CouponTemplate.id)
    ):
        left = t.per_member - int(held.get(t.id, 0)) if t.per_member else 1
        if left > 0:
            found.append(
                Offer(
                    t.id, t.name, t.kind, t.amount_fen, t.percent_off, t.threshold_fen, t.gift, left
                )
            )
    return found


def claim_offer(session: Session, member: Member, template_id: int) -> Coupon:
    """The member takes one of their offers; a template of another programme, or one not
    claimable, is answered as not found (a visitor learns nothing about others' coupons)."""
    template = session.get(CouponTemplate, template_id)
    if template is None or template.programme_id != member.programme_id or not template.claimable:
        raise NoSuchCoupon("no coupon {code} to claim", code=str(template_id))
    return claim(session, member.id, template)


@dataclass(frozen=True)
class AtTill:
    """What a till learns from a member's code: enough to serve them, no personal data."""

    member_id: int
    number: str
    programme: str
    brand_id: int | None
    tier: str | None
    spendable: int


def at_till(session: Session, member_id: int) -> AtTill | None:
    """The active member a till's scan named (None: no such member, or erased)."""
    member = session.get(Member, member_id)
    if member is None or member.status != "active":
        return None
    programme = session.get(Programme, member.programme_id)
    assert programme is not None
    tier = session.get(Tier, member.tier_id) if member.tier_id else None
    points = member_points(session, member.id, history=0)
    return AtTill(
        member.id,
        member_number(programme, member),
        programme.code,
        programme.brand_id,
        tier.name if tier else None,
        points.spendable if points else 0,
    )


def enrol_at_store(
    session: Session,
    settings: Settings,
    programme: Programme,
    keys: list[tuple[str, str, str]],
    store_id: int,
    evidence: str,
) -> tuple[Member, bool]:
    """A till or the mini-program enrols the customer these identities name (a new customer
    when none does): (membership, whether it is new). ``evidence`` says how they agreed."""
    resolver = Resolver(session.connection(), "pos", settings.secret_key_bytes(), actor="pos")
    resolver.prefetch(keys)
    found = resolver.resolve(keys, {"source": "pos", "store_id": store_id}, clock.now())
    resolver.flush()
    if found.suppressed:
        raise LoyaltyError(
            "this customer's data was erased at their request; they can join again only by "
            "giving it anew in the member centre"
        )
    customer_id = resolver.customer_for(found.customer_id)
    before = membership(session, programme, customer_id)
    if before is not None:
        return before, False
    member = enrol(
        session, programme, customer_id, channel="store", store_id=store_id, evidence=evidence
    )
    give_by_rules(session, [member.id])  # the till can use the welcome coupon at once
    return member, True
