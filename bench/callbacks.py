"""WeCom callbacks on the embedded default (DESIGN §6): throughput, a flood of invalid ones,
and welcome latency under load.

Siyu runs as a subprocess on a fresh SQLite database, connected to a simulated WeCom served by
this process. Load comes from a separate process (a light asyncio HTTP/1.1 client) sending
pre-built, properly encrypted and signed callbacks, each a distinct event.
  A. capacity: valid callbacks as fast as they are answered (`siyu serve`): callbacks/s and
     latency p50/p99 (target ≥ 2k/s, p99 < 100 ms);
  B. valid callbacks at a fixed rate (1,000/s, then 2,000/s) alone, then with a flood of invalid
     ones (bad signatures) at the same rate: the valid ones' latency and rate with the flood
     against without (target: slowed < 2×);
  C. `siyu run` (server and worker in one process, as `make run`) under valid and invalid
     callbacks at 2,000/s each: simulated customers add staff every 200 ms; the time from the add
     callback leaving WeCom to WeCom receiving the welcome message (target < 5 s; WeCom's
     welcome_code lives 20 s).
Open-loop rates are kept per connection (each sends on its schedule, waiting for its answer).
Usage: python bench/callbacks.py [--seconds 10] [--connections 16]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

PORT = 8792


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--connections", type=int, default=16)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="siyu-callbacks-"))
    sim = _start_simulator()
    world = sim.app.state.world
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "SIYU_DATA_DIR": str(work),
        "SIYU_SECRET_KEY": "bench-secret-key-not-for-production-use",
        "SIYU_MODE": "production",
        "SIYU_DATABASE_URL": f"sqlite:///{work / 'siyu.db'}",
        "SIYU_WECOM_API_BASE": sim.base,
        "SIYU_WECOM_SECRET": world.secret,
        "SIYU_WECOM_TOKEN": world.token,
        "SIYU_WECOM_AES_KEY": world.aes_key,
    }
    siyu = str(bin_dir / "siyu")
    for cmd in (
        ["db", "upgrade"],
        ["wecom", "corp", "add", "--corp-id", world.corp_id, "--agent-id", "1000002"],
        ["wecom", "sync"],
        ["wecom", "welcome", "set-default", "{{ nickname }}您好，欢迎！"],
    ):
        subprocess.run([siyu, *cmd], env=env, check=True, capture_output=True)
    url = f"/wecom/callback/{world.corp_id}"
    n = int(args.seconds * 9000) + 1000
    print(f"building {n:,} valid and {n:,} invalid callbacks …", flush=True)
    valid = _requests(world, url, n, valid=True)
    invalid = _requests(world, url, n, valid=False)
    try:
        used = 0
        with _siyu(siyu, "serve", env):
            a = _load([(valid, args.connections, None)], args.seconds)[0]
            used += a["sent"]
            _report("A capacity", a, args.seconds)
            for rate in (1000.0, 2000.0):
                alone = _load([(valid[used:], args.connections, rate)], args.seconds)[0]
                used += alone["sent"]
                _report(f"B {rate:,.0f}/s alone", alone, args.seconds)
                with_flood, flood = _load(
                    [(valid[used:], args.connections, rate), (invalid, args.connections, rate)],
                    args.seconds,
                )
                used += with_flood["sent"]
                _report(f"B {rate:,.0f}/s + flood", with_flood, args.seconds)
                _report("  the flood", flood, args.seconds)
                print(
                    f"  flood effect at {rate:,.0f}/s each: valid p50 "
                    f"{with_flood['p50'] / alone['p50']:.2f}×, p99 {with_flood['p99'] / alone['p99']:.2f}×, "
                    f"rate {alone['ok'] / max(with_flood['ok'], 1):.2f}× lower (target < 2×)",
                    flush=True,
                )
        fresh = _requests(world, url, n, valid=True)
        with _siyu(siyu, "run", env):
            latencies = _welcome_under_load(world, fresh, invalid, args, 2000.0)
        latencies.sort()
        print(
            f"C welcome under load: {len(latencies)} adds, sent after p50 "
            f"{statistics.median(latencies):.2f} s, p99 {latencies[int(len(latencies) * 0.99) - 1]:.2f} s, "
            f"max {latencies[-1]:.2f} s (target < 5 s)"
        )
    finally:
        sim.stop()
        shutil.rmtree(work, ignore_errors=True)


# -- the simulated WeCom -----------------------------------------------------------------------
def _start_simulator() -> Any:
    from siyu.simulators.wecom.run import ThreadedSimulator

    sim = ThreadedSimulator()
    sim.world.api_per_minute = 1_000_000  # the benchmark measures Siyu, not WeCom's quota
    return sim


class _siyu:
    def __init__(self, siyu: str, command: str, env: dict[str, str]) -> None:
        self.args = [siyu, command, "--port", str(PORT)]
        self.env = env

    def __enter__(self) -> None:
        self.log = Path(self.env["SIYU_DATA_DIR"]) / f"{self.args[1]}.log"
        self.proc = subprocess.Popen(
            self.args, env=self.env, stdout=subprocess.DEVNULL, stderr=self.log.open("wb")
        )
        for _ in range(200):
            try:
                if httpx.get(f"http://127.0.0.1:{PORT}/healthz").status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise SystemExit("siyu did not start")

    def __exit__(self, *_exc: object) -> None:
        if self.proc.poll() is not None:
            print(f"siyu {self.args[1]} exited {self.proc.returncode}:")
            print(self.log.read_text()[-3000:])
        self.proc.terminate()
        self.proc.wait(20)


# -- requests --------------------------------------------------------------------------------------
def _requests(world: Any, url: str, n: int, *, valid: bool) -> list[bytes]:
    """Raw HTTP/1.1 requests: distinct del_follow_user events (each stored once), or the same
    with a signature that does not match."""
    from siyu.simulators.wecom.driver import event_xml
    from siyu.wecom.connection.crypto import CallbackCrypto

    crypto = CallbackCrypto(world.token, world.aes_key, world.corp_id)
    out = []
    ts = str(int(time.time()))
    for i in range(n):
        fields = {
            "ToUserName": world.corp_id,
            "FromUserName": "sys",
            "CreateTime": int(ts),
            "MsgType": "event",
            "Event": "change_external_contact",
            "ChangeType": "del_follow_user",
            "UserID": "guide001",
            "ExternalUserID": f"wmbench{i:08d}{secrets.token_hex(4)}",
        }
        nonce = secrets.token_hex(8)
        body, sig = crypto.seal(event_xml(fields), ts, nonce)
        if not valid:
            sig = secrets.token_hex(20)
        out.append(
            (
                f"POST {url}?msg_signature={sig}&timestamp={ts}&nonce={nonce} HTTP/1.1\r\n"
                f"Host: 127.0.0.1\r\nContent-Type: text/xml\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body
        )
    return out


# -- load (in a child process, so it does not share this process's interpreter) -------------------
Group = tuple[list[bytes], int, float | None]  # requests, connections, requests/s (None: flat out)


def _load(groups: list[Group], seconds: float) -> list[dict[str, float]]:
    queue: mp.Queue[list[dict[str, float]]] = mp.Queue()
    proc = mp.get_context("fork").Process(target=_child, args=(groups, seconds, queue))
    proc.start()
    out = queue.get()
    proc.join()
    return out


def _child(groups: list[Group], seconds: float, queue: Any) -> None:
    queue.put(asyncio.run(_drive(groups, seconds)))


async def _drive(groups: list[Group], seconds: float) -> list[dict[str, float]]:
    begin = time.perf_counter()
    deadline = begin + seconds

    async def group(requests: list[bytes], conns: int, rate: float | None) -> dict[str, float]:
        lat: list[float] = []
        statuses: dict[int, int] = {}
        it = iter(requests)

        async def conn(k: int) -> None:
            reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
            sent = 0
            try:
                while time.perf_counter() < deadline:
                    if rate:  # open loop: this connection's share of the rate, on a schedule
                        due = begin + (sent * conns + k) / rate
                        if due > time.perf_counter():
                            await asyncio.sleep(due - time.perf_counter())
                        sent += 1
                    req = next(it, None)
                    if req is None:
                        return
                    start = time.perf_counter()
                    writer.write(req)
                    await writer.drain()
                    status = int((await reader.readline()).split()[1])
                    length = 0
                    while (line := await reader.readline()) not in (b"\r\n", b""):
                        if line.lower().startswith(b"content-length:"):
                            length = int(line.split(b":")[1])
                    await reader.readexactly(length)
                    lat.append(time.perf_counter() - start)
                    statuses[status] = statuses.get(status, 0) + 1
            finally:
                writer.close()

        await asyncio.gather(*(conn(k) for k in range(conns)))
        lat.sort()
        return {
            "sent": len(lat),
            "ok": statuses.get(200, 0) / seconds,
            "statuses": statuses,  # type: ignore[dict-item]
            "p50": statistics.median(lat) * 1000 if lat else 0.0,
            "p99": lat[max(0, int(len(lat) * 0.99) - 1)] * 1000 if lat else 0.0,
        }

    return list(await asyncio.gather(*(group(r, c, rate) for r, c, rate in groups)))


def _report(label: str, r: dict[str, Any], seconds: float) -> None:
    print(
        f"{label:<17}: {r['sent'] / seconds:>7,.0f} requests/s ({r['ok']:,.0f}/s answered 200)  "
        f"p50 {r['p50']:.1f} ms  p99 {r['p99']:.1f} ms  statuses {r['statuses']}",
        flush=True,
    )


def _welcome_under_load(
    world: Any, valid: list[bytes], invalid: list[bytes], args: Any, rate: float
) -> list[float]:
    from siyu.simulators.wecom.driver import Driver

    driver = Driver(world, f"http://127.0.0.1:{PORT}/wecom/callback/{world.corp_id}")
    posted: dict[str, float] = {}
    stop = time.perf_counter() + args.seconds

    def adds() -> None:
        time.sleep(0.5)
        while time.perf_counter() < stop - 1:
            started = time.time()
            customer, _f, resp = driver.add("guide002")
            if resp is not None and resp.status_code == 200:
                posted[customer.external_userid] = started
            time.sleep(0.2)

    t = threading.Thread(target=adds)
    t.start()
    b_valid, b_invalid = _load(
        [(valid, args.connections, rate), (invalid, args.connections, rate)], args.seconds
    )
    t.join()
    _report("C valid (run)", b_valid, args.seconds)
    _report("C invalid (run)", b_invalid, args.seconds)
    deadline = time.time() + 30
    while time.time() < deadline:
        done = [wc for wc in world.welcome_codes.values() if wc.used_at]
        if len(done) >= len(posted):
            break
        time.sleep(0.2)
    latencies = []
    for wc in world.welcome_codes.values():
        if wc.external_userid in posted:
            if wc.used_at is None:
                latencies.append(float("inf"))
            else:
                latencies.append(wc.used_at - posted[wc.external_userid])
    return latencies


if __name__ == "__main__":
    main()
