"""Connecting WeCom corps: their configuration (secrets sealed), and the crypto and API client
each one needs. Several corps may be connected (a group with several brands)."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock, runtime
from siyu.accounts.service import record_audit
from siyu.brands.models import Brand
from siyu.config import Settings, get_settings
from siyu.db import new_session
from siyu.refusals import Refusal
from siyu.secretbox import hint, seal, unseal
from siyu.wecom.connection.client import WecomClient
from siyu.wecom.connection.crypto import CallbackCrypto, aes_key
from siyu.wecom.connection.models import WecomApiCall, WecomCorp

_CORP_ID = re.compile(r"^[A-Za-z0-9_-]{4,64}$")
_AGENT_ID = re.compile(r"^\d{1,12}$")
_TOKEN = re.compile(r"^[A-Za-z0-9]{1,32}$")


class WecomConfigError(Refusal):
    """A corp configuration that cannot work; the message says which field and why."""


@dataclass(frozen=True)
class CorpView:
    """What may be shown of a corp: never the secrets themselves."""

    id: int
    corp_id: str
    name: str
    agent_id: str
    brand_id: int | None
    secret_hint: str


def _view(corp: WecomCorp) -> CorpView:
    return CorpView(
        corp.id, corp.corp_id, corp.name, corp.agent_id, corp.brand_id, corp.secret_hint
    )


def add_corp(
    session: Session,
    *,
    corp_id: str,
    agent_id: str,
    secret: str,
    token: str,
    aes_key_text: str,
    name: str = "",
    brand_code: str | None = None,
    actor: str,
    settings: Settings | None = None,
) -> CorpView:
    """Connect a corp, or replace the configuration of one already connected (a rotated
    secret). Everything is checked before anything is stored."""
    settings = settings or get_settings()
    if not _CORP_ID.match(corp_id):
        raise WecomConfigError("corp id: 4–64 letters, digits, _ or - (WeCom shows it as ww…)")
    if not _AGENT_ID.match(agent_id):
        raise WecomConfigError("agent id: the app's AgentId, digits only")
    if not secret or len(secret) > 128 or not secret.isprintable():
        raise WecomConfigError("secret: the app's Secret (up to 128 printable characters)")
    if not _TOKEN.match(token):
        raise WecomConfigError("token: 1–32 letters or digits, as set on the callback page")
    try:
        aes_key(aes_key_text)
    except ValueError as exc:
        raise WecomConfigError("aes key: {reason}", reason=exc) from None
    brand_id = None
    if brand_code:
        brand_id = session.scalar(sa.select(Brand.id).where(Brand.code == brand_code))
        if brand_id is None:
            raise WecomConfigError("brand: no brand with code {code!r}", code=brand_code)
    corp = session.scalar(sa.select(WecomCorp).where(WecomCorp.corp_id == corp_id))
    if corp is None:
        corp = WecomCorp(corp_id=corp_id)
        session.add(corp)
    corp.name = name or corp.name or corp_id
    corp.agent_id = agent_id
    corp.brand_id = brand_id if brand_code else corp.brand_id
    corp.secret_sealed = seal(secret, settings)
    corp.secret_hint = hint(secret)
    corp.token_sealed = seal(token, settings)
    corp.aes_key_sealed = seal(aes_key_text, settings)
    session.flush()
    record_audit(
        session, actor, "wecom.corp.save", "wecom_corp", str(corp.id), {"corp_id": corp_id}
    )
    forget(corp_id)
    return _view(corp)


def list_corps(session: Session) -> list[CorpView]:
    return [_view(c) for c in session.scalars(sa.select(WecomCorp).order_by(WecomCorp.id))]


def corp_brand(session: Session, corp_pk: int) -> int | None:
    """The brand a connected corp serves (None: the group's, every brand)."""
    corp = session.get(WecomCorp, corp_pk)
    return corp.brand_id if corp is not None else None


def get_corp(session: Session, corp_id: str) -> WecomCorp:
    corp = session.scalar(sa.select(WecomCorp).where(WecomCorp.corp_id == corp_id))
    if corp is None:
        raise WecomConfigError(
            "no WeCom corp {corp!r} is connected (siyu wecom corp add)", corp=corp_id
        )
    return corp


def only_corp(session: Session, corp_id: str | None) -> WecomCorp:
    """The corp named, or the only one connected."""
    if corp_id:
        return get_corp(session, corp_id)
    corps = list(session.scalars(sa.select(WecomCorp).limit(2)))
    if len(corps) != 1:
        if not corps:
            raise WecomConfigError("no WeCom corp is connected")
        raise WecomConfigError("several corps: name one with --corp")
    return corps[0]


# -- what callbacks and calls need, cached per process -----------------------------------------------
@dataclass(frozen=True)
class CorpKeys:
    pk: int
    corp_id: str
    crypto: CallbackCrypto
    secret: str


_KEYS: dict[str, tuple[float, CorpKeys | None]] = {}
_KEYS_LOCK = threading.Lock()
KEYS_SECONDS = 30.0


def corp_keys(corp_id: str) -> CorpKeys | None:
    """The corp's crypto and secret, unsealed once and kept 30 s: a callback flood must not
    cost a query and a decryption per request. None if the corp is not connected."""
    now = time.monotonic()
    hit = _KEYS.get(corp_id)
    if hit and now - hit[0] < KEYS_SECONDS:
        return hit[1]
    with new_session() as session:
        corp = session.scalar(sa.select(WecomCorp).where(WecomCorp.corp_id == corp_id))
    keys = None
    if corp is not None and len(corp_id) <= 64:
        keys = CorpKeys(
            corp.id,
            corp.corp_id,
            CallbackCrypto(unseal(corp.token_sealed), unseal(corp.aes_key_sealed), corp.corp_id),
            unseal(corp.secret_sealed),
        )
    with _KEYS_LOCK:
        if len(_KEYS) > 1000:
            _KEYS.clear()
        _KEYS[corp_id] = (now, keys)
    return keys


def forget(corp_id: str | None = None) -> None:
    with _KEYS_LOCK:
        if corp_id is None:
            _KEYS.clear()
        else:
            _KEYS.pop(corp_id, None)


runtime.forgets("wecom.corp_keys", forget)


def client_for(session: Session, corp: WecomCorp, settings: Settings | None = None) -> WecomClient:
    settings = settings or get_settings()
    return WecomClient(
        corp_id=corp.corp_id,
        secret=unseal(corp.secret_sealed, settings),
        base=settings.wecom_api_base,
        per_minute=settings.wecom_api_per_minute,
        member_per_minute=settings.wecom_member_per_minute,
        backoff_seconds=settings.wecom_backoff_seconds,
    )


_CLIENTS: dict[tuple[int, str, str], WecomClient] = {}


def cached_client(session: Session, corp: WecomCorp) -> WecomClient:
    """One client per corp, secret and API address per process (its connection pool is
    reused); callers still hand its ``calls`` to ``contacts.record_calls``."""
    key = (corp.id, corp.secret_sealed, get_settings().wecom_api_base)
    client = _CLIENTS.get(key)
    if client is None:
        client = _CLIENTS[key] = client_for(session, corp)
    return client


runtime.forgets("wecom.clients", _CLIENTS.clear)


def record_calls(session: Session, corp: WecomCorp, client: WecomClient) -> None:
    """Keep the client's calls (with errcodes) for the status page, and start a new list."""
    if not client.calls:
        return
    now = clock.now()
    session.execute(
        sa.insert(WecomApiCall),
        [
            {
                "corp_id": corp.id,
                "api": c.api[:80],
                "errcode": c.errcode,
                "errmsg": c.errmsg,
                "elapsed_ms": c.elapsed_ms,
                "at": now,
            }
            for c in client.calls
        ],
    )
    client.calls.clear()
