"""Read paths for traits: runs, one customer's traits, the trend of the distribution."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu.accounts.service import Principal
from siyu.brands.models import Brand
from siyu.capability import TemplateVariables
from siyu.config import Settings
from siyu.customers.service import only_visible, sees_whole_pool
from siyu.db import plain_value
from siyu.i18n import in_language
from siyu.traits.labels import RFM_CLASS_LABELS, STAGE_LABELS
from siyu.traits.models import TRAIT_COLUMNS, CustomerTrait, TraitRun, TraitSnapshot
from siyu.traits.units import stored_params


def recent_runs(session: Session, limit: int = 10) -> list[dict[str, Any]]:
    """The latest recomputes, newest first; their CLV parameters with ``v`` in yuan and the
    units named (see ``units.stored_params``)."""
    rows = session.scalars(sa.select(TraitRun).order_by(TraitRun.id.desc()).limit(limit))
    out = []
    for r in rows:
        run = {
            c: plain_value(getattr(r, c))
            for c in (
                "id",
                "status",
                "engine",
                "reference_date",
                "window_days",
                "customers",
                "stage_changes",
                "error",
                "started_at",
                "finished_at",
                "details",
            )
        }
        details = run["details"]
        if isinstance(details, dict) and details.get("clv"):
            run["details"] = {**details, "clv": stored_params(details["clv"])}
        out.append(run)
    return out


def latest_clv_model(session: Session) -> dict[str, Any] | None:
    """The CLV parameters of the last finished recompute (``v`` in yuan, units named), or
    None before one, or when it could not fit (``{"fallback": rule}`` then)."""
    details = session.scalar(
        sa.select(TraitRun.details)
        .where(TraitRun.status == "done")
        .order_by(TraitRun.id.desc())
        .limit(1)
    )
    return stored_params(details.get("clv")) if isinstance(details, dict) else None


def traits_of(session: Session, customer_id: int) -> list[dict[str, Any]]:
    """A customer's traits in every scope (all brands first), as the 360 view shows them."""
    rows = session.execute(
        sa.select(CustomerTrait, Brand.name)
        .outerjoin(Brand, Brand.id == CustomerTrait.scope)
        .where(CustomerTrait.customer_id == customer_id)
        .order_by(CustomerTrait.scope)
    )
    return [
        {
            "scope": t.scope,
            "brand": brand,  # None for all brands together
            **{c: plain_value(getattr(t, c)) for c in SHOWN},
        }
        for t, brand in rows
    ]


SHOWN = [c for c in TRAIT_COLUMNS if c not in ("customer_id", "scope", "run_id")]


def trend(session: Session, scope: int = 0, limit: int = 90) -> list[TraitSnapshot]:
    """The last ``limit`` snapshots of a scope, oldest first (for charts)."""
    rows = session.scalars(
        sa.select(TraitSnapshot)
        .where(TraitSnapshot.scope == scope)
        .order_by(TraitSnapshot.id.desc())
        .limit(limit)
    )
    return list(reversed(list(rows)))


def lifecycle_flow(session: Session, scope: int = 0) -> dict[str, Any] | None:
    """How customers moved between lifecycle stages from the recompute before the latest to
    the latest (reference dates of both), biggest moves first; None before a second recompute."""
    snaps = trend(session, scope, limit=2)
    flow = snaps[-1].lifecycle_flow if len(snaps) == 2 else None
    if flow is None:
        return None
    before, last = snaps
    moves: list[dict[str, Any]] = []
    for key, n in flow.items():
        old, _, new = key.partition(">")
        moves.append({"from": old, "to": new, "customers": int(n)})
    moves.sort(key=lambda m: (m["from"] == m["to"], -m["customers"], m["from"], m["to"]))
    return {
        "since": before.reference_date.isoformat(),
        "until": last.reference_date.isoformat(),
        "moved": sum(m["customers"] for m in moves if m["from"] != m["to"]),
        "flows": moves,
    }


def overview(
    session: Session, settings: Settings, scope: int = 0, principal: Principal | None = None
) -> dict[str, Any]:
    """What the console's insight page shows: the latest distribution of a scope, its movement
    over the kept snapshots, the last recompute and how fresh the analytical copy is.

    A principal who sees only part of the pool (a store guide) gets the distribution of their
    customers' current traits instead, and no movement: the snapshots count everyone."""
    from siyu.analytics.engines import EngineUnavailable  # DuckDB only when this page is asked for
    from siyu.analytics.service import copy_status

    whole = sees_whole_pool(principal)
    snaps = trend(session, scope)
    try:
        freshness = [asdict(t) for t in copy_status(settings)]
    except EngineUnavailable:
        freshness = []  # busy being refreshed; the next look will see it
    if not whole:
        freshness = [{**f, "rows": None} for f in freshness]  # table sizes count everyone
    runs = recent_runs(session, 1)
    brands = session.execute(sa.select(Brand.id, Brand.name).order_by(Brand.id)).all()
    latest: Any = snaps[-1] if snaps else None
    if not whole and latest is not None:
        latest = visible_distribution(session, principal, scope, latest.reference_date)
        snaps = []
    return {
        "scope": scope,
        "scopes": [(0, None), *[(b_id, name) for b_id, name in brands]],
        "scoped": not whole,
        "latest": latest,
        "series": {
            "dates": [s.reference_date.isoformat() for s in snaps],
            "lifecycle": _series(snaps, "lifecycle", STAGE_LABELS),
            "rfm_classes": _series(snaps, "rfm_classes", RFM_CLASS_LABELS),
        },
        "last_run": runs[0] if runs else None,
        "clv_model": latest_clv_model(session),
        "freshness": freshness,
    }


@dataclass
class Distribution:
    """A snapshot's shape, counted now over the customers one principal may see."""

    reference_date: date
    customers: int
    lifecycle: dict[str, int]
    rfm_classes: dict[str, int]
    clv_quantiles: dict[str, int]


def visible_distribution(
    session: Session, principal: Principal | None, scope: int, reference_date: date
) -> Distribution:
    """Lifecycle stages, RFM classes and CLV quantiles of the customers ``principal`` may see,
    from their traits of the last recompute (the same figures a snapshot keeps)."""
    from siyu.traits.expressions import ALL_BRANDS
    from siyu.traits.snapshots import quantiles

    mine = sa.and_(CustomerTrait.scope == scope, only_visible(principal, CustomerTrait.customer_id))

    def by(column: Any) -> dict[str, int]:
        rows = session.execute(
            sa.select(column, sa.func.count()).where(mine, column.is_not(None)).group_by(column)
        )
        return {str(value): int(n) for value, n in rows}

    stages = by(CustomerTrait.lifecycle_stage)
    clv: list[int | None] = []
    if scope == ALL_BRANDS:
        clv = list(session.scalars(sa.select(CustomerTrait.clv_fen).where(mine)))
    return Distribution(
        reference_date=reference_date,
        customers=sum(stages.values()),
        lifecycle=stages,
        rfm_classes=by(CustomerTrait.rfm_class),
        clv_quantiles=quantiles(clv),
    )


def _series(snaps: list[TraitSnapshot], attr: str, labels: dict[str, str]) -> list[dict[str, Any]]:
    """One line per code: its name in both languages and its counts snapshot by snapshot (0
    where absent)."""
    return [
        {
            "code": code,
            "zh": in_language("zh-CN", name),
            "en": name,
            "counts": [getattr(s, attr).get(code, 0) for s in snaps],
        }
        for code, name in labels.items()
    ]


def trait_variables(
    session: Session,
    ids: Sequence[int],
    out: dict[int, dict[str, Any]],
    today: date,
    _wanted: Collection[str] | None,
) -> None:
    """Template variables from the traits: the RFM tier and lifecycle stage (in Chinese, as
    customers read them) and the days since the last purchase."""
    rows = session.execute(
        sa.select(
            CustomerTrait.customer_id,
            CustomerTrait.rfm_class,
            CustomerTrait.lifecycle_stage,
            CustomerTrait.last_purchase_on,
        ).where(CustomerTrait.customer_id.in_(ids), CustomerTrait.scope == 0)
    )
    for cid, rfm, stage, last in rows:
        out[cid].update(
            tier=in_language("zh-CN", RFM_CLASS_LABELS[rfm]) if rfm in RFM_CLASS_LABELS else rfm,
            stage=in_language("zh-CN", STAGE_LABELS[stage]) if stage in STAGE_LABELS else stage,
            days_since_purchase=(today - last).days if last else None,
        )


TEMPLATE_VARIABLES = (
    TemplateVariables(
        labels={
            "tier": "客户价值分层（RFM）",
            "stage": "生命周期阶段",
            "days_since_purchase": "距上次购买天数",
        },
        samples={"tier": "重要价值客户", "stage": "活跃", "days_since_purchase": 30},
        load=trait_variables,
        personal=frozenset({"days_since_purchase"}),
    ),
)
