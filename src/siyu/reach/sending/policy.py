"""Send policy, checked for each message at send time (DESIGN §5), not only when the campaign was
planned: a customer may have withdrawn consent, been suppressed or merged since. Every "no" is a
recorded reason; marketing in quiet hours is deferred to the next allowed minute, never dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu.config import QuietHours, Settings
from siyu.customers.models import Consent, Customer, Identity


@dataclass(frozen=True)
class Decision:
    send: bool
    reason: str | None = None
    due_at: datetime | None = None  # set when the message is deferred, not skipped


SEND = Decision(True)


ADDRESS_KINDS = {"sms": "phone", "email": "email", "oa": "openid"}
CONSENTED_CHANNELS = ("sms", "email")  # marketing on these needs the customer's own yes


def address_of(
    session: Session, customer_id: int, channel: str, template: Mapping[str, Any] | None = None
) -> str | None:
    """Where the channel reaches the customer: their phone for SMS, their email address for
    email (a verified one first; the template's ``to`` when it names one of theirs), their openid under the official account's AppID; WeCom
    messages and guide tasks go through their guide; a webhook goes to the campaign's URL."""
    if channel == "webhook":
        return str((template or {}).get("url") or "") or None
    if channel in ("wecom", "wecom_app"):  # the guide sends, or is asked to reach out
        brand = (template or {}).get("brand_id")
        return wecom_address(session, customer_id, brand if isinstance(brand, int) else None)
    namespace = ""
    if channel == "oa":  # an openid belongs to one official account
        from siyu.config import get_settings

        namespace = get_settings().oa_appid
        if not namespace:
            return None
        return oa_address(session, customer_id, namespace)
    kind = ADDRESS_KINDS.get(channel)
    if kind is None:
        return None
    where = [
        Identity.customer_id == customer_id,
        Identity.kind == kind,
        Identity.namespace == namespace,
    ]
    to = (template or {}).get("to")
    if to:  # a transactional message to the number the customer typed (a sign-in code), if theirs
        where.append(Identity.value == str(to))
    return session.scalar(
        sa.select(Identity.value)
        .where(*where)
        .order_by(Identity.verified.desc(), Identity.id)
        .limit(1)
    )


def oa_address(session: Session, customer_id: int, appid: str) -> str | None:
    """The customer's openid under the account: one that follows first, then one Siyu knows
    nothing about, and one known to have unfollowed last (``check`` then says why not)."""
    from siyu.oa.models import OaFollower

    known = OaFollower.subscribed
    return session.scalar(
        sa.select(Identity.value)
        .outerjoin(
            OaFollower,
            sa.and_(OaFollower.appid == appid, OaFollower.openid == Identity.value),
        )
        .where(
            Identity.customer_id == customer_id,
            Identity.kind == "openid",
            Identity.namespace == appid,
        )
        .order_by(
            sa.case((known.is_(True), 0), (known.is_(None), 1), else_=2),
            Identity.verified.desc(),
            Identity.id,
        )
        .limit(1)
    )


def wecom_address(session: Session, customer_id: int, brand_id: int | None = None) -> str | None:
    """``corp:staff:external_userid`` of the customer's first still-standing WeCom friendship
    (the guide who added them first sends the corp's mass messages to them); with
    ``brand_id``, in a corp of that brand (or of no brand) only."""
    from siyu.wecom.connection.models import WecomCorp
    from siyu.wecom.contacts.models import WecomContact

    query = sa.select(
        WecomContact.corp_id, WecomContact.staff_userid, WecomContact.external_userid
    ).where(WecomContact.customer_id == customer_id, WecomContact.deleted_at.is_(None))
    if brand_id is not None:
        query = query.join(WecomCorp, WecomCorp.id == WecomContact.corp_id).where(
            sa.or_(WecomCorp.brand_id == brand_id, WecomCorp.brand_id.is_(None))
        )
    row = session.execute(query.order_by(WecomContact.added_at, WecomContact.id).limit(1)).first()
    return f"{row[0]}:{row[1]}:{row[2]}" if row else None


def next_allowed(now: datetime, settings: Settings) -> datetime | None:
    """None if marketing may go out now; else the end of the quiet hours (UTC-aware)."""
    return quiet_until(now, settings.tz, settings.quiet_hours)


def quiet_until(now: datetime, tz: tzinfo, quiet: QuietHours) -> datetime | None:
    """``next_allowed`` in the time zone ``tz``: the quiet hours run from ``quiet.start``
    o'clock to ``quiet.end`` o'clock local time (the next morning when they cross midnight)."""
    return quiet.until(now, tz)


@dataclass(frozen=True)
class Standing:
    """What the policy weighs of the customer themself (the rest is asked only when needed)."""

    status: str
    suppressed: bool = False
    do_not_disturb: bool = False


def standing_of(session: Session, customer_id: int) -> Standing | None:
    """The customer's standing, or None when there is no such customer."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        return None
    return Standing(customer.status, customer.suppressed, customer.do_not_disturb)


def check(
    session: Session,
    *,
    customer_id: int,
    channel: str,
    purpose: str,
    address: str | None,
    now: datetime,
    settings: Settings,
) -> Decision:
    return decision_for(
        standing_of(session, customer_id),
        channel=channel,
        purpose=purpose,
        address=address,
        now=now,
        tz=settings.tz,
        quiet=settings.quiet_hours,
        follows=lambda openid: _follows(session, openid, settings),
        consents=lambda to: _consents(session, customer_id, channel, to),
    )


def decision_for(
    customer: Standing | None,
    *,
    channel: str,
    purpose: str,
    address: str | None,
    now: datetime,
    tz: tzinfo,
    quiet: QuietHours,
    follows: Callable[[str], bool],
    consents: Callable[[str], Collection[str]],
) -> Decision:
    """The policy itself, on plain facts. ``follows(openid)`` (may the openid still be a
    follower?) and ``consents(address)`` (the statuses of the customer's marketing consents for
    the channel and that address) are asked only when the answer depends on them."""
    if customer is None or customer.status != "active":
        return Decision(False, "not_active")  # erased, or merged into another profile
    if customer.suppressed:
        return Decision(False, "suppressed")
    if address is None:
        return Decision(False, "no_address")
    if channel == "oa" and not follows(address):
        return Decision(False, "not_following")  # WeChat would refuse it (43004)
    if purpose == "marketing":
        if customer.do_not_disturb:
            return Decision(False, "do_not_disturb")
        if channel in CONSENTED_CHANNELS:
            refused = consent_refusal(consents(address))
            if refused is not None:
                return refused
        later = quiet_until(now, tz, quiet)
        if later is not None:
            return Decision(False, "quiet_hours", later)
    return SEND


def _follows(session: Session, openid: str, settings: Settings) -> bool:
    """False only when Siyu knows the openid unfollowed (a push or a sync said so); an openid
    never synced is tried, and WeChat answers 43004 if it does not follow."""
    from siyu.oa.queries import following

    return following(session, settings.oa_appid, openid) is not False


def consent_refusal(statuses: Collection[str]) -> Decision | None:
    """None when marketing on a channel that needs consent is allowed, given the statuses of
    the customer's consents for that channel and address: a withdrawal anywhere wins over a
    grant, and no grant at all is no consent. A webhook hands the message to the brand's own
    system, which applies its own consent (it is not in ``CONSENTED_CHANNELS``)."""
    if "withdrawn" in statuses:
        return Decision(False, "consent_withdrawn")
    if "granted" not in statuses:
        return Decision(False, "no_consent")
    return None


def _consents(session: Session, customer_id: int, channel: str, address: str) -> set[str]:
    return set(
        session.scalars(
            sa.select(Consent.status).where(
                Consent.customer_id == customer_id,
                Consent.channel == channel,
                Consent.purpose == "marketing",
                Consent.address == address,
            )
        )
    )
