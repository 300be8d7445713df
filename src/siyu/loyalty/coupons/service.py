"""Coupons: templates, issue (once per source, within the limits), points exchange, claims from
the member centre, and erasure. The till's side (redeem, and the coupon given back on a refund)
is ``coupons.till``.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.loyalty.coupons.models import Coupon, CouponKind, CouponStatus, CouponTemplate
from siyu.loyalty.ledger import LoyaltyError
from siyu.loyalty.models import Member, Programme
from siyu.loyalty.service import spend
from siyu.privacy.service import ErasureContext
from siyu.refusals import Conflict, Forbidden, Gone, NotFound

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud at a till
CODE_LENGTH = 12
AMOUNT_MAX = 1_000_000_000


class CouponError(LoyaltyError):
    """A coupon or template that cannot be made, issued or used as asked."""


class NoSuchCoupon(CouponError, NotFound):
    pass


class CouponUsed(CouponError, Conflict):
    pass


class CouponExpired(CouponError, Gone):
    pass


class ForeignCoupon(CouponError, Forbidden):
    exit_code = 1


class CouponLimit(CouponError, Conflict):
    pass


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def create_template(
    session: Session,
    programme: Programme,
    code: str,
    name: str,
    kind: str,
    *,
    amount_fen: int = 0,
    percent_off: int = 0,
    cap_fen: int = 0,
    threshold_fen: int = 0,
    gift: str = "",
    valid_days: int | None = 30,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    per_member: int = 1,
    total: int = 0,
    stackable: bool = False,
    points_price: int = 0,
    claimable: bool = False,
    return_on_refund: bool = True,
) -> CouponTemplate:
    """A coupon template; the terms are checked against its kind."""
    if not 0 < len(code) <= 40 or not 0 < len(name.strip()) <= 100:
        raise CouponError("coupon code 1–40 characters, name 1–100")
    if kind not in set(CouponKind):
        raise CouponError("coupon kind: amount_off, percent_off, gift or free_shipping")
    money = (amount_fen, cap_fen, threshold_fen)
    if any(not 0 <= v <= AMOUNT_MAX for v in money):
        raise CouponError("amounts: 0–{most} fen", most=AMOUNT_MAX)
    if kind == CouponKind.amount_off and amount_fen <= 0:
        raise CouponError("an amount-off coupon needs an amount")
    if kind == CouponKind.percent_off and not 1 <= percent_off <= 99:
        raise CouponError("a percent-off coupon takes 1–99 percent off")
    if kind == CouponKind.gift and not 0 < len(gift.strip()) <= 100:
        raise CouponError("a gift coupon names its gift (1–100 characters)")
    if (valid_days is None) == (ends_at is None):
        raise CouponError("a coupon is valid for some days from issue or until a fixed date")
    if valid_days is not None and not 1 <= valid_days <= 3660:
        raise CouponError("valid 1–3660 days")
    if starts_at and ends_at and ends_at <= starts_at:
        raise CouponError("a coupon's end comes after its start")
    if not 0 <= per_member <= 1000 or not 0 <= total <= 100_000_000:
        raise CouponError("limits: 0–1000 per member, 0–100000000 in all (0: none)")
    if not 0 <= points_price <= 100_000_000:
        raise CouponError("points price: 0–100000000")
    if session.scalar(
        sa.select(CouponTemplate.id).where(
            CouponTemplate.programme_id == programme.id, CouponTemplate.code == code
        )
    ):
        raise CouponLimit("a coupon {code} exists already", code=code)
    template = CouponTemplate(
        programme_id=programme.id,
        code=code,
        name=name.strip(),
        kind=kind,
        amount_fen=amount_fen,
        percent_off=percent_off,
        cap_fen=cap_fen,
        threshold_fen=threshold_fen,
        gift=gift.strip(),
        valid_days=valid_days,
        starts_at=starts_at,
        ends_at=ends_at,
        per_member=per_member,
        total=total,
        issued=0,
        stackable=stackable,
        points_price=points_price,
        claimable=claimable,
        return_on_refund=return_on_refund,
        active=True,
    )
    session.add(template)
    session.flush()
    return template


def issue(
    session: Session, template: CouponTemplate, member_id: int, source: tuple[str, str]
) -> Coupon:
    """The member's coupon of this template for ``source`` (the one issued before, if any):
    within the per-member and total limits, from an active template of the member's
    programme."""
    found = session.scalar(
        sa.select(Coupon).where(
            Coupon.template_id == template.id,
            Coupon.member_id == member_id,
            Coupon.source_kind == source[0],
            Coupon.source_id == source[1],
        )
    )
    if found is not None:
        return found
    member = session.get(Member, member_id)
    if member is None or member.status != "active" or member.programme_id != template.programme_id:
        raise NoSuchCoupon("no member {id} in the coupon's programme", id=member_id)
    if not template.active:
        raise CouponLimit("coupon {code} is no longer given out", code=template.code)
    now = clock.now()
    if template.ends_at is not None and template.ends_at <= now:
        raise CouponExpired("coupon {code} has ended", code=template.code)
    # The template's count is taken first: its row stays locked (PostgreSQL; SQLite has one
    # writer) until the commit, so two issues of one template at once (a rule's sweep and an
    # event, two workers) count the member's coupons one after the other, never both finding
    # room under the limit. Over the member's limit, the count is given back.
    with session.begin_nested():
        counted = session.execute(
            sa.update(CouponTemplate)
            .where(
                CouponTemplate.id == template.id,
                sa.or_(CouponTemplate.total == 0, CouponTemplate.issued < CouponTemplate.total),
            )
            .values(issued=CouponTemplate.issued + 1)
            .execution_options(synchronize_session=False)
        )
        if not getattr(counted, "rowcount", 0):
            raise CouponLimit(
                "all {total} of coupon {code} are given out",
                total=template.total,
                code=template.code,
            )
        if template.per_member:
            held = session.scalar(
                sa.select(sa.func.count()).where(
                    Coupon.template_id == template.id,
                    Coupon.member_id == member_id,
                    Coupon.status != CouponStatus.void,
                )
            )
            if (held or 0) >= template.per_member:
                raise CouponLimit(
                    "a member may hold {most} of coupon {code}",
                    most=template.per_member,
                    code=template.code,
                )
    start = max(now, template.starts_at) if template.starts_at else now
    until = template.ends_at or start + timedelta(days=template.valid_days or 0)
    coupon = Coupon(
        code=new_code(),
        template_id=template.id,
        member_id=member_id,
        status=CouponStatus.issued,
        source_kind=source[0],
        source_id=source[1],
        valid_from=start,
        valid_until=until,
        issued_at=now,
    )
    session.add(coupon)
    session.flush()
    return coupon


def issue_by_id(
    session: Session, template_id: int, member_id: int, source: tuple[str, str]
) -> Coupon:
    """``issue`` for a template named by its id (a capability that keeps only the id)."""
    template = session.get(CouponTemplate, template_id)
    if template is None:
        raise NoSuchCoupon("no coupon template {id}", id=template_id)
    return issue(session, template, member_id, source)


def held_for(
    session: Session, template_id: int, member_id: int, source: tuple[str, str]
) -> str | None:
    """The code of the member's coupon of this template for ``source``, if issued."""
    return session.scalar(
        sa.select(Coupon.code).where(
            Coupon.template_id == template_id,
            Coupon.member_id == member_id,
            Coupon.source_kind == source[0],
            Coupon.source_id == source[1],
        )
    )


def exchange(session: Session, member_id: int, template: CouponTemplate, request: str) -> Coupon:
    """Points for a coupon: the points are spent and the coupon issued in one transaction,
    once per ``request`` (a retried exchange gets the same coupon, spending nothing more)."""
    if not template.points_price:
        raise CouponError("coupon {code} is not for points", code=template.code)
    if not 0 < len(request) <= 60:
        raise CouponError("an exchange needs a request id (1–60 characters)")
    source = ("exchange", request)
    done = session.scalar(
        sa.select(Coupon).where(
            Coupon.member_id == member_id,
            Coupon.source_kind == source[0],
            Coupon.source_id == source[1],
        )
    )
    if done is not None:
        if done.template_id != template.id:
            raise CouponUsed("exchange {request} was for another coupon", request=request)
        return done
    spend(session, member_id, source, template.points_price, reason=template.code)
    return issue(session, template, member_id, source)


def claim(session: Session, member_id: int, template: CouponTemplate) -> Coupon:
    """A member takes a claimable coupon in the member centre (up to the per-member limit)."""
    if not template.claimable:
        raise NoSuchCoupon("no coupon {code} to claim", code=template.code)
    held = session.scalar(
        sa.select(sa.func.count()).where(
            Coupon.template_id == template.id,
            Coupon.member_id == member_id,
            Coupon.source_kind == "claim",
        )
    )
    try:
        with session.begin_nested():  # a double tap: the second finds the first's coupon
            return issue(session, template, member_id, ("claim", str((held or 0) + 1)))
    except sa.exc.IntegrityError:
        raise CouponLimit(
            "a member may hold {most} of coupon {code}",
            most=template.per_member,
            code=template.code,
        ) from None


def erase_coupons(session: Session, ctx: ErasureContext) -> int:
    """Erasure: the person's unused coupons can no longer be used; redeemed ones stay, as
    records of their orders (a code, amounts, a date: no personal data). Runs before
    ``service.erase_members``, while the memberships still name the customer."""
    members = sa.select(Member.id).where(Member.customer_id.in_(ctx.customer_ids))
    done = session.execute(
        sa.update(Coupon)
        .where(Coupon.member_id.in_(members), Coupon.status == CouponStatus.issued)
        .values(status=CouponStatus.void)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(done, "rowcount", 0) or 0)
