"""The persona line of the customer 360, in plain Chinese."""

from __future__ import annotations

from datetime import date

from siyu.customers.insight import persona

SUMMARY = {"orders": 3, "favourite_categories": [{"category": "护肤", "spend_fen": 9900}]}


def test_a_recent_valuable_customer() -> None:
    overall = {
        "rfm_class": "important_value",
        "lifecycle_stage": "active",
        "recency_days": 12,
        "last_purchase_on": "2026-06-18",
    }
    assert (
        persona("上海", overall, SUMMARY, date(2026, 6, 30))
        == "上海 · 重要价值客户 · 活跃 · 近30天有购买 · 偏好护肤"
    )


def test_a_lapsed_customer_outside_the_rfm_window() -> None:
    overall = {
        "rfm_class": None,
        "lifecycle_stage": "lapsed",
        "recency_days": None,
        "last_purchase_on": "2025-06-15",
    }
    line = persona(None, overall, {"orders": 1, "favourite_categories": []}, date(2026, 6, 30))
    assert line == "流失 · 近360天未购"


def test_not_yet_computed_or_never_bought() -> None:
    assert (
        persona("杭州", None, {"orders": 0, "favourite_categories": []}, date(2026, 6, 30))
        == "杭州 · 尚未购买"
    )
    assert persona(None, None, SUMMARY, date(2026, 6, 30)) == "待计算 · 偏好护肤"
