"""What every channel answers for one message, so the dispatcher can record it in the ledger
without knowing the provider: sent (with the provider's reference), failed for good, worth
trying again later, or ambiguous (the provider may have it; reconcile, never resend).

A channel is anything with ``name``, ``send(Outgoing)`` and ``delivery(...)``; ``reconcilable``
says whether the provider can be asked about a message whose answer was lost (SMS can, by its
OutId; SMTP and webhooks cannot, so their ambiguous rows wait for an operator);
``absence_proves_unsent`` whether a message the provider does not know may be sent again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

Outcome = Literal["sent", "failed", "retry", "ambiguous"]


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    provider_ref: str | None = None
    code: str = ""
    error: str = ""
    retry_after: float | None = None  # seconds, when the provider said


@dataclass(frozen=True)
class Delivery:
    """What the provider knows of a message it was given (for receipts and reconciliation)."""

    found: bool
    delivered: bool | None = None  # None: still on its way
    provider_ref: str | None = None
    code: str = ""


@dataclass(frozen=True)
class Outgoing:
    """One rendered message on its way out. ``ref`` is the ledger's key for it at the provider
    (an SMS OutId, an email Message-ID, a webhook's idempotency key)."""

    ref: str
    row_id: int
    campaign_id: int | None  # None: a transactional message
    customer_id: int
    address: str
    parts: Mapping[str, str]
    template: Mapping[str, Any]
    purpose: str
    extra: Mapping[str, str] = field(default_factory=dict)  # e.g. the unsubscribe URL
    channel: str = ""


class Channel(Protocol):
    name: str
    reconcilable: bool
    # when the provider does not know a message: may that be taken as "it never left"?
    absence_proves_unsent: bool

    def send(self, message: Outgoing) -> SendResult: ...

    def delivery(self, address: str, ref: str, since: datetime) -> Delivery: ...
