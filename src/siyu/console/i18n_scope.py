"""Words for pages whose numbers a store guide sees over their own scope (DESIGN §11: one
visibility rule), and for what is kept for the whole brand and therefore not shown to them."""

from __future__ import annotations

SCOPE_TEXT: dict[str, dict[str, str]] = {
    "zh-CN": {
        "scope.note": "只计您可见的顾客：归属本店或在本店买过的顾客，以及您的企业微信好友。",
        "scope.no_history": "人数变化按全品牌记录，不在您的范围内显示。",
        "scope.insight": "您可见顾客在上次计算时的分布；趋势按全品牌记录，不在您的范围内显示。",
    },
    "en": {
        "scope.note": "Counts only the customers you may see: those whose home store is yours or "
        "who bought there, and your WeCom friends.",
        "scope.no_history": "The size history is kept for the whole brand, so it is not shown "
        "for your scope.",
        "scope.insight": "How the customers you may see stood at the last recompute; the trend "
        "is kept for the whole brand, so it is not shown for your scope.",
    },
}
