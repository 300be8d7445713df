"""Event ingest API under concurrent load on the embedded default (DESIGN §6).

Starts `siyu serve` on a fresh SQLite database, creates an API key, and drives
POST /api/v1/events from a separate process with concurrent connections:
  1. single events, 2. batches of 50, 3. a replay of already-sent messageIds.
Prints events/s and request latency p50/p99 for each (target: ≥ 2k events/s, p99 < 100 ms).
Usage: python bench/ingest.py [--seconds 15] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

PORT = 8791


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--concurrency", default="2,4,16", help="Connection counts to try.")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="siyu-ingest-"))
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "SIYU_DATA_DIR": str(work),
        "SIYU_SECRET_KEY": "bench-secret-key-not-for-production-use",
        "SIYU_MODE": "production",
        "SIYU_DATABASE_URL": f"sqlite:///{work / 'siyu.db'}",
    }
    subprocess.run([bin_dir / "siyu", "db", "upgrade"], env=env, check=True, capture_output=True)
    key = subprocess.run(
        [bin_dir / "siyu", "apikey", "create", "bench"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    server = subprocess.Popen(
        [bin_dir / "siyu", "serve", "--port", str(PORT)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(f"http://127.0.0.1:{PORT}/healthz")
        levels = [int(c) for c in str(args.concurrency).split(",")]
        if shutil.which("wrk"):
            print(f"load from wrk, {args.seconds:.0f}s per line")
            for conns in levels:
                for label, batch in (("single events", 1), ("batches of 50", 50)):
                    _wrk(key, batch, args.seconds, conns, work, f"{label}, {conns} conn")
            return
        args.concurrency = max(levels)
        print("wrk not found (make wrk installs it): using the Python client, which shares the CPU")
        for label, batch, replay in (
            ("single events", 1, False),
            ("batches of 50", 50, False),
            ("replayed singles", 1, True),
        ):
            n_events, lat = asyncio.run(_load(key, args.seconds, args.concurrency, batch, replay))
            lat.sort()
            p50 = statistics.median(lat) * 1000
            p99 = lat[int(len(lat) * 0.99) - 1] * 1000
            print(
                f"{label:<17}: {n_events / args.seconds:>8,.0f} events/s  "
                f"({len(lat) / args.seconds:,.0f} requests/s)  p50 {p50:.1f} ms  p99 {p99:.1f} ms"
            )
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(work, ignore_errors=True)


WRK_SCRIPT = """
counter = 0
local prefix = "%(prefix)s"
function event(i)
  return '{"type":"track","messageId":"' .. prefix .. i .. '","event":"浏览商品","traits":{"phone":"139' .. (10000000 + i %% 200000) .. '"},"properties":{"sku":"SK-1001"}}'
end
request = function()
  local body
  if %(batch)d == 1 then
    counter = counter + 1
    body = event(counter)
  else
    local parts = {}
    for j = 1, %(batch)d do counter = counter + 1; parts[j] = event(counter) end
    body = '{"batch":[' .. table.concat(parts, ",") .. ']}'
  end
  return wrk.format("POST", "/api/v1/events", {["Content-Type"]="application/json", ["Authorization"]="Bearer %(key)s"}, body)
end
"""


def _wrk(key: str, batch: int, seconds: float, concurrency: int, work: Path, label: str) -> None:
    script = work / f"load{batch}.lua"
    script.write_text(WRK_SCRIPT % {"prefix": f"b{batch}-", "batch": batch, "key": key})
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{concurrency}",
            f"-d{int(seconds)}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{PORT}/",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(next(ln for ln in out.splitlines() if "Requests/sec" in ln).split()[-1])
    pct = {
        ln.split()[0]: ln.split()[1]
        for ln in out.splitlines()
        if ln.strip().startswith(("50%", "99%"))
    }
    errors = [ln.strip() for ln in out.splitlines() if "Non-2xx" in ln or "Socket errors" in ln]
    print(
        f"{label:<17}: {rps * batch:>8,.0f} events/s  ({rps:,.0f} requests/s)  "
        f"p50 {pct.get('50%')}  p99 {pct.get('99%')}  {' '.join(errors)}"
    )


def _wait(url: str) -> None:
    for _ in range(100):
        try:
            if httpx.get(url).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit("server did not start")


_sent: list[str] = []


async def _load(
    key: str, seconds: float, concurrency: int, batch: int, replay: bool
) -> tuple[int, list[float]]:
    """A light keep-alive HTTP/1.1 client on raw asyncio streams, so the load generator does not
    eat the CPU the server needs (both share this machine's two cores)."""
    latencies: list[float] = []
    events = 0
    deadline = time.perf_counter() + seconds
    counter = iter(range(10**9))

    def event(i: int) -> dict[str, object]:
        mid = _sent[i % len(_sent)] if replay and _sent else f"{batch}-{i}"
        if not replay:
            _sent.append(mid)
        return {
            "type": "track",
            "messageId": mid,
            "event": "浏览商品",
            "traits": {"phone": f"139{10_000_000 + i % 200_000}"},
            "properties": {"sku": "SK-1001"},
        }

    async def worker() -> None:
        nonlocal events
        reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
        try:
            while time.perf_counter() < deadline:
                body = (
                    event(next(counter))
                    if batch == 1
                    else {"batch": [event(next(counter)) for _ in range(batch)]}
                )
                data = json.dumps(body, ensure_ascii=False).encode()
                head = (
                    f"POST /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
                ).encode()
                start = time.perf_counter()
                writer.write(head + data)
                await writer.drain()
                status_line = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                payload = await reader.readexactly(length)
                latencies.append(time.perf_counter() - start)
                if b" 200 " not in status_line:
                    raise SystemExit(f"{status_line!r}: {payload[:200]!r}")
                events += batch
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return events, latencies


if __name__ == "__main__":
    main()
