"""Points for what members do besides buying (a sign-in streak, a first WeCom add, a review, a
birthday, a referral: any tracked event a programme has an event rule for), following the
events capability's ``event.tracked`` news. Each event earns once per membership, keyed by its
message id; only events that happened after the member joined (and, like every lot, while
the programme's rule is on); spendable at once (there is nothing to refund). The same events
give the coupons of event rules (``coupons.rules``)."""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu.events.queries import tracked
from siyu.loyalty.coupons.rules import event_names, give_for_events
from siyu.loyalty.ledger import LoyaltyError
from siyu.loyalty.models import EarnBasis, EarnRule, Member
from siyu.loyalty.service import earn

log = logging.getLogger("siyu.loyalty")


def settle_events(session: Session, message_ids: Collection[str]) -> int:
    """Earn for each of these events under the rules of the programmes its customer belongs
    to; returns the lots written (a second delivery writes none)."""
    rules: dict[tuple[int, str], int] = {
        (p, e): n
        for p, e, n in session.execute(
            sa.select(EarnRule.programme_id, EarnRule.event, EarnRule.points).where(
                EarnRule.basis == EarnBasis.event, EarnRule.active.is_(True), EarnRule.points > 0
            )
        )
        if e
    }
    names = {e for _p, e in rules} | event_names(session)
    if not names:
        return 0
    events = [t for t in tracked(session, message_ids) if t.name in names and t.customer_id]
    if not events:
        return 0
    members: dict[int, list[Member]] = {}
    for m in session.scalars(
        sa.select(Member).where(
            Member.customer_id.in_({t.customer_id for t in events}), Member.status == "active"
        )
    ):
        members.setdefault(int(m.customer_id or 0), []).append(m)
    written = 0
    couponed: list[tuple[int, str, str, datetime]] = []
    for t in events:
        for m in members.get(int(t.customer_id or 0), []):
            if t.occurred_at < m.joined_at:
                continue
            couponed.append((m.id, str(t.name), t.message_id, t.occurred_at))
            points = rules.get((m.programme_id, str(t.name)))
            if not points:
                continue
            try:
                with session.begin_nested():
                    moved = earn(
                        session,
                        m.id,
                        ("event", t.message_id),
                        points,
                        available_at=t.occurred_at,
                        reason=str(t.name)[:200],
                    )
                written += 0 if moved.again else 1
            except LoyaltyError as exc:  # one event that cannot earn holds up no other
                log.warning("event %s for member %s not settled: %s", t.message_id, m.id, exc)
    give_for_events(session, couponed)
    return written
