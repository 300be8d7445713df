"""The dashboard as a spreadsheet: each chart's numbers as one block of rows."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

from siyu import csvsafe
from siyu.metrics.registry import METRICS


def overview_csv(o: dict[str, Any]) -> str:
    """The overview (``service.overview``) as CSV text; money in yuan, rates as fractions."""
    buf = io.StringIO()
    w = csvsafe.writer(buf)
    p = o["period"]
    w.writerow(["期间 period", p["start"], p["end"], "对比 previous", *o["previous"].values()])
    w.writerow(["数据截至 data as of (UTC)", o["fresh_as_of"] or ""])
    if o.get("brand_id") or o.get("store_id"):
        w.writerow(
            ["品牌 brand id", o.get("brand_id") or "", "门店 store id", o.get("store_id") or ""]
        )
    if o.get("store_wide"):  # what a store filter does not narrow
        w.writerow(["全品牌口径 brand-wide", *o["store_wide"]])
    w.writerow([])
    w.writerow(["指标 metric", "key", "本期 value", "上期 previous", "变化 delta"])
    for key, v in o["kpis"].items():
        m = METRICS[key]
        scale = 100 if m.unit == "fen" else 1
        w.writerow([m.zh, key, _n(v["value"], scale), _n(v["previous"], scale), _n(v["delta"])])
    w.writerow([])
    w.writerow(["新客来源 source", "客户数 customers"])
    for r in o["new_by_source"]:
        w.writerow([r["source"], r["customers"]])
    w.writerow([])
    w.writerow(["归属门店 store", "门店编码 code", "新客户数 customers"])
    for r in o.get("new_by_store", []):
        w.writerow([r["name"] or "", r["code"] or "", r["customers"]])
    w.writerow([])
    w.writerow(["渠道活码 live code", "渠道 channel", "添加 added", "其中已删除 since deleted"])
    for r in o.get("new_by_live_code", []):
        w.writerow([r["name"], r["channel"], r["added"], r["lost"]])
    w.writerow([])
    w.writerow(
        [
            "来源 source",
            "客户数 customers",
            "LTV 元",
            "预测 LTV predicted 元",
            "花费 spend 元",
            "CAC 元",
            "LTV/CAC",
            "预测 predicted LTV/CAC",
        ]
    )
    for r in o["by_source"]:
        w.writerow(
            [
                r["source"],
                r["customers"],
                _n(r["ltv_fen"], 100),
                _n(r["predicted_ltv_fen"], 100),
                _n(r["spend_fen"], 100),
                _n(r["cac_fen"], 100),
                _n(r["ltv_cac"]),
                _n(r["predicted_ltv_cac"]),
            ]
        )
    w.writerow([])
    w.writerow(["首次出现月份 cohort", "来源 source", "客户数 customers", "d1", "d7", "d30"])
    for c in o["retention"]:
        source = "全部 all" if c["source"] is None else c["source"]
        w.writerow([c["cohort"], source, c["customers"], c["d1"], c["d7"], c["d30"]])
    w.writerow([])
    w.writerow(["渠道 channel", "已发送 sent", "送达 delivered", "点击 clicked", "回复 replied"])
    for r in o["reach"]["channels"]:
        w.writerow([r["channel"], r["sent"], r["delivered"], r["clicked"], r["replied"]])
    w.writerow([])
    w.writerow(
        ["活动 campaign", "渠道 channel", "已发送 sent", "末次触达 元", "增量 元", "费用 元", "ROI"]
    )
    for c in o["reach"]["campaigns"]:
        w.writerow(
            [
                c["name"],
                c["channel"],
                c["sent"],
                _n(c["revenue_fen"], 100),
                _n(c["incremental_revenue_fen"], 100),
                _n(c["cost_fen"], 100),
                _n(c["roi"]),
            ]
        )
    traits = o["traits"]
    for title, key in (("RFM 分层 rfm_class", "rfm"), ("生命周期 lifecycle", "lifecycle")):
        w.writerow([])
        w.writerow([title, "客户数 customers"])
        for r in traits[key]:
            w.writerow([r["code"], r["customers"]])
    w.writerow([])
    w.writerow(["CLV 下限 above 元", "CLV 上限 up to 元", "客户数 customers"])
    for b in traits["clv"]:
        w.writerow([_n(b["low_fen"], 100), _n(b["high_fen"], 100), b["customers"]])
    return buf.getvalue()


def _n(value: float | int | None, scale: int = 1) -> Decimal | float | int | str:
    """A number as a number (so a negative amount stays a number, not text that the CSV writer
    guards against formulas): yuan to two decimals when ``scale`` turns fen into yuan."""
    if value is None:
        return ""
    if scale != 1:
        return Decimal(f"{value / scale:.2f}")
    return value
