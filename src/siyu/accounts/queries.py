"""Read paths for administration: the users with their stores, the API keys, the audit log
(filtered, a page at a time, or whole as CSV)."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import csvsafe
from siyu.accounts.models import ApiKey, AuditLog, User
from siyu.brands.models import Store


def list_users(session: Session) -> list[dict[str, Any]]:
    stores = {i: n for i, n in session.execute(sa.select(Store.id, Store.name)).all()}
    return [
        {
            "id": u.id,
            "username": u.username,
            "display_name": u.display_name,
            "role": u.role,
            "store_id": u.store_id,
            "wecom_userid": u.wecom_userid,
            "store": stores.get(u.store_id) if u.store_id else None,
            "active": u.is_active,
            "last_login_at": u.last_login_at,
        }
        for u in session.scalars(sa.select(User).order_by(User.id))
    ]


def list_api_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(sa.select(ApiKey).order_by(ApiKey.id.desc())))


@dataclass
class AuditFilter:
    actor: str | None = None  # "user:boss", or just the login name "boss"
    action: str | None = None  # a prefix: "customer." matches customer.unmask, customer.merge…
    start: date | None = None  # local days, both included
    end: date | None = None
    page: int = 1
    per_page: int = 50


def _where(f: AuditFilter, tz: ZoneInfo) -> list[sa.ColumnElement[bool]]:
    conds: list[sa.ColumnElement[bool]] = []
    if f.actor:
        conds.append(AuditLog.actor.in_([f.actor, f"user:{f.actor}"]))
    if f.action:
        conds.append(AuditLog.action.startswith(f.action, autoescape=True))
    if f.start:
        conds.append(AuditLog.at >= datetime.combine(f.start, time(0), tz))
    if f.end:
        conds.append(AuditLog.at < datetime.combine(f.end + timedelta(days=1), time(0), tz))
    return conds


def audit_page(session: Session, f: AuditFilter, tz: ZoneInfo) -> dict[str, Any]:
    """Newest first: who saw or changed what, and when."""
    conds = _where(f, tz)
    total = session.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(*conds)) or 0
    per_page, page = max(1, min(f.per_page, 200)), max(1, f.page)
    rows = session.scalars(
        sa.select(AuditLog)
        .where(*conds)
        .order_by(AuditLog.at.desc(), AuditLog.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    actions = session.scalars(sa.select(AuditLog.action).distinct().order_by(AuditLog.action))
    return {
        "total": total,
        "page": page,
        "per_page": per_page,
        "items": rows,
        "actions": list(actions),
    }


def audit_csv(session: Session, f: AuditFilter, tz: ZoneInfo) -> tuple[str, int]:
    """Every entry the filter matches, oldest first, as CSV (times in local time)."""
    buf = io.StringIO()
    w = csvsafe.writer(buf)
    w.writerow(["id", "time", "actor", "action", "target_type", "target_id", "details"])
    n = 0
    query = sa.select(AuditLog).where(*_where(f, tz)).order_by(AuditLog.id)
    for row in session.scalars(query.execution_options(yield_per=2000)):
        at = row.at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S") if row.at else ""
        details = json.dumps(row.details or {}, ensure_ascii=False, sort_keys=True)
        w.writerow([row.id, at, row.actor, row.action, row.target_type, row.target_id, details])
        n += 1
    return buf.getvalue(), n
