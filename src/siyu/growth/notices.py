"""Service notices of rewards given (a referral's reward, a fission stage reached): by official-
account template message when set up and the member follows the account, else by SMS when its
template is set up — never by WeCom, which sends nothing to a customer by itself (DESIGN §12).
Queued through the send ledger in the caller's transaction, once per reward (its key), and held
until the quiet hours end (nobody asked for it at that moment: a reward granted by the night's
sweep is told in the morning); a notice that cannot be sent (no template set up, no address) is
skipped, never an error for the reward."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from siyu import clock
from siyu.config import get_settings
from siyu.reach.sending.ledger import LedgerError
from siyu.reach.sending.templates import TemplateProblem
from siyu.reach.sending.transactional import send_transactional

log = logging.getLogger("siyu.growth")
EXPIRES_MINUTES = 24 * 60


def notify_reward(session: Session, customer_id: int | None, key: str, reward: str) -> str:
    """Queue the notice of ``reward`` to the member; returns the channel used, or ""."""
    if customer_id is None:
        return ""
    settings = get_settings()
    morning = settings.quiet_hours.until(clock.now(), settings.tz)
    tries = []
    if settings.growth_oa_template_id:
        tries.append(
            (
                "oa",
                {
                    "template_id": settings.growth_oa_template_id,
                    "data": {
                        "first": "您的邀请奖励已发放",
                        "keyword1": reward,
                        "keyword2": clock.now().astimezone(settings.tz).strftime("%Y-%m-%d %H:%M"),
                        "remark": "感谢您推荐好友，详情请查看会员中心",
                    },
                },
            )
        )
    if settings.growth_sms_template_code and settings.centre_sms_sign_name:
        tries.append(
            (
                "sms",
                {
                    "sign_name": settings.centre_sms_sign_name,
                    "template_code": settings.growth_sms_template_code,
                    "text": settings.growth_sms_text,
                    "params": {"reward": reward},
                },
            )
        )
    for channel, template in tries:
        try:
            with session.begin_nested():
                send_transactional(
                    session,
                    key=f"{key}:{channel}"[:100],
                    customer_id=customer_id,
                    channel=channel,
                    template=template,
                    expires_minutes=EXPIRES_MINUTES,
                    actor="growth",
                    not_before=morning,
                )
            return channel
        except (LedgerError, TemplateProblem) as exc:
            log.info("reward notice %s by %s not sent: %s", key, channel, exc)
    return ""
