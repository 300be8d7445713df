"""Fission campaigns' rules: set-up refused when a reward would be triggered by a share, scan,
add or invite count, or when the poster promises anything for sharing (WeChat's 2019
external-link rules, DESIGN §12) — with the reason said; progress counted from referrals whose
first qualifying order has outlived the refund window and is still paid; stage rewards given
once by a sweep."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.accounts.service import record_audit
from siyu.growth.fission.groups import joined_count
from siyu.growth.fission.models import FissionCampaign, FissionReward, FissionStage
from siyu.growth.models import (
    Referral,
    ReferralProgramme,
    ReferralReward,
    ReferralStatus,
    RewardStatus,
)
from siyu.growth.notices import notify_reward
from siyu.growth.service import ReferralRefused
from siyu.loyalty.coupons.queries import template_id_of
from siyu.loyalty.coupons.service import CouponError, issue_by_id
from siyu.loyalty.ledger import LoyaltyError
from siyu.loyalty.queries import member_view, programme_named
from siyu.loyalty.service import earn
from siyu.orders.queries import PAID_STATUSES, order_money
from siyu.privacy.service import family_of
from siyu.refusals import NotFound
from siyu.wecom.queries import deleted_friends, group_code_facts

TRIGGERS_REFUSED = {
    "shares": "a reward for sharing",
    "scans": "a reward for scans",
    "adds": "a reward for adding friends",
    "invites": "a reward for the number invited",
}
# task types WeChat bans outright, and words that tie a reward to a share (matched on text
# folded to simplified characters and lower case, without spaces or punctuation)
BANNED = re.compile(r"助力|砍价|砍一刀|帮砍|加速|集赞|点赞|集齐|拼手气|拉新|拉人头")
SHARE = re.compile(r"分享|转发|朋友圈|群里发|晒图|晒单|シェア|share|forward|repost|retweet")
INVITE = re.compile(r"邀请|拉人|扫码|加好友|关注|进群|invite")  # refused unless a purchase earns it
PURCHASE = re.compile(r"下单|购买|首单|消费|订单|买|purchase|order|buy")
REWARD = re.compile(
    r"[得送领赢抽返赚]\d|得到|获得|即得|立得|可得|就得|就送|即送|立送|免费|免单|红包|积分|"
    r"优惠券|领券|送券|得券|礼品|礼物|奖励|奖品|抽奖|现金|返现|赢取|领取|"
    r"points|coupon|free|reward|prize|cash|win"
)
ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"), None)
# signs drawn like the characters and letters of these words: katakana (助カ for 助力), dashes
# for 一 (砍—刀), Cyrillic letters for Latin ones (ѕhare)
LOOKALIKE = str.maketrans(
    "カロエニハタト〇ー—–‐‒―─-ѕаеорсхіјԁ",
    "力口工二八夕卜零一一一一一一一一saeopcxijd",
)
STAGES_MOST = 10


class FissionRefused(ReferralRefused):
    """A campaign that cannot be set up as asked (the reason says which rule)."""


class NoSuchCampaign(FissionRefused, NotFound):
    """A campaign id that is not there."""


@dataclass(frozen=True)
class StageSpec:
    orders: int
    points: int = 0
    coupon: str = ""
    trigger: str = "paid_orders"


def normalised(text: str) -> str:
    """Full-width letters folded, spaces and punctuation dropped, traditional and Japanese
    forms read as simplified (OpenCC), lookalike signs as what they imitate: 「转 发」「轉發」
    「転発」「助カ」「カロ速」「砍—刀」-style evasions read as the word they spell."""
    folded = unicodedata.normalize("NFKC", text or "").translate(ZERO_WIDTH)
    folded = _simplified(folded.translate(LOOKALIKE)).lower().replace("力口", "加")
    return "".join(ch for ch in folded if ch.isalnum())


@lru_cache(maxsize=1)
def _converters() -> tuple[Any, Any]:
    """OpenCC's Japanese forms → traditional, then traditional → simplified (転発 → 转发)."""
    import opencc

    return opencc.OpenCC("jp2t"), opencc.OpenCC("t2s")


def _simplified(text: str) -> str:
    japanese, traditional = _converters()
    return str(traditional.convert(japanese.convert(text)))


def check_poster(text: str) -> None:
    """Refuse poster words that promise anything for sharing or name a banned task."""
    plain = normalised(text)
    if BANNED.search(plain):
        raise FissionRefused(
            "the poster names a task WeChat bans (助力, 砍价, 加速, 集赞): {word}",
            word=BANNED.search(plain).group(0),  # type: ignore[union-attr]
        )
    whole = normalised(text)
    pieces = re.split(r"[。！？!?;；\n]", unicodedata.normalize("NFKC", text or ""))
    bought = PURCHASE.search(whole) is not None
    if REWARD.search(whole) and SHARE.search(whole) and not bought:
        raise FissionRefused(
            "the poster ties a reward to sharing ({words}); WeChat forbids inducing shares: "
            "say what a friend's purchase earns instead",
            words=(text or "").strip()[:40],
        )
    for sentence in pieces:
        flat = normalised(sentence)
        bought = PURCHASE.search(flat) is not None
        if REWARD.search(flat) and (SHARE.search(flat) or (INVITE.search(flat) and not bought)):
            raise FissionRefused(
                "the poster ties a reward to sharing ({words}); WeChat forbids inducing shares: "
                "say what a friend's purchase earns instead",
                words=sentence.strip()[:40],
            )


def create_campaign(
    session: Session,
    programme_code: str,
    name: str,
    stages: list[StageSpec],
    *,
    starts_at: datetime,
    ends_at: datetime,
    poster_text: str = "",
    group_code_id: int | None = None,
    actor: str,
) -> FissionCampaign:
    """A campaign whose stages count invitees' qualifying paid orders after the refund window.
    Any other trigger is refused with the rule it breaks."""
    programme = programme_named(session, programme_code)
    if programme is None:
        raise NoSuchCampaign("no loyalty programme {code}", code=programme_code[:40])
    rules = session.scalar(
        sa.select(ReferralProgramme).where(ReferralProgramme.programme_id == programme.id)
    )
    if rules is None:
        raise FissionRefused("set the programme's referral up first (siyu growth referral set)")
    if not 0 < len(name.strip()) <= 100:
        raise FissionRefused("a campaign's name has 1 to 100 characters")
    if len(poster_text) > 200:
        raise FissionRefused("the poster's words are at most 200 characters")
    if ends_at <= starts_at:
        raise FissionRefused("the campaign ends before it starts")
    if not 0 < len(stages) <= STAGES_MOST:
        raise FissionRefused("a campaign has 1 to {most} stages", most=STAGES_MOST)
    for stage in stages:
        if stage.trigger in TRIGGERS_REFUSED:
            raise FissionRefused(
                "a reward triggered by {what} is refused: WeChat forbids inducing shares; "
                "stages count invitees' paid orders after the refund window",
                what=stage.trigger,
            )
        if stage.trigger != "paid_orders":
            raise FissionRefused(
                "a stage counts paid_orders only, not {trigger}", trigger=stage.trigger[:20]
            )
        if not 1 <= stage.orders <= 1000 or not 0 <= stage.points <= 1_000_000:
            raise FissionRefused("a stage is 1 to 1000 orders and 0 to 1000000 points")
        if not stage.points and not stage.coupon:
            raise FissionRefused("each stage gives points or a coupon")
    if len({s.orders for s in stages}) != len(stages):
        raise FissionRefused("two stages count the same number of orders")
    check_poster(poster_text)
    check_poster(name)
    if group_code_id is not None:
        group = group_code_facts(session, group_code_id)
        if group is None:
            raise FissionRefused("no group live code {id}", id=group_code_id)
        if (
            None not in (group.brand_id, programme.brand_id)
            and group.brand_id != programme.brand_id
        ):
            raise FissionRefused(
                "group live code {id} is in another brand's WeCom: choose one of the programme's",
                id=group_code_id,
            )
    campaign = FissionCampaign(
        programme_id=programme.id,
        name=name.strip(),
        poster_text=poster_text,
        starts_at=starts_at,
        ends_at=ends_at,
        group_code_id=group_code_id,
        active=True,
        created_by=actor[:100],
        created_at=clock.now(),
    )
    session.add(campaign)
    session.flush()
    for stage in sorted(stages, key=lambda s: s.orders):
        coupon = None
        if stage.coupon:
            coupon = template_id_of(session, programme.id, stage.coupon)
            if coupon is None:
                raise FissionRefused(
                    "programme {p} has no coupon {code}", p=programme.code, code=stage.coupon[:40]
                )
        session.add(
            FissionStage(
                campaign_id=campaign.id,
                trigger="paid_orders",
                orders=stage.orders,
                points=stage.points,
                coupon_template_id=coupon,
            )
        )
    session.flush()
    record_audit(
        session, actor, "fission.create", "fission_campaign", str(campaign.id), {"name": name[:100]}
    )
    return campaign


def qualified(
    session: Session, campaign: FissionCampaign, member_id: int | None = None
) -> dict[int, int]:
    """Per participant (member id): invitees who arrived in the campaign's window whose first
    qualifying order has outlived the refund window and is still paid. Scans, adds and shares
    count for nothing here."""
    rules = session.scalar(
        sa.select(ReferralProgramme).where(ReferralProgramme.programme_id == campaign.programme_id)
    )
    if rules is None:
        return {}
    now = clock.now()
    where = [
        Referral.programme_id == campaign.programme_id,
        Referral.status == ReferralStatus.attributed,
        Referral.order_id.is_not(None),
        Referral.arrived_at >= campaign.starts_at,
        Referral.arrived_at < campaign.ends_at,
    ]
    if member_id is not None:
        where.append(Referral.referrer_id == member_id)
    # a referral whose own reward was voided (a cap, a friend deleted, erasure, an operator)
    # counts for no stage either
    voided = sa.exists().where(
        ReferralReward.referral_id == Referral.id,
        ReferralReward.side == "referrer",
        ReferralReward.status == RewardStatus.void,
    )
    where.append(~voided)
    found = session.execute(
        sa.select(
            Referral.referrer_id, Referral.order_id, Referral.invitee_id, Referral.arrived_at
        ).where(*where)
    ).all()
    gone = {
        int(invitee)
        for _r, _o, invitee, arrived in found
        if invitee is not None
        and deleted_friends(session, family_of(session, int(invitee)), arrived)
    }
    rows: list[tuple[int, int | None]] = [
        (r, o) for r, o, invitee, _a in found if invitee is not None and int(invitee) not in gone
    ]
    money = order_money(session, [int(o) for _r, o in rows if o is not None])
    paid_at = _paid_at(session, [int(o) for _r, o in rows if o is not None])
    out: dict[int, int] = {}
    for referrer, order_id in rows:
        if order_id is None:
            continue
        status, paid, refunded = money.get(int(order_id), ("", 0, 0))
        when = paid_at.get(int(order_id))
        if status not in PAID_STATUSES or paid - refunded < max(rules.min_order_fen, 1):
            continue
        if when is None or when + timedelta(days=rules.refund_days) > now:
            continue  # still refundable: it counts once the window has passed
        out[int(referrer)] = out.get(int(referrer), 0) + 1
    return out


def _paid_at(session: Session, order_ids: list[int]) -> dict[int, datetime]:
    from siyu.orders.queries import order_states

    return {int(r[0]): (r[7] or r[8]) for r in order_states(session, order_ids) if (r[7] or r[8])}


def reward_stages(session: Session) -> int:
    """Give every stage reached in active campaigns, once each; returns how many were given."""
    given = 0
    campaigns = session.scalars(
        sa.select(FissionCampaign).where(FissionCampaign.active.is_(True))
    ).all()
    for campaign in campaigns:
        stages = session.scalars(
            sa.select(FissionStage)
            .where(FissionStage.campaign_id == campaign.id)
            .order_by(FissionStage.orders)
        ).all()
        for member_id, count in qualified(session, campaign).items():
            for stage in stages:
                if count >= stage.orders:
                    given += _give(session, stage, member_id, count)
        session.commit()
    return given


def _give(session: Session, stage: FissionStage, member_id: int, count: int) -> int:
    if session.scalar(
        sa.select(FissionReward.id).where(
            FissionReward.stage_id == stage.id, FissionReward.member_id == member_id
        )
    ):
        return 0
    member = member_view(session, member_id)
    if member is None or not member.active:
        return 0
    source = ("fission", f"{stage.id}:{member_id}")
    note = ""
    try:
        with session.begin_nested():
            if stage.points:
                earn(
                    session,
                    member_id,
                    source,
                    stage.points,
                    available_at=clock.now(),
                    reason="fission",
                )
            if stage.coupon_template_id:
                issue_by_id(session, stage.coupon_template_id, member_id, source)
    except (CouponError, LoyaltyError) as exc:
        note = str(exc)[:100]
    session.add(
        FissionReward(
            stage_id=stage.id,
            member_id=member_id,
            counted=count,
            status="failed" if note else "granted",
            note=note,
            created_at=clock.now(),
        )
    )
    session.flush()
    if not note:
        words = f"{stage.points} 积分" if stage.points else "优惠券"
        notify_reward(session, member.customer_id, f"fission:{stage.id}:{member_id}", words)
    return 0 if note else 1


@dataclass(frozen=True)
class Progress:
    campaign: str
    ends_at: datetime
    counted: int
    stages: list[tuple[int, int, bool]]  # (orders, points, reached)
    joined: int | None = None  # friends who joined the campaign's group (None: no group)


def progress_of(session: Session, member_id: int, programme_id: int) -> list[Progress]:
    """A participant's progress in the programme's running campaigns (the member centre)."""
    now = clock.now()
    out = []
    for campaign in session.scalars(
        sa.select(FissionCampaign).where(
            FissionCampaign.programme_id == programme_id,
            FissionCampaign.active.is_(True),
            FissionCampaign.ends_at > now,
        )
    ):
        count = qualified(session, campaign, member_id).get(member_id, 0)
        stages = session.scalars(
            sa.select(FissionStage)
            .where(FissionStage.campaign_id == campaign.id)
            .order_by(FissionStage.orders)
        ).all()
        joined = None
        if campaign.group_code_id is not None:
            joined = joined_count(session, campaign, member_id)
        out.append(
            Progress(
                campaign.name,
                campaign.ends_at,
                count,
                [(s.orders, s.points, count >= s.orders) for s in stages],
                joined,
            )
        )
    return out
