"""Alerts an operator acts on: capacity near WeCom's 5,000-friend cap, customers lost
(流失提醒: a customer deleted their guide, or a guide deleted a customer), failed transfers."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.wecom.contacts.models import WecomAlert, WecomContact

FRIEND_CAP = 5000


def raise_alert(
    session: Session,
    corp_pk: int,
    kind: str,
    message: str,
    *,
    staff_userid: str | None = None,
    customer_id: int | None = None,
    once: bool = False,
) -> WecomAlert | None:
    """Record an alert; with ``once``, not while an unresolved one of the same kind is open
    for the same staff member (a guide at capacity is one alert, not one per add)."""
    if once:
        open_one = session.scalar(
            sa.select(WecomAlert.id).where(
                WecomAlert.corp_id == corp_pk,
                WecomAlert.kind == kind,
                WecomAlert.staff_userid == staff_userid,
                WecomAlert.resolved.is_(False),
            )
        )
        if open_one:
            return None
    alert = WecomAlert(
        corp_id=corp_pk,
        kind=kind,
        message=message[:500],
        staff_userid=staff_userid,
        customer_id=customer_id,
        created_at=clock.now(),
    )
    session.add(alert)
    return alert


def friend_counts(session: Session, corp_pk: int, userids: list[str]) -> dict[str, int]:
    """Current friendships per staff member, as Siyu knows them."""
    rows = session.execute(
        sa.select(WecomContact.staff_userid, sa.func.count())
        .where(
            WecomContact.corp_id == corp_pk,
            WecomContact.staff_userid.in_(userids),
            WecomContact.deleted_at.is_(None),
        )
        .group_by(WecomContact.staff_userid)
    ).all()
    counts = dict.fromkeys(userids, 0)
    counts.update({u: int(n) for u, n in rows})
    return counts
