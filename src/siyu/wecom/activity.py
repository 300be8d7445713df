"""Read paths for what WeCom automation did: keyword rules with their replies, and staff
handovers item by item — each over the customers the viewer may see."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.accounts.service import Principal
from siyu.customers.identifiers import mask_identity
from siyu.customers.masking import mask_text
from siyu.customers.service import only_visible, sees_whole_pool
from siyu.wecom.connection.client import ERRCODE_MEANING
from siyu.wecom.handover.models import Handover, HandoverItem
from siyu.wecom.replies.models import BenefitPool, KeywordReply, KeywordRule


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def keyword_rules(
    session: Session, days: int = 30, principal: Principal | None = None
) -> list[dict[str, Any]]:
    """Rules with what they did in the last ``days``: replies sent, and failures (to the
    customers ``principal`` may see)."""
    since = clock.now() - timedelta(days=days)
    counts: dict[tuple[int | None, str], int] = {
        (rule_id, st): n
        for rule_id, st, n in session.execute(
            sa.select(KeywordReply.rule_id, KeywordReply.status, sa.func.count())
            .where(
                KeywordReply.rule_id.is_not(None),
                KeywordReply.at >= since,
                only_visible(principal, KeywordReply.customer_id),
            )
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


def keyword_replies(
    session: Session, limit: int = 100, principal: Principal | None = None
) -> list[dict[str, Any]]:
    """The latest messages keyword rules looked at, newest first, from the customers
    ``principal`` may see. A log of what the rules did, not a place to read personal data: the
    customer's text is masked by value and the sender's WeCom id as identities are."""
    rows = session.scalars(
        sa.select(KeywordReply)
        .where(only_visible(principal, KeywordReply.customer_id))
        .order_by(KeywordReply.id.desc())
        .limit(limit)
    )
    return [
        {
            "id": r.id,
            "channel": r.channel,
            "sender": mask_identity("external_userid", r.sender) if r.sender else r.sender,
            "customer_id": r.customer_id,
            "text": mask_text(r.text),
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


def items_seen(principal: Principal | None) -> sa.ColumnElement[bool]:
    """Handover items ``principal`` may see: every item for the whole pool; otherwise the
    customers they may see (groups are not theirs to see)."""
    if sees_whole_pool(principal):
        return sa.true()
    return sa.and_(
        HandoverItem.customer_id.is_not(None), only_visible(principal, HandoverItem.customer_id)
    )


def handovers(
    session: Session, limit: int = 100, principal: Principal | None = None
) -> list[dict[str, Any]]:
    """Handovers, newest first, with their items (those ``principal`` may see) counted by
    status."""
    rows = list(session.scalars(sa.select(Handover).order_by(Handover.id.desc()).limit(limit)))
    counts: dict[int, dict[str, int]] = {h.id: {} for h in rows}
    for hid, st, n in session.execute(
        sa.select(HandoverItem.handover_id, HandoverItem.status, sa.func.count())
        .where(HandoverItem.handover_id.in_(list(counts)), items_seen(principal))
        .group_by(HandoverItem.handover_id, HandoverItem.status)
    ):
        counts[hid][st] = int(n)
    return [_handover_row(h, counts[h.id]) for h in rows]


def handover_detail(
    session: Session, handover_id: int, principal: Principal | None = None
) -> dict[str, Any] | None:
    """One handover with the items ``principal`` may see."""
    h = session.get(Handover, handover_id)
    if h is None:
        return None
    items = list(
        session.scalars(
            sa.select(HandoverItem)
            .where(HandoverItem.handover_id == h.id, items_seen(principal))
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
