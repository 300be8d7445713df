"""A small audience for reach tests, with the local SMS gateway: 30 customers with phones,
20 consented to marketing SMS, 2 withdrew, 1 consented but is suppressed, 1 consented but
asked not to be disturbed, 6 never consented. Quiet hours are off unless a test sets them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="module")
def gateway_server() -> Iterator[Any]:
    from siyu.simulators.sms.gateway import Gateway, create_app
    from siyu.simulators.threaded import ThreadedServer

    server = ThreadedServer(create_app(Gateway()))
    yield server
    server.stop()


@pytest.fixture()
def world(gateway_server: Any, session: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """30 customers with phones: 20 consented to marketing SMS, 2 withdrew, 1 consented but is
    suppressed, 1 consented but asked not to be disturbed, 6 never consented."""
    from siyu import clock, runtime
    from siyu.brands.models import Brand
    from siyu.customers.models import Consent, Customer, Identity
    from siyu.segments.models import Segment, SegmentMember
    from siyu.simulators.sms.gateway import Gateway

    gateway = Gateway()
    gateway_server.app.state.gateway = gateway
    monkeypatch.setenv("SIYU_SMS_ENDPOINT", gateway_server.base)
    monkeypatch.setenv("SIYU_SMS_ACCESS_KEY_ID", gateway.access_key_id)
    monkeypatch.setenv("SIYU_SMS_ACCESS_KEY_SECRET", gateway.access_key_secret)
    monkeypatch.setenv("SIYU_QUIET_HOURS_START", "0")  # no quiet hours …
    monkeypatch.setenv("SIYU_QUIET_HOURS_END", "0")  # … unless a test sets them
    runtime.reset()
    now = clock.now()
    brand = Brand(code="yy", name="悦颜")
    session.add(brand)
    seg = Segment(name="会员", dynamic=False, created_by="test")
    session.add(seg)
    session.flush()
    phones = {}
    for i in range(30):
        c = Customer(
            name=f"顾客{i:02d}",
            status="active",
            suppressed=i == 22,
            do_not_disturb=i == 23,
            created_at=now,
            updated_at=now,
        )
        session.add(c)
        session.flush()
        phone = f"+86139{i:08d}"
        phones[c.id] = phone
        session.add(
            Identity(customer_id=c.id, kind="phone", namespace="", value=phone, source="test")
        )
        if i < 24:
            status = "withdrawn" if i in (20, 21) else "granted"
            session.add(
                Consent(
                    customer_id=c.id,
                    brand_id=brand.id,
                    channel="sms",
                    purpose="marketing",
                    address=phone,
                    status=status,
                    source="test",
                    recorded_at=now,
                )
            )
        session.add(SegmentMember(segment_id=seg.id, customer_id=c.id, entered_at=now))
    session.commit()
    return {"gateway": gateway, "segment": seg.id, "phones": phones}


def sms_campaign(session: Any, segment: int, **kw: Any) -> Any:
    from siyu.reach.campaigns.commands import PlanCampaign
    from siyu.reach.campaigns.service import plan_campaign, start

    campaign = plan_campaign(
        session,
        PlanCampaign(
            name=kw.pop("name", "双11"),
            segment_id=segment,
            channel="sms",
            template={
                "sign_name": "悦颜",
                "template_code": "SMS_000001",
                "text": "${name}您好，${offer}，拒收请回复R",
                "params": {"name": "{{ name }}", "offer": "满199减30"},
            },
            **kw,
        ),
        actor="test",
    )
    start(session, campaign, actor="test")
    session.commit()
    return campaign


def drain(settings: Any, sms: Any, worker: str = "w1") -> int:
    from siyu.db import new_session
    from siyu.reach.sending.dispatch import dispatch_once

    total = 0
    with new_session() as s:
        while n := dispatch_once(s, worker, settings, {"sms": sms}, limit=7):
            total += n
    return total


def quiet_hours(monkeypatch: pytest.MonkeyPatch, start: int, end: int) -> None:
    """From here on in the test, marketing is quiet from ``start`` to ``end`` o'clock local
    time (the settings ``SIYU_QUIET_HOURS_START``/``_END``; the same hour twice: never)."""
    from siyu.config import reset_settings

    monkeypatch.setenv("SIYU_QUIET_HOURS_START", str(start))
    monkeypatch.setenv("SIYU_QUIET_HOURS_END", str(end))
    reset_settings()


def never_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    quiet_hours(monkeypatch, 0, 0)


def quiet_now(monkeypatch: pytest.MonkeyPatch) -> int:
    """Quiet hours around the present, whatever the clock says: from this hour (local time)
    for twelve hours. Returns the hour they end."""
    from siyu import clock
    from siyu.config import get_settings

    start = clock.now().astimezone(get_settings().tz).hour
    end = (start + 12) % 24
    quiet_hours(monkeypatch, start, end)
    return end
