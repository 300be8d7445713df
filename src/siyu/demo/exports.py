"""The demo's export files, written as each platform writes them (Taobao in GBK, JD with a BOM…)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from siyu import csvsafe
from siyu.demo.catalog import EVENTS, PRODUCTS, STORES

if TYPE_CHECKING:
    from siyu.demo.generate import Person

TZ = ZoneInfo("Asia/Shanghai")


def _season(t: datetime) -> float:
    m, d = t.month, t.day
    if m == 11 and d <= 11:
        return 3.5
    if m == 6 and d <= 18:
        return 2.5
    if (m == 1 and d >= 10) or (m == 2 and d <= 5):
        return 1.8
    return 1.0


def _basket(rng: random.Random, t: datetime) -> list[tuple[tuple[str, str, str, int], int, int]]:
    items = []
    for _ in range(rng.choices((1, 2, 3), (70, 22, 8))[0]):
        prod = rng.choice(PRODUCTS)
        qty = rng.choices((1, 2, 3), (85, 12, 3))[0]
        discount = 0.8 if _season(t) > 1 else 1.0
        items.append((prod, qty, int(prod[3] * 100 * discount) * qty))
    return items


def _status(rng: random.Random, t: datetime, end: datetime) -> str:
    if end - t < timedelta(days=3):
        return "shipped"
    x = rng.random()
    return "refunded" if x < 0.03 else "cancelled" if x < 0.06 else "completed"


def _fmt(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S")


def _yuan(fen: int) -> str:
    return f"{fen / 100:.2f}"


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
YOUZAN_HEADER = [
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
            "signups": (out / "miniprogram_members.csv").open("w", encoding="utf-8", newline=""),
        }
        self.w = {k: csvsafe.writer(f) for k, f in self.files.items() if k != "events"}
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
        self.w["youzan"].writerow(YOUZAN_HEADER)
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
        self.w["signups"].writerow(  # the member centre's sign-ups, in Siyu's own columns
            [
                "phone",
                "email",
                "name",
                "gender",
                "province",
                "city",
                "registered_at",
                "sms_consent",
                "email_consent",
                "consent_evidence",
                "consent_at",
            ]
        )
        self.paths = [Path(f.name) for f in self.files.values()]

    def close(self) -> None:
        for f in self.files.values():
            f.close()


def _masked(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:]


def _write_order(
    w: _Writers, p: Person, platform: str, n: int, t: datetime, rng: random.Random, end: datetime
) -> None:
    basket = _basket(rng, t)
    total = sum(a for _p, _q, a in basket)
    status = _status(rng, t, end)
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


def _write_events(w: _Writers, p: Person, rng: random.Random, end: datetime) -> None:
    for k in range(rng.randint(1, 4)):
        at = end - timedelta(days=rng.uniform(0, 120))
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


EMAIL_DOMAINS = ("example.com", "example.net", "example.org")  # reserved: never a real mailbox


def _write_signup(w: _Writers, p: Person, t: datetime, rng: random.Random) -> None:
    """The person joins the member centre (mini-program) at ``t``, ticking the marketing
    boxes or not; the tick is the consent evidence the importer asks for."""
    email = f"yy{p.idx:07d}@{rng.choice(EMAIL_DOMAINS)}" if rng.random() < 0.6 else ""
    sms = rng.random() < 0.7
    mail = bool(email) and rng.random() < 0.8
    w.w["signups"].writerow(
        [
            p.phone,
            email,
            p.name,
            p.gender,
            p.province,
            p.city,
            _fmt(t),
            "是" if sms else "",  # a box left blank says nothing
            "是" if mail else "",
            f"小程序会员注册·勾选接收营销信息 {t:%Y%m%d}-{p.idx}" if sms or mail else "",
            _fmt(t) if sms or mail else "",
        ]
    )
