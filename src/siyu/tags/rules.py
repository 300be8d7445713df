"""Conditions of rule-based tags, checked strictly on the way in and evaluated as Ibis
expressions on the analytical copy (so they run on DuckDB or Spark like the other traits).

A condition is JSON with a ``kind``:

- ``{"kind": "bought_category", "category": "防晒", "days": 90}`` — a paid order with a line of
  that category in the last ``days`` days;
- ``{"kind": "total_spend", "min_yuan": 1000, "days": 365}`` — net spend of paid orders at least
  that much (``days`` optional: all time);
- ``{"kind": "city_in", "cities": ["上海", "杭州"]}``;
- ``{"kind": "source_in", "sources": ["douyin", "pos"]}`` — where the customer came from.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import ibis
import ibis.expr.types as ir
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from siyu.orders.models import PAID_STATUSES
from siyu.refusals import Refusal


class TagRuleError(Refusal):
    """A condition that cannot be used; the message says which part and why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BoughtCategory(_Strict):
    kind: Literal["bought_category"]
    category: str = Field(min_length=1, max_length=100)
    days: int = Field(ge=1, le=3650)


class TotalSpend(_Strict):
    kind: Literal["total_spend"]
    min_yuan: float = Field(ge=0)
    days: int | None = Field(None, ge=1, le=3650)


class CityIn(_Strict):
    kind: Literal["city_in"]
    cities: list[Annotated[str, Field(min_length=1, max_length=32)]] = Field(min_length=1)


class SourceIn(_Strict):
    kind: Literal["source_in"]
    sources: list[Annotated[str, Field(min_length=1, max_length=32)]] = Field(min_length=1)


Condition = Annotated[BoughtCategory | TotalSpend | CityIn | SourceIn, Field(discriminator="kind")]
_ADAPTER: TypeAdapter[Any] = TypeAdapter(Condition)
KINDS = ("bought_category", "total_spend", "city_in", "source_in")


def parse_condition(data: Any) -> BoughtCategory | TotalSpend | CityIn | SourceIn:
    """The condition, or TagRuleError naming the field that is wrong."""
    if not isinstance(data, dict) or data.get("kind") not in KINDS:
        kind = data.get("kind") if isinstance(data, dict) else None
        raise TagRuleError(
            "unknown rule kind {kind!r}; use one of {kinds}", kind=kind, kinds=", ".join(KINDS)
        )
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or 'condition'}: {e['msg']}"
            for e in exc.errors()
        )
        raise TagRuleError(
            "bad {kind} rule: {problems}", kind=data["kind"], problems=problems
        ) from None


def matching(
    tables: dict[str, ir.Table], cond: Any, today_epoch_day: int, utc_offset_minutes: int
) -> ir.Table:
    """The active customers meeting ``cond``: a one-column table of customer_id."""
    customers = tables["customer"].filter(tables["customer"].status == "active")
    if isinstance(cond, CityIn):
        hit = customers.filter(customers.city.isin(cond.cities))
    elif isinstance(cond, SourceIn):
        hit = customers.filter(customers.source.isin(cond.sources))
    else:
        orders = tables["order"]
        paid = orders.filter(orders.status.isin(PAID_STATUSES), orders.paid_at.notnull())
        day = (paid.paid_at + ibis.interval(minutes=utc_offset_minutes)).date().epoch_days()
        days = getattr(cond, "days", None)
        if days is not None:
            paid = paid.filter(day > today_epoch_day - days)
        if isinstance(cond, BoughtCategory):
            lines = tables["order_line"].filter(tables["order_line"].category == cond.category)
            buyers = paid.join(lines, paid.id == lines.order_id).select(paid.customer_id)
        else:
            spend = paid.group_by("customer_id").aggregate(
                net=(paid.paid_fen - paid.refund_fen).sum()
            )
            buyers = spend.filter(spend.net >= round(cond.min_yuan * 100)).select("customer_id")
        hit = customers.semi_join(buyers, customers.id == buyers.customer_id)
    return hit.select(customer_id=hit.id).distinct()
