"""Funnels with configurable steps: of the customers first seen in a period, how many went on
to each step in turn (AARRR by default: acquisition → activation → retention → revenue →
referral). Operators name their own funnels; each step is an action within some days of a
customer's first day, so a funnel answers the same question every period.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu.accounts.service import record_audit
from siyu.analytics.engines import ibis_tables
from siyu.config import Settings
from siyu.metrics import expressions as x
from siyu.metrics.cache import remember
from siyu.metrics.charts import first_seen_between
from siyu.metrics.models import Funnel
from siyu.metrics.service import MetricsError, known_store, period_of
from siyu.refusals import NotFound

KINDS = ("first_seen", "active", "order", "event")
MAX_STEPS = 8
MAX_DAYS = 365
TABLES = ["order", "customer", "event"]

# The built-in AARRR funnel, shown until the brand saves its own. 推荐 counts an event named
# 邀请好友: report it from the mini-program (or change the step to your referral event).
AARRR: list[dict[str, Any]] = [
    {"label": "获客 Acquisition", "kind": "first_seen"},
    {"label": "激活 Activation", "kind": "active", "from_day": 0, "to_day": 7, "times": 1},
    {"label": "留存 Retention", "kind": "active", "from_day": 8, "to_day": 30, "times": 1},
    {"label": "变现 Revenue", "kind": "order", "from_day": 0, "to_day": 30, "times": 1},
    {"label": "推荐 Referral", "kind": "event", "event": "邀请好友", "from_day": 0, "to_day": 30},
]


class FunnelError(MetricsError):
    """A funnel that cannot be saved or counted as given (``code`` names the reason)."""


class NoSuchFunnel(FunnelError, NotFound):
    """No funnel has the id."""


def clean_steps(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The steps as stored, or a FunnelError naming the first thing wrong (steps counted
    from 1 as the operator sees them)."""
    if not raw:
        raise FunnelError("A funnel needs at least two steps.", "no_steps")
    if len(raw) > MAX_STEPS:
        raise FunnelError("At most {n} steps.", "too_many", n=MAX_STEPS)
    steps: list[dict[str, Any]] = []
    for n, step in enumerate(raw, start=1):
        label = str(step.get("label") or "").strip()[:40]
        kind = str(step.get("kind") or "")
        if not label:
            raise FunnelError("Step {n}: give it a name.", "no_label", n=n)
        if kind not in KINDS:
            raise FunnelError("Step {n}: choose an action.", "bad_kind", n=n)
        if (n == 1) != (kind == "first_seen"):
            raise FunnelError(
                "The first step, and only it, is 'first seen in the period'.", "first_step", n=n
            )
        if kind == "first_seen":
            steps.append({"label": label, "kind": kind})
            continue
        try:
            lo, hi = int(step.get("from_day", 0)), int(step.get("to_day", 30))
            times = int(step.get("times") or 1)
        except (TypeError, ValueError):
            raise FunnelError(
                "Step {n}: days as whole numbers 0–365, from no later than to.", "bad_days", n=n
            ) from None
        if not 0 <= lo <= hi <= MAX_DAYS:
            raise FunnelError(
                "Step {n}: days as whole numbers 0–365, from no later than to.", "bad_days", n=n
            )
        if not 1 <= times <= 30:
            raise FunnelError("Step {n}: on 1–30 days.", "bad_times", n=n)
        event = str(step.get("event") or "").strip()[:100]
        if kind == "event" and not event:
            raise FunnelError("Step {n}: which event (its name as reported).", "no_event", n=n)
        steps.append(
            {
                "label": label,
                "kind": kind,
                "event": event if kind == "event" else None,
                "from_day": lo,
                "to_day": hi,
                "times": times,
            }
        )
    if len(steps) < 2:
        raise FunnelError("A funnel needs at least two steps.", "no_steps")
    return steps


def save_funnel(
    session: Session,
    name: str,
    steps: list[dict[str, Any]],
    *,
    actor: str,
    funnel_id: int | None = None,
) -> Funnel:
    """Create a funnel, or change one (``funnel_id``); audit-logged."""
    name = name.strip()
    if not name or len(name) > 60:
        raise FunnelError("Name: 1–60 characters.", "bad_name")
    cleaned = clean_steps(steps)
    clash = session.scalar(sa.select(Funnel.id).where(Funnel.name == name))
    if clash is not None and clash != funnel_id:
        raise FunnelError("A funnel named '{name}' exists.", "name_taken", name=name)
    if funnel_id is None:
        row = Funnel(name=name, steps=cleaned, updated_by=actor)
        session.add(row)
    else:
        found = session.get(Funnel, funnel_id)
        if found is None:
            raise NoSuchFunnel("No funnel {id}.", "missing", id=funnel_id)
        row = found
        row.name, row.steps, row.updated_by = name, cleaned, actor
    session.flush()
    record_audit(session, actor, "metrics.funnel", "funnel", str(row.id), {"name": name})
    return row


def delete_funnel(session: Session, funnel_id: int, *, actor: str) -> None:
    row = session.get(Funnel, funnel_id)
    if row is None:
        raise NoSuchFunnel("No funnel {id}.", "missing", id=funnel_id)
    session.delete(row)
    record_audit(session, actor, "metrics.funnel_delete", "funnel", str(funnel_id))


def funnels(session: Session) -> list[Funnel]:
    return list(session.scalars(sa.select(Funnel).order_by(Funnel.id)))


def chosen(
    session: Session, funnel_id: int | None, saved: list[Funnel] | None = None
) -> tuple[int | None, str, list[dict[str, Any]]]:
    """The funnel asked for, else the first saved one, else the built-in AARRR (``saved``:
    the saved funnels, when the caller has them already)."""
    for f in funnels(session) if saved is None else saved:
        if funnel_id is None or f.id == funnel_id:
            return f.id, f.name, f.steps
    if funnel_id is not None:
        raise NoSuchFunnel("No funnel {id}.", "missing", id=funnel_id)
    return None, "AARRR", clean_steps(AARRR)


def counts(
    settings: Settings,
    steps: list[dict[str, Any]],
    start: date,
    end: date,
    *,
    brand_id: int | None = None,
    store_id: int | None = None,
) -> dict[str, Any]:
    """Each step's customers, with the share of the step before and of the first; cached
    while the copy is unchanged. ``store_id``: only that home store's customers."""
    p = period_of(settings, start, end, brand_id, store_id)
    known_store(store_id)
    question = ("funnel", 2, steps, p.start, p.end, p.offset_minutes, p.brand_id, p.store_id)
    got = remember(settings, question, TABLES, lambda: _count(settings, steps, p))
    out = []
    first = got.value[0] if got.value else 0
    for i, (step, n) in enumerate(zip(steps, got.value, strict=True)):
        before = got.value[i - 1] if i else None
        out.append(
            {
                **step,
                "customers": n,
                "of_previous": round(n / before, 4) if before else None,
                "of_first": round(n / first, 4) if first else None,
            }
        )
    # the first step drills down to the customers it counted (later steps have no rule yet)
    out[0]["rule"] = first_seen_between(start, end)
    return {"steps": out, "computed_at": got.computed_at.isoformat() + "Z", "cached": got.hit}


def _count(settings: Settings, steps: list[dict[str, Any]], p: x.Period) -> list[int]:
    with ibis_tables(settings.resolved_analytics_path, "duckdb", TABLES) as copy:
        t = x.scoped(copy, TABLES, p)
        bought = x.paid(t["order"], p)
        acted = x.activity(bought, t["event"], p)
        row = x.funnel(t["customer"], acted, bought, t["event"], steps, p).to_pyarrow()
        values = row.to_pylist()[0]
    return [int(values[f"n{i}"] or 0) for i in range(len(steps))]
