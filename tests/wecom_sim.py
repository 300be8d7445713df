"""The simulated WeCom for tests: served over real HTTP on a free port, a fresh world per test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from siyu.simulators.wecom.run import ThreadedSimulator


@pytest.fixture(scope="session")
def sim_server() -> Iterator[ThreadedSimulator]:
    server = ThreadedSimulator()
    yield server
    server.stop()


@pytest.fixture()
def wecom(
    sim_server: ThreadedSimulator, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Any]]:
    """A fresh simulated corp connected in Siyu, with Siyu's client pointed at the simulator."""
    from siyu import runtime
    from siyu.db import session_scope
    from siyu.wecom.connection.service import add_corp

    world = sim_server.fresh()
    monkeypatch.setenv("SIYU_WECOM_API_BASE", sim_server.base)
    runtime.reset()  # settings, and no token, limit, key or client of another corp
    with session_scope() as s:
        add_corp(
            s,
            corp_id=world.corp_id,
            agent_id="1000002",
            secret=world.secret,
            token=world.token,
            aes_key_text=world.aes_key,
            name="测试企业",
            actor="test",
        )
    yield {"world": world, "server": sim_server}
    runtime.reset()


@pytest.fixture()
def driver(wecom: dict[str, Any], client: Any) -> Any:
    """Simulated customers acting in the fresh corp, their callbacks posted to the app in
    process (needs the e2e ``client``)."""
    from siyu.simulators.wecom.driver import Driver

    world = wecom["world"]
    return Driver(world, f"/wecom/callback/{world.corp_id}", http=client)


def pump_inbox(once: bool = False) -> int:
    """What the worker does with the callback inbox: one claim, or until it is empty."""
    from siyu.db import new_session
    from siyu.wecom import tasks  # noqa: F401  (registers the handlers)
    from siyu.wecom.callbacks.service import pump_once

    total = 0
    with new_session() as s:
        while n := pump_once(s, "test-worker"):
            total += n
            if once:
                break
    return total
