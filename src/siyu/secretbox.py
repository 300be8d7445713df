"""Secrets at rest (DESIGN §4): WeCom corp secrets, callback keys and SMS keys are stored
encrypted under a key derived from ``SIYU_SECRET_KEY``, which lives outside the database, so a
copy of the database alone does not give away the brand's WeCom account.

Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) with the key derived by HKDF under its
own label, so the suppression HMACs and these ciphertexts never share a key.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from siyu.config import Settings, get_settings


class SecretUnreadable(RuntimeError):
    """The stored secret does not open with this SIYU_SECRET_KEY (the key was changed)."""


def _fernet(settings: Settings | None = None) -> Fernet:
    master = (settings or get_settings()).secret_key_bytes()
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"siyu secrets v1").derive(
        master
    )
    return Fernet(base64.urlsafe_b64encode(key))


def seal(plain: str, settings: Settings | None = None) -> str:
    return _fernet(settings).encrypt(plain.encode()).decode()


def unseal(sealed: str, settings: Settings | None = None) -> str:
    try:
        return _fernet(settings).decrypt(sealed.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable(
            "a stored secret cannot be decrypted: SIYU_SECRET_KEY differs from the one it was "
            "stored under; set the old key back or enter the secret again"
        ) from exc


def hint(plain: str) -> str:
    """What may be shown of a secret: its last four characters."""
    return f"…{plain[-4:]}" if len(plain) > 8 else "…"
