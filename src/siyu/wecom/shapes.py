"""WeCom's answers: status per corp, live codes and their figures, alerts, duplicates, keyword
rules and replies, benefit pools, handovers and group live codes."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from siyu.shapes import Shape


class SyncOut(Shape):
    id: int
    status: str
    position: dict[str, Any] | None
    counts: dict[str, Any] | None
    error: str | None
    started_at: str | None
    finished_at: str | None


class InboxFailure(Shape):
    id: int
    event: str | None
    error: str | None
    at: str | None


class ApiError(Shape):
    api: str
    errcode: int
    meaning: str
    count: int


class CorpStatus(Shape):
    """One connected corp: the last sync, the inbox backlog and failures, the last hour's API
    calls and errors; friendships and customers among those the viewer may see."""

    corp_id: str
    name: str | None
    staff: int
    friendships: int
    customers: int
    sync: SyncOut | None
    inbox: dict[str, int]
    inbox_failures: list[InboxFailure]
    api_calls_last_hour: int
    api_errors_last_hour: list[ApiError]


class WecomStatus(Shape):
    corps: list[CorpStatus]
    rejected_callbacks: dict[str, int]


class LiveCodeStaffOut(Shape):
    userid: str
    weight: int
    daily_limit: int


class LiveCodeOut(Shape):
    id: int
    name: str
    channel: str
    state: str
    rotation: str
    skip_verify: bool
    current_staff: str | None
    staff: list[LiveCodeStaffOut]
    tag_ids: list[int]
    welcome_id: int | None
    qr: str
    active: bool
    created_at: str | None


class LiveCodeRow(LiveCodeOut):
    net_adds: int


class StatsDay(Shape):
    date: str
    adds: int
    deletions: int
    net: int


class LiveCodeStats(Shape):
    live_code: int
    name: str
    adds: int
    deletions: int
    net_adds: int
    by_staff: dict[str, int]
    days: list[StatsDay]


class WelcomeOut(Shape):
    id: int
    text: str
    attachments: list[dict[str, Any]]


class AlertOut(Shape):
    id: int
    kind: str
    staff: str | None
    customer_id: int | None
    message: str | None
    at: str | None


class WelcomeStats(Shape):
    hours: int
    by_status: dict[str, int]
    p50_ms: int | None
    p99_ms: int | None


class Alerts(Shape):
    alerts: list[AlertOut]
    welcome: WelcomeStats


class DuplicateByCode(Shape):
    id: int
    name: str
    duplicate_adds: int


class DuplicateByStore(Shape):
    store_id: int | None
    customers: int


class DuplicateSample(Shape):
    customer_id: int
    staff: list[str]


class Duplicates(Shape):
    friendships: int
    customers: int
    customers_with_several_staff: int
    extra_friendships: int
    by_live_code: list[DuplicateByCode]
    by_store: list[DuplicateByStore]
    sample: list[DuplicateSample]


class KeywordRuleOut(Shape):
    """A rule in the order rules are tried, with its replies of the last 30 days."""

    id: int
    name: str
    match: str
    pattern: str
    reply_text: str
    pool: str | None
    tag_ids: list[int]
    channels: list[str]
    priority: int
    active: bool
    sent: int
    not_sent: int


class RuleActive(Shape):
    id: int
    active: bool


class KeywordReplyOut(Shape):
    id: int
    channel: str
    sender: str | None
    customer_id: int | None
    text: str | None
    rule_id: int | None
    status: str
    errcode: int | None
    meaning: str
    benefit_code: str | None
    at: str | None


class PoolStock(Shape):
    id: int
    name: str
    codes: int
    claimed: int
    left: int | None  # None: codes issued when claimed (a programme's coupon), no stock
    issued_by: str | None = None  # "loyalty:<coupon template id>" for such a pool


class RejectedCode(Shape):
    line: int
    reason: str


class CodesAdded(Shape):
    pool_id: int
    added: int
    already_in_pool: int
    rejected: list[RejectedCode]


class HandoverRow(Shape):
    """A handover with its items (those the viewer may see) counted by status."""

    id: int
    kind: str
    from_: str = Field(alias="from")
    to: str
    selection: dict[str, Any]
    status: str
    counts: dict[str, int]
    created_by: str | None
    created_at: str | None
    finished_at: str | None


class HandoverItemOut(Shape):
    type: str
    id: str
    customer_id: int | None
    to: str
    status: str
    errcode: int | None
    error: str | None
    attempts: int
    submitted_at: str | None
    finished_at: str | None


class HandoverDetail(HandoverRow):
    items: list[HandoverItemOut]


class HandoverRetried(HandoverDetail):
    retried: int


class GroupOut(Shape):
    chat_id: str
    name: str | None
    members: int
    dismissed: bool
    in_join_way: bool


class GroupCodeOut(Shape):
    id: int
    name: str
    state: str
    qr: str
    full: bool
    groups: list[GroupOut]
