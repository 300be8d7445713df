"""The simulated WeCom for tests: served over real HTTP on a free port, a fresh world per test."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from siyu.simulators.wecom.run import demo_world
from siyu.simulators.wecom.world import World


class SimServer:
    def __init__(self) -> None:
        import uvicorn

        from siyu.simulators.wecom.server import create_app

        self.app = create_app(demo_world(3))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + 10
        while not self.server.started:
            if time.time() > deadline:
                raise RuntimeError("simulator did not start")
            time.sleep(0.02)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fresh(self, staff: int = 3) -> World:
        world = demo_world(staff)
        world.base = self.base
        self.app.state.world = world
        return world

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(5)


@pytest.fixture(scope="session")
def sim_server() -> Iterator[SimServer]:
    server = SimServer()
    yield server
    server.stop()


@pytest.fixture()
def wecom(sim_server: SimServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A fresh simulated corp connected in Siyu, with Siyu's client pointed at the simulator."""
    from siyu.config import reset_settings
    from siyu.db import session_scope
    from siyu.wecom import client as wc
    from siyu.wecom import service
    from siyu.wecom.service import add_corp

    world = sim_server.fresh()
    monkeypatch.setenv("SIYU_WECOM_API_BASE", sim_server.base)
    reset_settings()
    wc.TOKENS.clear()
    wc.LIMITS.clear()
    service.forget()
    service._CLIENTS.clear()
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
    service.forget()
    service._CLIENTS.clear()
