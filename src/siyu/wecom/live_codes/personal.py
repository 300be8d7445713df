"""A customer's own contact way (个人渠道码): a single-staff QR whose ``state`` names something of
theirs (a referral code), so whoever adds through it is known to have come by them.

The guide is the one the customer is a friend of (their latest friendship that still stands):
a friend brought by a member adds that member's guide. A corp may hold at most 500,000 contact
ways (live codes and join ways together); an alert is raised at 80 %, and none is made past the
limit (the caller falls back to the shared live code and a link). WeCom is called with no write
lock held, as for live codes."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu.wecom.connection.client import WecomError
from siyu.wecom.connection.models import WecomCorp
from siyu.wecom.connection.service import cached_client, record_calls
from siyu.wecom.contacts.alerts import raise_alert
from siyu.wecom.contacts.models import WecomContact
from siyu.wecom.live_codes.models import GroupLiveCode, LiveCode
from siyu.wecom.live_codes.service import fetch_qr

QUOTA = 500_000  # contact ways and join ways per corp (WeCom's limit)
ALERT_AT = 0.8


@dataclass(frozen=True)
class Way:
    corp_pk: int
    config_id: str
    qr_url: str | None
    qr_png: bytes | None


def guide_of(session: Session, customer_ids: Collection[int]) -> tuple[int, str] | None:
    """(corp, staff userid) of the customer's latest friendship that still stands."""
    row = session.execute(
        sa.select(WecomContact.corp_id, WecomContact.staff_userid)
        .where(WecomContact.customer_id.in_(list(customer_ids)), WecomContact.deleted_at.is_(None))
        .order_by(WecomContact.added_at.desc().nulls_last(), WecomContact.id.desc())
        .limit(1)
    ).first()
    return (int(row[0]), str(row[1])) if row else None


def make_way(
    session: Session,
    customer_ids: Collection[int],
    state: str,
    held_elsewhere: Callable[[int], int],
) -> Way | None:
    """A contact way of the customer's guide with ``state``; None when the customer has no
    guide, the corp is at its quota, or WeCom refuses (the caller falls back).
    ``held_elsewhere(corp)`` is how many such ways the caller keeps in the corp (they count
    towards the quota)."""
    found = guide_of(session, customer_ids)
    if found is None:
        return None
    corp = session.get(WecomCorp, found[0])
    if corp is None:
        return None
    used = held_elsewhere(corp.id) + _live_codes(session, corp.id)
    if used >= QUOTA:
        raise_alert(
            session,
            corp.id,
            "contact_way_quota",
            f"渠道码已达企业上限 {QUOTA}，个人推荐码改用共享活码与链接",
            once=True,
        )
        return None
    if used >= QUOTA * ALERT_AT:
        raise_alert(
            session,
            corp.id,
            "contact_way_quota",
            f"渠道码已用 {used} / {QUOTA}（超过 80%）：清理不用的活码，或缩短个人码的保留期",
            once=True,
        )
    session.commit()  # no write lock held across the call to WeCom
    client = cached_client(session, corp)
    try:
        made = client.post(
            "externalcontact/add_contact_way",
            {
                "type": 1,
                "scene": 2,
                "style": 1,
                "remark": state[:30],
                "skip_verify": True,
                "state": state[:30],
                "user": [found[1]],
            },
        )
    except WecomError:
        return None
    finally:
        record_calls(session, corp, client)
    qr_url = made.get("qr_code") or None
    return Way(corp.id, str(made.get("config_id") or ""), qr_url, fetch_qr(qr_url))


def drop_way(session: Session, corp_pk: int, config_id: str) -> bool:
    """Delete a contact way at WeCom (one already gone there counts as deleted)."""
    corp = session.get(WecomCorp, corp_pk)
    if corp is None:
        return True
    client = cached_client(session, corp)
    try:
        client.post("externalcontact/del_contact_way", {"config_id": config_id})
    except WecomError as exc:
        if exc.errcode != 41044:  # invalid config_id: not there any more
            return False
    finally:
        record_calls(session, corp, client)
    return True


def qr_of(url: str | None) -> bytes | None:
    return fetch_qr(url)


def _live_codes(session: Session, corp_pk: int) -> int:
    codes = session.scalar(sa.select(sa.func.count()).where(LiveCode.corp_id == corp_pk)) or 0
    groups = session.scalar(sa.select(sa.func.count()).where(GroupLiveCode.corp_id == corp_pk)) or 0
    return int(codes) + int(groups)
