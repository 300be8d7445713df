"""Recomputing customer traits: refresh the analytical copy, compute RFM and lifecycle on an
engine, then swap the results into the system of record in one transaction.

A recompute that fails anywhere leaves the previous results in place (the swap is the last
step and is atomic); its run row says why. Stage changes become ``lifecycle_changed`` events,
so journeys can react to a customer slipping into 沉睡预警 or coming back (回流).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field, replace
from datetime import date, timedelta
from functools import cache
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from siyu import clock
from siyu.analytics.engines import ENGINES, ibis_tables
from siyu.analytics.service import refresh_copy
from siyu.bulk import db_date, db_time, insert_rows
from siyu.config import Settings
from siyu.db import table_of, write_transaction
from siyu.events.models import Event
from siyu.privacy.service import ErasureContext
from siyu.tags.service import apply_rules
from siyu.traits.clv import Valuation, value_everyone
from siyu.traits.expressions import ALL_BRANDS, TraitParams, future_orders, traits
from siyu.traits.models import CLV_COLUMNS, TRAIT_COLUMNS, CustomerTrait, TraitRun
from siyu.traits.params import EPOCH, TraitsError, trait_params
from siyu.traits.snapshots import Flows, write_snapshots

TRAIT = table_of(CustomerTrait)
RUN = table_of(TraitRun)
Progress = Callable[[str], None]


@dataclass
class RecomputeResult:
    run_id: int
    engine: str
    reference_date: date
    customers: int = 0
    stage_changes: int = 0
    thresholds: list[dict[str, Any]] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    clv: dict[str, Any] = field(default_factory=dict)
    tags: list[dict[str, Any]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def recompute(
    engine: Engine,
    settings: Settings,
    *,
    compute_engine: str = "duckdb",
    reference_date: date | None = None,
    window_days: int | None = None,
    actor: str = "system",
    refresh: bool = True,
    progress: Progress | None = None,
) -> RecomputeResult:
    """Recompute RFM and lifecycle for every customer who has bought, per brand and overall."""
    if compute_engine not in ENGINES:
        raise TraitsError(
            "unknown engine {engine!r}; choose one of {engines}",
            engine=compute_engine,
            engines=", ".join(ENGINES),
        )
    ref = reference_date or clock.today(settings.tz)
    window = window_days if window_days is not None else settings.traits_window_days
    if window < 1:
        raise TraitsError("the RFM window must be at least one day")
    params = trait_params(settings, ref, window)
    run_id = _start_run(engine, compute_engine, ref, window, actor)
    result = RecomputeResult(run_id, compute_engine, ref)
    step = _Stopwatch(result, progress, lambda name: _note_step(engine, run_id, name))
    try:
        if refresh:
            step("copy")
            refresh_copy(settings)
        step("compute")
        table, limits, future = compute_traits(settings, compute_engine, params)
        step("clv")
        valuation = value_everyone(settings, compute_engine, ref)
        step("write")
        _describe(result, table, limits, future)
        clv = _ClvLookup(valuation, settings.clv_margin)
        result.messages.extend(valuation.notes if valuation else [])
        result.clv = valuation.model if valuation else {}
        _swap(engine, result, table, ref, clv)
        refresh_copy(settings, only=["customer_trait"])  # segments read traits from the copy
        step("tags")
        result.tags = [
            asdict(o) for o in apply_rules(engine, settings, compute_engine=compute_engine)
        ]
        step(None)
    except Exception as exc:
        _fail_run(engine, run_id, exc)
        raise
    return result


def compute_traits(
    settings: Settings, compute_engine: str, params: TraitParams
) -> tuple[pa.Table, list[dict[str, Any]], int]:
    """Run the expressions on an engine: (traits per customer and scope, thresholds per scope,
    paid orders dated after the reference date)."""
    with (
        ibis_tables(settings.resolved_analytics_path, compute_engine, ["order"]) as t,
        ExitStack() as held,
    ):
        orders = t["order"]
        brands = orders.select("brand_id").distinct().to_pyarrow().column(0).to_pylist()
        only = brands[0] if len(brands) == 1 and params.brand_scopes else None
        if only is not None:
            params = replace(params, brand_scopes=False)
        out, limits = traits(orders, params, keep=lambda table: held.enter_context(table.cache()))
        table = out.to_pyarrow()
        limit_rows = limits.to_pyarrow().to_pylist()
        future = int(future_orders(orders, params).to_pyarrow().as_py() or 0)
    if only is not None and table.num_rows:  # the one brand's scope is the all-brands scope
        brand = pa.array([only] * table.num_rows, table.schema.field("scope").type)
        at = table.schema.get_field_index("scope")
        table = pa.concat_tables([table, table.set_column(at, "scope", brand)])
        limit_rows += [{**row, "scope": only} for row in limit_rows]
    return table, limit_rows, future


def _describe(
    result: RecomputeResult, table: pa.Table, limits: list[dict[str, Any]], future: int
) -> None:
    result.thresholds = sorted(limits, key=lambda r: r["scope"])
    result.customers = int(pc.sum(pc.equal(table.column("scope"), ALL_BRANDS)).as_py() or 0)
    if not result.customers:
        result.messages.append("no paid orders yet: there is nobody to score")
    elif result.customers == 1:
        result.messages.append("only one buyer: RFM scores are set to the middle (3)")
    for lim in result.thresholds:
        if not lim["derived"]:
            result.messages.append(
                f"scope {lim['scope']}: only {lim['gaps']} repeat purchases, lifecycle uses the "
                f"configured thresholds ({lim['at_risk_days']}/{lim['lapsed_days']} days)"
            )
    if future:
        result.messages.append(
            f"{future} paid orders are dated after {result.reference_date} and were left out"
        )


class _ClvLookup:
    """The CLV columns of a customer's all-brands row (other scopes carry none)."""

    EMPTY = (None,) * len(CLV_COLUMNS)

    def __init__(self, valuation: Valuation | None, margin: float) -> None:
        self.margin = margin
        self.fallback = valuation is not None and not valuation.columns
        self.rows: dict[int, tuple[Any, ...]] = {}
        if valuation is not None and valuation.columns:
            ids = valuation.customer_id.tolist()
            cols = [_plain(valuation.columns[c], c.endswith("_fen"), len(ids)) for c in CLV_COLUMNS]
            for i, cid in enumerate(ids):
                self.rows[cid] = tuple(col[i] for col in cols)

    def __call__(self, customer_id: int, scope: int, monetary_fen: int | None) -> tuple[Any, ...]:
        if scope != ALL_BRANDS:
            return self.EMPTY
        if self.fallback:  # the stated rule: spend in the RFM window × margin
            value = None if monetary_fen is None else round(monetary_fen * self.margin)
            return (*self.EMPTY[:-1], value)
        return self.rows.get(customer_id, self.EMPTY)


def _plain(values: Any, whole: bool, n: int) -> list[Any]:
    """Array values as the database takes them: NaN/inf (a failed prediction) as NULL,
    amounts in whole fen. A column the model could not give is all NULL."""
    if values is None:
        return [None] * n
    return [(int(v) if whole else float(v)) if np.isfinite(v) else None for v in values.tolist()]


def _swap(
    engine: Engine, result: RecomputeResult, table: pa.Table, ref: date, clv: _ClvLookup
) -> None:
    """Replace every trait row in one transaction; record stage changes as events.

    The rows are built before the write lock is taken (on SQLite every other writer waits for
    it): only recomputes write these rows, so what was read stays true until the swap."""
    with engine.connect() as conn:
        rows, changes, flows = _rows(conn, result.run_id, table, ref, clv)
    with write_transaction(engine) as conn:
        conn.execute(TRAIT.delete())
        insert_rows(conn, TRAIT, TRAIT_COLUMNS, rows)
        _stage_events(conn, result.run_id, changes)
        clv_fen = [r[-1] for r in rows if r[1] == ALL_BRANDS]
        write_snapshots(conn, result.run_id, ref, table, clv_fen, flows)
        result.stage_changes = len(changes)
        conn.execute(
            RUN.update()
            .where(RUN.c.id == result.run_id)
            .values(
                status="done",
                customers=result.customers,
                stage_changes=result.stage_changes,
                details={
                    "thresholds": result.thresholds,
                    "messages": result.messages,
                    "clv": result.clv,
                },
                finished_at=clock.now(),
            )
        )


def _rows(
    conn: Connection, run_id: int, table: pa.Table, ref: date, clv: _ClvLookup
) -> tuple[list[tuple[Any, ...]], list[tuple[int, int, str, str]], Flows]:
    """The trait rows to insert, the stage changes against the rows now stored, and per scope
    how many customers went from each stage to each (None: nothing stored yet to compare)."""
    previous = {
        (cid, scope): (stage, since)
        for cid, scope, stage, since in conn.execute(
            sa.select(
                TRAIT.c.customer_id, TRAIT.c.scope, TRAIT.c.lifecycle_stage, TRAIT.c.stage_since
            )
        )
    }
    now = db_time(conn, clock.now())

    @cache  # a few thousand distinct days among millions of rows
    def day(value: date | int) -> Any:
        return db_date(conn, EPOCH + timedelta(days=value) if isinstance(value, int) else value)

    cols = table.to_pydict()
    rows, changes = [], []
    moves: dict[tuple[int, str, str], int] = {}
    for i in range(table.num_rows):
        cid, scope, stage = cols["customer_id"][i], cols["scope"][i], cols["lifecycle_stage"][i]
        old = previous.get((cid, scope))
        kept = old is not None and old[0] == stage
        if old is not None and not kept:
            changes.append((cid, scope, old[0], stage))
        move = (scope, old[0] if old is not None else "", stage)
        moves[move] = moves.get(move, 0) + 1
        rows.append(
            (
                cid,
                scope,
                run_id,
                day(cols["last_day"][i]),
                cols["purchase_days"][i],
                cols["recency_days"][i],
                cols["frequency"][i],
                cols["monetary_fen"][i],
                cols["r_score"][i],
                cols["f_score"][i],
                cols["m_score"][i],
                cols["rfm_class"][i],
                stage,
                day(old[1] if kept and old is not None else ref),
                now,
                *clv(cid, scope, cols["monetary_fen"][i]),
            )
        )
    if not previous:
        return rows, changes, None
    flows: dict[int, dict[str, int]] = {}
    for (scope, was, now_in), n in moves.items():
        flows.setdefault(scope, {})[f"{was}>{now_in}"] = n
    return rows, changes, flows


def _stage_events(conn: Connection, run_id: int, changes: list[tuple[int, int, str, str]]) -> None:
    if not changes:
        return
    now = clock.now()
    conn.execute(
        table_of(Event).insert(),
        [
            {
                "message_id": f"lifecycle:{run_id}:{scope}:{cid}",
                "customer_id": cid,
                "type": "track",
                "name": "lifecycle_changed",
                "properties": {"scope": scope, "from": old, "to": new},
                "occurred_at": now,
                "received_at": now,
                "source": "traits",
            }
            for cid, scope, old, new in changes
        ],
    )


def _start_run(engine: Engine, compute_engine: str, ref: date, window: int, actor: str) -> int:
    with engine.begin() as conn:
        res = conn.execute(
            RUN.insert().values(
                status="running",
                engine=compute_engine,
                reference_date=ref,
                window_days=window,
                actor=actor,
                customers=0,
                stage_changes=0,
                details={},
                started_at=clock.now(),
            )
        )
        return int(res.inserted_primary_key[0])  # type: ignore[index]


def _fail_run(engine: Engine, run_id: int, exc: BaseException) -> None:
    with engine.begin() as conn:
        conn.execute(
            RUN.update()
            .where(RUN.c.id == run_id)
            .values(
                status="failed",
                error=f"{type(exc).__name__}: {exc}"[:4000],
                finished_at=clock.now(),
            )
        )


RECOMPUTE_STEPS = ("copy", "compute", "clv", "write", "tags")


class _Stopwatch:
    """Times each step of a recompute, tells the progress callback which one is running and
    notes it on the run (the console's job list shows it while the run lasts)."""

    def __init__(
        self, result: RecomputeResult, progress: Progress | None, note: Progress | None = None
    ) -> None:
        self.result, self.progress, self.note = result, progress, note
        self.current: str | None = None
        self.t0 = time.perf_counter()

    def __call__(self, step: str | None) -> None:
        now = time.perf_counter()
        if self.current:
            self.result.seconds[self.current] = round(now - self.t0, 3)
        self.current, self.t0 = step, now
        if step and self.note:
            self.note(step)
        if step and self.progress:
            self.progress(step)


def _note_step(engine: Engine, run_id: int, step: str) -> None:
    """The running recompute's step, committed at once so other sessions see it."""
    with engine.begin() as conn:
        conn.execute(
            RUN.update()
            .where(RUN.c.id == run_id, RUN.c.status == "running")
            .values(details={"step": step, "steps": list(RECOMPUTE_STEPS)})
        )


def erase_traits(session: Session, ctx: ErasureContext) -> int:
    """Erasure: a person's traits go from the system of record (the analytical copy is the
    erasure's own step: ``analytics.erasure``)."""
    res = session.execute(
        sa.delete(CustomerTrait).where(CustomerTrait.customer_id.in_(ctx.customer_ids))
    )
    return int(getattr(res, "rowcount", 0) or 0)
