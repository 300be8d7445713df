"""The metrics an operator reads, each with the definition the console shows beside it.

A metric is listed here before it is computed anywhere, so the screens, the API and the tests
name the same thing. Metrics that need data Siyu does not collect yet (K-factor needs referral
tracking, NPS needs surveys) keep their place with the reason, and no number.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    key: str
    zh: str
    en: str
    unit: str  # count | fen | ratio | days
    definition_zh: str
    definition_en: str
    pending: str = ""  # why there is no number yet (the work it waits for)
    pending_zh: str = ""


DEFINED = (
    Metric(
        "new_customers",
        "新客户",
        "New customers",
        "count",
        "期间内首次出现（first_seen_at，北京时间）的客户数，不含已合并或注销的档案。",
        "Customers first seen in the period (first_seen_at, Beijing time); merged or erased "
        "profiles excluded.",
    ),
    Metric(
        "active_customers",
        "活跃客户",
        "Active customers",
        "count",
        "期间内有有效订单或任何行为事件的客户数。",
        "Customers with a paid order or any event in the period.",
    ),
    Metric(
        "buyers",
        "购买客户",
        "Buyers",
        "count",
        "期间内至少有一笔有效订单的客户数。有效订单：已付款、已发货、已完成或部分退款。",
        "Customers with at least one paid order (paid, shipped, completed or partly refunded).",
    ),
    Metric(
        "orders",
        "订单数",
        "Orders",
        "count",
        "期间内有效订单数（按付款时间）。",
        "Paid orders in the period (by paid time).",
    ),
    Metric(
        "revenue",
        "销售额",
        "Revenue",
        "fen",
        "期间内有效订单的实付金额减退款。",
        "What paid orders in the period brought in, refunds deducted.",
    ),
    Metric(
        "aov",
        "客单价",
        "Average order value",
        "fen",
        "销售额 ÷ 订单数。",
        "Revenue ÷ orders.",
    ),
    Metric(
        "frequency",
        "购买频次",
        "Purchase frequency",
        "ratio",
        "订单数 ÷ 购买客户数。销售额 = 购买客户数 × 客单价 × 购买频次。",
        "Orders ÷ buyers. Revenue = buyers × AOV × frequency.",
    ),
    Metric(
        "repurchase_rate",
        "复购率",
        "Repurchase rate",
        "ratio",
        "期间内购买客户中，在期间内有两笔及以上有效订单（不同日）的比例。",
        "Share of the period's buyers with paid orders on two or more days in the period.",
    ),
    Metric(
        "days_to_second",
        "二次购买间隔",
        "Time to second purchase",
        "days",
        "期间内完成第二次购买的客户，从第一次到第二次购买的天数中位数。",
        "Median days from first to second purchase, for customers whose second purchase falls "
        "in the period.",
    ),
    Metric(
        "retention",
        "留存",
        "Retention",
        "ratio",
        "按客户首次出现的月份分组：首次出现后 1 天、7 天、30 天内再次活跃（下单或任何行为）的比例。",
        "By the month customers were first seen: the share active again (an order or any event) "
        "within 1, 7 and 30 days after that day.",
    ),
    Metric(
        "ltv",
        "客户终身价值（历史）",
        "Lifetime value (historic)",
        "fen",
        "期间内新客户至今的有效消费（实付减退款）÷ 新客户数，按来源。",
        "What the period's new customers have spent to date (refunds deducted) ÷ their number, "
        "per source.",
    ),
    Metric(
        "predicted_ltv",
        "客户终身价值（预测）",
        "Lifetime value (predicted)",
        "fen",
        "历史价值加上最近一次 CLV 拟合（BG/NBD + Gamma-Gamma）预计这些客户未来 12 个月的消费，÷ 新客户数，按来源。",
        "Historic value plus what the latest CLV fit (BG/NBD + Gamma-Gamma) expects these "
        "customers to spend in the next 12 months, ÷ their number, per source.",
    ),
    Metric(
        "cac",
        "获客成本",
        "Acquisition cost (CAC)",
        "fen",
        "期间各月录入的该来源获客花费 ÷ 期间内该来源的新客户数（siyu metrics spend set）。",
        "The source's acquisition spend entered for the period's months ÷ its new customers "
        "(siyu metrics spend set).",
    ),
    Metric(
        "ltv_cac",
        "LTV/CAC",
        "LTV/CAC",
        "ratio",
        "历史客户价值 ÷ 获客成本；大于 1 表示这个来源的客户已经赚回了获取他们的花费。",
        "Historic LTV ÷ CAC; above 1, the source's customers have already earned back what "
        "acquiring them cost.",
    ),
    Metric(
        "k_factor",
        "K 因子",
        "K-factor",
        "ratio",
        "每位客户带来的新客户数（邀请数 × 转化率）。",
        "New customers each customer brings (invitations × conversion).",
        pending="needs referral tracking (the growth work)",
        pending_zh="需要转介绍追踪（增长模块上线后提供）",
    ),
    Metric(
        "nps",
        "净推荐值",
        "NPS",
        "ratio",
        "推荐者比例减贬损者比例。",
        "Promoters minus detractors.",
        pending="needs surveys",
        pending_zh="需要满意度问卷（问卷模块上线后提供）",
    ),
)


class _Registry(Mapping[str, Metric]):
    """Every capability's metrics by key (manifests' ``metrics``), gathered on first use, so a
    capability that arrives later (growth's K-factor, surveys' NPS) adds its own."""

    def __init__(self) -> None:
        self._by_key: dict[str, Metric] = {}

    def _all(self) -> dict[str, Metric]:
        if not self._by_key:
            from siyu.capabilities import each

            found: dict[str, Metric] = {}
            for metric in each("metrics"):
                if metric.key in found:
                    raise ValueError(f"metric {metric.key} is declared twice")
                found[metric.key] = metric
            self._by_key.update(found)
        return self._by_key

    def __getitem__(self, key: str) -> Metric:
        return self._all()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


METRICS: Mapping[str, Metric] = _Registry()
