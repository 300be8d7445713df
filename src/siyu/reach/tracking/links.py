"""Signed addresses in messages: the unsubscribe link of a marketing email (one per ledger row,
so the click names the customer and address without a login) and tracked short links.

A token is the ledger row id and an HMAC under a key derived from ``SIYU_SECRET_KEY``; a
forged or altered token is refused, so nobody can unsubscribe someone else by guessing ids.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from siyu.config import Settings
from siyu.untrusted import BIG_ID_MAX, same_token, whole_number

_B36 = re.compile(r"[0-9a-zA-Z]{1,12}")


def _key(settings: Settings, purpose: str) -> bytes:
    return hmac.new(
        settings.secret_key_bytes(), f"siyu-links:{purpose}".encode(), "sha256"
    ).digest()


def sign_token(settings: Settings, purpose: str, value: int) -> str:
    mac = hmac.new(_key(settings, purpose), str(value).encode(), hashlib.sha256).digest()
    return f"{value}.{base64.urlsafe_b64encode(mac[:12]).decode().rstrip('=')}"


def read_token(settings: Settings, purpose: str, token: str) -> int | None:
    """The value a token carries, or None when it was not made by this deployment."""
    value = whole_number(token.partition(".")[0], most=BIG_ID_MAX)
    if value is None:
        return None
    return value if same_token(token, sign_token(settings, purpose, value)) else None


def unsubscribe_url(settings: Settings, row_id: int) -> str:
    return f"{settings.public_url.rstrip('/')}/u/{sign_token(settings, 'unsubscribe', row_id)}"


def _b36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def sign_pair(settings: Settings, purpose: str, a: int, b: int) -> str:
    """A compact token for two numbers (a short link must fit an SMS variable): base-36 values
    and a 48-bit MAC — enough against forged clicks, which could only count a click falsely."""
    body = f"{_b36(a)}.{_b36(b)}"
    mac = hmac.new(_key(settings, purpose), body.encode(), hashlib.sha256).digest()[:6]
    return f"{body}.{base64.urlsafe_b64encode(mac).decode()}"


def read_pair(settings: Settings, purpose: str, token: str) -> tuple[int, int] | None:
    """The two numbers a token carries, or None when it was not made by this deployment (12
    base-36 digits at most: below 2**63)."""
    parts = token.split(".")
    if len(parts) != 3 or not all(_B36.fullmatch(p) for p in parts[:2]):
        return None
    a, b = int(parts[0], 36), int(parts[1], 36)
    return (a, b) if same_token(token, sign_pair(settings, purpose, a, b)) else None
