"""Read paths for WeCom: the status that makes failures visible, staff and friendship counts."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.accounts.service import Principal
from siyu.customers.masking import mask_text
from siyu.customers.models import Customer
from siyu.customers.service import only_visible, sees_whole_pool
from siyu.wecom.callbacks.models import WecomCallback
from siyu.wecom.connection.client import ERRCODE_MEANING
from siyu.wecom.connection.models import WecomApiCall, WecomCorp, WecomStaff
from siyu.wecom.contacts.models import WecomAlert, WecomContact, WecomGroupChat, WecomSyncRun
from siyu.wecom.live_codes.models import LiveCode, LiveCodeStaff, WelcomeDelivery


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def status(session: Session, principal: Principal | None = None) -> list[dict[str, Any]]:
    """Per corp: sync, inbox, API errors, and friendships and customers — those counted over
    the customers ``principal`` may see (a guide's inbox failures are left out: they name
    anyone's contacts)."""
    whole = sees_whole_pool(principal)
    mine = only_visible(principal, WecomContact.customer_id)
    out = []
    hour_ago = clock.now() - timedelta(hours=1)
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
        last_failures = (
            []
            if not whole
            else [
                {"id": r.id, "event": r.event, "error": r.error, "at": _iso(r.processed_at)}
                for r in session.scalars(
                    sa.select(WecomCallback)
                    .where(WecomCallback.corp_id == corp.id, WecomCallback.status == "failed")
                    .order_by(WecomCallback.id.desc())
                    .limit(5)
                )
            ]
        )
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
                        WecomContact.corp_id == corp.id, WecomContact.deleted_at.is_(None), mine
                    )
                ),
                "customers": session.scalar(
                    sa.select(sa.func.count(sa.distinct(WecomContact.customer_id))).where(
                        WecomContact.corp_id == corp.id, WecomContact.deleted_at.is_(None), mine
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


def live_codes(session: Session, principal: Principal | None = None) -> list[dict[str, Any]]:
    """Live codes with their staff and net adds (friends still there, among the customers
    ``principal`` may see)."""
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
                WecomContact.state.in_([c.state for c in codes]),
                WecomContact.deleted_at.is_(None),
                only_visible(principal, WecomContact.customer_id),
            )
            .group_by(WecomContact.state)
        ).all()
    )
    return [
        {**live_code_summary(c, staff.get(c.id, [])), "net_adds": int(counts.get(c.state, 0))}
        for c in codes
    ]


# Alerts about a staff member's capacity or a code's stock name no customer.
OPERATIONAL_ALERTS = ("capacity", "live_code_full", "group_code_full", "benefit_exhausted")


def open_alerts(
    session: Session, limit: int = 100, principal: Principal | None = None
) -> list[dict[str, Any]]:
    """Open alerts, newest first: those about a customer only if ``principal`` may see them,
    messages masked by value (a nickname may hold a phone number)."""
    seen: sa.ColumnElement[bool] = sa.true()
    if not sees_whole_pool(principal):
        seen = sa.or_(
            sa.and_(
                WecomAlert.customer_id.is_not(None), only_visible(principal, WecomAlert.customer_id)
            ),
            sa.and_(WecomAlert.customer_id.is_(None), WecomAlert.kind.in_(OPERATIONAL_ALERTS)),
        )
    return [
        {
            "id": a.id,
            "kind": a.kind,
            "staff": a.staff_userid,
            "customer_id": a.customer_id,
            "message": mask_text(a.message),
            "at": _iso(a.created_at),
        }
        for a in session.scalars(
            sa.select(WecomAlert)
            .where(WecomAlert.resolved.is_(False), seen)
            .order_by(WecomAlert.id.desc())
            .limit(limit)
        )
    ]


def welcome_stats(
    session: Session, hours: int = 24, principal: Principal | None = None
) -> dict[str, Any]:
    """Welcome deliveries of the last ``hours`` by status, with the latency quantiles, to the
    customers ``principal`` may see."""
    since = clock.now() - timedelta(hours=hours)
    rows = session.execute(
        sa.select(WelcomeDelivery.status, WelcomeDelivery.latency_ms).where(
            WelcomeDelivery.at >= since, only_visible(principal, WelcomeDelivery.customer_id)
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


def duplicates(
    session: Session,
    corp_pk: int | None = None,
    sample: int = 20,
    principal: Principal | None = None,
) -> dict[str, Any]:
    """De-duplication across the staff matrix (seed 002): customers who are friends of several
    staff members — still one customer each in Siyu — overall, by live code (an add through the
    code by someone already a friend of other staff) and by store of the staff member; over
    the customers ``principal`` may see."""
    live = sa.and_(
        WecomContact.deleted_at.is_(None),
        WecomContact.customer_id.is_not(None),
        only_visible(principal, WecomContact.customer_id),
    )
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


def staff_list(session: Session, principal: Principal | None = None) -> list[dict[str, Any]]:
    """Every member with their live friendships (capacity at a glance: WeCom caps at 5,000),
    counted among the customers ``principal`` may see."""
    friends = {
        (corp, userid): n
        for corp, userid, n in session.execute(
            sa.select(WecomContact.corp_id, WecomContact.staff_userid, sa.func.count())
            .where(
                WecomContact.deleted_at.is_(None),
                only_visible(principal, WecomContact.customer_id),
            )
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
    from siyu.wecom.live_codes.group_codes import group_code_summary
    from siyu.wecom.live_codes.models import GroupLiveCode

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


def deleted_friends(session: Session, customer_ids: Collection[int], since: datetime) -> bool:
    """Whether any of these customers deleted a staff member (a WeCom friend) since ``since``:
    a referral's invitee who leaves as soon as they arrive earns nobody a reward."""
    return (
        session.scalar(
            sa.select(WecomContact.id)
            .where(
                WecomContact.customer_id.in_(list(customer_ids)),
                WecomContact.deleted_by == "customer",
                WecomContact.deleted_at >= since,
            )
            .limit(1)
        )
        is not None
    )


@dataclass(frozen=True)
class GroupCodeFacts:
    """What another capability may know of a group live code: whose corp (and the corp's brand,
    if it serves one), its name, the QR image's address at WeCom, the groups of its rotation."""

    id: int
    corp_id: int
    name: str
    qr_url: str
    chat_ids: tuple[str, ...]
    brand_id: int | None = None


def group_code_facts(session: Session, code_id: int) -> GroupCodeFacts | None:
    from siyu.wecom.live_codes.models import GroupLiveCode

    code = session.get(GroupLiveCode, code_id)
    if code is None:
        return None
    corp = session.get(WecomCorp, code.corp_id)
    return GroupCodeFacts(
        code.id,
        code.corp_id,
        code.name,
        code.qr_url or "",
        tuple(code.chat_ids or ()),
        corp.brand_id if corp is not None else None,
    )


def group_code_choices(session: Session) -> list[tuple[int, str]]:
    """(id, name) of every group live code, newest first, for choosing one."""
    from siyu.wecom.live_codes.models import GroupLiveCode

    return [
        (int(i), str(n))
        for i, n in session.execute(
            sa.select(GroupLiveCode.id, GroupLiveCode.name).order_by(GroupLiveCode.id.desc())
        )
    ]
