"""Segment fields of orders: how many, how much and the average order, within a time window,
optionally only orders with a line of some category or SKU, on some platform or in some store.

Orders that count are paid and not refunded or cancelled (as in RFM); a partial refund nets
off. With a category or SKU filter the sum is what those lines cost; otherwise it is the net
paid amount of the orders. Sums and averages are in yuan."""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

from siyu.orders.models import PAID_STATUSES
from siyu.segments.compiler import Context, count_test, measure_test
from siyu.segments.fields import FieldSpec
from siyu.segments.rules import Condition

ORDERS = "订单"
FILTERS = ("category", "sku", "platform", "store")


def counted(cond: Condition, ctx: Context) -> tuple[ir.Table, bool]:
    """The orders (or, with a category/SKU filter, the matching lines joined to their orders)
    that count for the condition, and whether they are lines."""
    o = ctx.narrow(ctx.table("order"))
    o = o.filter(o.status.isin(PAID_STATUSES), ctx.within(o.paid_at, cond.window))
    if ctx.scope.brand_id is not None:
        o = o.filter(o.brand_id == ctx.scope.brand_id)
    where = dict(cond.where)
    if "platform" in where:
        o = o.filter(o.platform.isin(list(where["platform"])))
    if "store" in where:
        stores = ctx.table("store")
        o = o.filter(o.store_id.isin(stores.filter(stores.code.isin(list(where["store"]))).id))
    if "category" not in where and "sku" not in where:
        return o, False
    lines = ctx.table("order_line")
    if "category" in where:
        lines = lines.filter(lines.category.isin(list(where["category"])))
    if "sku" in where:
        products = ctx.table("product")
        skus = products.filter(products.sku.isin(list(where["sku"])))
        lines = lines.filter(lines.product_id.isin(skus.id))
    joined = o.join(lines, o.id == lines.order_id)
    return joined.select(
        customer_id=joined.customer_id, order_id=joined.order_id, fen=joined.amount_fen
    ), True


def per_customer(cond: Condition, ctx: Context) -> ir.Table:
    """customer_id, n (orders), fen (amount) for the condition's window and filters."""
    rows, lines = counted(cond, ctx)
    if not lines:
        return rows.group_by(customer_id=rows.customer_id).aggregate(
            n=rows.count(), fen=(rows.paid_fen - rows.refund_fen).sum()
        )
    return rows.group_by(customer_id=rows.customer_id).aggregate(
        n=rows.order_id.nunique(), fen=rows.fen.sum()
    )


def _count(cond: Condition, ctx: Context) -> ir.BooleanValue:
    rows, lines = counted(cond, ctx)
    per = per_customer(cond, ctx) if lines else None  # lines: count their distinct orders
    return count_test(ctx, rows, cond.op, cond.value, per)


def _sum(cond: Condition, ctx: Context) -> ir.BooleanValue:
    agg = per_customer(cond, ctx)
    return measure_test(ctx, agg, "fen", cond.op, _fen(cond.value), True)


def _aov(cond: Condition, ctx: Context) -> ir.BooleanValue:
    """The average is compared exactly: fen < value × n, never a rounded quotient."""
    agg = per_customer(cond, ctx)
    n, fen = agg.n, agg.fen
    target = _fen(cond.value)
    op = cond.op
    if op == "between":
        low, high = target
        hit = (fen >= n * low) & (fen <= n * high)
    else:
        rhs = n * ibis.literal(target)
        hit = {
            "=": fen == rhs,
            "!=": fen != rhs,
            "<": fen < rhs,
            "<=": fen <= rhs,
            ">": fen > rhs,
            ">=": fen >= rhs,
        }[op]
    return ctx.member(agg.filter(hit))


def _fen(value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(round(v * 100) for v in value)
    return round(value * 100)


def _spec(name: str, label: str, compile_: object, unit: str, integer: bool = False) -> FieldSpec:
    return FieldSpec(
        name,
        label,
        ORDERS,
        "measure",
        compile_,  # type: ignore[arg-type]
        windowed=True,
        filters=FILTERS,
        unit=unit,
        integer=integer,
    )


FIELDS = (
    _spec("orders.count", "订单数", _count, "单", integer=True),
    _spec("orders.sum", "消费金额", _sum, "元"),
    _spec("orders.aov", "客单价", _aov, "元"),
)
