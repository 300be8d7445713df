"""The suppression digest: HMAC-SHA256 under SIYU_SECRET_KEY (a plain hash of a phone number
could be reversed by hashing every number there is)."""

from __future__ import annotations

import hashlib
import hmac


def identity_digest(secret: bytes, kind: str, namespace: str, value: str) -> str:
    message = f"{kind}\x1f{namespace}\x1f{value}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()
