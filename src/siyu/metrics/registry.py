"""The metrics an operator reads, each with the definition the console shows beside it.

A metric is listed here before it is computed anywhere, so the screens, the API and the tests
name the same thing. Capabilities declare their own: growth's K-factor and referral figures, its
surveys' NPS.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from siyu.i18n import N_, in_language


@dataclass(frozen=True)
class Metric:
    key: str
    name: str  # English, marked for the catalogue: said in the reader's language
    unit: str  # count | fen | ratio | days
    definition: str
    pending: str = ""  # why there is no number yet (the work it waits for)

    @property
    def zh(self) -> str:
        return in_language("zh-CN", self.name)

    def described(self) -> dict[str, str]:
        """The metric in both languages, as the API and ``siyu metrics list --json`` give it."""
        return {
            "key": self.key,
            "zh": self.zh,
            "en": self.name,
            "unit": self.unit,
            "definition_zh": in_language("zh-CN", self.definition),
            "definition_en": self.definition,
            "pending": self.pending,
            "pending_zh": in_language("zh-CN", self.pending) if self.pending else "",
        }


DEFINED = (
    Metric(
        "new_customers",
        N_("New customers"),
        "count",
        N_(
            "Customers first seen in the period (first_seen_at, Beijing time); merged or erased profiles excluded."
        ),
    ),
    Metric(
        "active_customers",
        N_("Active customers"),
        "count",
        N_("Customers with a paid order or any event in the period."),
    ),
    Metric(
        "buyers",
        N_("Buyers"),
        "count",
        N_("Customers with at least one paid order (paid, shipped, completed or partly refunded)."),
    ),
    Metric(
        "orders",
        N_("Orders"),
        "count",
        N_("Paid orders in the period (by paid time)."),
    ),
    Metric(
        "revenue",
        N_("Revenue"),
        "fen",
        N_("What paid orders in the period brought in, refunds deducted."),
    ),
    Metric(
        "aov",
        N_("Average order value"),
        "fen",
        N_("Revenue ÷ orders."),
    ),
    Metric(
        "frequency",
        N_("Purchase frequency"),
        "ratio",
        N_("Orders ÷ buyers. Revenue = buyers × AOV × frequency."),
    ),
    Metric(
        "repurchase_rate",
        N_("Repurchase rate"),
        "ratio",
        N_("Share of the period's buyers with paid orders on two or more days in the period."),
    ),
    Metric(
        "days_to_second",
        N_("Time to second purchase"),
        "days",
        N_(
            "Median days from first to second purchase, for customers whose second purchase falls in the period."
        ),
    ),
    Metric(
        "retention",
        N_("Retention"),
        "ratio",
        N_(
            "By the month customers were first seen: the share active again (an order or any event) within 1, 7 and 30 days after that day."
        ),
    ),
    Metric(
        "ltv",
        N_("Lifetime value (historic)"),
        "fen",
        N_(
            "What the period's new customers have spent to date (refunds deducted) ÷ their number, per source."
        ),
    ),
    Metric(
        "predicted_ltv",
        N_("Lifetime value (predicted)"),
        "fen",
        N_(
            "Historic value plus what the latest CLV fit (BG/NBD + Gamma-Gamma) expects these customers to spend in the next 12 months, ÷ their number, per source."
        ),
    ),
    Metric(
        "cac",
        N_("Acquisition cost (CAC)"),
        "fen",
        N_(
            "The source's acquisition spend entered for the period's months ÷ its new customers (siyu metrics spend set)."
        ),
    ),
    Metric(
        "ltv_cac",
        N_("LTV/CAC"),
        "ratio",
        N_(
            "Historic LTV ÷ CAC; above 1, the source's customers have already earned back what acquiring them cost."
        ),
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
