"""Deterministic demo/benchmark data: realistic Chinese retail exports for one brand.

The history covers the two years up to the day before ``as_of`` (Beijing time), so a demo
loaded today looks alive: people keep arriving all along (a little more each month, as in a
growing brand), and orders run up to yesterday. The same seed and the same ``as_of`` give the
same bytes; benchmarks pass a fixed ``as_of`` (``BENCH_AS_OF``) so their figures stay comparable.

People buy on one or two platforms (cross-platform customers share a phone). Each person's
purchases follow a BG/NBD-style process — a personal purchase rate drawn from a Gamma
distribution and a drop-out probability after each purchase from a Beta — thinned by
seasonality (618, 双11, 春节), so the CLV work later has real signal to find. Some people
join the member centre (mini-program) and tick its marketing boxes: the demo's SMS and email
audiences.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

from siyu import clock
from siyu.demo.catalog import GIVEN_F, GIVEN_M, PLACES, STORES, SURNAMES
from siyu.demo.exports import (
    TZ,
    _season,
    _write_events,
    _write_member,
    _write_order,
    _write_signup,
    _Writers,
)

PLATFORMS = ["taobao", "jd", "youzan", "pos"]
PLATFORM_WEIGHTS = [45, 20, 20, 15]
HISTORY_DAYS = 730
# The day benchmarks generate "as of": their data ends on 2026-10-31 whatever the date of the
# run, so figures from different days compare.
BENCH_AS_OF = date(2026, 11, 1)
SIGNUP_SHARE = 0.35  # of the people whose phone the brand knows: members of its mini-program


@dataclass(frozen=True)
class Span:
    """The generated history: [start, end], end being 23:00 of the day before ``as_of``."""

    start: datetime
    end: datetime

    @classmethod
    def before(cls, as_of: date) -> Span:
        end = datetime.combine(as_of, time(0), TZ) - timedelta(hours=1)
        return cls(end - timedelta(days=HISTORY_DAYS), end)


def today() -> date:
    """Today in Beijing: the default ``as_of`` of the demo."""
    return clock.today(TZ)


@dataclass
class Person:
    idx: int
    name: str
    gender: str
    phone: str
    province: str
    city: str
    platforms: list[str]
    nick: str
    jd_account: str
    member_no: str
    store: tuple[str, str, str, str] | None
    purchases: list[datetime] = field(default_factory=list)
    phone_known: bool = False  # the brand has seen the phone in clear (members, Youzan, POS…)


def _people(n: int, rng: random.Random) -> Iterator[Person]:
    places = [(p, c) for p, c, w in PLACES for _ in range(w)]
    store_cities = {s[3]: [x for x in STORES if x[3] == s[3]] for s in STORES}
    used: set[str] = set()
    prefixes = ["13", "15", "17", "18", "19"]
    for i in range(n):
        gender = "female" if rng.random() < 0.72 else "male"
        given = GIVEN_F if gender == "female" else GIVEN_M
        name = rng.choice(SURNAMES) + "".join(rng.choice(given) for _ in range(rng.choice((1, 2))))
        while True:
            phone = (
                rng.choice(prefixes) + str(rng.randint(1, 9)) + f"{rng.randint(0, 99_999_999):08d}"
            )
            if phone not in used and len(set(phone[3:])) > 1:
                used.add(phone)
                break
        province, city = rng.choice(places)
        primary = rng.choices(PLATFORMS, PLATFORM_WEIGHTS)[0]
        if primary == "pos" and city not in store_cities:
            primary = "taobao"
        platforms = [primary]
        if rng.random() < 0.25:  # cross-platform customer, shares the phone
            other = rng.choices(PLATFORMS, PLATFORM_WEIGHTS)[0]
            if other != primary and (other != "pos" or city in store_cities):
                platforms.append(other)
        store = rng.choice(store_cities[city]) if city in store_cities else None
        yield Person(
            i,
            name,
            gender,
            phone,
            province,
            city,
            platforms,
            nick=f"tb{rng.randint(10**7, 10**9)}_{i}",
            jd_account=f"jd_{rng.randint(10**6, 10**8)}{i}",
            member_no=f"M{i + 1:08d}",
            store=store,
        )


def _purchases(
    p: Person | None, rng: random.Random, span: Span, loyalty: float = 1.0
) -> list[datetime]:
    """BG/NBD: rate λ ~ Gamma(r=2, scale=1/90)/day; drop-out p ~ Beta(1, 9) after each buy.

    The first purchase (the arrival) falls anywhere in the span, more often towards its end
    (the density grows threefold: a brand that keeps growing), so every month brings new
    customers and, on the last day, about half the people who ever bought are still active
    or new, a seventh at risk and a third or so lapsed. ``loyalty`` > 1 makes everyone buy
    more often and drop out less (λ × loyalty, p / loyalty), for benchmark data with more
    orders per customer; 1 is the demo's own shape.
    """
    lam = rng.gammavariate(2.0, 1 / 90) * loyalty
    drop = rng.betavariate(1.0, 9.0) / loyalty
    end = span.end
    seconds = (end - span.start).total_seconds()
    # the arrival's place y in [0, 1] has density (1 + 2y) / 2: F(y) = (y + y²) / 2 = u
    y = (math.sqrt(1 + 8 * rng.random()) - 1) / 2
    t = span.start + timedelta(seconds=seconds * y)
    out = [t]
    peak = 3.5
    while True:
        if rng.random() < drop:
            break
        while True:
            t += timedelta(days=min(rng.expovariate(lam * peak), 3650.0))
            if t > end or rng.random() < _season(t) / peak:
                break
        if t > end:
            break
        out.append(t)
    return out


def loyalty_for(orders_per_customer: float, seed: int = 1, as_of: date = BENCH_AS_OF) -> float:
    """The ``loyalty`` that gives about ``orders_per_customer`` purchases per person on average.

    Found by bisection on a 20,000-person sample of the purchase model (its own random stream,
    so the data that follows does not depend on it). The mean grows with loyalty.
    """
    if orders_per_customer < 1.5 or orders_per_customer > 60:
        raise ValueError("orders per customer must be between 1.5 and 60")

    span = Span.before(as_of)

    def mean(loyalty: float) -> float:
        rng = random.Random(seed)
        return sum(len(_purchases(None, rng, span, loyalty)) for _ in range(20_000)) / 20_000

    lo, hi = 0.05, 40.0
    for _ in range(30):
        mid = math.sqrt(lo * hi)
        if mean(mid) < orders_per_customer:
            lo = mid
        else:
            hi = mid
        if hi / lo < 1.005:
            break
    return math.sqrt(lo * hi)


def generate(
    customers: int,
    seed: int,
    out: Path,
    *,
    as_of: date,
    progress: bool = False,
    orders_per_customer: float | None = None,
) -> list[Path]:
    """Write the demo exports for ``customers`` people, their history ending the day before
    ``as_of``; the same seed and ``as_of`` give the same bytes.

    ``orders_per_customer`` (about; default the demo's own ≈5.7) shapes benchmark data, e.g.
    1M customers with 10M orders.
    """
    span = Span.before(as_of)
    loyalty = 1.0 if orders_per_customer is None else loyalty_for(orders_per_customer, seed, as_of)
    rng = random.Random(seed)
    w = _Writers(out)
    counter = 0
    members_done: set[int] = set()
    try:
        for person in _people(customers, rng):
            bought = _purchases(person, rng, span, loyalty)
            for t in bought:
                counter += 1
                platform = rng.choice(person.platforms)
                _write_order(w, person, platform, counter, t, rng, span.end)
                if platform == "pos" and person.idx not in members_done:
                    members_done.add(person.idx)
                    _write_member(w, person, t, rng)
            # mini-program and WeCom events come from people who logged in with their phone
            if person.phone_known and rng.random() < 0.5:
                _write_events(w, person, rng, span.end)
            if person.phone_known and rng.random() < SIGNUP_SHARE:
                joined = bought[0] + timedelta(days=rng.uniform(0, 60))
                _write_signup(w, person, min(joined, span.end), rng)
            if progress and person.idx and person.idx % 100_000 == 0:
                print(f"  {person.idx:,} customers, {counter:,} orders", flush=True)
    finally:
        w.close()
    return w.paths


def generate_orders_file(
    platform: str, n_orders: int, seed: int, out: Path, *, as_of: date
) -> Path:
    """Exactly ``n_orders`` orders of one platform's export (benchmarks), same model as above."""
    span = Span.before(as_of)
    rng = random.Random(seed)
    w = _Writers(out)
    written = 0
    try:
        for person in _people(10**9, rng):
            if platform == "pos" and person.store is None:
                continue
            for t in _purchases(person, rng, span):
                written += 1
                _write_order(w, person, platform, written, t, rng, span.end)
                if written >= n_orders:
                    return w.paths[list(w.files).index(platform)]
    finally:
        w.close()
    raise AssertionError("unreachable")
