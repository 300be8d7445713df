"""`siyu simulate wecom`: the simulated corp served over HTTP, with customers arriving."""

from __future__ import annotations

import secrets
import threading
import time

import typer

from siyu.simulators.threaded import ThreadedServer
from siyu.simulators.wecom.world import World
from siyu.wecom.connection.crypto import new_aes_key

STAFF_NAMES = ["王芳", "李娜", "张伟", "刘洋", "陈静", "杨磊", "赵敏", "黄婷", "周杰", "吴倩"]


def demo_world(staff: int, corp_id: str | None = None) -> World:
    """A corp with a head office and a few stores (departments) and ``staff`` guides."""
    world = World(
        corp_id=corp_id or "ww" + secrets.token_hex(8),
        secret=secrets.token_urlsafe(32),
        token=secrets.token_hex(16),
        aes_key=new_aes_key(),
    )
    world.add_department(1, "总部", parent=0)
    for i, city in enumerate(["上海南京西路店", "杭州湖滨店", "北京三里屯店"], start=2):
        world.add_department(i, city)
    for i in range(staff):
        name = STAFF_NAMES[i % len(STAFF_NAMES)] + ("" if i < len(STAFF_NAMES) else str(i))
        world.add_staff(f"guide{i + 1:03d}", name, [2 + i % 3])
    return world


def serve(host: str, port: int, siyu: str, staff: int, per_minute: float, connect: bool) -> None:
    import uvicorn

    from siyu.simulators.wecom.driver import Driver
    from siyu.simulators.wecom.server import create_app

    world = demo_world(staff)
    world.base = f"http://{host}:{port}"
    if connect:
        from siyu.db import session_scope
        from siyu.wecom.connection.service import add_corp

        with session_scope() as session:
            add_corp(
                session,
                corp_id=world.corp_id,
                agent_id="1000002",
                secret=world.secret,
                token=world.token,
                aes_key_text=world.aes_key,
                name="模拟企业",
                actor="simulator",
            )
    typer.echo(
        f"simulated WeCom at http://{host}:{port}\n"
        f"  corp id  {world.corp_id}\n  secret   {world.secret}\n  token    {world.token}\n"
        f"  aes key  {world.aes_key}\n"
        f"  Siyu: SIYU_WECOM_API_BASE=http://{host}:{port}"
        + (
            ""
            if connect
            else f" and siyu wecom corp add --corp-id {world.corp_id} --agent-id 1000002 …"
        )
    )
    if per_minute > 0:
        driver = Driver(world, f"{siyu.rstrip('/')}/wecom/callback/{world.corp_id}")

        def arrive() -> None:
            userids = list(world.staff)
            n = 0
            while True:
                time.sleep(60.0 / per_minute)
                try:
                    driver.add(userids[n % len(userids)])
                except Exception as exc:  # Siyu not up yet: keep trying
                    typer.echo(f"callback failed: {exc}", err=True)
                n += 1

        threading.Thread(target=arrive, daemon=True).start()
    uvicorn.run(create_app(world), host=host, port=port, log_level="warning")


class ThreadedSimulator(ThreadedServer):
    """The simulated WeCom served from a background thread (tests and benchmarks); ``fresh``
    swaps in a new corp without restarting the server."""

    def __init__(self, staff: int = 3) -> None:
        from siyu.simulators.wecom.server import create_app

        super().__init__(create_app(demo_world(staff)))
        self.world.base = self.base

    @property
    def world(self) -> World:
        world: World = self.app.state.world
        return world

    def fresh(self, staff: int = 3) -> World:
        world = demo_world(staff)
        world.base = self.base
        self.app.state.world = world
        return world
