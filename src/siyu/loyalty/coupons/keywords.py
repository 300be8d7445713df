"""Coupons by WeCom keyword reply (回复关键词领券): a benefit pool whose codes are the
programme's coupons, issued to the member who asks (once per member and pool, within the
template's limits). The keyword rule names the pool as it names a pool of loaded codes; the
reply's ``{{ code }}`` is the coupon's code, usable at the till and in the member's wallet."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu import clock
from siyu.config import get_settings
from siyu.loyalty.coupons.models import CouponTemplate
from siyu.loyalty.coupons.service import CouponError, CouponLimit, held_for, issue
from siyu.loyalty.ledger import LoyaltyError
from siyu.loyalty.membership import membership
from siyu.loyalty.models import Programme
from siyu.wecom.replies.pools import Issued, issuing_pool

log = logging.getLogger("siyu.loyalty")

JOIN_FIRST = "这份券是会员专享,先加入会员再回复即可领取:{url}/m/login"
HELD = "您已经领过这张券了,在会员中心「我的券」里可以看到:{url}/m/coupons"


def keyword_pool(
    session: Session,
    programme: Programme,
    coupon: str,
    corp_pk: int,
    name: str,
    *,
    exhausted_text: str | None = None,
    actor: str,
) -> int:
    """The benefit pool ``name`` of the WeCom corp, giving the programme's coupon ``coupon``
    (its id)."""
    template = session.scalar(
        sa.select(CouponTemplate).where(
            CouponTemplate.programme_id == programme.id, CouponTemplate.code == coupon
        )
    )
    if template is None:
        raise CouponError("no coupon {code} in this programme", code=coupon[:40])
    pool = issuing_pool(
        session,
        corp_pk,
        name,
        f"loyalty:{template.id}",
        exhausted_text=exhausted_text,
        actor=actor,
    )
    return pool.id


def issue_for_keyword(session: Session, ref: str, customer_id: int | None) -> Issued:
    """The benefit issuer of the manifest: the coupon of template ``ref`` for the customer who
    asked, when they are a member; else what to say (how to join, or that it ran out)."""
    template = session.get(CouponTemplate, int(ref)) if ref.isdigit() else None
    if template is None:
        return Issued(None, exhausted=True)
    programme = session.get(Programme, template.programme_id)
    member = membership(session, programme, customer_id) if programme and customer_id else None
    if member is None:
        return Issued(None, JOIN_FIRST.format(url=get_settings().public_url.rstrip("/")))
    if not template.active or (template.ends_at is not None and template.ends_at <= clock.now()):
        return Issued(None, exhausted=True)  # no longer given out: the pool's own words
    source = ("keyword", ref)
    try:
        with session.begin_nested():
            coupon = issue(session, template, member.id, source)
    except IntegrityError:  # the same message answered twice at once: the other one's coupon
        found = held_for(session, template.id, member.id, source)
        return Issued(found) if found else Issued(None, exhausted=True)
    except CouponLimit as exc:  # the member's limit (from another way in), or the total
        log.info("keyword coupon %s not given to member %s: %s", template.code, member.id, exc)
        session.refresh(template)
        if template.total and template.issued >= template.total:
            return Issued(None, exhausted=True)
        return Issued(None, HELD.format(url=get_settings().public_url.rstrip("/")))
    except LoyaltyError as exc:  # the template has ended or is no longer given
        log.info("keyword coupon %s not given to member %s: %s", template.code, member.id, exc)
        return Issued(None, exhausted=True)
    return Issued(coupon.code)
