"""The overview's rows shaped into what the dashboard draws: each bar, cell, row or tile with
the segment rule that lists the customers it counted (the drill-down evaluates that rule on the
same copy, so the numbers agree)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from siyu.metrics import expressions as x


def first_seen_between(start: date, end: date) -> dict[str, Any]:
    """The rule of customers first seen in [start, end] (local days)."""
    return {"field": "first_seen", "op": "between", "value": [start.isoformat(), end.isoformat()]}


def arrived(source: str, start: date, end: date) -> dict[str, Any]:
    """The drill-down rule of customers from ``source`` first seen in [start, end] (an empty
    source: customers whose source is not known)."""
    by_source = (
        {"field": "source", "op": "=", "value": source}
        if source
        else {"field": "source", "op": "is_empty"}
    )
    return {"all": [by_source, first_seen_between(start, end)]}


def _month_within(cohort: int, start: date, end: date) -> tuple[date, date]:
    """The days of acquisition month ``cohort`` (yyyymm) that lie in [start, end]."""
    first = date(cohort // 100, cohort % 100, 1)
    after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return max(first, start), min(after - timedelta(days=1), end)


def cohorts(rows: list[dict[str, Any]], start: date, end: date) -> list[dict[str, Any]]:
    """Per acquisition month (all sources together, then each source), rates of 1/7/30 days."""
    by: dict[tuple[int, str | None], list[int]] = {}
    for r in rows:  # each row once under its source, and once under all sources (None)
        for key in ((int(r["cohort"]), None), (int(r["cohort"]), str(r["source"]))):
            acc = by.setdefault(key, [0, 0, 0, 0])
            for i, name in enumerate(("size", "d1", "d7", "d30")):
                acc[i] += int(r[name])
    out = []
    for (cohort, source), (size, d1, d7, d30) in sorted(
        by.items(), key=lambda kv: (kv[0][0], kv[0][1] is not None, kv[0][1] or "")
    ):
        first, last = _month_within(cohort, start, end)
        seen = first_seen_between(first, last)
        out.append(
            {
                "rule": seen if source is None else arrived(source, first, last),
                "cohort": f"{cohort // 100}-{cohort % 100:02d}",
                "source": source,  # None: all sources; "": source not known
                "customers": size,
                "d1": round(d1 / size, 4),
                "d7": round(d7 / size, 4),
                "d30": round(d30 / size, 4),
            }
        )
    return out


def by_source(
    rows: list[dict[str, Any]], spend: dict[str, int], start: date, end: date
) -> list[dict[str, Any]]:
    """Per acquisition source of the period's new customers: what they have spent to date
    (historic LTV per customer), what acquiring them cost (CAC, from ``spend`` per source)
    and the ratio."""
    out = []
    for r in rows:
        n, fen = int(r["customers"]), int(r["revenue"])
        ltv = round(fen / n) if n else None
        predicted = round((fen + int(r["expected"])) / n) if n else None
        cost = spend.get(str(r["source"]))
        cac = round(cost / n) if cost is not None and n else None
        out.append(
            {
                "source": r["source"],
                "customers": n,
                "ltv_fen": ltv,
                "predicted_ltv_fen": predicted,
                "spend_fen": cost,
                "cac_fen": cac,
                "ltv_cac": round(ltv / cac, 2) if ltv is not None and cac else None,
                "predicted_ltv_cac": (
                    round(predicted / cac, 2) if predicted is not None and cac else None
                ),
                "rule": arrived(str(r["source"]), start, end),
            }
        )
    return sorted(out, key=lambda r: (r["ltv_cac"] is None, -(r["ltv_cac"] or 0), r["source"]))


def by_store(
    rows: list[dict[str, Any]], stores: dict[int, tuple[str, str]], start: date, end: date
) -> list[dict[str, Any]]:
    """The period's new customers per home store (``stores``: id → code, name), biggest first;
    each with the rule that lists them (customers with no store: "—", no drill-down)."""
    seen = first_seen_between(start, end)
    out = []
    for r in rows:
        code, name = stores.get(r["store_id"], (None, None))
        rule = {"all": [{"field": "store", "op": "=", "value": code}, seen]} if code else None
        out.append(
            {
                "store_id": r["store_id"],
                "code": code,
                "name": name,
                "customers": int(r["customers"]),
                "rule": rule,
            }
        )
    return sorted(out, key=lambda r: (-r["customers"], r["name"] or ""))


def traits(mix: list[dict[str, Any]]) -> dict[str, Any]:
    """RFM classes, lifecycle stages and CLV bands of the latest recompute, each item with the
    rule that lists its customers."""
    rfm: dict[str, int] = {}
    stage: dict[str, int] = {}
    band: dict[int, int] = {}
    for r in mix:
        n = int(r["customers"])
        if r["rfm"]:
            rfm[r["rfm"]] = rfm.get(r["rfm"], 0) + n
        if r["stage"]:
            stage[r["stage"]] = stage.get(r["stage"], 0) + n
        if int(r["band"]) >= 0:
            band[int(r["band"])] = band.get(int(r["band"]), 0) + n
    bounds = (None, *x.CLV_BANDS, None)
    bands = []
    for i in range(len(x.CLV_BANDS) + 1):
        lo, hi = bounds[i], bounds[i + 1]
        conds: list[dict[str, Any]] = []
        if lo is not None:
            conds.append({"field": "clv", "op": ">", "value": lo / 100})
        if hi is not None:
            conds.append({"field": "clv", "op": "<=", "value": hi / 100})
        bands.append(
            {
                "low_fen": lo,
                "high_fen": hi,
                "customers": band.get(i, 0),
                "rule": {"all": conds} if len(conds) > 1 else conds[0],
            }
        )
    return {
        "customers": sum(int(r["customers"]) for r in mix),
        "rfm": [
            {"code": k, "customers": v, "rule": {"field": "rfm.class", "op": "=", "value": k}}
            for k, v in sorted(rfm.items(), key=lambda kv: -kv[1])
        ],
        "lifecycle": [
            {"code": k, "customers": v, "rule": {"field": "lifecycle", "op": "=", "value": k}}
            for k, v in sorted(stage.items(), key=lambda kv: -kv[1])
        ],
        "clv": bands,
    }
