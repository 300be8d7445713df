"""Reward notices to referrers: by SMS when its template is set up (never by WeCom), once per
reward key, and held until the quiet hours end when a reward is granted at night."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from siyu import clock
from tests import growth_world as w


@pytest.fixture()
def sms_notices(monkeypatch: pytest.MonkeyPatch) -> None:
    from siyu import runtime

    monkeypatch.setenv("SIYU_CENTRE_SMS_SIGN_NAME", "悦颜")
    monkeypatch.setenv("SIYU_GROWTH_SMS_TEMPLATE_CODE", "SMS_100002")
    runtime.reset()


def _rows(session: Any) -> list[Any]:
    from siyu.reach.models import SendRow

    session.expire_all()
    return list(session.scalars(sa.select(SendRow).order_by(SendRow.id)))


def test_without_a_template_nothing_is_queued(session: Any) -> None:
    from siyu.growth.notices import notify_reward

    cid = w.customer(session, w.phone())
    assert notify_reward(session, cid, "referral:1:referrer", "100 积分") == ""
    assert notify_reward(session, None, "referral:1:referrer", "100 积分") == ""
    assert _rows(session) == []


def test_a_day_notice_goes_now_and_once_per_key(session: Any, sms_notices: None) -> None:
    from siyu.config import get_settings
    from siyu.growth.notices import notify_reward

    tz = get_settings().tz
    day = datetime(2026, 3, 10, 10, 0, tzinfo=tz)
    cid = w.customer(session, w.phone())
    with clock.frozen(day):
        assert notify_reward(session, cid, "referral:7:referrer", "100 积分") == "sms"
        assert notify_reward(session, cid, "referral:7:referrer", "100 积分") == "sms"
        session.commit()
    rows = _rows(session)
    assert [(r.customer_id, r.channel, r.state) for r in rows] == [(cid, "sms", "pending")]
    assert rows[0].due_at == day and rows[0].message["params"] == {"reward": "100 积分"}


def test_a_night_notice_waits_for_the_morning(session: Any, sms_notices: None) -> None:
    from siyu.config import get_settings
    from siyu.growth.notices import EXPIRES_MINUTES, notify_reward

    settings = get_settings()
    night = datetime(2026, 3, 10, 23, 30, tzinfo=settings.tz)
    morning = settings.quiet_hours.until(night, settings.tz)
    assert morning is not None and morning > night  # the default quiet hours cover 23:30
    cid = w.customer(session, w.phone())
    with clock.frozen(night):
        assert notify_reward(session, cid, "fission:3:9", "500 积分") == "sms"
        session.commit()
    (row,) = _rows(session)
    assert row.due_at == morning
    assert row.send_by == morning + timedelta(minutes=EXPIRES_MINUTES)
