"""Segment fields of the customer pool: profile, which identities a customer has, consent."""

from __future__ import annotations

from typing import Any

import ibis.expr.types as ir
import sqlalchemy as sa

from siyu.customers.identifiers import Kind
from siyu.segments.compiler import Context, column_field, column_test, complement_of
from siyu.segments.fields import FieldSpec
from siyu.segments.rules import Condition

PROFILE = "画像"
REACH = "触达"
CONSENT_CHANNELS = {"sms": "短信", "email": "邮件", "wecom": "企业微信", "oa": "公众号"}
CONSENT_STATES = ("granted", "withdrawn", "unknown")


def _distinct(column: str) -> Any:
    def suggest(session: Any) -> list[str]:
        from siyu.customers.models import Customer

        col = getattr(Customer, column)
        rows = session.execute(
            sa.select(col).where(col.isnot(None)).group_by(col).order_by(sa.func.count().desc())
        ).scalars()
        return list(rows)[:200]

    return suggest


def _first_seen(cond: Condition, ctx: Context) -> ir.BooleanValue:
    """Days compare in the shop's time zone: ``first_seen < 2026-01-01`` is before that day.
    A profile with no first-seen time counts from when it was created, as the dashboard's new
    customers do, so a drill-down lists exactly the customers a chart counted."""
    from datetime import date, timedelta

    col = ctx.customer.first_seen_at.fill_null(ctx.customer.created_at)
    op, negate = complement_of(cond.op)

    def start(day: str) -> Any:
        return ctx.midnight(date.fromisoformat(day))

    def after(day: str) -> Any:
        return ctx.midnight(date.fromisoformat(day) + timedelta(days=1))

    if op == "is_not_empty":
        test = col.notnull()
    elif op == "<":
        test = col < start(cond.value)
    elif op == "<=":
        test = col < after(cond.value)
    elif op == ">":
        test = col >= after(cond.value)
    elif op == ">=":
        test = col >= start(cond.value)
    else:  # between
        test = (col >= start(cond.value[0])) & (col < after(cond.value[1]))
    test = test.fill_null(False)
    return ~test if negate else test


def _store(cond: Condition, ctx: Context) -> ir.BooleanValue:
    """The customer's home store, by store code."""
    op, negate = complement_of(cond.op)
    if op == "is_not_empty":
        test = ctx.customer.store_id.notnull()
    else:
        stores = ctx.table("store")
        picked = stores.filter(column_test(stores.code, op, cond.value))
        test = ctx.customer.store_id.isin(picked.id).fill_null(False)
    return ~test if negate else test


def _identity(cond: Condition, ctx: Context) -> ir.BooleanValue:
    ids = ctx.table("identity")
    has = ctx.member(ids.filter(ids.kind == cond.value))
    return ~has if cond.op == "lacks" else has


def _consent(channel: str) -> Any:
    def compile_(cond: Condition, ctx: Context) -> ir.BooleanValue:
        """granted: some address of the channel may receive marketing; withdrawn: there are
        statements and none grants; unknown: no statement at all (per brand when the
        segment has one)."""
        rows = ctx.table("consent")
        rows = rows.filter(rows.channel == channel, rows.purpose == "marketing")
        if ctx.scope.brand_id is not None:
            rows = rows.filter(rows.brand_id == ctx.scope.brand_id)
        stated = ctx.member(rows)
        granted = ctx.member(rows.filter(rows.status == "granted"))
        state = {"granted": granted, "withdrawn": stated & ~granted, "unknown": ~stated}
        op, negate = complement_of(cond.op)
        if op == "is_not_empty":
            test = stated
        else:
            wanted = [cond.value] if op == "=" else list(cond.value)
            test = state[wanted[0]]
            for w in wanted[1:]:
                test = test | state[w]
        return ~test if negate else test

    return compile_


FIELDS = (
    FieldSpec("city", "城市", PROFILE, "text", column_field("city"), suggest=_distinct("city")),
    FieldSpec(
        "province", "省份", PROFILE, "text", column_field("province"), suggest=_distinct("province")
    ),
    FieldSpec("gender", "性别", PROFILE, "enum", column_field("gender"), values=("female", "male")),
    FieldSpec(
        "source", "来源渠道", PROFILE, "text", column_field("source"), suggest=_distinct("source")
    ),
    FieldSpec("store", "归属门店(编码)", PROFILE, "text", _store),
    FieldSpec("first_seen", "首次出现日期", PROFILE, "date", _first_seen),
    FieldSpec(
        "identity", "身份标识", REACH, "kind", _identity, values=tuple(k.value for k in Kind)
    ),
    *(
        FieldSpec(
            f"consent.{channel}",
            f"{label}营销授权",
            REACH,
            "enum",
            _consent(channel),
            values=CONSENT_STATES,
        )
        for channel, label in CONSENT_CHANNELS.items()
    ),
)
