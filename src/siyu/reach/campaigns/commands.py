"""What an operator asks of reach, as one value each entry point builds: the API's body, the
command line's options and the console's form all become a ``PlanCampaign`` that
``service.plan_campaign`` checks (its refusals) and carries out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, kw_only=True)
class PlanCampaign:
    """A campaign to plan (a draft: nothing is sent until it is started).

    One channel with one template (``channel``, ``template``), or a priority list of
    channels with a template each (``channels``, ``templates``: the first channel a customer
    can be reached on is used), optionally A/B ``variants`` (each with its own templates and
    a weight; weights add up to 100). A customer-group campaign (channel ``wecom_group``) is
    aimed at groups by ``group_filter`` instead of a segment. Nothing here is checked: the
    service refuses what is wrong, whoever asked."""

    name: str
    segment_id: int | None = None
    channel: str | None = None
    template: dict[str, Any] | None = None
    channels: list[str] | None = None
    templates: dict[str, dict[str, Any]] | None = None
    group_filter: dict[str, Any] | None = None
    variants: list[dict[str, Any]] | None = None
    purpose: str = "marketing"
    holdout_pct: int = 0
    holdout_seed: int = 0
    audience_mode: str = "snapshot"
    scheduled_at: datetime | None = None
    recurrence: str = ""
    send_by_hours: int = 72
    cost_fen_per_message: int = 0
