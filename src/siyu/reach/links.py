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
