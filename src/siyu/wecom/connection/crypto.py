"""WeCom callback cryptography, as WeCom specifies it for every callback URL.

signature = SHA1 over the sorted strings (token, timestamp, nonce, encrypt), hex.
AES-256-CBC: key = base64(EncodingAESKey + "="), IV = the key's first 16 bytes, PKCS#7 padded
to 32-byte blocks. Plain text = 16 random bytes + 4-byte big-endian length + message + receive id
(the corp id), so a message meant for another corp is refused.

Written on ``cryptography`` rather than wechatpy's WeChatCrypto (DESIGN §3 allows either) so that
the signature is compared in constant time, the padding and length are checked strictly (a
malformed body is a clean ``CallbackRejected``, never an IndexError), and the XML is parsed by
defusedxml with a size cap before anything else looks at it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import struct
from dataclasses import dataclass
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as safe_xml
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from siyu.untrusted import same_token

BLOCK = 32  # WeCom pads to 32 bytes, not AES's 16
MAX_ENCRYPTED = 256 * 1024  # characters of base64 accepted in one callback


class CallbackRejected(ValueError):
    """A callback that is not from WeCom for this corp, or is malformed; ``reason`` is a short
    machine word (bad_signature, bad_corp, bad_base64, bad_padding, bad_length, bad_xml, …)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key behind a 43-character EncodingAESKey."""
    if len(encoding_aes_key) != 43:
        raise ValueError("EncodingAESKey must be 43 characters")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except binascii.Error as exc:
        raise ValueError("EncodingAESKey is not base64") from exc
    if len(key) != 32:
        raise ValueError("EncodingAESKey must decode to 32 bytes")
    return key


def new_aes_key() -> str:
    """A fresh EncodingAESKey (43 base64 characters), as WeCom's admin page generates one."""
    return base64.b64encode(os.urandom(32)).decode()[:43]


def signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypt])).encode()).hexdigest()  # noqa: S324 - WeCom's protocol


@dataclass(frozen=True)
class CallbackCrypto:
    """One corp's (token, EncodingAESKey, corp id) triple: verifies, decrypts and encrypts."""

    token: str
    encoding_aes_key: str
    receive_id: str

    @property
    def key(self) -> bytes:
        return aes_key(self.encoding_aes_key)

    def check_signature(self, msg_signature: str, timestamp: str, nonce: str, encrypt: str) -> None:
        expected = signature(self.token, timestamp, nonce, encrypt)
        if not same_token(expected, msg_signature.lower()):
            raise CallbackRejected("bad_signature")

    def decrypt(self, encrypt: str) -> bytes:
        """The message inside ``encrypt`` (bytes), after checking padding, length and corp id."""
        if len(encrypt) > MAX_ENCRYPTED:
            raise CallbackRejected("too_large")
        try:
            data = base64.b64decode(encrypt, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CallbackRejected("bad_base64") from exc
        if not data or len(data) % 16:
            raise CallbackRejected("bad_length", "cipher text is not whole AES blocks")
        key = self.key
        dec = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
        plain = dec.update(data) + dec.finalize()
        pad = plain[-1]
        if not 1 <= pad <= BLOCK or plain[-pad:] != bytes([pad]) * pad:
            raise CallbackRejected("bad_padding")
        plain = plain[:-pad]
        if len(plain) < 20:
            raise CallbackRejected("bad_length", "shorter than its header")
        (length,) = struct.unpack(">I", plain[16:20])
        if length > len(plain) - 20:
            raise CallbackRejected("bad_length", "message length overflows the plain text")
        message, receive_id = plain[20 : 20 + length], plain[20 + length :]
        if not same_token(receive_id, self.receive_id):
            raise CallbackRejected("bad_corp", "receive id is not this corp")
        return message

    def encrypt(self, message: bytes, random16: bytes | None = None) -> str:
        body = (random16 or os.urandom(16)) + struct.pack(">I", len(message)) + message
        body += self.receive_id.encode()
        pad = BLOCK - len(body) % BLOCK
        body += bytes([pad]) * pad
        key = self.key
        enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
        return base64.b64encode(enc.update(body) + enc.finalize()).decode()

    # -- whole callbacks ------------------------------------------------------------------------
    def verify_url(self, msg_signature: str, timestamp: str, nonce: str, echostr: str) -> bytes:
        """GET verification: WeCom expects the decrypted echostr back as the response body."""
        self.check_signature(msg_signature, timestamp, nonce, echostr)
        return self.decrypt(echostr)

    def open_post(self, body: bytes, msg_signature: str, timestamp: str, nonce: str) -> bytes:
        """The decrypted XML of a POSTed callback envelope."""
        encrypt = envelope_encrypt(body)
        self.check_signature(msg_signature, timestamp, nonce, encrypt)
        return self.decrypt(encrypt)

    def seal(self, message: bytes, timestamp: str, nonce: str) -> tuple[bytes, str]:
        """An envelope as WeCom POSTs it, and its msg_signature (the simulator's side)."""
        encrypt = self.encrypt(message)
        body = (
            f"<xml><ToUserName><![CDATA[{self.receive_id}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypt}]]></Encrypt><AgentID><![CDATA[]]></AgentID></xml>"
        ).encode()
        return body, signature(self.token, timestamp, nonce, encrypt)


def parse_xml(data: bytes) -> Element:
    """XML from outside, parsed by defusedxml: entities, DTDs and external references refused."""
    try:
        return safe_xml.fromstring(data, forbid_dtd=True)
    except Exception as exc:  # defusedxml raises several types for bombs, DTDs and bad syntax
        raise CallbackRejected("bad_xml", type(exc).__name__) from exc


def envelope_encrypt(body: bytes) -> str:
    root = parse_xml(body)
    node = root.find("Encrypt")
    if node is None or not (node.text or "").strip():
        raise CallbackRejected("bad_xml", "no Encrypt element")
    return (node.text or "").strip()


def xml_fields(data: bytes) -> dict[str, str]:
    """A decrypted event's top-level fields as a flat dict (WeCom events are flat XML)."""
    root = parse_xml(data)
    out: dict[str, str] = {}
    for child in root:
        if len(child):  # nested blocks (e.g. a kf event's list) keep their raw text children
            out[child.tag] = ",".join((c.text or "").strip() for c in child)
        else:
            out[child.tag] = (child.text or "").strip()
    return out
