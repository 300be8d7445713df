"""A local mail relay (aiosmtpd) standing in for the brand's SMTP service in tests and the
demo: it keeps every message it accepted, and can refuse (451 / 550) or take a message and
answer too late, so a client sees the ambiguous case."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Mailbox:
    messages: list[EmailMessage] = field(default_factory=list)
    faults: list[list[Any]] = field(default_factory=list)  # [reply or "slow", times, seconds]
    attempts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def inject(self, reply: str, times: int = 1, seconds: float = 0.0) -> None:
        """The next ``times`` messages get ``reply`` (e.g. "451 try later"); "slow" stores the
        message but answers only after ``seconds``."""
        self.faults.append([reply, times, seconds])

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.attempts += 1
            fault = next((f for f in self.faults if f[1] > 0), None)
            if fault is not None:
                fault[1] -= 1
        if fault is not None and fault[0] != "slow":
            return str(fault[0])
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(parsed)
        if fault is not None:
            await asyncio.sleep(float(fault[2]))
        return "250 Message accepted for delivery"


class SmtpServer:
    """The relay on a free local port, in a thread of its own."""

    def __init__(self, mailbox: Mailbox | None = None, port: int = 0) -> None:
        self.mailbox = mailbox or Mailbox()
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=port or _free())
        self.controller.start()
        self.host, self.port = "127.0.0.1", self.controller.port

    def stop(self) -> None:
        self.controller.stop()


def _free() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
