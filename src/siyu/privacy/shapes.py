"""The answers to PIPL requests: what is held about a person, and what an erasure did."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from siyu.shapes import Shape


class PersonExport(Shape):
    """Everything held about the person and the profiles merged into them, each row as
    stored (column: value), unmasked."""

    customer_id: int
    profiles: list[dict[str, Any]]
    identities: list[dict[str, Any]]
    consents: list[dict[str, Any]]
    orders: list[dict[str, Any]]
    events: list[dict[str, Any]]
    merges: list[dict[str, Any]]
    # what other capabilities hold, by "capability.section" (loyalty.memberships, …)
    held_elsewhere: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)


class ErasureOut(Shape):
    """What was erased where: rows by table, identities kept as HMAC suppression entries,
    the stored files and the analytical copy."""

    erased_profiles: int
    rows_deleted: dict[str, int]
    suppressed_identities: int
    reject_rows_removed: int
    storage: str
    analytical_copy: dict[str, Any]
