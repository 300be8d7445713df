"""RFM and lifecycle as Ibis expressions: written once, run on DuckDB or on Spark.

Everything here is integer arithmetic on local calendar days (epoch days in the brand's time
zone), percent ranks are formed from integer ranks, and the population mean is compared as
``x * n < sum(x)``, so both engines give exactly the same answers (a test holds them to it).

Scope 0 means all brands together; any other scope is one brand's id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from siyu.orders.models import PAID_STATUSES

ALL_BRANDS = 0

# R high, F high, M high → class (the common Chinese 8-class RFM model).
RFM_CLASSES = {
    (True, True, True): "important_value",  # 重要价值客户
    (True, False, True): "important_develop",  # 重要发展客户
    (False, True, True): "important_keep",  # 重要保持客户
    (False, False, True): "important_retain",  # 重要挽留客户
    (True, True, False): "general_value",  # 一般价值客户
    (True, False, False): "general_develop",  # 一般发展客户
    (False, True, False): "general_keep",  # 一般保持客户
    (False, False, False): "general_retain",  # 一般挽留客户
}
STAGES = ("new", "active", "at_risk", "lapsed", "won_back")


@dataclass(frozen=True)
class TraitParams:
    """What a recompute is asked for: the day it stands on and how it reads the history."""

    reference_epoch_day: int  # the reference date as days since 1970-01-01 (local)
    window_days: int = 365
    utc_offset_minutes: int = 480
    at_risk_percentile: int = 80
    lapsed_percentile: int = 95
    fallback_at_risk_days: int = 90
    fallback_lapsed_days: int = 180
    min_gaps: int = 30
    # With one brand its scope equals the all-brands scope; the service then computes the
    # latter only and copies it (half the work for the common single-brand deployment).
    brand_scopes: bool = True


def purchases(orders: ir.Table, p: TraitParams) -> ir.Table:
    """Paid orders up to the reference date, once per brand scope and once for all brands:
    (scope, customer_id, day, net_fen). Refunded, cancelled and unpaid orders do not count."""
    o = orders.filter(
        orders.status.isin(PAID_STATUSES),
        orders.customer_id.notnull(),
        orders.paid_at.notnull(),
    )
    local = o.paid_at + ibis.interval(minutes=p.utc_offset_minutes)
    o = o.select(
        brand_id=o.brand_id.cast("int64"),
        customer_id=o.customer_id.cast("int64"),
        day=local.date().epoch_days().cast("int64"),
        net_fen=(o.paid_fen - o.refund_fen).cast("int64"),
    )
    o = o.filter(o.day <= p.reference_epoch_day)
    per_brand = o.select(scope=o.brand_id, customer_id=o.customer_id, day=o.day, net_fen=o.net_fen)
    overall = o.select(
        scope=ibis.literal(ALL_BRANDS, "int64"),
        customer_id=o.customer_id,
        day=o.day,
        net_fen=o.net_fen,
    )
    return per_brand.union(overall) if p.brand_scopes else overall


def future_orders(orders: ir.Table, p: TraitParams) -> ir.IntegerScalar:
    """Paid orders dated after the reference date (ignored; reported so nobody is surprised)."""
    o = orders.filter(orders.status.isin(PAID_STATUSES), orders.paid_at.notnull())
    day = (o.paid_at + ibis.interval(minutes=p.utc_offset_minutes)).date().epoch_days()
    return o.filter(day > p.reference_epoch_day).count()


def _score(rank: ir.IntegerValue, n: ir.IntegerValue) -> ir.IntegerValue:
    """Quintile score 1–5 from the percent rank rank/(n-1); ties share a rank, so a score.
    A population of one has no ranking: it scores the middle, 3."""
    raw = 1 + (rank * 5) // ibis.greatest(n - 1, 1)
    return ibis.ifelse(n <= 1, 3, ibis.least(raw, 5)).cast("int16")


def rfm(bought: ir.Table, p: TraitParams) -> ir.Table:
    """Recency (days), frequency (orders), monetary (net fen) within the window, their scores
    and the 8-class model, per (scope, customer)."""
    start = p.reference_epoch_day - p.window_days + 1
    w = bought.filter(bought.day >= start)
    per = w.group_by(["scope", "customer_id"]).aggregate(
        last_day=w.day.max(), frequency=w.count(), monetary_fen=w.net_fen.sum()
    )
    per = per.mutate(recency_days=p.reference_epoch_day - per.last_day)
    scope = ibis.window(group_by=per.scope)
    per = per.mutate(
        n=per.customer_id.count().over(scope),
        sum_r=per.recency_days.sum().over(scope),
        sum_f=per.frequency.sum().over(scope),
        sum_m=per.monetary_fen.sum().over(scope),
        rank_r=ibis.rank().over(group_by=per.scope, order_by=ibis.desc(per.recency_days)),
        rank_f=ibis.rank().over(group_by=per.scope, order_by=per.frequency),
        rank_m=ibis.rank().over(group_by=per.scope, order_by=per.monetary_fen),
    )
    r_high = per.recency_days * per.n < per.sum_r  # more recent than the mean
    f_high = per.frequency * per.n > per.sum_f
    m_high = per.monetary_fen * per.n > per.sum_m
    rfm_class = ibis.cases(
        *[
            ((r_high == r) & (f_high == f) & (m_high == m), name)
            for (r, f, m), name in RFM_CLASSES.items()
        ]
    )
    return per.select(
        "scope",
        "customer_id",
        "recency_days",
        frequency=per.frequency.cast("int64"),
        monetary_fen=per.monetary_fen.cast("int64"),
        r_score=_score(per.rank_r, per.n),
        f_score=_score(per.rank_f, per.n),
        m_score=_score(per.rank_m, per.n),
        rfm_class=rfm_class,
    )


def purchase_days(bought: ir.Table) -> ir.Table:
    """Distinct purchase days per (scope, customer), each with the gap since the previous one."""
    days = bought.select("scope", "customer_id", "day").distinct()
    prev = days.day.lag().over(group_by=[days.scope, days.customer_id], order_by=days.day)
    return days.mutate(gap=days.day - prev)


def thresholds(days: ir.Table, p: TraitParams) -> ir.Table:
    """Per scope, the at-risk and lapsed thresholds in days: the smallest gap between purchases
    that at least the given percentage of all gaps do not exceed (an exact, integer percentile).
    With fewer than ``min_gaps`` repeat purchases the configured fallbacks are used."""
    gaps = days.filter(days.gap.notnull())
    hist = gaps.group_by(["scope", "gap"]).aggregate(k=gaps.count())
    hist = hist.mutate(
        cum=hist.k.sum().over(ibis.window(group_by=hist.scope, order_by=hist.gap, rows=(None, 0))),
        total=hist.k.sum().over(ibis.window(group_by=hist.scope)),
    )
    risk = ibis.ifelse(hist.cum * 100 >= hist.total * p.at_risk_percentile, hist.gap, None)
    lapse = ibis.ifelse(hist.cum * 100 >= hist.total * p.lapsed_percentile, hist.gap, None)
    found = hist.group_by("scope").aggregate(
        gaps=hist.total.max(), risk=risk.min(), lapse=lapse.min()
    )
    scopes = days.select("scope").distinct()  # scopes where nobody bought twice have no gaps
    per = scopes.left_join(found, "scope").select(
        scopes.scope, gaps=found.gaps.fill_null(0), risk=found.risk, lapse=found.lapse
    )
    enough = per.gaps >= p.min_gaps
    at_risk = ibis.ifelse(enough, per.risk, p.fallback_at_risk_days).cast("int64")
    lapsed = ibis.ifelse(enough, per.lapse, p.fallback_lapsed_days).cast("int64")
    return per.select(
        "scope",
        gaps=per.gaps.cast("int64"),
        derived=enough,
        at_risk_days=at_risk,
        lapsed_days=ibis.greatest(lapsed, at_risk + 1),
    )


def lifecycle(days: ir.Table, limits: ir.Table, p: TraitParams) -> ir.Table:
    """Lifecycle stage per (scope, customer) on the reference date.

    lapsed (流失): no purchase for longer than the lapsed threshold; at_risk (沉睡预警): longer
    than the at-risk threshold; new: one purchase day so far, recent; won_back (回流): the last
    purchase came after a lapse; active: the rest.
    """
    last = days.day.max().over(group_by=[days.scope, days.customer_id])
    n_days = days.day.count().over(group_by=[days.scope, days.customer_id])
    latest = days.mutate(last=last, n_days=n_days)
    latest = latest.filter(latest.day == latest.last)
    joined = latest.join(limits, "scope")  # ``thresholds`` has a row for every scope
    risk, lapse = joined.at_risk_days, joined.lapsed_days
    recency = p.reference_epoch_day - joined.day
    stage = ibis.cases(
        (recency > lapse, "lapsed"),
        (recency > risk, "at_risk"),
        (joined.n_days == 1, "new"),
        (joined.gap > lapse, "won_back"),
        else_="active",
    )
    return joined.select(
        scope=joined.scope,
        customer_id=joined.customer_id,
        last_day=joined.day,
        purchase_days=joined.n_days.cast("int64"),
        lifecycle_stage=stage,
    )


def _as_is(table: ir.Table) -> ir.Table:
    return table


def traits(
    orders: ir.Table, p: TraitParams, keep: Callable[[ir.Table], ir.Table] = _as_is
) -> tuple[ir.Table, ir.Table]:
    """(per-customer traits, per-scope thresholds): lifecycle for everyone who ever bought,
    RFM where they bought within the window (else null).

    The purchases, purchase days and thresholds each feed several results; ``keep`` may
    materialise them once (the service passes Ibis's cache) instead of letting every result
    recompute them from the orders."""
    bought = keep(purchases(orders, p))
    days = keep(purchase_days(bought))
    limits = keep(thresholds(days, p))
    stages = lifecycle(days, limits, p)
    scores = rfm(bought, p)
    joined = stages.left_join(scores, ["scope", "customer_id"])
    out = joined.select(
        stages.scope,
        stages.customer_id,
        stages.last_day,
        stages.purchase_days,
        stages.lifecycle_stage,
        scores.recency_days,
        scores.frequency,
        scores.monetary_fen,
        scores.r_score,
        scores.f_score,
        scores.m_score,
        scores.rfm_class,
    )
    return out, limits


def clv_summary(
    orders: ir.Table,
    p: TraitParams,
    calibration_end: int,
    unit_days: int = 1,
) -> ir.Table:
    """Per customer, all brands together, the BG/NBD and Gamma-Gamma inputs on calibration data
    (purchase days up to ``calibration_end``, an epoch day): frequency (repeat purchase days —
    purchases on one day are one transaction), recency and T in time units of ``unit_days``,
    monetary (mean spend of the repeat days, fen), and the purchase days after the calibration
    end up to the reference date (the holdout). Customers whose first purchase falls on the
    calibration end have T = 0 and are left out: they carry no information yet."""
    bought = purchases(orders, p)
    bought = bought.filter(bought.scope == ALL_BRANDS)
    daily = bought.group_by(["customer_id", "day"]).aggregate(spend=bought.net_fen.sum())
    cal = daily.filter(daily.day <= calibration_end)
    cal = cal.mutate(first=cal.day.min().over(group_by=cal.customer_id))
    per = cal.group_by("customer_id").aggregate(
        first=cal.first.max(),
        last=cal.day.max(),
        days=cal.count(),
        total=cal.spend.sum(),
        first_spend=ibis.ifelse(cal.day == cal.first, cal.spend, 0).sum(),
    )
    later = daily.filter(daily.day > calibration_end)
    holdout = later.group_by("customer_id").aggregate(holdout=later.count())
    joined = per.left_join(holdout, "customer_id")
    repeat = joined.days - 1
    unit = float(unit_days)
    out = joined.select(
        customer_id=joined.customer_id,
        frequency=repeat.cast("float64"),
        recency=((joined.last - joined.first) / unit).cast("float64"),
        T=((calibration_end - joined.first) / unit).cast("float64"),
        monetary=ibis.ifelse(
            repeat > 0, (joined.total - joined.first_spend) / repeat.cast("float64"), 0.0
        ).cast("float64"),
        holdout_purchases=joined.holdout.fill_null(0).cast("int64"),
    )
    return out.filter(out["T"] > 0)
