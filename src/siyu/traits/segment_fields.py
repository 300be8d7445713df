"""Segment fields of customer intelligence: RFM scores and class, lifecycle stage, CLV.

Traits are read for the segment's brand (its scope) or across brands; a customer without
traits (never bought) has none of these values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ibis.expr.types as ir

from siyu.i18n import in_language
from siyu.segments.compiler import Context, column_test, complement_of
from siyu.segments.fields import FieldSpec
from siyu.segments.rules import Condition
from siyu.traits.labels import RFM_CLASS_LABELS, STAGE_LABELS

TRAITS = "客户特征"
# Rules may name a class or stage by its Chinese name or its code.
_CODES = {
    in_language("zh-CN", name): code for code, name in {**RFM_CLASS_LABELS, **STAGE_LABELS}.items()
}


def _code(value: Any) -> Any:
    return _CODES.get(value, value)


def _trait(column: str, scale: int = 1, codes: bool = False) -> Callable[..., ir.BooleanValue]:
    def compile_(cond: Condition, ctx: Context) -> ir.BooleanValue:
        traits = ctx.table("customer_trait")
        traits = traits.filter(traits.scope == (ctx.scope.brand_id or 0))
        op, negate = complement_of(cond.op)
        value = cond.value
        if codes:
            value = tuple(_code(v) for v in value) if isinstance(value, tuple) else _code(value)
        hit = ctx.member(traits.filter(column_test(traits[column], op, value, scale)))
        return ~hit if negate else hit

    return compile_


def _both(labels: dict[str, str]) -> tuple[str, ...]:
    return tuple(in_language("zh-CN", name) for name in labels.values()) + tuple(labels)


def _score(name: str, label: str, column: str) -> FieldSpec:
    return FieldSpec(name, label, TRAITS, "number", _trait(column), integer=True, unit="1-5")


FIELDS = (
    FieldSpec(
        "rfm.class",
        "RFM分层",
        TRAITS,
        "enum",
        _trait("rfm_class", codes=True),
        values=_both(RFM_CLASS_LABELS),
    ),
    _score("rfm.r", "R分(最近购买)", "r_score"),
    _score("rfm.f", "F分(购买频次)", "f_score"),
    _score("rfm.m", "M分(消费金额)", "m_score"),
    FieldSpec(
        "lifecycle",
        "生命周期",
        TRAITS,
        "enum",
        _trait("lifecycle_stage", codes=True),
        values=_both(STAGE_LABELS),
    ),
    FieldSpec(
        "recency_days",
        "距上次购买天数",
        TRAITS,
        "number",
        _trait("recency_days"),
        integer=True,
        unit="天",
    ),
    FieldSpec(
        "frequency",
        "窗口内购买天数",
        TRAITS,
        "number",
        _trait("frequency"),
        integer=True,
        unit="次",
    ),
    FieldSpec("monetary", "窗口内消费", TRAITS, "number", _trait("monetary_fen", 100), unit="元"),
    FieldSpec("clv", "客户终身价值(CLV)", TRAITS, "number", _trait("clv_fen", 100), unit="元"),
    FieldSpec("p_alive", "存活概率", TRAITS, "number", _trait("p_alive"), unit="0-1"),
    FieldSpec(
        "expected_spend",
        "预计消费(12个月)",
        TRAITS,
        "number",
        _trait("expected_spend_fen", 100),
        unit="元",
    ),
)
