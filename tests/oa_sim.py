"""The simulated official account for tests: served over real HTTP on a free port, a fresh
account per test, with Siyu's settings pointed at it (plain-mode pushes unless a test sets
SIYU_OA_AES_KEY; web authorisation's page too, its authorised domain Siyu's public host)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def oa_sim_server() -> Iterator[Any]:
    from siyu.simulators.oa import OfficialAccountSim, create_app
    from siyu.simulators.threaded import ThreadedServer

    server = ThreadedServer(create_app(OfficialAccountSim()))
    yield server
    server.stop()


@pytest.fixture()
def oa_account(oa_sim_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from urllib.parse import urlsplit

    from siyu import runtime
    from siyu.config import get_settings
    from siyu.simulators.oa import OfficialAccountSim

    sim = OfficialAccountSim()
    oa_sim_server.app.state.sim = sim
    monkeypatch.setenv("SIYU_OA_APPID", sim.appid)
    monkeypatch.setenv("SIYU_OA_SECRET", sim.secret)
    monkeypatch.setenv("SIYU_OA_API_BASE", oa_sim_server.base)
    monkeypatch.setenv("SIYU_OA_WEB_AUTH_BASE", oa_sim_server.base)
    monkeypatch.setenv("SIYU_OA_TOKEN", sim.server_token)
    monkeypatch.delenv("SIYU_OA_AES_KEY", raising=False)
    runtime.reset()  # settings, and no client or token of another account
    sim.web.domain = urlsplit(get_settings().public_url).hostname or sim.web.domain
    yield sim
    runtime.reset()


def safe_mode(sim: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Switch the account (and Siyu) to safe mode: pushes encrypted, plain ones refused."""
    from siyu.config import reset_settings

    sim.safe_mode = True
    monkeypatch.setenv("SIYU_OA_AES_KEY", sim.aes_key)
    reset_settings()


def pump_oa_inbox() -> int:
    """What the worker does with the push inbox, until it is empty."""
    from siyu.db import new_session
    from siyu.oa.inbox import pump_once

    total = 0
    with new_session() as s:
        while n := pump_once(s, "test-worker"):
            total += n
    return total


def wechat_opens(url: str) -> dict[str, str]:
    """What the customer's WeChat browser does with ``webauth.authorize_url``: opens the page
    (the ``#wechat_redirect`` fragment stays in the browser) and follows WeChat back; returns
    the query Siyu's callback receives (``code`` and ``state``, only ``state`` when the
    customer declined). Fails on WeChat's error page, with what it says."""
    from urllib.parse import parse_qsl, urlsplit

    import httpx

    resp = httpx.get(url, follow_redirects=False, timeout=10)
    assert resp.status_code == 302, f"WeChat's error page: {resp.text}"
    return dict(parse_qsl(urlsplit(resp.headers["location"]).query, keep_blank_values=True))
