"""Segment fields of loyalty: a customer's member tier (by its name or code, in any programme
or the segment's brand's) and the points they hold (pending ones included, owed ones
deducted), read from the analytical copy."""

from __future__ import annotations

from typing import Any

import ibis.expr.types as ir
import sqlalchemy as sa

from siyu.loyalty.models import Tier
from siyu.segments.compiler import Context, column_test, complement_of, measure_test
from siyu.segments.fields import FieldSpec
from siyu.segments.rules import Condition

LOYALTY = "会员"


def _members(ctx: Context) -> ir.Table:
    members = ctx.table("loyalty_member")
    members = members.filter(members.status == "active", members.customer_id.notnull())
    if ctx.scope.brand_id is not None:  # the brand's programmes, and the group's
        programmes = ctx.table("loyalty_programme")
        mine = programmes.filter(
            programmes.brand_id.isnull() | (programmes.brand_id == ctx.scope.brand_id)
        )
        members = members.filter(members.programme_id.isin(mine.id))
    return members


def _tier(cond: Condition, ctx: Context) -> ir.BooleanValue:
    """``member_tier in [金卡]``: a tier's name or code; ``is_not_empty``: a member at all."""
    members = _members(ctx)
    op, negate = complement_of(cond.op)
    if op == "is_not_empty":
        test = ctx.member(members)
    else:
        tiers = ctx.table("loyalty_tier")
        picked = tiers.filter(
            column_test(tiers.name, op, cond.value) | column_test(tiers.code, op, cond.value)
        )
        test = ctx.member(members.filter(members.tier_id.isin(picked.id)))
    return ~test if negate else test


def _points(cond: Condition, ctx: Context) -> ir.BooleanValue:
    members = _members(ctx)
    balances = ctx.table("points_balance")
    joined = members.join(balances, members.id == balances.member_id)
    per = joined.group_by(customer_id=joined.customer_id).aggregate(
        points=(joined.remaining - joined.debt).sum()
    )
    return measure_test(ctx, per, "points", cond.op, cond.value, True)


def _tier_names(session: Any) -> list[str]:
    return list(
        session.scalars(sa.select(Tier.name).group_by(Tier.name).order_by(sa.func.min(Tier.rank)))
    )[:100]


FIELDS = (
    FieldSpec("member_tier", "会员等级", LOYALTY, "text", _tier, suggest=_tier_names),
    FieldSpec("points", "会员积分", LOYALTY, "measure", _points, integer=True, unit="积分"),
)
