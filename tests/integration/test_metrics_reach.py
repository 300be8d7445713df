"""Reach on the dashboard, worked out by hand: 20 marketing SMS sent to the reach audience, of
which 5 delivered by receipt, 3 clicked and 2 replied to; the campaign with its cost."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa


def test_channel_rates_and_campaign_results(
    world: dict[str, Any], session: Any, settings: Any
) -> None:
    from siyu.db import utcnow
    from siyu.metrics.service import reach_summary
    from siyu.reach.channels.configured import sms as sms_channel
    from siyu.reach.models import SendRow
    from tests.reach_world import drain, sms_campaign

    campaign = sms_campaign(session, world["segment"], name="双12", cost_fen_per_message=5)
    drain(settings, sms_channel(settings))
    sent = list(
        session.scalars(sa.select(SendRow.id).where(SendRow.state == "sent").order_by(SendRow.id))
    )
    assert len(sent) == 20 == len(world["gateway"].received())  # the 20 who agreed
    now = utcnow()
    for n, row_id in enumerate(sent):
        session.execute(
            sa.update(SendRow)
            .where(SendRow.id == row_id)
            .values(
                delivered=True if n < 5 else None,
                clicked_at=now if n < 3 else None,
                replied_at=now if 10 <= n < 12 else None,
            )
        )
    session.commit()
    today = now.astimezone(settings.tz).date()
    got = reach_summary(settings, today - timedelta(days=6), today)
    assert got["channels"] == [
        {
            "channel": "sms",
            "sent": 20,
            "delivered": 5,
            "clicked": 3,
            "replied": 2,
            "delivered_rate": 0.25,
            "click_rate": 0.15,
            "reply_rate": 0.1,
        }
    ]
    [c] = got["campaigns"]
    assert (c["id"], c["name"], c["sent"], c["replied"], c["cost_fen"]) == (
        campaign.id,
        "双12",
        20,
        2,
        100,
    )
    session.execute(sa.update(SendRow).values(delivered=None))  # no receipt came at all
    session.commit()
    [sms] = reach_summary(settings, today - timedelta(days=6), today)["channels"]
    assert (sms["delivered"], sms["delivered_rate"]) == (0, None)  # unknown, not 0 %
    before = reach_summary(settings, today - timedelta(days=30), today - timedelta(days=7))
    assert before == {"channels": [], "campaigns": []}
