"""Growth at scale on the embedded default (issue 26), each figure against a baseline in the same
run (DESIGN §6). A fresh SQLite database at head with M members of one programme with referral
running (--members, default 1M), put there with plain SQL, untimed: members joined over the last
year, R of them referrers with codes (--referrers), and visits to their links.

Attribution: --arrivals new customers (default 100k) arriving through the referrers' codes — half
through the member centre (with a device and a network; some devices and networks shared, so the
device and network rules fire), half through WeCom adds — each with every fraud check
(already a customer, self-referral and linked profiles, the referrer's devices, shared devices,
shared networks, bursts).
1. Baseline: one arrival at a time through `growth.service.find_code` + `attribute` (what a
   single sign-up does), for --baseline arrivals.
2. Siyu: `find_codes` + `attribute_many` in batches of --batch, committed per batch.
Target: ≥ 5,000 arrivals/s.

K-factor and cycle time: the analytical copy built (untimed), then
`growth.figures.referral_figures` over the year (K-factor per monthly cohort with i and c, the
cycle time's median, revenue, fraud rate) on DuckDB, against the same K-factor and median
written the obvious pandas way over the same copy (loading included); results cross-checked.
Target: < 5 s at 1M members.

Form endpoint (--forms): `POST /f/{slug}` under concurrent visitors, on its own fresh database.
1. A live form (a text, a choice, an NPS question and a consent box); --posts answers prepared,
   each from its own device (a signed cookie and the page's token, as the form page gives them)
   and spread over client networks (X-Forwarded-For through `--forwarded-allow-ips`), so the
   per-device and per-network limits are counted but not reached; `siyu serve --workers W`.
2. Baseline: as many `GET /healthz`, from the same client at the same concurrency.
3. Siyu: each answer posted once (303 to the thank-you page), --concurrency at a time, from a
   light HTTP/1.1 client on asyncio streams in this process.
Target: ≥ 1,000 answers/s, p99 < 100 ms.

Usage: python bench/growth.py [--members 1000000] [--referrers 50000] [--arrivals 100000]
       [--baseline 2000] [--batch 2000] [--seed 7]
       python bench/growth.py --forms [--posts 20000] [--workers 2] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
YEAR = timedelta(days=365)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--members", type=int, default=1_000_000)
    ap.add_argument("--referrers", type=int, default=50_000)
    ap.add_argument("--arrivals", type=int, default=100_000)
    ap.add_argument("--baseline", type=int, default=2_000)
    ap.add_argument("--batch", type=int, default=2_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--forms", action="store_true", help="the form endpoint's part instead")
    ap.add_argument("--posts", type=int, default=20_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="siyu-bench-growth-"))
    os.environ.update(
        SIYU_DATA_DIR=str(work / "var"),
        SIYU_SECRET_KEY="bench-secret-key-not-for-production-use",
        SIYU_MODE="production",
        SIYU_DATABASE_URL=f"sqlite:///{work / 'var' / 'siyu.db'}",
    )
    from siyu import clock
    from siyu.config import get_settings
    from siyu.db import get_engine
    from siyu.migrations.runner import upgrade

    settings = get_settings()
    upgrade(settings.resolved_database_url)
    if args.forms:
        forms_part(args)
        return
    engine = get_engine()
    rng = random.Random(args.seed)
    t0 = time.perf_counter()
    codes = populate(engine, rng, args.members, args.referrers)
    print(
        f"populated {args.members:,} members, {len(codes):,} referrers with codes and visits "
        f"in {time.perf_counter() - t0:.0f}s (untimed)",
        flush=True,
    )
    with clock.frozen(NOW):
        attribution(engine, rng, codes, args)
        figures(settings)
    print(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")


def populate(engine, rng: random.Random, members: int, referrers: int) -> list[str]:  # type: ignore[no-untyped-def]
    """Members, a referral programme, codes and visits, by plain SQL."""
    import sqlalchemy as sa

    from siyu.growth.models import ReferralCode, ReferralProgramme, ReferralVisit
    from siyu.growth.service import ALPHABET
    from siyu.loyalty.models import Member, Programme

    customer = _customer_table()
    start = NOW - YEAR
    with engine.begin() as conn:
        conn.execute(
            sa.insert(Programme.__table__),
            [
                {
                    "id": 1,
                    "code": "vip",
                    "name": "会员",
                    "brand_id": None,
                    "pending_days": 7,
                    "lot_months": 12,
                    "refund_rule": "negative",
                    "point_value_fen": 1,
                    "tier_measure": "points",
                    "tier_window": "rolling",
                    "tier_months": 12,
                    "tier_downgrade": "one_level",
                    "tier_grace_days": 0,
                    "created_at": start,
                }
            ],
        )
        conn.execute(
            sa.insert(ReferralProgramme.__table__),
            [
                {
                    "id": 1,
                    "programme_id": 1,
                    "active": True,
                    "referrer_points": 100,
                    "invitee_points": 50,
                    "min_order_fen": 0,
                    "refund_days": 7,
                    "arrival_days": 30,
                    "cap_day": 5,
                    "cap_month": 30,
                    "device_most": 2,
                    "device_days": 30,
                    "network_most": 5,
                    "network_hours": 24,
                    "burst_most": 10,
                    "burst_minutes": 60,
                    "delete_days": 7,
                    "store_networks": [],
                    "created_at": start,
                    "updated_at": start,
                }
            ],
        )
        for lo in range(0, members, 50_000):
            hi = min(lo + 50_000, members)
            joined = [
                start + timedelta(seconds=rng.randrange(int(YEAR.total_seconds()) - 86400 * 40))
                for _ in range(lo, hi)
            ]
            conn.execute(
                sa.insert(customer),
                [
                    {
                        "id": i + 1,
                        "name": "会员",
                        "status": "active",
                        "suppressed": False,
                        "do_not_disturb": False,
                        "created_at": j,
                        "updated_at": j,
                    }
                    for i, j in zip(range(lo, hi), joined, strict=True)
                ],
            )
            conn.execute(
                sa.insert(Member.__table__),
                [
                    {
                        "id": i + 1,
                        "programme_id": 1,
                        "customer_id": i + 1,
                        "status": "active",
                        "join_channel": "pos",
                        "joined_at": j,
                        "consent_evidence": "",
                    }
                    for i, j in zip(range(lo, hi), joined, strict=True)
                ],
            )
        chosen = rng.sample(range(1, members + 1), min(referrers, members))
        codes = []
        seen: set[str] = set()
        rows = []
        for n, member_id in enumerate(chosen):
            code = "".join(rng.choice(ALPHABET) for _ in range(8))
            while code in seen:
                code = "".join(rng.choice(ALPHABET) for _ in range(8))
            seen.add(code)
            codes.append(code)
            rows.append(
                {
                    "id": n + 1,
                    "code": code,
                    "programme_id": 1,
                    "member_id": member_id,
                    "customer_id": member_id,
                    "created_at": start,
                }
            )
        conn.execute(sa.insert(ReferralCode.__table__), rows)
        joined_of = (
            dict(
                conn.execute(
                    sa.select(Member.id, Member.joined_at).where(Member.id.in_(chosen[:50_000]))
                ).all()
            )
            if len(chosen) <= 50_000
            else {}
        )
        visits = []
        for n, member_id in enumerate(chosen):
            first = joined_of.get(member_id, start)
            for _ in range(rng.choice((0, 1, 2, 4, 8))):
                visits.append(
                    {
                        "code_id": n + 1,
                        "at": first + timedelta(hours=rng.randrange(24 * 60)),
                        "device": f"v{rng.randrange(10**9)}",
                        "address": "",
                    }
                )
        for lo in range(0, len(visits), 50_000):
            conn.execute(sa.insert(ReferralVisit.__table__), visits[lo : lo + 50_000])
    return codes


def _arrivals(rng: random.Random, codes: list[str], count: int, first_id: int):  # type: ignore[no-untyped-def]
    """(code, customer id, at, device, address): half by the member centre, half by WeCom."""
    out = []
    for n in range(count):
        at = NOW - timedelta(seconds=rng.randrange(int(YEAR.total_seconds()) - 86400))
        centre = n % 2 == 0
        out.append(
            (
                rng.choice(codes),
                first_id + n,
                at,
                f"d{rng.randrange(count)}" if centre else "",
                f"10.{rng.randrange(200)}.{rng.randrange(200)}.1" if centre else "",
            )
        )
    return out


def _customer_table():  # type: ignore[no-untyped-def]
    """The customer columns the benchmark writes by plain SQL (the rest take their defaults)."""
    import sqlalchemy as sa

    names = ("id", "name", "status", "suppressed", "do_not_disturb", "created_at", "updated_at")
    return sa.table("customer", *(sa.column(n) for n in names))


def _make_invitees(engine, arrivals) -> None:  # type: ignore[no-untyped-def]
    """The arriving customers, each made at their arrival (the member centre makes them then)."""
    import sqlalchemy as sa

    customer = _customer_table()
    with engine.begin() as conn:
        for lo in range(0, len(arrivals), 50_000):
            conn.execute(
                sa.insert(customer),
                [
                    {
                        "id": cid,
                        "name": "新客",
                        "status": "active",
                        "suppressed": False,
                        "do_not_disturb": False,
                        "created_at": at,
                        "updated_at": at,
                    }
                    for _code, cid, at, _d, _a in arrivals[lo : lo + 50_000]
                ],
            )


def attribution(engine, rng: random.Random, codes: list[str], args) -> None:  # type: ignore[no-untyped-def]
    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    from siyu.growth.attribution import attribute, attribute_many
    from siyu.growth.fraud import Arrival
    from siyu.growth.models import Referral
    from siyu.growth.service import find_code, find_codes

    with Session(engine) as s:
        top = int(
            s.scalar(sa.select(sa.func.max(sa.text("id"))).select_from(sa.table("customer"))) or 0
        )
    base = _arrivals(rng, codes, args.baseline, top + 1)
    mine = _arrivals(rng, codes, args.arrivals, top + 1 + args.baseline)
    _make_invitees(engine, base + mine)

    def arrival(code, cid, at, device, address):  # type: ignore[no-untyped-def]
        channel = "centre" if device else "wecom"
        return Arrival(invitee_id=cid, channel=channel, at=at, device=device, address=address)

    t0 = time.perf_counter()
    with Session(engine) as s:
        for code, cid, at, device, address in base:
            attribute(s, find_code(s, code), arrival(code, cid, at, device, address))
            s.commit()
    one = time.perf_counter() - t0
    t0 = time.perf_counter()
    with Session(engine) as s:
        for lo in range(0, len(mine), args.batch):
            part = sorted(mine[lo : lo + args.batch], key=lambda r: r[2])
            found = find_codes(s, [r[0] for r in part])
            attribute_many(s, [(found[r[0]], arrival(*r)) for r in part])
            s.commit()
    many = time.perf_counter() - t0
    with Session(engine) as s:
        counts = dict(
            s.execute(sa.select(Referral.status, sa.func.count()).group_by(Referral.status)).all()
        )
    rate, base_rate = len(mine) / many, len(base) / one
    print(
        f"attribution      : {len(mine):,} arrivals in {many:6.2f}s = {rate:,.0f}/s "
        f"(batches of {args.batch}) vs one at a time {base_rate:,.0f}/s → {rate / base_rate:.1f}× "
        f"(target ≥ 5,000/s); outcomes {counts}",
        flush=True,
    )


def figures(settings) -> None:  # type: ignore[no-untyped-def]
    from siyu.analytics.engines import ibis_tables
    from siyu.analytics.service import refresh_copy
    from siyu.growth.figures import TABLES, referral_figures

    built = refresh_copy(settings, full=True)
    print(f"copy, full build : {built.seconds:6.2f}s (untimed)", flush=True)
    lo, hi = NOW - YEAR, NOW + timedelta(days=1)
    t0 = time.perf_counter()
    with ibis_tables(settings.resolved_analytics_path, "duckdb", TABLES) as copy:
        got = referral_figures(copy, lo, hi)
    ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    k, median = pandas_baseline(settings, lo, hi)
    theirs = time.perf_counter() - t0
    agree = k == {c["month"]: c["attributed"] for c in got["cohorts"] if c["attributed"]} and (
        median is None or abs(median - (got["cycle_days"] or 0)) < 0.01
    )
    print(
        f"K-factor + cycle : Ibis/DuckDB {ours:6.2f}s vs pandas {theirs:6.2f}s → "
        f"{theirs / ours:.2f}× ({len(got['cohorts'])} cohorts, cycle {got['cycle_days']} days, "
        f"fraud rate {got['fraud_rate']}; target < 5 s; results agree: {agree})",
        flush=True,
    )


def pandas_baseline(settings, lo: datetime, hi: datetime):  # type: ignore[no-untyped-def]
    """Attributed per cohort month (Beijing) within 30 days of joining, and the median cycle."""
    import duckdb
    import pandas as pd

    with duckdb.connect(str(settings.resolved_analytics_path), read_only=True) as conn:
        m = conn.execute("SELECT id, joined_at FROM loyalty_member").df()
        r = conn.execute(
            "SELECT referrer_id, status, arrived_at, referrer_joined_at FROM referral"
        ).df()
    lo_n, hi_n = lo.replace(tzinfo=None), hi.replace(tzinfo=None)
    m = m[(m.joined_at >= lo_n) & (m.joined_at < hi_n)]
    local = m.joined_at + pd.Timedelta(hours=8)
    m = m.assign(month=local.dt.strftime("%Y-%m"))
    counted = r[r.status == "attributed"].merge(m, left_on="referrer_id", right_on="id")
    counted = counted[counted.arrived_at < counted.joined_at + pd.Timedelta(days=30)]
    k = counted.groupby("month").size().to_dict()
    inside = r[(r.arrived_at >= lo_n) & (r.arrived_at < hi_n) & (r.status == "attributed")]
    days = (inside.arrived_at - inside.referrer_joined_at).dt.total_seconds() / 86400
    median = round(float(days.median()), 2) if len(days) else None
    return {str(key): int(v) for key, v in k.items()}, median


PORT = 8731
FIELDS = [
    {"kind": "text", "label": "您的称呼"},
    {"kind": "choice", "label": "肤质", "options": ["干性", "油性", "混合"]},
    {"kind": "nps", "label": "推荐意愿"},
    {
        "kind": "consent",
        "label": "营销短信",
        "text": "我同意接收新品信息，可回复TD退订。",
        "version": "1",
    },
]


def forms_part(args) -> None:  # type: ignore[no-untyped-def]
    import httpx

    from siyu.centre.service import new_device
    from siyu.config import get_settings
    from siyu.db import session_scope
    from siyu.growth.forms.service import page_token, save_form, set_status

    secret = get_settings().secret_key_bytes()
    with session_scope() as s:
        form = save_form(s, "bench", slug="bench", title="试用申请", fields=FIELDS)
        set_status(s, form, "live", "bench")
        s.flush()
        warm = 200
        posts = []
        for k in range(args.posts + warm):
            cookie = new_device(secret)
            device = cookie.partition(".")[0]
            body = urlencode(
                {
                    "token": page_token(form, device),
                    "q1": f"访客{k}",
                    "q2": ["干性", "油性", "混合"][k % 3],
                    "q3": str(k % 11),
                    "q4": "1",
                    "utm_source": "bench",
                }
            ).encode()
            net = f"10.{k // 60000 % 250}.{k // 250 % 240}.{k % 250}"  # a few posts a network
            posts.append((cookie, net, body))
    bin_dir = Path(sys.executable).parent
    server = subprocess.Popen(
        [
            bin_dir / "siyu",
            "serve",
            "--port",
            str(PORT),
            "--workers",
            str(args.workers),
            "--forwarded-allow-ips",
            "127.0.0.1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                if httpx.get(f"http://127.0.0.1:{PORT}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise SystemExit("the server did not start")
        n, c = args.posts, args.concurrency
        asyncio.run(_drive([None] * warm + posts[:warm], c))  # imports, pools, caches
        health_s, health = asyncio.run(_drive([None] * n, c))
        post_s, answered = asyncio.run(_drive(posts[warm:], c))
    finally:
        server.terminate()
        server.wait(10)
    for label, seconds, lat in (("healthz", health_s, health), ("form post", post_s, answered)):
        lat.sort()
        p50, p99 = lat[len(lat) // 2] * 1000, lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
        print(
            f"{label:<10}: {n:,} requests, {c} at a time, {args.workers} workers, in "
            f"{seconds:.1f}s = {n / seconds:,.0f}/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms",
            flush=True,
        )
    print(
        f"ratio     : answers at {health_s / post_s:.2f}× the rate of /healthz"
        " (target ≥ 1,000 answers/s, p99 < 100 ms)"
    )


async def _drive(items, concurrency: int):  # type: ignore[no-untyped-def]
    """Each item a request over keep-alive connections, ``concurrency`` at a time: an answer
    (cookie, network, body) posted to /f/bench, or (None) a GET /healthz. An answer but the
    expected one (303 for a post, 200 for /healthz) stops it."""
    latencies: list[float] = []
    queue = iter(items)

    def request(item) -> tuple[bytes, bytes]:  # type: ignore[no-untyped-def]
        if item is None:
            return b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", b" 200 "
        cookie, net, body = item
        head = (
            f"POST /f/bench HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-For: {net}\r\n"
            f"Cookie: siyu_device={cookie}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        return head + body, b" 303 "

    async def visitor() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
        try:
            for item in queue:
                data, expected = request(item)
                start = time.perf_counter()
                writer.write(data)
                await writer.drain()
                status = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                answer = await reader.readexactly(length)
                latencies.append(time.perf_counter() - start)
                if expected not in status:
                    raise SystemExit(f"{status!r}: {answer[:300]!r}")
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(visitor() for _ in range(concurrency)))
    return time.perf_counter() - t0, latencies


if __name__ == "__main__":
    main()
