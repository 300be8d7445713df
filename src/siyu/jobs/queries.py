"""The long jobs an operator waits for, in one place: imports (how far into the file), RFM /
lifecycle recomputes (which step), campaign sends (how many messages settled) and the worker's
queue. Read-only; each list is short (the latest runs), so the console can poll it. Error
texts are masked by value (a failed row may quote a phone number)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu.customers.masking import mask_optional, mask_text
from siyu.ingest.models import ImportRun
from siyu.jobs.models import Job
from siyu.traits.models import TraitRun

if TYPE_CHECKING:
    from siyu.reach.campaigns.shapes import CampaignRow

ACTIVE_CAMPAIGN = ("scheduled", "sending", "paused")


def import_runs(session: Session, limit: int = 15) -> list[dict[str, Any]]:
    """The latest imports; ``percent`` is how far into the file the stored batches reach."""
    runs = session.scalars(sa.select(ImportRun).order_by(ImportRun.id.desc()).limit(limit))
    return [_run_row(r) for r in runs]


def import_run(session: Session, run_id: int) -> dict[str, Any] | None:
    """One import with everything its summary says (the console's result page)."""
    run = session.get(ImportRun, run_id)
    if run is None:
        return None
    s = run.stats or {}
    return {
        **_run_row(run),
        "stats": {
            k: int(s.get(k) or 0)
            for k in (
                "inserted",
                "updated",
                "unchanged",
                "customers_created",
                "merges",
                "conflicts",
                "suppressed",
                "consents",
                "batches",
            )
        },
        "encoding": s.get("encoding") or "",
        "reasons": sorted((s.get("rejected") or {}).items(), key=lambda kv: (-kv[1], kv[0])),
        "warnings": sorted((s.get("warnings") or {}).items(), key=lambda kv: (-kv[1], kv[0])),
        "refused": s.get("refused"),
        "has_rejects": bool(run.rejects_path),
    }


def _run_row(r: ImportRun) -> dict[str, Any]:
    s = r.stats or {}
    size, done = int(s.get("file_bytes") or 0), int(s.get("bytes_read") or 0)
    return {
        "id": r.id,
        "kind": r.kind,
        "source": r.source,
        "file": r.file_name,
        "status": r.status,
        "actor": r.actor,
        "started_at": r.started_at,
        "finished_at": r.finished_at,
        "read": int(s.get("read") or 0),
        "written": sum(int(s.get(k) or 0) for k in ("inserted", "updated", "unchanged")),
        "rejected": int(s.get("rejected_total") or 0),
        "percent": round(100 * min(done, size) / size, 1)
        if size and r.status != "queued"
        else None,
        "error": mask_optional(s.get("error")),
    }


def recomputes(session: Session, limit: int = 8) -> list[dict[str, Any]]:
    """The latest trait recomputes; a running one says which of its steps it is on."""
    out = []
    for r in session.scalars(sa.select(TraitRun).order_by(TraitRun.id.desc()).limit(limit)):
        steps = list((r.details or {}).get("steps") or [])
        step = (r.details or {}).get("step") if r.status == "running" else None
        at = steps.index(step) if step in steps else None
        out.append(
            {
                "id": r.id,
                "status": r.status,
                "engine": r.engine,
                "reference_date": r.reference_date,
                "actor": r.actor,
                "started_at": r.started_at,
                "finished_at": r.finished_at,
                "customers": r.customers,
                "step": step,
                "step_no": at + 1 if at is not None else None,
                "steps": len(steps),
                "percent": round(100 * at / len(steps), 1) if at is not None else None,
                "error": mask_optional(r.error),
            }
        )
    return out


def sending_campaigns(session: Session) -> list[CampaignRow]:
    """Campaigns scheduled, sending or paused, with how many of their messages have settled."""
    from siyu.reach.campaigns.queries import list_campaigns

    return [c for c in list_campaigns(session, limit=100) if c.status in ACTIVE_CAMPAIGN]


def queue(session: Session, failed: int = 10) -> dict[str, Any]:
    """The worker's queue: jobs waiting and running by kind, and the latest failures."""
    waiting = session.execute(
        sa.select(Job.kind, Job.status, sa.func.count())
        .where(Job.status.in_(("queued", "running")))
        .group_by(Job.kind, Job.status)
        .order_by(Job.kind)
    ).all()
    failures = session.scalars(
        sa.select(Job).where(Job.status == "failed").order_by(Job.id.desc()).limit(failed)
    )
    return {
        "waiting": [{"kind": k, "status": s, "jobs": int(n)} for k, s, n in waiting],
        "failed": [
            {
                "id": j.id,
                "kind": j.kind,
                "attempts": j.attempts,
                "finished_at": j.finished_at,
                "error": mask_text((j.last_error or "")[:300]),
            }
            for j in failures
        ],
    }


def running(shown: dict[str, Any]) -> bool:
    """Whether anything in the lists shown is still under way (the page then polls)."""
    return (
        any(r["status"] in ("queued", "running") for r in shown.get("imports", []))
        or any(r["status"] == "running" for r in shown.get("recomputes", []))
        or any(c["status"] == "sending" for c in shown.get("campaigns", []))
        or any(w["status"] == "running" for w in shown.get("queue", {}).get("waiting", []))
    )
