"""The operator's words for trait codes (English, marked for the catalogue)."""

from __future__ import annotations

from siyu.i18n import N_

RFM_CLASS_LABELS: dict[str, str] = {
    "important_value": N_("Important value"),
    "important_develop": N_("Important to develop"),
    "important_keep": N_("Important to keep"),
    "important_retain": N_("Important to win back"),
    "general_value": N_("General value"),
    "general_develop": N_("General to develop"),
    "general_keep": N_("General to keep"),
    "general_retain": N_("General to win back"),
}
STAGE_LABELS: dict[str, str] = {
    "new": N_("New"),
    "active": N_("Active"),
    "at_risk": N_("At risk"),
    "lapsed": N_("Lapsed"),
    "won_back": N_("Won back"),
}
