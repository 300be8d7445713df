"""A member centre to sign in to: a brand with a loyalty programme (two tiers, a claimable
coupon), the local SMS gateway the codes go through, and helpers that send the queued codes and
read them off the simulated phone, as a customer would."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="module")
def sms_server() -> Iterator[Any]:
    from siyu.simulators.sms.gateway import Gateway, create_app
    from siyu.simulators.threaded import ThreadedServer

    server = ThreadedServer(create_app(Gateway()))
    yield server
    server.stop()


@pytest.fixture()
def centre(sms_server: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    from siyu import clock, runtime
    from siyu.brands.models import Brand
    from siyu.db import session_scope
    from siyu.loyalty.coupons.service import create_template
    from siyu.loyalty.service import create_programme
    from siyu.loyalty.tiers import set_tier
    from siyu.simulators.sms.gateway import Gateway

    gateway = Gateway(clock=clock.timestamp)  # the phone network keeps the test's time
    sms_server.app.state.gateway = gateway
    monkeypatch.setenv("SIYU_SMS_ENDPOINT", sms_server.base)
    monkeypatch.setenv("SIYU_SMS_ACCESS_KEY_ID", gateway.access_key_id)
    monkeypatch.setenv("SIYU_SMS_ACCESS_KEY_SECRET", gateway.access_key_secret)
    monkeypatch.setenv("SIYU_CENTRE_SMS_SIGN_NAME", "悦颜")  # as the simulator approved them
    monkeypatch.setenv("SIYU_CENTRE_SMS_TEMPLATE_CODE", "SMS_100001")
    monkeypatch.setenv("SIYU_CENTRE_SMS_TEXT", "您的验证码是${code}，10分钟内有效")
    runtime.reset()
    with session_scope() as s:
        brand = Brand(code="yy", name="悦颜")
        s.add(brand)
        s.flush()
        programme = create_programme(s, "yy", "悦颜会员", brand_id=brand.id)
        set_tier(s, programme, "silver", "银卡", rank=0, threshold=0)
        set_tier(s, programme, "gold", "金卡", rank=1, threshold=1000)
        template = create_template(
            s,
            programme,
            "new20",
            "新人券 满100减20",
            "amount_off",
            amount_fen=2000,
            threshold_fen=10000,
            claimable=True,
        )
        ids = {"brand": brand.id, "programme": programme.id, "template": template.id}
    return {"gateway": gateway, **ids}


def deliver_codes() -> int:
    """Run the transactional pump once, as the worker would."""
    from siyu.reach import tasks

    return int(tasks.send_transactional("test-worker") or 0)


def code_for(gateway: Any, phone: str) -> str:
    """The last code the phone received (``phone``: 11 digits)."""
    deliver_codes()
    got = gateway.received("+86" + phone) or gateway.received(phone)
    assert got, f"no SMS reached {phone}"
    found = re.search(r"\d{6}", got[-1].content)
    assert found, got[-1].content
    return found.group(0)
