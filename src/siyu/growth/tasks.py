"""The worker's part of growth: arrivals heard from the member centre and WeCom, rewards
following the invitees' orders, and the sweep that grants what is due."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from siyu.growth.attribution import added_by_state, joined_by_link, ordered_with_code
from siyu.growth.fission.groups import joined_group
from siyu.growth.fission.service import reward_stages
from siyu.growth.rewards import deletions_after_reward, follow_orders, grant_due
from siyu.growth.sharing import sweep_ways
from siyu.jobs.service import periodic


def member_joined(session: Session, data: dict[str, Any]) -> None:
    """Subscriber of ``member.joined``: a sign-up from a referral link is attributed."""
    joined_by_link(session, data)


def friend_added(session: Session, data: dict[str, Any]) -> None:
    """Subscriber of ``wecom.friend_added``: an add through a member's contact way is."""
    added_by_state(session, data)


def order_referred(session: Session, data: dict[str, Any]) -> None:
    """Subscriber of ``order.referred``: a first order with a code attributes its buyer."""
    ordered_with_code(session, data)


def group_joined(session: Session, data: dict[str, Any]) -> None:
    """Subscriber of ``wecom.group_joined``: a friend who joined a group fission's group is
    noted on their referral (attributed, never rewarded by itself)."""
    joined_group(session, data)


def orders_changed(session: Session, data: dict[str, Any]) -> None:
    """Subscriber of ``order.changed``: invitees' paid orders make rewards pending, refunds
    void them."""
    ids = [int(i) for i in data.get("orders", [])]
    if ids:
        follow_orders(session, ids)


@periodic("growth.rewards", 300)
def grant(session: Session, payload: dict[str, Any]) -> None:
    """Rewards whose refund window has passed are granted (each committed on its own), and
    invitees who deleted their WeCom friend soon after a reward are marked for review."""
    while grant_due(session) >= 500:
        pass
    deletions_after_reward(session)
    session.commit()
    reward_stages(session)  # fission stages reached as invitees' orders outlive the window


@periodic("growth.contact_ways", 86400)
def contact_ways(session: Session, payload: dict[str, Any]) -> None:
    """Members' contact ways unused for 90 days are deleted at WeCom (the corp's quota)."""
    sweep_ways(session)
