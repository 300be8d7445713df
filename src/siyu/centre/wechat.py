"""Signing in with WeChat (the official account's web authorisation, ``oa.webauth``): the state
that ties WeChat's callback to the browser that left, the openid waiting for its first SMS
sign-in, and binding it to the customer then. The openid is bound only after an SMS code has
proved the phone: an openid alone says nothing about which customer the reader is."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from sqlalchemy.orm import Session

from siyu import clock
from siyu.centre.service import signed_in_customer
from siyu.config import Settings
from siyu.customers import identifiers as ids
from siyu.customers.queries import customers_by_identity
from siyu.customers.resolution import Resolver
from siyu.loyalty.membership import NoProgramme, centre_programme, membership
from siyu.untrusted import same_token

STATE_COOKIE = "siyu_wx_state"
BIND_COOKIE = "siyu_wx_bind"
STATE_SECONDS = 600  # from leaving for WeChat to coming back
BIND_SECONDS = 900  # from WeChat's answer to the SMS sign-in that binds it


def _mac(secret: bytes, purpose: str, text: str) -> str:
    return hmac.new(secret, f"{purpose}:{text}".encode(), hashlib.sha256).hexdigest()[:32]


def seal(secret: bytes, purpose: str, value: str) -> str:
    """``value`` for a cookie, with its time and a signature (no secret in it: openids are not)."""
    text = f"{value}|{int(time.time())}"
    return f"{text}|{_mac(secret, purpose, text)}"


def unseal(secret: bytes, purpose: str, sealed: str | None, seconds: int) -> str | None:
    """The value a sealed cookie holds, if Siyu sealed it for ``purpose`` within ``seconds``."""
    text, _bar, mac = (sealed or "")[:400].rpartition("|")
    value, _bar, stamp = text.rpartition("|")
    if not value or not stamp.isdigit() or not same_token(mac, _mac(secret, purpose, text)):
        return None
    return value if 0 <= time.time() - int(stamp) <= seconds else None


def new_state() -> str:
    return secrets.token_hex(16)


def member_reader(session: Session, settings: Settings, appid: str, openid: str) -> int | None:
    """The customer this official-account reader signs in as, when they are a member (bound by
    an SMS sign-in). A follower the account sync knows but who never proved a phone here gets
    None: they confirm one first."""
    customer_id = customers_by_identity(session, ids.Kind.openid.value, appid, [openid]).get(openid)
    who = signed_in_customer(session, customer_id) if customer_id is not None else None
    if who is None:
        return None
    try:
        programme = centre_programme(session, settings.centre_programme)
    except NoProgramme:
        return None
    return who if membership(session, programme, who) is not None else None


def reader_value(openid: str, unionid: str | None) -> str:
    """The reader waiting to be bound, for the bind cookie (ids hold no space)."""
    return f"{openid} {unionid}" if unionid else openid


def reader_of(value: str) -> tuple[str, str | None]:
    openid, _space, unionid = value.partition(" ")
    return openid, unionid or None


def bind(
    session: Session,
    settings: Settings,
    phone: str,
    appid: str,
    openid: str,
    unionid: str | None = None,
) -> int:
    """Bind the reader's openid (and unionid, under snsapi_userinfo) to the customer whose
    phone the SMS code just proved; returns the customer (the same, or the profile both were
    merged into when the openid already had one, e.g. a follower synced from the official
    account, or a WeCom friend with the same unionid). Identity resolution decides, as for any
    record carrying them."""
    resolver = Resolver(session.connection(), "member_centre", settings.secret_key_bytes())
    keys = [
        (ids.Kind.phone.value, "", phone),
        (ids.Kind.openid.value, appid, ids.normalise("openid", openid)),
    ]
    if unionid:
        keys.append((ids.Kind.unionid.value, "wechat", ids.normalise("unionid", unionid)))
    resolver.prefetch(keys)
    found = resolver.resolve(keys, {"source": "member_centre"}, clock.now())
    resolver.flush()
    return resolver.customer_for(found.customer_id)
