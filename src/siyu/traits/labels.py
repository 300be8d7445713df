"""The operator's words for trait codes (zh-CN first, then English)."""

from __future__ import annotations

RFM_CLASS_LABELS: dict[str, tuple[str, str]] = {
    "important_value": ("重要价值客户", "Important value"),
    "important_develop": ("重要发展客户", "Important to develop"),
    "important_keep": ("重要保持客户", "Important to keep"),
    "important_retain": ("重要挽留客户", "Important to win back"),
    "general_value": ("一般价值客户", "General value"),
    "general_develop": ("一般发展客户", "General to develop"),
    "general_keep": ("一般保持客户", "General to keep"),
    "general_retain": ("一般挽留客户", "General to win back"),
}
STAGE_LABELS: dict[str, tuple[str, str]] = {
    "new": ("新客", "New"),
    "active": ("活跃", "Active"),
    "at_risk": ("沉睡预警", "At risk"),
    "lapsed": ("流失", "Lapsed"),
    "won_back": ("回流", "Won back"),
}
