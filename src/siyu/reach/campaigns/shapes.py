"""Campaigns' answers: the list, one campaign's progress and funnel, previews, results, the
ambiguous messages and the frequency caps."""

from __future__ import annotations

from typing import Any

from siyu.shapes import Number, Shape


class VariantOut(Shape):
    key: str
    weight: int


class CampaignSummary(Shape):
    """A campaign as lists show it; ``scoped``: ``audience_size`` counts only the customers the
    viewer may see."""

    id: int
    name: str
    purpose: str
    segment_id: int | None
    channels: list[str]
    status: str
    holdout_pct: int
    variants: list[VariantOut]
    audience_mode: str
    group_filter: dict[str, Any]
    scheduled_at: str | None
    recurrence: str
    runs: int
    next_run_at: str | None
    audience_size: int
    scoped: bool
    approved_by: str | None
    created_by: str
    created_at: str
    started_at: str | None
    finished_at: str | None


class Progress(Shape):
    total: int
    settled: int
    percent: float
    by_state: dict[str, int]


class CampaignRow(CampaignSummary):
    progress: Progress


class Funnel(Shape):
    targeted: int
    held_out: int
    eligible: int
    sent: int
    failed: int
    ambiguous: int
    waiting: int


class GroupReach(Shape):
    by_state: dict[str, int]
    members_reached: int


class CampaignDetail(CampaignRow):
    """Progress, funnel, skip reasons and messages by channel; ``groups`` for a customer-group
    campaign only."""

    templates: dict[str, Any]
    funnel: Funnel
    skip_reasons: dict[str, int]
    variants_funnel: dict[str, dict[str, int]]
    sent_by_channel: dict[str, int]
    groups: GroupReach | None = None


class PreviewSample(Shape):
    """One customer's message; ``skipped`` instead of ``parts`` when it cannot be addressed,
    ``content``, ``chars`` and ``sms_count`` for SMS."""

    customer_id: int
    name: str | None
    skipped: str | None = None
    parts: dict[str, Any] | None = None
    content: str | None = None
    chars: int | None = None
    sms_count: int | None = None


class MessagePreview(Shape):
    variables: list[str]
    unmasked: bool
    samples: list[PreviewSample]


class ResultGroup(Shape):
    customers: int
    converted: int
    conversion_pct: Number
    revenue_fen: Number


class LastTouch(Shape):
    orders: int
    revenue_fen: int


class VariantResult(ResultGroup):
    lift_pp: Number | None = None
    lift_ci_pp: list[Number] | None = None
    revenue_per_customer_diff_fen: Number | None = None
    incremental_revenue_fen: Number | None = None
    incremental_revenue_ci_fen: list[Number] | None = None


class CampaignResults(Shape):
    """Conversions, last-touch revenue, lift against the holdout with its 95 % interval, cost
    and ROI; a campaign with nothing in the ledger yet has the lift keys, and no groups."""

    campaign_id: int
    window_days: int
    funnel: dict[str, int]
    treatment: ResultGroup | None = None
    holdout: ResultGroup | None = None
    last_touch: LastTouch | None = None
    lift_pp: Number | None
    lift_ci_pp: list[Number] | None
    revenue_per_customer_diff_fen: Number | None = None
    incremental_revenue_fen: Number | None
    incremental_revenue_ci_fen: list[Number] | None = None
    cost_fen: int
    roi: Number | None
    variants: dict[str, VariantResult]


class AmbiguousRow(Shape):
    id: int
    campaign_id: int
    campaign: str
    customer_id: int
    channel: str
    reason: str | None
    error: str | None
    since: str


class Settled(Shape):
    id: int
    state: str
    reason: str | None


class CapOut(Shape):
    channel: str
    period: str
    most: int


class PushAnswer(Shape):
    """What Aliyun's SMS pushes are answered (its own format)."""

    code: int
    msg: str
