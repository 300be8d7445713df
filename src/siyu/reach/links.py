"""Signed addresses in messages: the unsubscribe link of a marketing email (one per ledger row,
so the click names the customer and address without a login) and tracked short links.

A token is the ledger row id and an HMAC under a key derived from ``SIYU_SECRET_KEY``; a
forged or altered token is refused, so nobody can unsubscribe someone else by guessing ids.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from siyu.config import Settings


def _key(settings: Settings, purpose: str) -> bytes:
    return hmac.new(
        settings.secret_key_bytes(), f"siyu-links:{purpose}".encode(), "sha256"
    ).digest()


def sign_token(settings: Settings, purpose: str, value: int) -> str:
    mac = hmac.new(_key(settings, purpose), str(value).encode(), hashlib.sha256).digest()
    return f"{value}.{base64.urlsafe_b64encode(mac[:12]).decode().rstrip('=')}"


def read_token(settings: Settings, purpose: str, token: str) -> int | None:
    """The value a token carries, or None when it was not made by this deployment."""
    value, _, _mac = token.partition(".")
    if not value.isdigit() or len(value) > 18:
        return None
    expected = sign_token(settings, purpose, int(value))
    return int(value) if hmac.compare_digest(expected, token) else None


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
    parts = token.split(".")
    if len(parts) != 3 or not all(p.isalnum() and len(p) <= 12 for p in parts[:2]):
        return None
    try:
        a, b = int(parts[0], 36), int(parts[1], 36)
    except ValueError:
        return None
    return (a, b) if hmac.compare_digest(sign_pair(settings, purpose, a, b), token) else None
