"""Staff handover (客户继承): when a guide moves on, their customers and groups stay with the
brand. On-job transfer (在职转接) and resigned inheritance (离职继承) follow WeCom's rules:

- at most 100 customers per call; the customer may refuse within 24 hours, after which WeCom
  completes the transfer (transfer_result: 1 done, 2 waiting, 3 refused, 4 takeover at the
  cap); a refusal or a full takeover also arrives at once as a ``transfer_fail`` callback;
- on-job: the member must still be at the company, and a customer may be transferred at most
  twice in 90 days (Siyu checks this before asking, so the quota is not spent on a refusal);
  resigned: the member must have left (status 5 in the address book);
- groups move at once (groupchat/onjob_transfer or groupchat/transfer); a group that cannot
  move is reported with WeCom's errcode.

Retries follow from that: a takeover at the cap is retried to another member; a refusal is the
customer's choice and is not retried; a customer already being transferred (40129) waits for
the first transfer's result. This module decides what moves and keeps the record;
``transfers`` asks WeCom and takes its answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.accounts.service import record_audit
from siyu.refusals import Refusal
from siyu.tags.models import CustomerTag
from siyu.tags.service import TagError, find_tag
from siyu.wecom.connection.models import WecomCorp, WecomStaff
from siyu.wecom.contacts.alerts import FRIEND_CAP, friend_counts, raise_alert
from siyu.wecom.contacts.models import WecomContact, WecomGroupChat
from siyu.wecom.handover.models import Handover, HandoverItem
from siyu.wecom.live_codes.models import LiveCode

BATCH = 100
ONJOB_LIMIT, ONJOB_DAYS = 2, 90
RESULT_STATUS = {1: "succeeded", 2: "waiting", 3: "refused", 4: "limit"}
FAIL_REASONS = {"customer_refused": "refused", "customer_limit_exceed": "limit"}
OPEN = ("queued", "waiting")


class HandoverError(Refusal):
    """A handover that cannot be made; the message says why."""


@dataclass(frozen=True)
class Selection:
    """Which of the member's customers move: all, those with a tag, those from a live code,
    or the external_userids listed; ``groups`` moves the groups they own too."""

    tag: str | None = None
    live_code_id: int | None = None
    external_userids: tuple[str, ...] = ()
    groups: bool = True

    @property
    def moves_groups(self) -> bool:
        """Groups move only with the member's whole book: a selection of customers leaves
        the groups where they are."""
        return self.groups and not (self.tag or self.live_code_id or self.external_userids)


def _staff(session: Session, corp_pk: int, userid: str) -> WecomStaff:
    member = session.scalar(
        sa.select(WecomStaff).where(WecomStaff.corp_id == corp_pk, WecomStaff.userid == userid)
    )
    if member is None:
        raise HandoverError(
            "no staff member {userid!r} (run siyu wecom sync first?)", userid=userid
        )
    return member


def plan(
    session: Session,
    corp: WecomCorp,
    *,
    kind: str,
    handover_userid: str,
    takeover_userid: str,
    selection: Selection,
    message: str = "",
    actor: str,
) -> Handover:
    """Check the handover and list what moves (nothing is asked of WeCom yet)."""
    if kind not in ("onjob", "resigned"):
        raise HandoverError("kind: onjob (在职转接) or resigned (离职继承)")
    if handover_userid == takeover_userid:
        raise HandoverError("the customers would stay with the same member")
    if len(message) > 200:
        raise HandoverError("message: at most 200 characters")
    giver, taker = (_staff(session, corp.id, u) for u in (handover_userid, takeover_userid))
    check_members(kind, giver, taker)
    query = sa.select(WecomContact.external_userid, WecomContact.customer_id).where(
        WecomContact.corp_id == corp.id,
        WecomContact.staff_userid == handover_userid,
        WecomContact.deleted_at.is_(None),
    )
    if selection.tag:
        try:
            tag = find_tag(session, selection.tag)
        except TagError as exc:
            raise HandoverError("tag: {reason}", reason=exc) from None
        query = query.where(
            WecomContact.customer_id.in_(
                sa.select(CustomerTag.customer_id).where(CustomerTag.tag_id == tag.id)
            )
        )
    if selection.live_code_id is not None:
        code = session.get(LiveCode, selection.live_code_id)
        if code is None:
            raise HandoverError("no live code {id}", id=selection.live_code_id)
        query = query.where(WecomContact.state == code.state)
    if selection.external_userids:
        query = query.where(WecomContact.external_userid.in_(selection.external_userids))
    customers = session.execute(query.order_by(WecomContact.id)).all()
    groups: list[str] = []
    if selection.moves_groups:
        groups = list(
            session.scalars(
                sa.select(WecomGroupChat.chat_id).where(
                    WecomGroupChat.corp_id == corp.id,
                    WecomGroupChat.owner_userid == handover_userid,
                    WecomGroupChat.dismissed.is_(False),
                )
            )
        )
    if not customers and not groups:
        raise HandoverError(
            "{userid} has no customers or groups matching the selection", userid=handover_userid
        )
    handover = Handover(
        corp_id=corp.id,
        kind=kind,
        handover_userid=handover_userid,
        takeover_userid=takeover_userid,
        selection={
            "tag": selection.tag,
            "live_code_id": selection.live_code_id,
            "external_userids": list(selection.external_userids),
            "groups": selection.groups,
        },
        message=message,
        status="running",
        created_by=actor,
    )
    session.add(handover)
    session.flush()
    recent = _recent_onjob(session, corp.id, [e for e, _c in customers]) if kind == "onjob" else {}
    session.add_all(handover_items(handover, customers, groups, recent, clock.now()))
    session.flush()
    record_audit(
        session,
        actor,
        f"wecom.handover.{kind}",
        "wecom_handover",
        str(handover.id),
        {
            "from": handover_userid,
            "to": takeover_userid,
            "customers": len(customers),
            "groups": len(groups),
        },
    )
    return handover


def check_members(kind: str, giver: WecomStaff, taker: WecomStaff) -> None:
    """WeCom's rules on who may hand over to whom: resigned inheritance is for a member who has
    left (status 5), an on-job transfer for one who has not; the takeover member is active."""
    if kind == "resigned" and giver.status != 5:
        raise HandoverError(
            "{userid} has not left the company: use an on-job transfer", userid=giver.userid
        )
    if kind == "onjob" and giver.status == 5:
        raise HandoverError(
            "{userid} has left the company: use resigned inheritance", userid=giver.userid
        )
    if taker.status != 1:
        raise HandoverError(
            "{userid} is not an active member (status {status})",
            userid=taker.userid,
            status=taker.status,
        )


ONJOB_LIMIT_ERROR = f"WeCom allows {ONJOB_LIMIT} on-job transfers per customer in {ONJOB_DAYS} days"


def handover_items(
    handover: Handover,
    customers: Sequence[tuple[str, int | None]],
    groups: Sequence[str],
    earlier_onjob: Mapping[str, int],
    now: datetime,
) -> list[HandoverItem]:
    """What a handover lists, all to its takeover member: each customer (external_userid,
    customer id), queued unless it already had ``ONJOB_LIMIT`` on-job transfers in the window
    (``earlier_onjob``; WeCom would refuse it, so it fails now and is not asked), then each
    group."""
    items = []
    for ext, customer_id in customers:
        item = HandoverItem(
            handover_id=handover.id,
            corp_id=handover.corp_id,
            target_type="customer",
            target_id=ext,
            customer_id=customer_id,
            takeover_userid=handover.takeover_userid,
            status="queued",
        )
        if earlier_onjob.get(ext, 0) >= ONJOB_LIMIT:
            item.status, item.finished_at = "failed", now
            item.error = ONJOB_LIMIT_ERROR
        items.append(item)
    for chat_id in groups:
        items.append(
            HandoverItem(
                handover_id=handover.id,
                corp_id=handover.corp_id,
                target_type="group",
                target_id=chat_id,
                takeover_userid=handover.takeover_userid,
                status="queued",
            )
        )
    return items


def _recent_onjob(session: Session, corp_pk: int, externals: list[str]) -> dict[str, int]:
    """On-job transfers asked of WeCom per customer in the last 90 days (refused ones count)."""
    since = clock.now() - timedelta(days=ONJOB_DAYS)
    out: dict[str, int] = {}
    for start in range(0, len(externals), 500):
        rows = session.execute(
            sa.select(HandoverItem.target_id, sa.func.count())
            .join(Handover, Handover.id == HandoverItem.handover_id)
            .where(
                HandoverItem.corp_id == corp_pk,
                HandoverItem.target_type == "customer",
                HandoverItem.target_id.in_(externals[start : start + 500]),
                HandoverItem.submitted_at >= since,
                HandoverItem.status.in_(("waiting", "succeeded", "refused")),
                Handover.kind == "onjob",
            )
            .group_by(HandoverItem.target_id)
        )
        out.update({ext: int(n) for ext, n in rows})
    return out


def alert_failed(session: Session, handover: Handover, item: HandoverItem) -> None:
    why = {"refused": "客户拒绝了转接", "limit": f"接替成员 {item.takeover_userid} 好友已满"}.get(
        item.status, "转接失败"
    )
    raise_alert(
        session,
        handover.corp_id,
        "transfer_failed",
        f"客户 {item.target_id} 从 {handover.handover_userid} 转给 {item.takeover_userid} 未成功：{why}",
        staff_userid=item.takeover_userid,
        customer_id=item.customer_id,
    )


def transfer_failed(
    session: Session, corp_pk: int, takeover_userid: str, external_userid: str, reason: str
) -> HandoverItem | None:
    """WeCom's transfer_fail callback: the waiting item ends now (refused or limit)."""
    item = session.scalar(
        sa.select(HandoverItem)
        .where(
            HandoverItem.corp_id == corp_pk,
            HandoverItem.target_id == external_userid,
            HandoverItem.takeover_userid == takeover_userid,
            HandoverItem.status == "waiting",
        )
        .order_by(HandoverItem.id.desc())
    )
    if item is None:
        return None
    handover = session.get(Handover, item.handover_id)
    assert handover is not None
    item.status = FAIL_REASONS.get(reason, "failed")
    item.error, item.finished_at = f"transfer_fail: {reason}"[:300], clock.now()
    alert_failed(session, handover, item)
    maybe_done(session, handover)
    return item


def retry(
    session: Session, handover: Handover, takeover_userid: str | None = None, *, actor: str
) -> int:
    """Queue again what may be retried: takeovers at the cap and errors other than a refusal or
    WeCom's own rules, to ``takeover_userid`` if given (it must have room)."""
    if takeover_userid is not None:
        taker = _staff(session, handover.corp_id, takeover_userid)
        if taker.status != 1 or takeover_userid == handover.handover_userid:
            raise HandoverError("{userid} cannot take over these customers", userid=takeover_userid)
    items = [
        i
        for i in session.scalars(
            sa.select(HandoverItem)
            .where(
                HandoverItem.handover_id == handover.id,
                HandoverItem.status.in_(RETRIED),
            )
            .order_by(HandoverItem.id)
        )
        if retryable(i)
    ]
    if takeover_userid is not None:
        friends = friend_counts(session, handover.corp_id, [takeover_userid])
        check_room(takeover_userid, friends.get(takeover_userid, 0), items)
    for i in items:
        i.status, i.errcode, i.error, i.finished_at = "queued", 0, None, None
        if takeover_userid:
            i.takeover_userid = takeover_userid
    if items:
        handover.status, handover.finished_at = "running", None
    record_audit(
        session,
        actor,
        "wecom.handover.retry",
        "wecom_handover",
        str(handover.id),
        {"items": len(items)},
    )
    return len(items)


RETRIED = ("limit", "failed")
# WeCom said the customer is no friend of the member (84061) or is being transferred already
# (40129, the first transfer's result decides)
NOT_RETRIED_ERRCODES = (84061, 40129)


def retryable(item: HandoverItem) -> bool:
    """May the item be queued again? A takeover at the cap and most failures may; a refusal
    (the customer's choice), the failures in ``NOT_RETRIED_ERRCODES`` and a customer Siyu
    found at WeCom's on-job limit may not."""
    return (
        item.status in RETRIED
        and item.errcode not in NOT_RETRIED_ERRCODES
        and not (item.error or "").startswith("WeCom allows")  # ONJOB_LIMIT_ERROR
    )


def check_room(takeover_userid: str, friends: int, items: Sequence[HandoverItem]) -> None:
    """The member a retry goes to must have room under WeCom's friend cap for every customer."""
    room = FRIEND_CAP - friends
    if room < len([i for i in items if i.target_type == "customer"]):
        raise HandoverError(
            "{userid} has room for {n} more customers only", userid=takeover_userid, n=room
        )


def maybe_done(session: Session, handover: Handover) -> None:
    session.flush()
    still = session.scalar(
        sa.select(sa.func.count()).where(
            HandoverItem.handover_id == handover.id, HandoverItem.status.in_(OPEN)
        )
    )
    if not still and handover.status != "done":
        handover.status, handover.finished_at = "done", clock.now()


def counts(session: Session, handover_id: int) -> dict[str, int]:
    rows = session.execute(
        sa.select(HandoverItem.status, sa.func.count())
        .where(HandoverItem.handover_id == handover_id)
        .group_by(HandoverItem.status)
    )
    return {status: int(n) for status, n in rows}
