"""What every channel answers for one message, so the dispatcher can record it in the ledger
without knowing the provider: sent (with the provider's reference), failed for good, worth
trying again later, or ambiguous (the provider may have it; reconcile, never resend)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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
