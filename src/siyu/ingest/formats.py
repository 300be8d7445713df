"""The export formats Siyu reads, per platform: real column headers → Siyu fields.

Each field lists the headers it may appear under (platforms renamed columns over the years).
``docs/import-formats.md`` documents the same tables for operators; a test keeps them in step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from siyu.refusals import Refusal


@dataclass(frozen=True)
class ExportFormat:
    source: str
    title: str
    kind: str  # orders | customers
    # "order": one row per order; "line": one row per SKU line, order columns repeated
    rows: str
    columns: dict[str, tuple[str, ...]]
    required: tuple[tuple[str, ...], ...]  # each entry: one of these fields must be mapped
    statuses: dict[str, str] = field(default_factory=dict)
    identity: str = "buyer_id"  # which field holds the platform's buyer id, if any


CN_STATUS = {
    # shared Chinese wording across platforms
    "等待买家付款": "pending",
    "待付款": "pending",
    "待支付": "pending",
    "等待付款": "pending",
    "未付款": "pending",
    "买家已付款，等待卖家发货": "paid",
    "买家已付款,等待卖家发货": "paid",
    "等待卖家发货": "paid",
    "待发货": "paid",
    "备货中": "paid",
    "等待出库": "paid",
    "已付款": "paid",
    "部分发货": "paid",
    "卖家已发货，等待买家确认": "shipped",
    "卖家已发货,等待买家确认": "shipped",
    "卖家已发货": "shipped",
    "已发货": "shipped",
    "待收货": "shipped",
    "等待确认收货": "shipped",
    "交易成功": "completed",
    "已完成": "completed",
    "完成": "completed",
    "交易完成": "completed",
    "已签收": "completed",
    "销售": "completed",
    "交易关闭": "cancelled",
    "已关闭": "cancelled",
    "已取消": "cancelled",
    "取消": "cancelled",
    "订单取消": "cancelled",
    "退款成功": "refunded",
    "已退款": "refunded",
    "全额退款": "refunded",
    "退货": "refunded",
    "部分退款": "partially_refunded",
}

EN_STATUS = {
    "pending": "pending",
    "unpaid": "pending",
    "paid": "paid",
    "shipped": "shipped",
    "completed": "completed",
    "complete": "completed",
    "success": "completed",
    "refunded": "refunded",
    "partially_refunded": "partially_refunded",
    "cancelled": "cancelled",
    "canceled": "cancelled",
    "closed": "cancelled",
}

TAOBAO_COLUMNS: dict[str, tuple[str, ...]] = {
    "order_id": ("订单编号",),
    "buyer_id": ("买家会员名", "买家昵称"),
    "phone": ("联系手机",),
    "name": ("收货人姓名",),
    "status": ("订单状态",),
    "ordered_at": ("订单创建时间",),
    "paid_at": ("订单付款时间",),
    "amount": ("买家实际支付金额",),
    "total": ("总金额",),
    "refund": ("退款金额",),
    "product": ("宝贝标题",),
    "quantity": ("宝贝总数量",),
    "sku": ("商家编码",),
    "address": ("收货地址",),
    "shop": ("店铺名称",),
}

FORMATS: dict[tuple[str, str], ExportFormat] = {}


def _add(fmt: ExportFormat) -> None:
    FORMATS[(fmt.kind, fmt.source)] = fmt


_ORDER_REQUIRED = (("order_id",), ("amount",), ("paid_at", "ordered_at"))

_add(
    ExportFormat(
        "taobao",
        "淘宝 千牛 订单报表 (ExportOrderList)",
        "orders",
        "order",
        TAOBAO_COLUMNS,
        (*_ORDER_REQUIRED, ("buyer_id", "phone"), ("status",)),
        CN_STATUS,
    )
)
_add(
    ExportFormat(
        "tmall",
        "天猫 千牛 订单报表 (同淘宝格式)",
        "orders",
        "order",
        TAOBAO_COLUMNS,
        (*_ORDER_REQUIRED, ("buyer_id", "phone"), ("status",)),
        CN_STATUS,
    )
)
_add(
    ExportFormat(
        "jd",
        "京东 商家后台 订单导出 (每个SKU一行)",
        "orders",
        "line",
        {
            "order_id": ("订单号",),
            "sku": ("商品ID", "商品编号"),
            "product": ("商品名称",),
            "quantity": ("订购数量", "商品数量"),
            "unit_price": ("京东价",),
            "total": ("订单金额",),
            "amount": ("应付金额", "结算金额"),
            "status": ("订单状态",),
            "ordered_at": ("下单时间",),
            "paid_at": ("付款确认时间", "付款时间"),
            "buyer_id": ("下单帐号", "下单账号"),
            "name": ("客户姓名",),
            "address": ("客户地址",),
            "phone": ("联系电话",),
            "shop": ("店铺名称",),
        },
        (*_ORDER_REQUIRED, ("buyer_id", "phone"), ("status",)),
        CN_STATUS,
    )
)
_add(
    ExportFormat(
        "youzan",
        "有赞 订单导出 (商品维度，每个商品一行)",
        "orders",
        "line",
        {
            "order_id": ("订单号",),
            "status": ("订单状态",),
            "ordered_at": ("订单创建时间", "下单时间"),
            "paid_at": ("买家付款时间", "付款时间"),
            "amount": ("订单实付金额", "订单实付款", "实付金额"),
            "refund": ("订单已退款金额", "已退款金额"),
            "phone": ("买家手机号", "下单人手机号"),
            "name": ("收货人/提货人", "收货人姓名"),
            "buyer_id": ("买家ID", "客户ID"),
            "product": ("商品名称",),
            "sku": ("规格编码", "商品编码"),
            "quantity": ("商品数量",),
            "unit_price": ("商品单价",),
            "line_amount": ("商品实际成交金额", "商品实付金额"),
            "province": ("收货人省份",),
            "city": ("收货人城市",),
            "store": ("网点名称", "门店名称"),
        },
        (*_ORDER_REQUIRED, ("phone", "buyer_id"), ("status",)),
        CN_STATUS,
    )
)
_add(
    ExportFormat(
        "douyin",
        "抖店 订单导出 (每个子订单一行)",
        "orders",
        "line",
        {
            "order_id": ("主订单编号",),
            "line_id": ("子订单编号",),
            "product": ("选购商品", "商品名称"),
            "sku": ("商家编码", "商品ID"),
            "quantity": ("商品数量",),
            "unit_price": ("商品单价",),
            "amount": ("订单应付金额",),
            "ordered_at": ("订单提交时间",),
            "paid_at": ("支付完成时间",),
            "status": ("订单状态",),
            "after_sale": ("售后状态",),
            "phone": ("收件人手机号",),
            "name": ("收件人",),
            "province": ("省",),
            "city": ("市",),
            "buyer_id": ("买家ID", "用户ID"),
        },
        (*_ORDER_REQUIRED, ("phone", "buyer_id"), ("status",)),
        CN_STATUS,
    )
)
_add(
    ExportFormat(
        "pos",
        "门店收银 POS 销售明细 (每个商品一行)",
        "orders",
        "line",
        {
            "order_id": ("小票号", "单据号"),
            "member_id": ("会员卡号",),
            "phone": ("会员手机号",),
            "name": ("会员姓名",),
            "store": ("门店编码",),
            "store_name": ("门店名称",),
            "paid_at": ("销售时间", "收银时间"),
            "sku": ("商品编码",),
            "product": ("商品名称",),
            "category": ("商品类别", "品类"),
            "quantity": ("数量",),
            "unit_price": ("单价",),
            "line_amount": ("金额", "行金额"),
            "amount": ("实收金额",),
            "status": ("单据类型",),
        },
        (("order_id",), ("amount",), ("paid_at",), ("member_id", "phone")),
        CN_STATUS,
        identity="member_id",
    )
)
_add(
    ExportFormat(
        "csv",
        "通用 CSV (Siyu 默认列名)",
        "orders",
        "line",
        {
            "order_id": ("order_id",),
            "member_id": ("customer_id",),
            "phone": ("phone",),
            "email": ("email",),
            "name": ("name",),
            "paid_at": ("paid_at",),
            "ordered_at": ("ordered_at",),
            "amount": ("amount",),
            "refund": ("refund",),
            "status": ("status",),
            "sku": ("sku",),
            "product": ("product",),
            "category": ("category",),
            "quantity": ("quantity",),
            "line_amount": ("line_amount",),
            "store": ("store",),
            "province": ("province",),
            "city": ("city",),
            "unionid": ("unionid",),
            "platform": ("platform",),
        },
        (("order_id",), ("member_id", "phone"), ("paid_at",), ("amount",)),
        {**CN_STATUS, **EN_STATUS},
        identity="member_id",
    )
)

# Customer (member) lists.
_add(
    ExportFormat(
        "csv",
        "通用 CSV 会员 (Siyu 默认列名)",
        "customers",
        "order",
        {
            "member_id": ("customer_id",),
            "phone": ("phone",),
            "email": ("email",),
            "unionid": ("unionid",),
            "openid": ("openid",),
            "oa_appid": ("oa_appid", "appid"),
            "name": ("name",),
            "gender": ("gender",),
            "birthday": ("birthday",),
            "province": ("province",),
            "city": ("city",),
            "store": ("store",),
            "registered_at": ("registered_at",),
            "sms_consent": ("sms_consent",),
            "email_consent": ("email_consent",),
            "consent_evidence": ("consent_evidence",),
            "consent_at": ("consent_at",),
            "do_not_disturb": ("do_not_disturb", "免打扰"),
        },
        (("member_id", "phone", "email", "unionid", "openid"),),
        identity="member_id",
    )
)
_add(
    ExportFormat(
        "youzan",
        "有赞 客户导出",
        "customers",
        "order",
        {
            "phone": ("手机号",),
            "name": ("姓名", "客户姓名"),
            "gender": ("性别",),
            "birthday": ("生日",),
            "province": ("省份",),
            "city": ("城市",),
            "registered_at": ("成为客户时间", "注册时间"),
            "member_id": ("会员卡号",),
            "sms_consent": ("短信营销授权",),
            "consent_evidence": ("授权凭证",),
            "do_not_disturb": ("免打扰", "是否免打扰"),
        },
        (("phone", "member_id"),),
        identity="member_id",
    )
)
_add(
    ExportFormat(
        "pos",
        "门店收银 POS 会员资料",
        "customers",
        "order",
        {
            "member_id": ("会员卡号",),
            "phone": ("手机号", "会员手机号"),
            "name": ("姓名", "会员姓名"),
            "gender": ("性别",),
            "birthday": ("生日",),
            "store": ("开卡门店编码", "门店编码"),
            "store_name": ("开卡门店", "门店名称"),
            "registered_at": ("开卡时间",),
            "sms_consent": ("短信营销同意",),
            "consent_evidence": ("同意凭证",),
            "consent_at": ("同意时间",),
            "do_not_disturb": ("免打扰", "是否免打扰"),
        },
        (("member_id", "phone"),),
        identity="member_id",
    )
)
_add(
    ExportFormat(
        "taobao",
        "淘宝 客户运营平台 会员导出",
        "customers",
        "order",
        {
            "buyer_id": ("会员名", "客户昵称"),
            "phone": ("手机号",),
            "name": ("姓名",),
            "gender": ("性别",),
            "birthday": ("生日",),
            "province": ("省份",),
            "city": ("城市",),
            "registered_at": ("入会时间",),
        },
        (("buyer_id", "phone"),),
    )
)

ORDER_SOURCES = sorted(s for (k, s) in FORMATS if k == "orders")
CUSTOMER_SOURCES = sorted(s for (k, s) in FORMATS if k == "customers")


def get_format(kind: str, source: str) -> ExportFormat:
    try:
        return FORMATS[(kind, source)]
    except KeyError:
        choices = ORDER_SOURCES if kind == "orders" else CUSTOMER_SOURCES
        raise UnknownSource(
            "unknown source {source!r} for {kind}; choose one of: {choices}",
            source=source,
            kind=kind,
            choices=", ".join(choices),
        ) from None


class UnknownSource(Refusal):
    """No export format of that kind from that source."""
