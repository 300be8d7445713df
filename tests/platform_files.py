"""Small export files with each platform's real header set, for the importer tests."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import write_csv

TAOBAO_HEADER = [
    "订单编号",
    "买家会员名",
    "买家支付宝账号",
    "买家应付货款",
    "买家应付邮费",
    "总金额",
    "买家实际支付金额",
    "订单状态",
    "买家留言",
    "收货人姓名",
    "收货地址",
    "运送方式",
    "联系电话",
    "联系手机",
    "订单创建时间",
    "订单付款时间",
    "宝贝标题",
    "宝贝种类",
    "物流单号",
    "物流公司",
    "订单备注",
    "宝贝总数量",
    "店铺Id",
    "店铺名称",
    "订单关闭原因",
    "退款金额",
]


def taobao_row(
    order_id: str,
    nick: str,
    phone: str,
    amount: str,
    status: str = "交易成功",
    refund: str = "0.00",
    name: str = "王芳",
    paid: str = "2026-06-18 10:05:00",
) -> list[str]:
    return [
        order_id,
        nick,
        "w***@163.com",
        amount,
        "0.00",
        amount,
        amount,
        status,
        "",
        name,
        "浙江省 杭州市 西湖区 文三路 100号",
        "快递",
        "",
        phone,
        "2026-06-18 10:00:00",
        paid,
        "氨基酸温和洁面乳 120g",
        "1",
        "YT123",
        "圆通",
        "",
        "1",
        "12345",
        "悦颜旗舰店",
        "",
        refund,
    ]


def taobao(path: Path, rows: list[list[str]]) -> Path:
    return write_csv(path, TAOBAO_HEADER, rows, encoding="gbk")


JD_HEADER = [
    "订单号",
    "商品ID",
    "商品名称",
    "订购数量",
    "支付方式",
    "下单时间",
    "京东价",
    "订单金额",
    "结算金额",
    "余额支付",
    "应付金额",
    "订单状态",
    "订单类型",
    "下单帐号",
    "客户姓名",
    "客户地址",
    "联系电话",
    "订单备注",
    "付款确认时间",
]


def jd_row(
    order_id: str,
    sku: str,
    name: str,
    qty: int,
    price: str,
    total: str,
    account: str,
    phone: str = "138****0000",
    status: str = "完成",
) -> list[object]:
    return [
        order_id,
        sku,
        name,
        qty,
        "在线支付",
        "2026-11-11 00:10:00",
        price,
        total,
        total,
        "0.00",
        total,
        status,
        "SOP",
        account,
        "李娜",
        "北京 北京市 朝阳区 某路1号",
        phone,
        "",
        "2026-11-11 00:11:00",
    ]


def jd(path: Path, rows: list[list[object]]) -> Path:
    return write_csv(path, JD_HEADER, rows, encoding="utf-8-sig")


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
    "收货人详细地址",
]

DOUYIN_HEADER = [
    "主订单编号",
    "子订单编号",
    "选购商品",
    "商品规格",
    "商品数量",
    "商品ID",
    "商家编码",
    "商品单价",
    "订单应付金额",
    "运费",
    "订单提交时间",
    "支付完成时间",
    "订单状态",
    "售后状态",
    "收件人",
    "收件人手机号",
    "省",
    "市",
    "区",
    "街道",
    "详细地址",
]

POS_HEADER = [
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

CSV_HEADER = [
    "order_id",
    "customer_id",
    "phone",
    "email",
    "name",
    "paid_at",
    "amount",
    "status",
    "sku",
    "product",
    "category",
    "quantity",
    "store",
]
