"""Official-account template messages against the local official account over real HTTP: the
access token, approved templates and their fields, followers only, a lost answer asked again
with the same client_msg_id (sent once), marketing refused when the campaign is saved."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

SHIPPED = {
    "template_id": "TPL_ORDER_SHIPPED",
    "url": "https://brand.example/orders",
    "data": {
        "character_string1": "SO2026",
        "thing2": "{{ last_product }}",
        "thing3": "{{ name }}，请留意查收",
    },
    "fallbacks": {"last_product": "您的商品"},
}


@pytest.fixture(scope="module")
def oa_server() -> Iterator[Any]:
    from siyu.simulators.oa import OfficialAccountSim, create_app
    from siyu.simulators.threaded import ThreadedServer

    server = ThreadedServer(create_app(OfficialAccountSim()))
    yield server
    server.stop()


@pytest.fixture()
def oa(oa_server: Any, world: dict[str, Any], session: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A fresh official account; the first 12 audience customers have its openid, 10 follow."""
    from siyu.config import reset_settings
    from siyu.customers.models import Identity
    from siyu.simulators.oa import OfficialAccountSim

    sim = OfficialAccountSim()
    oa_server.app.state.sim = sim
    monkeypatch.setenv("SIYU_OA_APPID", sim.appid)
    monkeypatch.setenv("SIYU_OA_SECRET", sim.secret)
    monkeypatch.setenv("SIYU_OA_API_BASE", oa_server.base)
    reset_settings()
    for k, cid in enumerate(sorted(world["phones"])[:12]):
        openid = f"o6_bmjrPTlm6_2sgVt7hMZOPf{k:03d}"
        session.add(
            Identity(
                customer_id=cid, kind="openid", namespace=sim.appid, value=openid, source="test"
            )
        )
        if k < 10:
            sim.followers.add(openid)
    session.commit()
    return sim


def test_service_notices_reach_followers_once(oa: Any, world: dict[str, Any], session: Any) -> None:
    from siyu.config import get_settings
    from siyu.db import new_session
    from siyu.reach.campaigns.commands import PlanCampaign
    from siyu.reach.campaigns.service import plan_campaign, start
    from siyu.reach.models import SendRow
    from siyu.reach.sending.dispatch import configured_channels, dispatch_once

    campaign = plan_campaign(
        session,
        PlanCampaign(
            name="发货通知",
            segment_id=world["segment"],
            channel="oa",
            template=SHIPPED,
            purpose="service",
        ),
        actor="t",
    )
    start(session, campaign, actor="t")
    session.commit()
    oa.inject("slow", seconds=1.0)  # the first answer comes too late for an impatient client
    settings = get_settings()
    channels = configured_channels(settings)
    channels["oa"]._http.timeout = 0.3  # type: ignore[attr-defined]
    with new_session() as s:
        while dispatch_once(s, "w1", settings, channels):
            pass
    rows = {
        r.customer_id: r
        for r in session.scalars(sa.select(SendRow).where(SendRow.campaign_id == campaign.id))
    }
    ids = sorted(world["phones"])
    assert {rows[c].state for c in ids[:10]} == {"sent"}
    assert {(rows[c].state, rows[c].reason) for c in ids[10:12]} == {("failed", "not_following")}
    assert {rows[c].reason for c in ids[12:]} == {"no_address", "suppressed"}
    received = oa.received()
    assert len(received) == 10 and len({m.openid for m in received}) == 10  # the lost one once
    assert len(oa.attempts) == 13  # 12 addressed customers, one asked again
    first = next(m for m in received if m.openid.endswith("000"))
    assert first.values["thing3"] == "顾客00，请留意查收" and first.values["thing2"] == "您的商品"
    assert first.client_msg_id == f"L{rows[ids[0]].id}"


def test_marketing_and_bad_templates_are_refused_when_saved(
    oa: Any, world: dict[str, Any], session: Any
) -> None:
    from siyu.reach.campaigns.commands import PlanCampaign
    from siyu.reach.campaigns.service import plan_campaign
    from siyu.reach.sending.ledger import LedgerError

    with pytest.raises(LedgerError, match="service notices only"):
        plan_campaign(
            session,
            PlanCampaign(name="促销", segment_id=world["segment"], channel="oa", template=SHIPPED),
            actor="t",
        )
    with pytest.raises(LedgerError, match="template_id"):
        plan_campaign(
            session,
            PlanCampaign(
                name="x",
                segment_id=world["segment"],
                channel="oa",
                template={"data": {"a": "b"}},
                purpose="service",
            ),
            actor="t",
        )


def test_token_refresh_and_permanent_errors(oa: Any, oa_server: Any) -> None:
    from siyu.reach.channels.base import Outgoing
    from siyu.reach.channels.oa import OfficialAccount

    client = OfficialAccount(oa.appid, oa.secret, oa_server.base)
    msg = Outgoing(
        ref="L1",
        row_id=1,
        campaign_id=1,
        customer_id=1,
        address="o6_bmjrPTlm6_2sgVt7hMZOPf000",
        parts={"data.number1": "+100", "data.number2": "1,280"},
        template={"template_id": "TPL_POINTS"},
        purpose="service",
    )
    assert client.send(msg).outcome == "sent"
    oa.tokens.clear()  # WeChat invalidated the token (another server fetched a new one)
    assert client.send(Outgoing(**{**msg.__dict__, "ref": "L2"})).outcome == "sent"
    missing = client.send(
        Outgoing(**{**msg.__dict__, "ref": "L3", "parts": {"data.number1": "+1"}})
    )
    assert (missing.outcome, missing.code) == ("failed", "oa:47003")
    oa.inject(45009)
    quota = client.send(Outgoing(**{**msg.__dict__, "ref": "L4"}))
    assert quota.outcome == "retry" and quota.retry_after == 3600
    wrong = OfficialAccount(oa.appid, "not-the-secret", oa_server.base)
    assert wrong.send(msg).outcome == "retry"  # an operator fixes the secret; nothing is lost
    assert len(oa.received()) == 2
