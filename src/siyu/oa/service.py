"""The official account Siyu is connected to, as configured by SIYU_OA_APPID, SIYU_OA_SECRET
(API calls: template messages, the follower sync), SIYU_OA_TOKEN and SIYU_OA_AES_KEY (the
event pushes to ``/oa/callback/{appid}``). Identities and followers are namespaced by the appid,
so the tables already hold several accounts apart; the settings name one.
"""

from __future__ import annotations

import threading

from sqlalchemy.orm import Session

from siyu import runtime
from siyu.config import Settings
from siyu.oa.client import OaClient
from siyu.oa.models import OaSyncRun
from siyu.oa.sync import Progress, sync_followers
from siyu.refusals import Refusal


class OaConfigError(Refusal):
    """The official account is not configured, or not the one asked for."""


_CLIENTS: dict[tuple[str, str, str], OaClient] = {}
_LOCK = threading.Lock()


def client_for(settings: Settings) -> OaClient:
    """The configured account's API client (one per process and account)."""
    if not (settings.oa_appid and settings.oa_secret):
        raise OaConfigError(
            "no official account is configured (set SIYU_OA_APPID and SIYU_OA_SECRET)"
        )
    key = (settings.oa_api_base, settings.oa_appid, settings.oa_secret)
    with _LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            client = _CLIENTS[key] = OaClient(
                settings.oa_appid, settings.oa_secret, settings.oa_api_base
            )
        return client


def forget_clients() -> None:
    with _LOCK:
        for client in _CLIENTS.values():
            client.close()
        _CLIENTS.clear()


runtime.forgets("oa.clients", forget_clients)


def run_sync(session: Session, settings: Settings, progress: Progress | None = None) -> OaSyncRun:
    """Sync the configured account's followers (resuming an unfinished sync)."""
    return sync_followers(session, client_for(settings), settings.oa_appid, progress)
