"""WeCom callback crypto: round trips and every kind of tampering is refused cleanly."""

from __future__ import annotations

import base64
import contextlib
import struct

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from siyu.wecom.connection.crypto import (
    CallbackCrypto,
    CallbackRejected,
    aes_key,
    new_aes_key,
    parse_xml,
    signature,
)

KEY = new_aes_key()
C = CallbackCrypto("tok3n", KEY, "wwcorp0001")


def _raw_encrypt(plain: bytes, key_text: str = KEY) -> str:
    key = aes_key(key_text)
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(plain) + enc.finalize()).decode()


def _pad(body: bytes) -> bytes:
    n = 32 - len(body) % 32
    return body + bytes([n]) * n


@given(
    st.binary(max_size=3000),
    st.text(min_size=1, max_size=12, alphabet="0123456789"),
    st.text(min_size=1, max_size=16, alphabet="abcdef0123456789"),
)
@settings(max_examples=200, deadline=None)
def test_round_trip_any_body(message: bytes, ts: str, nonce: str) -> None:
    body, sig = C.seal(message, ts, nonce)
    assert C.open_post(body, sig, ts, nonce) == message


def test_known_layout_is_what_wecom_sends() -> None:
    """16 random bytes, 4-byte big-endian length, message, corp id, PKCS#7 to 32 bytes."""
    encrypt = C.encrypt(b"<xml>hi</xml>", random16=b"R" * 16)
    key = aes_key(KEY)
    dec = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = dec.update(base64.b64decode(encrypt)) + dec.finalize()
    assert plain[:16] == b"R" * 16
    assert struct.unpack(">I", plain[16:20])[0] == 13
    assert plain[20:33] == b"<xml>hi</xml>"
    assert plain[33 : 33 + 10] == b"wwcorp0001"
    assert len(plain) % 32 == 0 and plain[-1] == 32 - (16 + 4 + 13 + 10) % 32
    assert signature("b", "a", "c", "d") == signature("a", "b", "c", "d")  # sorted


@given(st.binary(min_size=1, max_size=500), st.integers(min_value=0))
@settings(max_examples=200, deadline=None)
def test_any_tampered_envelope_is_rejected_and_decrypt_never_crashes(
    message: bytes, where: int
) -> None:
    """AES-CBC alone is malleable; the signature over the cipher text is what refuses a
    tampered callback. Decrypting the tampered text on its own may only reject or return bytes."""
    body, sig = C.seal(message, "1700000000", "n1")
    encrypt = body.split(b"<Encrypt><![CDATA[")[1].split(b"]]>")[0].decode()
    raw = bytearray(base64.b64decode(encrypt))
    raw[where % len(raw)] ^= 0x41
    tampered = base64.b64encode(bytes(raw)).decode()
    with pytest.raises(CallbackRejected, match="bad_signature"):
        C.open_post(body.replace(encrypt.encode(), tampered.encode()), sig, "1700000000", "n1")
    with contextlib.suppress(CallbackRejected):
        assert isinstance(C.decrypt(tampered), bytes)


@given(st.text(max_size=300))
@settings(max_examples=200, deadline=None)
def test_random_encrypt_strings_are_rejected(encrypt: str) -> None:
    with pytest.raises(CallbackRejected):
        C.decrypt(encrypt)


def test_bad_signature_wrong_corp_and_overflowing_length() -> None:
    body, sig = C.seal(b"<xml/>", "1700000000", "n1")
    with pytest.raises(CallbackRejected, match="bad_signature"):
        C.open_post(body, sig[:-1] + ("0" if sig[-1] != "0" else "1"), "1700000000", "n1")
    with pytest.raises(CallbackRejected, match="bad_signature"):
        C.open_post(body, sig, "1700000001", "n1")  # timestamp is signed too
    other = CallbackCrypto("tok3n", KEY, "wwcorp0002")
    with pytest.raises(CallbackRejected, match="bad_corp"):
        other.open_post(body, sig, "1700000000", "n1")
    overflow = _raw_encrypt(_pad(b"R" * 16 + struct.pack(">I", 10_000) + b"<xml/>wwcorp0001"))
    with pytest.raises(CallbackRejected, match="bad_length"):
        C.decrypt(overflow)
    bad_pad = _raw_encrypt(b"R" * 16 + struct.pack(">I", 6) + b"<xml/>wwcorp0001" + b"\x00" * 28)
    with pytest.raises(CallbackRejected, match="bad_padding"):
        C.decrypt(bad_pad)
    with pytest.raises(CallbackRejected, match="bad_base64"):
        C.decrypt("not base64!!")
    with pytest.raises(CallbackRejected, match="bad_length"):
        C.decrypt(base64.b64encode(b"short").decode())


@pytest.mark.parametrize(
    "doc",
    [
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        b"<xml><Encrypt>&b;</Encrypt></xml>",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        b"<xml><Encrypt>&e;</Encrypt></xml>",
        b"<xml><Encrypt>abc</Encrypt>",
        b"",
    ],
    ids=["entity-bomb", "external-entity", "unclosed", "empty"],
)
def test_hostile_xml_is_refused(doc: bytes) -> None:
    with pytest.raises(CallbackRejected, match="bad_xml"):
        parse_xml(doc)


def test_aes_key_must_be_43_base64_characters() -> None:
    for bad in ("short", "!" * 43, KEY + "A"):
        with pytest.raises(ValueError):
            aes_key(bad)
