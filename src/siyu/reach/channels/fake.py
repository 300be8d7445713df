"""A channel in memory, for service tests: it keeps every message it was asked to send and
answers each recipient as the test says (accepted by default, refused for good, failing for
now, or taken with its answer lost), so the send policy and the ledger can be tested without a
gateway. The provider simulators (``siyu.simulators``) stay for tests of the real channels.
"""

from __future__ import annotations

import itertools
from collections import deque
from datetime import datetime

from siyu.reach.channels.base import Delivery, Outgoing, SendResult


class FakeChannel:
    """Answers per address: ``refuse`` holds for every later message to it; ``fail_for_now``
    and ``lose_answer`` for the next ones, after which the address is accepted again."""

    def __init__(
        self, name: str = "sms", *, reconcilable: bool = True, absence_proves_unsent: bool = True
    ) -> None:
        self.name = name
        self.reconcilable = reconcilable
        self.absence_proves_unsent = absence_proves_unsent
        self.asked: list[Outgoing] = []  # every message send() was given, in order
        self.taken: dict[str, Outgoing] = {}  # by ref: what the provider holds
        self._provider_refs: dict[str, str] = {}
        self._numbers = itertools.count(1)
        self._refused: dict[str, tuple[str, str]] = {}
        self._next: dict[str, deque[SendResult]] = {}

    # -- what the test says ------------------------------------------------------------------------
    def refuse(self, address: str, code: str = "refused", error: str = "") -> None:
        """Every message to ``address`` fails for good (a number that does not exist)."""
        self._refused[address] = (code, error or f"{address} refused")

    def fail_for_now(
        self,
        address: str,
        times: int = 1,
        *,
        code: str = "busy",
        retry_after: float | None = None,
    ) -> None:
        """The next ``times`` messages to ``address`` fail in a way worth trying again."""
        for _ in range(times):
            self._answer(address, SendResult("retry", code=code, retry_after=retry_after))

    def lose_answer(self, address: str, *, taken: bool = True) -> None:
        """The next message to ``address`` gets no answer: the provider took it (``taken``)
        or never saw it, and only ``delivery`` can tell which."""
        self._answer(address, SendResult("ambiguous", code="lost" if taken else "unsent"))

    def _answer(self, address: str, result: SendResult) -> None:
        self._next.setdefault(address, deque()).append(result)

    # -- the Channel protocol ----------------------------------------------------------------------
    def send(self, message: Outgoing) -> SendResult:
        self.asked.append(message)
        if message.address in self._refused:
            code, error = self._refused[message.address]
            return SendResult("failed", code=code, error=error)
        queued = self._next.get(message.address)
        if queued:
            result = queued.popleft()
            if result.outcome == "ambiguous" and result.code == "lost":
                self._take(message)
            return result
        return SendResult("sent", provider_ref=self._take(message))

    def _take(self, message: Outgoing) -> str:
        self.taken[message.ref] = message
        provider_ref = self._provider_refs[message.ref] = f"{self.name}-{next(self._numbers)}"
        return provider_ref

    def delivery(self, address: str, ref: str, since: datetime) -> Delivery:
        message = self.taken.get(ref)
        if message is None or message.address != address:
            return Delivery(found=False)
        return Delivery(found=True, delivered=True, provider_ref=self._provider_refs[ref])

    # -- what the test looks at --------------------------------------------------------------------
    def to(self, address: str) -> list[Outgoing]:
        """The messages send() was given for ``address``, whatever their answer."""
        return [m for m in self.asked if m.address == address]
