"""Deterministic demo/benchmark data: realistic Chinese retail exports for one brand.

People buy on one or two platforms (cross-platform customers share a phone). Each person's
purchases follow a BG/NBD-style process — a personal purchase rate drawn from a Gamma
distribution and a drop-out probability after each purchase from a Beta — thinned by
seasonality (618, 双11, 春节), so the CLV work later has real signal to find.
"""

from __future__ import annotations

import csv
import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from siyu.demo.catalog import EVENTS, GIVEN_F, GIVEN_M, PLACES, PRODUCTS, STORES, SURNAMES

TZ = ZoneInfo("Asia/Shanghai")
END = datetime(2026, 10, 31, 23, 0, tzinfo=TZ)
START = END - timedelta(days=730)
PLATFORMS = ["taobao", "jd", "youzan", "pos"]
PLATFORM_WEIGHTS = [45, 20, 20, 15]


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


def _season(t: datetime) -> float:
    m, d = t.month, t.day
    if m == 11 and d <= 11:
        return 3.5
    if m == 6 and d <= 18:
        return 2.5
    if (m == 1 and d >= 10) or (m == 2 and d <= 5):
        return 1.8
    return 1.0


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


def _purchases(p: Person, rng: random.Random) -> list[datetime]:
    """BG/NBD: rate λ ~ Gamma(r=0.9, scale=1/40)/day; drop-out p ~ Beta(1.2, 4) after each buy."""
    lam = rng.gammavariate(0.9, 1 / 40)
    drop = rng.betavariate(1.2, 4.0)
    span = (END - START).total_seconds()
    t = START + timedelta(seconds=span * (1 - math.sqrt(rng.random())))  # more recent joiners
    out = [t]
    peak = 3.5
    while True:
        if rng.random() < drop:
            break
        while True:
            t += timedelta(days=min(rng.expovariate(lam * peak), 3650.0))
            if t > END or rng.random() < _season(t) / peak:
                break
        if t > END:
            break
        out.append(t)
    return out


def _fmt(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S")


def _yuan(fen: int) -> str:
    return f"{fen / 100:.2f}"


def _basket(rng: random.Random, t: datetime) -> list[tuple[tuple[str, str, str, int], int, int]]:
    items = []
    for _ in range(rng.choices((1, 2, 3), (70, 22, 8))[0]):
        prod = rng.choice(PRODUCTS)
        qty = rng.choices((1, 2, 3), (85, 12, 3))[0]
        discount = 0.8 if _season(t) > 1 else 1.0
        items.append((prod, qty, int(prod[3] * 100 * discount) * qty))
    return items


def _status(rng: random.Random, t: datetime) -> str:
    if END - t < timedelta(days=3):
        return "shipped"
    x = rng.random()
    return "refunded" if x < 0.03 else "cancelled" if x < 0.06 else "completed"


TAOBAO_STATUS = {
    "completed": "交易成功",
    "refunded": "交易关闭",
    "cancelled": "交易关闭",
    "shipped": "卖家已发货，等待买家确认",
}
JD_STATUS = {
    "completed": "完成",
    "refunded": "已取消",
    "cancelled": "已取消",
    "shipped": "等待确认收货",
}
YZ_STATUS = {
    "completed": "交易成功",
    "refunded": "已关闭",
    "cancelled": "已关闭",
    "shipped": "已发货",
}
POS_STATUS = {"completed": "销售", "refunded": "退货", "cancelled": "销售", "shipped": "销售"}


class _Writers:
    def __init__(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.files = {
            "taobao": (out / "taobao_orders.csv").open("w", encoding="gb18030", newline=""),
            "jd": (out / "jd_orders.csv").open("w", encoding="utf-8-sig", newline=""),
            "youzan": (out / "youzan_orders.csv").open("w", encoding="utf-8", newline=""),
            "pos": (out / "pos_sales.csv").open("w", encoding="utf-8", newline=""),
            "members": (out / "pos_members.csv").open("w", encoding="utf-8", newline=""),
            "events": (out / "events.jsonl").open("w", encoding="utf-8"),
        }
        self.w = {k: csv.writer(f) for k, f in self.files.items() if k != "events"}
        self.w["taobao"].writerow(
            [
                "订单编号",
                "买家会员名",
                "买家应付货款",
                "买家实际支付金额",
                "订单状态",
                "收货人姓名",
                "收货地址",
                "联系手机",
                "订单创建时间",
                "订单付款时间",
                "宝贝标题",
                "宝贝种类",
                "宝贝总数量",
                "商家编码",
                "店铺名称",
                "退款金额",
            ]
        )
        self.w["jd"].writerow(
            [
                "订单号",
                "商品ID",
                "商品名称",
                "订购数量",
                "支付方式",
                "下单时间",
                "京东价",
                "订单金额",
                "应付金额",
                "订单状态",
                "订单类型",
                "下单帐号",
                "客户姓名",
                "客户地址",
                "联系电话",
                "付款确认时间",
            ]
        )
        self.w["youzan"].writerow(
            [
                "订单号",
                "订单状态",
                "订单创建时间",
                "买家付款时间",
                "商品名称",
                "规格编码",
                "商品数量",
                "商品单价",
                "订单实付金额",
                "订单已退款金额",
                "买家手机号",
                "收货人/提货人",
                "收货人省份",
                "收货人城市",
            ]
        )
        self.w["pos"].writerow(
            [
                "小票号",
                "会员卡号",
                "会员手机号",
                "门店编码",
                "门店名称",
                "销售时间",
                "商品编码",
                "商品名称",
                "商品类别",
                "数量",
                "单价",
                "金额",
                "实收金额",
                "单据类型",
            ]
        )
        self.w["members"].writerow(
            [
                "会员卡号",
                "手机号",
                "姓名",
                "性别",
                "生日",
                "开卡门店编码",
                "开卡门店",
                "开卡时间",
                "短信营销同意",
                "同意凭证",
                "同意时间",
            ]
        )
        self.paths = [Path(f.name) for f in self.files.values()]

    def close(self) -> None:
        for f in self.files.values():
            f.close()


def generate(customers: int, seed: int, out: Path, progress: bool = False) -> list[Path]:
    """Write the demo exports for ``customers`` people; the same seed gives the same bytes."""
    rng = random.Random(seed)
    w = _Writers(out)
    counter = 0
    members_done: set[int] = set()
    try:
        for person in _people(customers, rng):
            for t in _purchases(person, rng):
                counter += 1
                platform = rng.choice(person.platforms)
                _write_order(w, person, platform, counter, t, rng)
                if platform == "pos" and person.idx not in members_done:
                    members_done.add(person.idx)
                    _write_member(w, person, t, rng)
            # mini-program and WeCom events come from people who logged in with their phone
            if person.phone_known and rng.random() < 0.5:
                _write_events(w, person, rng)
            if progress and person.idx and person.idx % 100_000 == 0:
                print(f"  {person.idx:,} customers, {counter:,} orders", flush=True)
    finally:
        w.close()
    return w.paths


def _masked(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:]


def _write_order(
    w: _Writers, p: Person, platform: str, n: int, t: datetime, rng: random.Random
) -> None:
    basket = _basket(rng, t)
    total = sum(a for _p, _q, a in basket)
    status = _status(rng, t)
    paid_at = t + timedelta(minutes=rng.randint(0, 30))
    address = f"{p.province}{'省' if p.province not in ('上海', '北京', '天津', '重庆') else '市'} {p.city}市 某区 某路{rng.randint(1, 999)}号"
    if platform == "taobao":
        x = rng.random()
        phone = _masked(p.phone) if x < 0.3 else (f"'{p.phone}" if x < 0.35 else p.phone)
        p.phone_known |= x >= 0.3
        title = "，".join(pr[1] for pr, _q, _a in basket)
        sku = basket[0][0][0] if len(basket) == 1 else ""
        w.w["taobao"].writerow(
            [
                f"{3_000_000_000_000_000 + n * 7919}",
                p.nick,
                _yuan(total),
                _yuan(total),
                TAOBAO_STATUS[status],
                p.name,
                address,
                phone,
                _fmt(t),
                _fmt(paid_at) if status != "cancelled" else "",
                title,
                len(basket),
                sum(q for _p, q, _a in basket),
                sku,
                "品牌官方旗舰店",
                _yuan(total) if status == "refunded" else "0.00",
            ]
        )
    elif platform == "jd":
        order_id = f"{280_000_000_000 + n}"
        phone = _masked(p.phone) if rng.random() < 0.8 else p.phone
        p.phone_known |= "*" not in phone
        for prod, qty, amount in basket:
            w.w["jd"].writerow(
                [
                    order_id,
                    prod[0],
                    prod[1],
                    qty,
                    "在线支付",
                    _fmt(t),
                    _yuan(amount // qty),
                    _yuan(total),
                    _yuan(total),
                    JD_STATUS[status],
                    "SOP",
                    p.jd_account,
                    p.name,
                    address,
                    phone,
                    _fmt(paid_at) if status != "cancelled" else "",
                ]
            )
    elif platform == "youzan":
        p.phone_known = True
        order_id = f"E{t:%Y%m%d}{n:012d}"
        for prod, qty, amount in basket:
            w.w["youzan"].writerow(
                [
                    order_id,
                    YZ_STATUS[status],
                    _fmt(t),
                    _fmt(paid_at) if status != "cancelled" else "",
                    prod[1],
                    prod[0],
                    qty,
                    _yuan(amount // qty),
                    _yuan(total),
                    _yuan(total) if status == "refunded" else "0.00",
                    p.phone,
                    p.name,
                    p.province,
                    p.city,
                ]
            )
    else:
        store = p.store or STORES[0]
        receipt = f"R{store[0]}{n:010d}"
        sign = -1 if status == "refunded" else 1
        for prod, qty, amount in basket:
            w.w["pos"].writerow(
                [
                    receipt,
                    p.member_no,
                    p.phone if rng.random() < 0.9 else "",
                    store[0],
                    store[1],
                    _fmt(t),
                    prod[0],
                    prod[1],
                    prod[2],
                    qty,
                    _yuan(amount // qty),
                    _yuan(sign * amount),
                    _yuan(sign * total),
                    POS_STATUS[status],
                ]
            )


def _write_member(w: _Writers, p: Person, t: datetime, rng: random.Random) -> None:
    p.phone_known = True
    store = p.store or STORES[0]
    consent = rng.random() < 0.6
    birthday = f"{rng.randint(1970, 2004)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    w.w["members"].writerow(
        [
            p.member_no,
            p.phone,
            p.name,
            "女" if p.gender == "female" else "男",
            birthday,
            store[0],
            store[1],
            _fmt(t),
            "是" if consent else "否",
            f"门店开卡纸质授权书 {store[0]}-{p.idx}" if consent else "",
            _fmt(t) if consent else "",
        ]
    )


def _write_events(w: _Writers, p: Person, rng: random.Random) -> None:
    for k in range(rng.randint(1, 4)):
        at = END - timedelta(days=rng.uniform(0, 120))
        name = rng.choice(EVENTS)
        props: dict[str, object] = {"channel": rng.choice(["小程序", "公众号", "企业微信", "H5"])}
        if name in ("浏览商品", "加入购物车"):
            props["sku"] = rng.choice(PRODUCTS)[0]
        w.files["events"].write(
            json.dumps(
                {
                    "type": "track",
                    "messageId": f"demo-{p.idx}-{k}",
                    "event": name,
                    "traits": {"phone": p.phone},
                    "properties": props,
                    "timestamp": at.astimezone(UTC).isoformat(),
                },
                ensure_ascii=False,
            )
            + "\n"
        )


def generate_orders_file(platform: str, n_orders: int, seed: int, out: Path) -> Path:
    """Exactly ``n_orders`` orders of one platform's export (benchmarks), same model as above."""
    rng = random.Random(seed)
    w = _Writers(out)
    written = 0
    try:
        for person in _people(10**9, rng):
            if platform == "pos" and person.store is None:
                continue
            for t in _purchases(person, rng):
                written += 1
                _write_order(w, person, platform, written, t, rng)
                if written >= n_orders:
                    return w.paths[list(w.files).index(platform)]
    finally:
        w.close()
    raise AssertionError("unreachable")
