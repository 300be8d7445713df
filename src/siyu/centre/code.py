"""The member code a till scans from the member's card: the member and the current minute,
signed with the server's key. It changes every ``WINDOW_SECONDS``, and the till's look-up
accepts it for one more window only, so a screenshot passed around stops working within two
minutes; nothing in it names the person."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime

from siyu import clock
from siyu.untrusted import same_token

WINDOW_SECONDS = 60
_SHAPE = re.compile(r"SY(\d{1,10})-(\d{1,12})-([0-9A-F]{12})")


def _signature(secret: bytes, member_id: int, window: int) -> str:
    text = f"member-code:{member_id}:{window}".encode()
    return hmac.new(secret, text, hashlib.sha256).hexdigest()[:12].upper()


def _window(now: datetime) -> int:
    return int(now.timestamp()) // WINDOW_SECONDS


def current(secret: bytes, member_id: int, now: datetime | None = None) -> str:
    window = _window(now or clock.now())
    return f"SY{member_id}-{window}-{_signature(secret, member_id, window)}"


def member_of(secret: bytes, text: str, now: datetime | None = None) -> int | None:
    """The member a scanned code names, if it is genuine and of this minute or the last."""
    found = _SHAPE.fullmatch((text or "").strip().upper())
    if found is None:
        return None
    member_id, window = int(found.group(1)), int(found.group(2))
    if _window(now or clock.now()) - window not in (0, 1):
        return None
    if not same_token(found.group(3), _signature(secret, member_id, window)):
        return None
    return member_id
