"""After the send: tracked links with UTM, Aliyun receipts and replies (an R withdraws consent),
and the campaign's results checked against figures computed by hand."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from tests.reach_world import drain, sms_campaign

LINKED = {
    "sign_name": "悦颜",
    "template_code": "SMS_000001",
    "text": "${name}您好，${offer}，拒收请回复R",
    "params": {"name": "{{ name }}", "offer": "{{ link('https://shop.example/new?x=1') }}"},
}


def test_links_receipts_and_replies(
    world: dict[str, Any], session: Any, client: TestClient, monkeypatch: Any
) -> None:
    from siyu.config import get_settings, reset_settings
    from siyu.customers.models import Consent
    from siyu.reach.campaigns.commands import PlanCampaign
    from siyu.reach.campaigns.service import plan_campaign, start
    from siyu.reach.channels.configured import sms as sms_channel
    from siyu.reach.models import SendRow
    from siyu.reach.tracking.public import push_token

    monkeypatch.setenv("SIYU_PUBLIC_URL", "http://testserver")
    reset_settings()
    settings = get_settings()
    campaign = plan_campaign(
        session,
        PlanCampaign(name="链接", segment_id=world["segment"], channel="sms", template=LINKED),
        actor="t",
    )
    start(session, campaign, actor="t")
    session.commit()
    drain(settings, sms_channel(settings))
    msg = world["gateway"].received()[0]
    short = msg.content.split("，")[1]
    assert short.startswith("http://testserver/l/") and len(short) < 60
    hop = client.get(short.removeprefix("http://testserver"))
    assert hop.status_code == 302
    assert hop.headers["location"] == (
        f"https://shop.example/new?x=1&utm_source=siyu&utm_medium=sms&utm_campaign=c{campaign.id}"
    )
    assert client.get("/l/1.forged").status_code == 404
    row = session.scalar(sa.select(SendRow).where(SendRow.provider_ref == msg.biz_id))
    session.refresh(row)
    assert row.clicked_at is not None

    token = push_token()
    receipts = [
        {
            "phone_number": msg.phone,
            "success": True,
            "err_code": "DELIVERED",
            "report_time": "2026-12-02 10:00:05",
            "out_id": msg.out_id,
            "biz_id": msg.biz_id,
        }
    ]
    assert client.post("/reach/sms/wrong/report", json=receipts).status_code == 404
    answer = client.post(f"/reach/sms/{token}/report", json=receipts)
    assert answer.json() == {"code": 0, "msg": "成功"}
    reply = [{"phone_number": msg.phone, "content": " r ", "send_time": "2026-12-02 10:01:00"}]
    assert client.post(f"/reach/sms/{token}/reply", json=reply).status_code == 200
    session.expire_all()
    row = session.get(SendRow, row.id)
    assert row.delivered is True and row.receipt_code == "DELIVERED" and row.replied_at
    status = session.scalar(
        sa.select(Consent.status).where(
            Consent.address == f"+86{msg.phone}", Consent.channel == "sms"
        )
    )
    assert status == "withdrawn"


def test_results_against_hand_computed_figures(
    world: dict[str, Any], session: Any, settings: Any
) -> None:
    """30 targeted with a holdout; orders placed within and outside the 7-day window; the
    figures below are worked out by hand from those orders."""
    from siyu.orders.models import Order
    from siyu.reach.campaigns.results import campaign_results
    from siyu.reach.channels.configured import sms as sms_channel
    from siyu.reach.models import SendRow
    from tests import shop

    campaign = sms_campaign(
        session, world["segment"], holdout_pct=30, holdout_seed=11, cost_fen_per_message=5
    )
    drain(settings, sms_channel(settings))
    rows = list(session.scalars(sa.select(SendRow).where(SendRow.campaign_id == campaign.id)))
    held = sorted(r.customer_id for r in rows if r.state == "held_out")
    treated = sorted(r.customer_id for r in rows if r.state != "held_out")
    sent = [r for r in rows if r.state == "sent"]
    assert len(held) >= 3 and len(sent) >= 4
    brand = session.scalar(sa.text("SELECT id FROM brand"))
    t0 = rows[0].created_at
    # treated: two buy within the window (100 and 300 yuan), one buys after it
    # holdout: one buys 50 yuan within the window
    buys = [
        (sent[0].customer_id, 1, 100),
        (sent[1].customer_id, 2, 300),
        (sent[2].customer_id, 9, 80),
        (held[0], 3, 50),
    ]
    for cid, days, yuan in buys:
        oid = shop.order(session, brand, cid, t0.date(), yuan)
        when = t0 + timedelta(days=days)
        session.execute(
            sa.update(Order).where(Order.id == oid).values(paid_at=when, ordered_at=when)
        )
    session.commit()
    out = campaign_results(session, campaign, window_days=7)
    n_t, n_h = len(treated), len(held)
    assert out["funnel"]["targeted"] == 30 and out["funnel"]["held_out"] == n_h
    assert out["treatment"] == {
        "customers": n_t,
        "converted": 2,
        "conversion_pct": round(100 * 2 / n_t, 3),
        "revenue_fen": 40000,
    }
    assert out["holdout"]["converted"] == 1 and out["holdout"]["revenue_fen"] == 5000
    p1, p0 = 2 / n_t, 1 / n_h
    se = math.sqrt(p1 * (1 - p1) / n_t + p0 * (1 - p0) / n_h)
    assert out["lift_pp"] == round(100 * (p1 - p0), 3)
    assert out["lift_ci_pp"] == [
        round(100 * (p1 - p0 - 1.959964 * se), 3),
        round(100 * (p1 - p0 + 1.959964 * se), 3),
    ]
    inc = round((40000 / n_t - 5000 / n_h) * n_t)
    assert out["incremental_revenue_fen"] == inc
    assert out["last_touch"] == {"orders": 2, "revenue_fen": 40000}
    assert out["cost_fen"] == 5 * len(sent)
    assert out["roi"] == round((inc - 5 * len(sent)) / (5 * len(sent)), 3)
    assert out["funnel"]["converted"] == 2


def test_the_demo_gateway_pushes_its_receipts(
    world: dict[str, Any], session: Any, client: TestClient, monkeypatch: Any
) -> None:
    """In the demo the simulated gateway plays Aliyun's receipt push: what it delivered comes
    back as delivered, a handset that was off as not, and nothing is pushed twice."""
    import httpx

    from siyu.config import get_settings
    from siyu.demo.reach import push_receipts
    from siyu.reach.channels.configured import sms as sms_channel
    from siyu.reach.models import SendRow

    settings = get_settings()
    campaign = sms_campaign(session, world["segment"])
    drain(settings, sms_channel(settings))
    gateway = world["gateway"]
    gateway.messages[0].status = 2  # the first handset was off
    posted: list[int] = []

    def post(url: str, json: Any, timeout: float) -> Any:
        posted.append(len(json))
        return client.post(url.removeprefix("http://testserver"), json=json)

    monkeypatch.setattr(httpx, "post", post)
    seen = push_receipts(gateway, "http://testserver/")
    assert seen == len(gateway.messages) == 20 and posted == [20]
    assert push_receipts(gateway, "http://testserver", seen) == seen and posted == [20]
    session.expire_all()
    got = {
        r.provider_ref: r.delivered
        for r in session.scalars(sa.select(SendRow).where(SendRow.campaign_id == campaign.id))
        if r.state == "sent"
    }
    assert got.pop(gateway.messages[0].biz_id) is False
    assert set(got.values()) == {True} and len(got) == 19


def test_a_slow_tracked_link_row_does_not_fail_the_render(
    world: dict[str, Any], session: Any, monkeypatch: Any
) -> None:
    """The first link() of a batch writes the link's row; behind another writer that can take
    longer than the render's 50 ms, which is the sandbox's budget for the template's own work,
    not for waiting on the database. The message was skipped as template_error."""
    import time

    from siyu.config import get_settings, reset_settings
    from siyu.reach.models import Campaign
    from siyu.reach.sending.templates import TemplateProblem, render
    from siyu.reach.tracking.service import Linker

    monkeypatch.setenv("SIYU_PUBLIC_URL", "http://testserver")
    reset_settings()
    campaign = Campaign(name="慢", channel="sms", created_by="t", segment_id=world["segment"])
    session.add(campaign)
    session.flush()
    real = session.execute

    def waits(statement: Any, *args: Any, **kwargs: Any) -> Any:
        if "tracked_link" in str(statement).lower():
            time.sleep(0.1)  # the write lock is held by someone else
        return real(statement, *args, **kwargs)

    monkeypatch.setattr(session, "execute", waits)
    link = Linker(session, get_settings()).for_row(1, campaign.id, "sms")
    parts = render("sms", LINKED, {"name": "王芳"}, link=link)
    assert "/l/" in parts["params.offer"]
    # but a message cannot make link after link (a row each, a wait each)
    many = {
        "subject": "x",
        "text": "{% for i in range(200) %}{{ link('https://shop.example/p' + i | string) }} "
        "{% endfor %}",
    }
    started = time.monotonic()
    with pytest.raises(TemplateProblem, match="at most 10 links"):
        render(
            "email", many, {}, link=Linker(session, get_settings()).for_row(2, campaign.id, "email")
        )
    assert time.monotonic() - started < 8  # ten waits (2 s), not two hundred (40 s)
