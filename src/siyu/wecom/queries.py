"""Read paths for WeCom: the status that makes failures visible, staff and friendship counts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu.customers.models import Customer
from siyu.db import utcnow
from siyu.wecom.client import ERRCODE_MEANING
from siyu.wecom.models import (
    BenefitPool,
    Handover,
    HandoverItem,
    KeywordReply,
    KeywordRule,
    LiveCode,
    LiveCodeStaff,
    WecomAlert,
    WecomApiCall,
    WecomCallback,
    WecomContact,
    WecomCorp,
    WecomGroupChat,
    WecomStaff,
    WecomSyncRun,
    WelcomeDelivery,
)


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def status(session: Session) -> list[dict[str, Any]]:
    out = []
    hour_ago = utcnow() - timedelta(hours=1)
    for corp in session.scalars(sa.select(WecomCorp).order_by(WecomCorp.id)):
        run = session.scalar(
            sa.select(WecomSyncRun)
            .where(WecomSyncRun.corp_id == corp.id)
            .order_by(WecomSyncRun.id.desc())
        )
        inbox = dict(
            session.execute(
                sa.select(WecomCallback.status, sa.func.count())
                .where(WecomCallback.corp_id == corp.id)
                .group_by(WecomCallback.status)
            ).all()
        )
        last_failures = [
            {"id": r.id, "event": r.event, "error": r.error, "at": _iso(r.processed_at)}
            for r in session.scalars(
                sa.select(WecomCallback)
                .where(WecomCallback.corp_id == corp.id, WecomCallback.status == "failed")
                .order_by(WecomCallback.id.desc())
                .limit(5)
            )
        ]
        errors = [
            {"api": api, "errcode": code, "meaning": ERRCODE_MEANING.get(code, ""), "count": n}
            for api, code, n in session.execute(
                sa.select(WecomApiCall.api, WecomApiCall.errcode, sa.func.count())
                .where(
                    WecomApiCall.corp_id == corp.id,
                    WecomApiCall.at >= hour_ago,
                    WecomApiCall.errcode != 0,
                )
                .group_by(WecomApiCall.api, WecomApiCall.errcode)
                .order_by(sa.func.count().desc())
            ).all()
        ]
        calls = session.scalar(
            sa.select(sa.func.count()).where(
                WecomApiCall.corp_id == corp.id, WecomApiCall.at >= hour_ago
            )
        )
        out.append(
            {
                "corp_id": corp.corp_id,
                "name": corp.name,
                "staff": session.scalar(
                    sa.select(sa.func.count()).where(
                        WecomStaff.corp_id == corp.id, WecomStaff.status == 1
                    )
                ),
                "friendships": session.scalar(
                    sa.select(sa.func.count()).where(
                        WecomContact.corp_id == corp.id, WecomContact.deleted_at.is_(None)
                    )
                ),
                "customers": session.scalar(
                    sa.select(sa.func.count(sa.distinct(WecomContact.customer_id))).where(
                        WecomContact.corp_id == corp.id, WecomContact.deleted_at.is_(None)
                    )
                ),
                "sync": None
                if run is None
                else {
                    "id": run.id,
                    "status": run.status,
                    "position": run.position,
                    "counts": run.counts,
                    "error": run.error,
                    "started_at": _iso(run.started_at),
                    "finished_at": _iso(run.finished_at),
                },
                "inbox": {
                    k: inbox.get(k, 0) for k in ("queued", "working", "done", "ignored", "failed")
                },
                "inbox_failures": last_failures,
                "api_calls_last_hour": calls,
                "api_errors_last_hour": errors,
            }
        )
    return out


def live_code_summary(code: LiveCode, staff: list[LiveCodeStaff]) -> dict[str, Any]:
    return {
        "id": code.id,
        "name": code.name,
        "channel": code.channel,
        "state": code.state,
        "rotation": code.rotation,
        "skip_verify": code.skip_verify,
        "current_staff": code.current_userid,
        "staff": [
            {"userid": s.staff_userid, "weight": s.weight, "daily_limit": s.daily_limit}
            for s in sorted(staff, key=lambda s: s.position)
        ],
        "tag_ids": code.tag_ids,
        "welcome_id": code.welcome_id,
        "qr": f"/api/v1/wecom/live-codes/{code.id}/qr.png",
        "active": code.active,
        "created_at": _iso(code.created_at),
    }


def adds_by_live_code(
    session: Session, lo: datetime, hi: datetime, store_id: int | None = None
) -> list[dict[str, Any]]:
    """WeCom friends added through each live code in [lo, hi): how many, and how many of them
    have since deleted the staff member (or were deleted), biggest first. ``store_id``: only
    friends known as customers of that home store."""
    query = (
        sa.select(
            LiveCode.id,
            LiveCode.name,
            LiveCode.channel,
            sa.func.count(),
            sa.func.count(WecomContact.deleted_at),
        )
        .join(
            WecomContact,
            sa.and_(WecomContact.corp_id == LiveCode.corp_id, WecomContact.state == LiveCode.state),
        )
        .where(WecomContact.added_at >= lo, WecomContact.added_at < hi)
        .group_by(LiveCode.id, LiveCode.name, LiveCode.channel)
    )
    if store_id is not None:
        query = query.join(Customer, Customer.id == WecomContact.customer_id).where(
            Customer.store_id == store_id
        )
    rows = session.execute(query).all()
    out = [
        {"id": i, "name": n, "channel": ch, "added": int(a), "lost": int(lost)}
        for i, n, ch, a, lost in rows
    ]
    return sorted(out, key=lambda r: (-r["added"], r["name"]))


def live_codes(session: Session) -> list[dict[str, Any]]:
    codes = list(session.scalars(sa.select(LiveCode).order_by(LiveCode.id.desc())))
    staff: dict[int, list[LiveCodeStaff]] = {}
    for s in session.scalars(
        sa.select(LiveCodeStaff).where(LiveCodeStaff.live_code_id.in_([c.id for c in codes]))
    ):
        staff.setdefault(s.live_code_id, []).append(s)
    counts = dict(
        session.execute(
            sa.select(WecomContact.state, sa.func.count())
            .where(
                WecomContact.state.in_([c.state for c in codes]), WecomContact.deleted_at.is_(None)
            )
            .group_by(WecomContact.state)
        ).all()
    )
    return [
        {**live_code_summary(c, staff.get(c.id, [])), "net_adds": int(counts.get(c.state, 0))}
        for c in codes
    ]


def open_alerts(session: Session, limit: int = 100) -> list[dict[str, Any]]:
    return [
        {
            "id": a.id,
            "kind": a.kind,
            "staff": a.staff_userid,
            "customer_id": a.customer_id,
            "message": a.message,
            "at": _iso(a.created_at),
        }
        for a in session.scalars(
            sa.select(WecomAlert)
            .where(WecomAlert.resolved.is_(False))
            .order_by(WecomAlert.id.desc())
            .limit(limit)
        )
    ]


def welcome_stats(session: Session, hours: int = 24) -> dict[str, Any]:
    """Welcome deliveries of the last ``hours`` by status, with the latency quantiles."""
    since = utcnow() - timedelta(hours=hours)
    rows = session.execute(
        sa.select(WelcomeDelivery.status, WelcomeDelivery.latency_ms).where(
            WelcomeDelivery.at >= since
        )
    ).all()
    by_status: dict[str, int] = {}
    for status_, _ms in rows:
        by_status[status_] = by_status.get(status_, 0) + 1
    sent = sorted(ms for st, ms in rows if st == "sent")

    def quantile(q: float) -> int | None:
        return sent[min(len(sent) - 1, int(q * len(sent)))] if sent else None

    return {
        "hours": hours,
        "by_status": by_status,
        "p50_ms": quantile(0.5),
        "p99_ms": quantile(0.99),
    }


def duplicates(session: Session, corp_pk: int | None = None, sample: int = 20) -> dict[str, Any]:
    """De-duplication across the staff matrix (seed 002): customers who are friends of several
    staff members — still one customer each in Siyu — overall, by live code (an add through the
    code by someone already a friend of other staff) and by store of the staff member."""
    live = sa.and_(WecomContact.deleted_at.is_(None), WecomContact.customer_id.is_not(None))
    if corp_pk is not None:
        live = sa.and_(live, WecomContact.corp_id == corp_pk)
    rows = session.execute(
        sa.select(
            WecomContact.customer_id,
            WecomContact.staff_userid,
            WecomContact.state,
            WecomContact.added_at,
            WecomStaff.store_id,
        )
        .outerjoin(
            WecomStaff,
            sa.and_(
                WecomStaff.corp_id == WecomContact.corp_id,
                WecomStaff.userid == WecomContact.staff_userid,
            ),
        )
        .where(live)
    ).all()
    by_customer: dict[int, list[Any]] = {}
    for r in rows:
        by_customer.setdefault(r.customer_id, []).append(r)
    shared = {c: rs for c, rs in by_customer.items() if len({r.staff_userid for r in rs}) > 1}
    codes = {c.state: c for c in session.scalars(sa.select(LiveCode))}
    by_code: dict[str, dict[str, Any]] = {}
    by_store: dict[Any, int] = {}
    for rs in shared.values():
        first = min(rs, key=lambda r: (r.added_at is None, r.added_at))
        for r in rs:
            if r is not first and r.state in codes:
                code = codes[r.state]
                entry = by_code.setdefault(
                    code.state, {"id": code.id, "name": code.name, "duplicate_adds": 0}
                )
                entry["duplicate_adds"] += 1
        for store in {r.store_id for r in rs}:
            by_store[store] = by_store.get(store, 0) + 1
    return {
        "friendships": len(rows),
        "customers": len(by_customer),
        "customers_with_several_staff": len(shared),
        "extra_friendships": sum(len(rs) - 1 for rs in shared.values()),
        "by_live_code": sorted(by_code.values(), key=lambda e: -e["duplicate_adds"]),
        "by_store": [
            {"store_id": k, "customers": v}
            for k, v in sorted(by_store.items(), key=lambda kv: -kv[1])
        ],
        "sample": [
            {"customer_id": c, "staff": sorted({r.staff_userid for r in rs})}
            for c, rs in list(shared.items())[:sample]
        ],
    }


def keyword_rules(session: Session, days: int = 30) -> list[dict[str, Any]]:
    """Rules with what they did in the last ``days``: replies sent, and failures."""
    since = utcnow() - timedelta(days=days)
    counts: dict[tuple[int | None, str], int] = {
        (rule_id, st): n
        for rule_id, st, n in session.execute(
            sa.select(KeywordReply.rule_id, KeywordReply.status, sa.func.count())
            .where(KeywordReply.rule_id.is_not(None), KeywordReply.at >= since)
            .group_by(KeywordReply.rule_id, KeywordReply.status)
        )
    }
    pools = dict(session.execute(sa.select(BenefitPool.id, BenefitPool.name)).all())
    out = []
    for r in session.scalars(sa.select(KeywordRule).order_by(KeywordRule.priority, KeywordRule.id)):
        out.append(
            {
                "id": r.id,
                "name": r.name,
                "match": r.match,
                "pattern": r.pattern,
                "reply_text": r.reply_text,
                "pool": pools.get(r.benefit_pool_id) if r.benefit_pool_id else None,
                "tag_ids": r.tag_ids,
                "channels": r.channels,
                "priority": r.priority,
                "active": r.active,
                "sent": counts.get((r.id, "sent"), 0),
                "not_sent": sum(
                    n for (rid, st), n in counts.items() if rid == r.id and st != "sent"
                ),
            }
        )
    return out


def keyword_replies(session: Session, limit: int = 100) -> list[dict[str, Any]]:
    """The latest messages keyword rules looked at, newest first."""
    rows = session.scalars(sa.select(KeywordReply).order_by(KeywordReply.id.desc()).limit(limit))
    return [
        {
            "id": r.id,
            "channel": r.channel,
            "sender": r.sender,
            "customer_id": r.customer_id,
            "text": r.text,
            "rule_id": r.rule_id,
            "status": r.status,
            "errcode": r.errcode,
            "meaning": ERRCODE_MEANING.get(r.errcode, ""),
            "benefit_code": r.benefit_code,
            "at": _iso(r.at),
        }
        for r in rows
    ]


def _handover_row(h: Handover, counts: dict[str, int]) -> dict[str, Any]:
    return {
        "id": h.id,
        "kind": h.kind,
        "from": h.handover_userid,
        "to": h.takeover_userid,
        "selection": h.selection,
        "status": h.status,
        "counts": counts,
        "created_by": h.created_by,
        "created_at": _iso(h.created_at),
        "finished_at": _iso(h.finished_at),
    }


def handovers(session: Session, limit: int = 100) -> list[dict[str, Any]]:
    """Handovers, newest first, with their items counted by status."""
    rows = list(session.scalars(sa.select(Handover).order_by(Handover.id.desc()).limit(limit)))
    counts: dict[int, dict[str, int]] = {h.id: {} for h in rows}
    for hid, st, n in session.execute(
        sa.select(HandoverItem.handover_id, HandoverItem.status, sa.func.count())
        .where(HandoverItem.handover_id.in_(list(counts)))
        .group_by(HandoverItem.handover_id, HandoverItem.status)
    ):
        counts[hid][st] = int(n)
    return [_handover_row(h, counts[h.id]) for h in rows]


def handover_detail(session: Session, handover_id: int) -> dict[str, Any] | None:
    h = session.get(Handover, handover_id)
    if h is None:
        return None
    items = list(
        session.scalars(
            sa.select(HandoverItem)
            .where(HandoverItem.handover_id == h.id)
            .order_by(HandoverItem.id)
        )
    )
    counts: dict[str, int] = {}
    for i in items:
        counts[i.status] = counts.get(i.status, 0) + 1
    out = _handover_row(h, counts)
    out["items"] = [
        {
            "type": i.target_type,
            "id": i.target_id,
            "customer_id": i.customer_id,
            "to": i.takeover_userid,
            "status": i.status,
            "errcode": i.errcode,
            "error": i.error,
            "attempts": i.attempts,
            "submitted_at": _iso(i.submitted_at),
            "finished_at": _iso(i.finished_at),
        }
        for i in items
    ]
    return out


def staff_list(session: Session) -> list[dict[str, Any]]:
    """Every member with their live friendships (capacity at a glance: WeCom caps at 5,000)."""
    friends = {
        (corp, userid): n
        for corp, userid, n in session.execute(
            sa.select(WecomContact.corp_id, WecomContact.staff_userid, sa.func.count())
            .where(WecomContact.deleted_at.is_(None))
            .group_by(WecomContact.corp_id, WecomContact.staff_userid)
        )
    }
    return [
        {
            "userid": s.userid,
            "name": s.name,
            "status": s.status,
            "store_id": s.store_id,
            "contact_rights": s.has_contact_rights,
            "friends": int(friends.get((s.corp_id, s.userid), 0)),
        }
        for s in session.scalars(
            sa.select(WecomStaff).order_by(WecomStaff.status, WecomStaff.userid)
        )
    ]


def group_codes(session: Session) -> list[dict[str, Any]]:
    from siyu.wecom.group_codes import group_code_summary
    from siyu.wecom.models import GroupLiveCode

    codes = session.scalars(sa.select(GroupLiveCode).order_by(GroupLiveCode.id.desc()))
    return [group_code_summary(session, c) for c in codes]


def open_groups(session: Session) -> list[dict[str, Any]]:
    """Customer groups that are not dismissed, for choosing a group live code's groups."""
    return [
        {"chat_id": g.chat_id, "name": g.name, "owner": g.owner_userid, "members": g.member_count}
        for g in session.scalars(
            sa.select(WecomGroupChat)
            .where(WecomGroupChat.dismissed.is_(False))
            .order_by(WecomGroupChat.name)
        )
    ]
