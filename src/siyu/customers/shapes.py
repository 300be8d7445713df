"""The customer pool's answers: the list, the 360 detail, identity conflicts, merges."""

from __future__ import annotations

from typing import Any

from siyu.shapes import Shape, When


class CustomerRow(Shape):
    """One line of the customer list (name, phone and city masked)."""

    id: int
    name: str | None
    phone: str | None
    city: str | None
    source: str | None
    store: str | None
    first_seen_at: When | None
    suppressed: bool


class CustomerPage(Shape):
    total: int
    page: int
    per_page: int
    items: list[CustomerRow]


class IdentityOut(Shape):
    kind: str
    namespace: str
    value: str
    verified: bool
    source: str
    created_at: str | None


class ConsentRow(Shape):
    id: int
    brand_id: int
    channel: str
    purpose: str
    address: str
    status: str
    source: str
    evidence: str | None
    evidence_ref: str | None
    recorded_by: str | None
    recorded_at: str | None


class OrderLineOut(Shape):
    sku: str | None
    product: str | None
    category: str | None
    quantity: int | None
    amount_fen: int | None


class OrderOut(Shape):
    id: int
    platform: str
    order_id: str
    status: str
    paid_fen: int
    refund_fen: int
    paid_at: str | None
    store_id: int | None
    lines: list[OrderLineOut]


class EventOut(Shape):
    id: int
    type: str
    name: str | None
    occurred_at: str | None
    properties: dict[str, Any] | None


class MergeOut(Shape):
    id: int
    winner_id: int
    loser_id: int
    reason: str
    actor: str
    created_at: str | None
    undone_at: str | None


class CustomerDetail(Shape):
    """A customer's 360: the profile (masked unless ``unmasked``), identities, consent,
    orders, events and merges, with the insight beside them (tags, traits, persona,
    timeline)."""

    id: int
    status: str
    name: str | None
    gender: str | None
    birthday: str | None
    province: str | None
    city: str | None
    source: str | None
    store: str | None
    first_seen_at: str | None
    suppressed: bool
    do_not_disturb: bool
    do_not_disturb_source: str | None
    do_not_disturb_reason: str | None
    do_not_disturb_by: str | None
    do_not_disturb_at: str | None
    merged_into_id: int | None
    unmasked: bool
    order_count: int
    spend_fen: int
    identities: list[IdentityOut]
    consents: list[ConsentRow]
    orders: list[OrderOut]
    events: list[EventOut]
    merges: list[MergeOut]
    tags: list[dict[str, Any]]
    orders_summary: dict[str, Any]
    traits: list[dict[str, Any]]
    persona: Any
    timeline: list[dict[str, Any]]


class CardIdentity(Shape):
    kind: str
    namespace: str
    value: str


class ProfileCard(Shape):
    """What tells two profiles apart in a conflict."""

    id: int
    status: str
    name: str | None
    city: str | None
    source: str | None
    store: str | None
    first_seen_at: When | None
    do_not_disturb: bool
    suppressed: bool
    orders: int
    spend_fen: int
    identities: list[CardIdentity]


class ConflictOut(Shape):
    id: int
    kind: str
    source: str
    created_at: When
    a: ProfileCard
    b: ProfileCard


class ConflictPageOut(Shape):
    total: int
    page: int
    per_page: int
    unmasked: bool
    items: list[ConflictOut]


class MergeDone(Shape):
    merge_id: int


class UnmergeDone(Shape):
    restored_customer_id: int


class KeptApart(Shape):
    closed: int
