"""The demo's loyalty programme: 悦颜会员 with three tiers, points per yuan, two coupons (one to
claim in the member centre), the POS members enrolled with their history earned by the
backfill, so the member centre and the console's loyalty pages have something to show."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu.customers.models import Identity
from siyu.db import get_engine
from siyu.loyalty.backfill import backfill
from siyu.loyalty.benefits.service import set_benefit
from siyu.loyalty.coupons.rules import set_rule
from siyu.loyalty.coupons.service import create_template
from siyu.loyalty.models import Programme
from siyu.loyalty.rules import set_spend_rule
from siyu.loyalty.service import create_programme, enrol
from siyu.loyalty.tiers import set_tier

CODE = "vip"
MOST = 5000  # POS members enrolled: enough to browse, quick to backfill


def ensure_programme(session: Session, brand_id: int) -> list[str]:
    """Set the programme up and enrol the POS members (nothing when it exists)."""
    if session.scalar(sa.select(Programme.id).where(Programme.code == CODE)) is not None:
        return []
    programme = create_programme(session, CODE, "悦颜会员", brand_id=brand_id)
    set_tier(session, programme, "silver", "银卡", rank=0, threshold=0)
    set_tier(session, programme, "gold", "金卡", rank=1, threshold=2000, multiplier_pct=120)
    set_tier(session, programme, "diamond", "钻石卡", rank=2, threshold=8000, multiplier_pct=150)
    set_spend_rule(session, programme, 100)  # 1 point per yuan
    create_template(
        session,
        programme,
        "new20",
        "新人券 满100减20",
        "amount_off",
        amount_fen=2000,
        threshold_fen=10000,
        claimable=True,
    )
    create_template(
        session,
        programme,
        "c10",
        "10元券（300积分兑换）",
        "amount_off",
        amount_fen=1000,
        points_price=300,
        per_member=0,
    )
    create_template(
        session, programme, "ship", "会员包邮券", "free_shipping", per_member=0, valid_days=31
    )
    create_template(
        session,
        programme,
        "up50",
        "升金礼 满200减50",
        "amount_off",
        amount_fen=5000,
        threshold_fen=20000,
    )
    set_rule(session, programme, "goldgift", "up50", "tier:gold")  # the worker's sweep gives it
    set_benefit(session, programme, "bday", "生日礼", "birthday_gift", "silver")
    set_benefit(
        session, programme, "ship", "每月包邮", "coupon", "gold", period="month", coupon_code="ship"
    )
    set_benefit(session, programme, "vip", "专属客服", "priority_service", "diamond")
    members = session.scalars(
        sa.select(Identity.customer_id)
        .where(Identity.kind == "member_id")
        .distinct()
        .order_by(Identity.customer_id)
        .limit(MOST)
    ).all()
    for customer_id in members:
        enrol(session, programme, customer_id, channel="pos", evidence="demo: a POS member")
    session.commit()
    summary = backfill(get_engine(), CODE)
    return [
        f"loyalty: {len(members):,} POS members enrolled in {CODE}; their history earned "
        f"{summary.points:,} points on {summary.earned:,} orders"
    ]
