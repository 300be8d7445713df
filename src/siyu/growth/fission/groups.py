"""Group fission (群裂变) the way WeCom allows it: a participant's poster carries their personal
contact way (state ``r_<code>``); a new friend who adds the guide through it gets the campaign's
group live code in the welcome message — the one message WeCom lets a corp send a customer by
itself, within 20 s of the add — and joins the group if they like. Joining is noted on the
friend's referral (the participant's attribution, counted in the K-factor's arrivals already)
and shown in the participant's progress, but earns nothing: stages count paid orders only.

The join way's QR is shared by every participant (a join way per participant would spend the
corp's 500,000 contact/join ways), so a join is credited through the referral the friend's add
made, never by the QR itself."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.growth.fission.models import FissionCampaign
from siyu.growth.models import Referral, ReferralCode, ReferralStatus
from siyu.growth.service import STATE_PREFIX, NoSuchCode, normal_code
from siyu.privacy.service import families_of
from siyu.wecom.queries import GroupCodeFacts, group_code_facts

TITLE_BYTES = 128  # WeCom's limit on a link's title, in UTF-8 bytes
JOIN_TEXT = "长按识别二维码，加入群聊"


def running(session: Session, programme_id: int, at: datetime) -> FissionCampaign | None:
    """The programme's newest active campaign with a group whose window holds ``at``."""
    return session.scalar(
        sa.select(FissionCampaign)
        .where(
            FissionCampaign.programme_id == programme_id,
            FissionCampaign.active.is_(True),
            FissionCampaign.group_code_id.is_not(None),
            FissionCampaign.starts_at <= at,
            FissionCampaign.ends_at > at,
        )
        .order_by(FissionCampaign.id.desc())
        .limit(1)
    )


def welcome_group(session: Session, corp_pk: int, state: str) -> list[dict[str, Any]]:
    """The group's QR as a link attachment for the welcome of a friend who added through a
    participant's code (``welcome_extras``); nothing for any other state, a code of another
    corp, or a programme with no campaign running with a group. Three indexed reads."""
    if not state.startswith(STATE_PREFIX):
        return []
    try:
        text = normal_code(state[len(STATE_PREFIX) :])
    except NoSuchCode:
        return []
    found = session.execute(
        sa.select(ReferralCode.programme_id, ReferralCode.way_corp_id).where(
            ReferralCode.code == text
        )
    ).first()
    if found is None or (found.way_corp_id is not None and found.way_corp_id != corp_pk):
        return []
    campaign = running(session, int(found.programme_id), clock.now())
    group = None
    if campaign is not None and campaign.group_code_id is not None:
        group = group_code_facts(session, campaign.group_code_id)
    if group is None or group.corp_id != corp_pk or not group.qr_url:
        return []
    return [attachment(group)]


def attachment(group: GroupCodeFacts) -> dict[str, Any]:
    """A link whose picture and target are the group code's QR image at WeCom."""
    return {
        "msgtype": "link",
        "link": {
            "title": cut_bytes(f"加入「{group.name}」", TITLE_BYTES),
            "picurl": group.qr_url,
            "desc": JOIN_TEXT,
            "url": group.qr_url,
        },
    }


def cut_bytes(text: str, most: int) -> str:
    """``text`` cut to ``most`` UTF-8 bytes, never inside a character (emoji take 4)."""
    return text.encode()[:most].decode("utf-8", "ignore")


def joined_group(session: Session, data: dict[str, Any]) -> int:
    """Subscriber's work for ``wecom.group_joined``: customers who joined a group of a running
    campaign's group code have their referral in that programme noted as joined (the first
    join stays); returns how many referrals were noted. Nothing is rewarded."""
    customers = [int(c) for c in data.get("customers") or [] if isinstance(c, int)]
    corp, chat = data.get("corp"), str(data.get("chat") or "")
    if not customers or not isinstance(corp, int) or not chat:
        return 0
    try:
        at = datetime.fromisoformat(str(data.get("at")))
    except ValueError:
        at = clock.now()
    families = families_of(session, customers)
    people = sorted({m for family in families.values() for m in family})
    noted = 0
    for campaign in _campaigns_with(session, corp, chat, at):
        result = session.execute(
            sa.update(Referral)
            .where(
                Referral.programme_id == campaign.programme_id,
                Referral.invitee_id.in_(people),
                Referral.status != ReferralStatus.void,
                Referral.group_joined_at.is_(None),
                Referral.arrived_at >= campaign.starts_at,
                Referral.arrived_at < campaign.ends_at,
            )
            .values(group_joined_at=at)
            .execution_options(synchronize_session=False)
        )
        noted += int(getattr(result, "rowcount", 0) or 0)
    return noted


def _campaigns_with(
    session: Session, corp_pk: int, chat: str, at: datetime
) -> list[FissionCampaign]:
    campaigns = session.scalars(
        sa.select(FissionCampaign).where(
            FissionCampaign.active.is_(True),
            FissionCampaign.group_code_id.is_not(None),
            FissionCampaign.starts_at <= at,
            FissionCampaign.ends_at > at,
        )
    ).all()
    out = []
    for campaign in campaigns:  # few run at once: their group codes are read one by one
        group = group_code_facts(session, int(campaign.group_code_id or 0))
        if group is not None and group.corp_id == corp_pk and chat in group.chat_ids:
            out.append(campaign)
    return out


def joined_count(session: Session, campaign: FissionCampaign, member_id: int) -> int:
    """The participant's friends who arrived in the campaign's window and joined its group."""
    return int(
        session.scalar(
            sa.select(sa.func.count())
            .select_from(Referral)
            .where(
                Referral.programme_id == campaign.programme_id,
                Referral.referrer_id == member_id,
                Referral.status != ReferralStatus.void,
                Referral.group_joined_at.is_not(None),
                Referral.arrived_at >= campaign.starts_at,
                Referral.arrived_at < campaign.ends_at,
            )
        )
        or 0
    )
