"""The referral API: a programme's referral settings, the referrals with their reasons and
rewards, and an operator's decision on a held one. Brand-wide work: a key bound to one store
is refused (a store does not decide another store's customers' referrals)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from siyu.accounts.service import Principal
from siyu.db import session_scope
from siyu.growth import GROWTH_MANAGE, queries, service
from siyu.growth.models import ReferralProgramme
from siyu.loyalty.coupons.queries import template_codes
from siyu.loyalty.queries import programme_named
from siyu.webkit import require

router = APIRouter(prefix="/api/v1/growth", tags=["growth"])
STORE_KEY = "a key bound to a store cannot manage referrals; use a brand-wide key"
Bounded = Annotated[int, Field(ge=0, le=100_000_000)]


def _brand_wide(principal: Principal) -> Principal:
    if principal.store_id is not None:
        raise HTTPException(403, STORE_KEY)
    return principal


def manager(principal: Principal = Depends(require(GROWTH_MANAGE))) -> Principal:
    return _brand_wide(principal)


class RulesIn(BaseModel):
    """What to change of a programme's referral settings (what is left out stays)."""

    model_config = ConfigDict(extra="forbid")
    active: bool | None = None
    referrer_points: Bounded | None = None
    invitee_points: Bounded | None = None
    referrer_coupon: Annotated[str, Field(max_length=40)] | None = None  # "" for none
    invitee_coupon: Annotated[str, Field(max_length=40)] | None = None
    min_order_fen: Bounded | None = None
    refund_days: Bounded | None = None
    arrival_days: Bounded | None = None
    cap_day: Bounded | None = None
    cap_month: Bounded | None = None
    device_most: Bounded | None = None
    device_days: Bounded | None = None
    network_most: Bounded | None = None
    network_hours: Bounded | None = None
    burst_most: Bounded | None = None
    burst_minutes: Bounded | None = None
    delete_days: Bounded | None = None
    store_networks: (
        Annotated[list[Annotated[str, Field(max_length=50)]], Field(max_length=200)] | None
    ) = None


class RulesOut(BaseModel):
    programme: str
    active: bool
    referrer_points: int
    invitee_points: int
    referrer_coupon: str | None
    invitee_coupon: str | None
    min_order_fen: int
    refund_days: int
    arrival_days: int
    cap_day: int
    cap_month: int
    device_most: int
    device_days: int
    network_most: int
    network_hours: int
    burst_most: int
    burst_minutes: int
    delete_days: int
    store_networks: list[str]


def rules_out(session: object, code: str, rules: ReferralProgramme) -> RulesOut:
    coupons = template_codes(
        session,  # type: ignore[arg-type]
        [i for i in (rules.referrer_coupon_id, rules.invitee_coupon_id) if i],
    )
    numbers = {name: getattr(rules, name) for name in service.LIMITS}
    return RulesOut(
        programme=code,
        active=rules.active,
        referrer_coupon=coupons.get(rules.referrer_coupon_id or 0),
        invitee_coupon=coupons.get(rules.invitee_coupon_id or 0),
        store_networks=list(rules.store_networks or []),
        **numbers,
    )


PROGRAMME_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "no or bad API key"},
    403: {"description": "key lacks growth:manage, or is bound to a store"},
    404: {"description": "no such loyalty programme, or it has no referral settings yet"},
}


@router.get("/programmes/{programme}/referral", response_model=RulesOut, responses=PROGRAMME_ERRORS)
def get_rules(programme: str, principal: Principal = Depends(manager)) -> RulesOut:
    """A programme's referral settings."""
    with session_scope() as session:
        found = programme_named(session, programme)
        rules = service.settings_of(session, found.id) if found else None
        if found is None or rules is None:
            raise HTTPException(404, f"no referral settings for programme {programme[:40]!r}")
        return rules_out(session, found.code, rules)


@router.put(
    "/programmes/{programme}/referral",
    response_model=RulesOut,
    responses={
        **PROGRAMME_ERRORS,
        422: {"description": "a value out of range, an unknown coupon or network"},
    },
)
def put_rules(programme: str, body: RulesIn, principal: Principal = Depends(manager)) -> RulesOut:
    """Create or change a programme's referral settings. Rewards are for the invitee's first
    paid order after its refund window: there is no setting for shares or scans."""
    given = body.model_dump(exclude_none=True)
    networks = given.pop("store_networks", None)
    with session_scope() as session:
        rules = service.set_rules(
            session,
            programme,
            principal.actor,
            referrer_coupon=given.pop("referrer_coupon", None),
            invitee_coupon=given.pop("invitee_coupon", None),
            store_networks=service.network_list(" ".join(networks))
            if networks is not None
            else None,
            active=given.pop("active", None),
            **given,
        )
        return rules_out(session, programme, rules)


class ReferralPage(BaseModel):
    total: int
    referrals: list[queries.ReferralView]


@router.get(
    "/referrals",
    response_model=ReferralPage,
    responses={401: {"description": "no or bad API key"}, 403: PROGRAMME_ERRORS[403]},
)
def list_referrals(
    status: Literal["attributed", "review", "void"] | None = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    principal: Principal = Depends(manager),
) -> ReferralPage:
    """Referrals, newest first, with the reasons the checks gave and each side's reward.
    Invitees' names are masked (the customer's page unmasks them, with its audit)."""
    with session_scope() as session:
        total, rows = queries.referrals(
            session,
            status=status,
            offset=offset,
            most=limit,
            masked=True,  # the customer's own page unmasks, with its audit
        )
        return ReferralPage(total=total, referrals=rows)


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    approve: bool


@router.post(
    "/referrals/{referral_id}/decision",
    response_model=queries.ReferralView,
    responses={
        401: {"description": "no or bad API key"},
        403: PROGRAMME_ERRORS[403],
        404: {"description": "no such referral"},
        409: {"description": "the referral is not waiting for review"},
    },
)
def decide(
    referral_id: Annotated[int, Field(ge=1, le=2**31 - 1)],
    body: DecisionIn,
    principal: Principal = Depends(manager),
) -> queries.ReferralView:
    """Approve a held referral (its rewards are paid when due) or void it (they are voided)."""
    with session_scope() as session:
        found = service.decide(session, referral_id, body.approve, principal.actor)
        session.flush()
        _total, rows = queries.referrals(session, referral_id=found.id, masked=True)
        return rows[0]
