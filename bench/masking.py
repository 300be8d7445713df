"""Masking by value (DESIGN §11) on a realistic blob: how long ``mask_properties`` takes over
N events of mixed properties, as the 360 page, the event API and exports mask them for
everyone who may not unmask.

The events are what mini programs and shops send: order ids, SKUs, prices, timestamps with
time zones, UTM fields and URLs with ``+`` in them, nested line items, Chinese keys, and now
and then free text holding a phone (mainland and international), an e-mail or an address.
Every planted personal value is checked hidden, so a faster masking that leaks fails here.

Usage: python bench/masking.py [--events 10000] [--seed 7] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from typing import Any

NOTES = [
    "请尽快发货",
    "周末不在家，放快递柜",
    "张三 13933334444，住上海市浦东新区世纪大道100号",
    "联系我 +852 9123 4567 或 li.si@example.com",
    "备用电话 +86 21 5555 6666",
    "发票抬头：某某科技有限公司",
    "满199减20，已用券",
    "客户说下午 3 点后再打 139-3333-4444",
    "",
]
SECRETS = ["13933334444", "9123 4567", "5555 6666", "li.si@example", "世纪大道100号", "3333-4444"]


def event(rng: random.Random, i: int) -> dict[str, Any]:
    items = [
        {
            "sku": f"SK-{rng.randint(1000, 9999)}",
            "name": rng.choice(["玻尿酸面膜", "防晒霜 SPF50+", "洗面奶", "精华液 30ml"]),
            "price": round(rng.uniform(9, 999), 2),
            "qty": rng.randint(1, 5),
        }
        for _ in range(rng.randint(1, 4))
    ]
    return {
        "order_id": f"{2024061500000000000 + i}",
        "paid_at": f"2026-01-{rng.randint(1, 28):02d} 12:{rng.randint(0, 59):02d}:00",
        "created": "2026-01-01T08:00:00+08:00",
        "amount": round(rng.uniform(10, 3000), 2),
        "currency": "CNY",
        "items": items,
        "utm": {"source": "wechat", "campaign": "spring+sale", "term": "面膜+补水"},
        "page": f"https://shop.example.com/p/{rng.randint(1, 99999)}?q=a+b&from=share",
        "门店": rng.choice(["南京西路店", "徐家汇店", "五角场店"]),
        "积分变动": f"+{rng.randint(1, 5000)}",
        "备注": rng.choice(NOTES),
        "device": {"os": "iOS 17.4", "model": "iPhone15,2", "tz": "+0800"},
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    from siyu.customers.masking import mask_properties

    rng = random.Random(args.seed)
    blob = [event(rng, i) for i in range(args.events)]
    size = len(json.dumps(blob, ensure_ascii=False).encode())
    timings, floor = [], []
    for _ in range(args.repeat):
        started = time.perf_counter()
        shown = [mask_properties(e) for e in blob]
        timings.append(time.perf_counter() - started)
        started = time.perf_counter()
        for e in blob:  # the baseline: reading and writing the same values, masking none
            json.loads(json.dumps(e, ensure_ascii=False))
        floor.append(time.perf_counter() - started)
    text = json.dumps(shown, ensure_ascii=False)
    leaked = [s for s in SECRETS if s in text]
    best, median, base = min(timings), statistics.median(timings), min(floor)
    print(f"{args.events} events, {size / 1e6:.1f} MB of JSON")
    print(f"mask_properties: best {best:.3f} s, median {median:.3f} s")
    print(f"  {args.events / best:,.0f} events/s, {best / args.events * 1e6:.1f} µs per event")
    print(f"baseline (a JSON round trip of the same events): best {base:.3f} s")
    print(f"  masking costs {best / base:.1f}x the baseline")
    print("leaked:", leaked or "nothing")
    if leaked:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
