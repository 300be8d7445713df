"""The SMS channel against the local Aliyun-shaped gateway over real HTTP: signed requests,
approved signatures and templates, per-number limits, errors classified for the ledger, and an
answer that comes too late recorded as ambiguous and settled by asking the gateway — never by
sending again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
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
def sms(gateway_server: Any) -> tuple[Any, Any]:
    from siyu.reach.channels.sms import AliyunSms
    from siyu.simulators.sms.gateway import Gateway

    gateway = Gateway()
    gateway_server.app.state.gateway = gateway
    client = AliyunSms(gateway.access_key_id, gateway.access_key_secret, gateway_server.base)
    return gateway, client


OFFER = {"name": "张三", "offer": "双11满199减30"}


def test_percent_encoding_follows_aliyun() -> None:
    from siyu.reach.channels.sms import local_number, percent_encode

    assert percent_encode("a b*~/é") == "a%20b%2A~%2F%C3%A9"
    assert local_number("+8613812345678") == "13812345678"
    assert local_number("+12025550123") is None


def test_send_receipt_and_permanent_errors(sms: tuple[Any, Any]) -> None:
    from siyu.reach.channels.sms import AliyunSms

    gateway, client = sms
    sent = client.send_sms("+8613812345678", "悦颜", "SMS_000001", OFFER, out_id="ledger-1")
    assert sent.outcome == "sent" and sent.provider_ref
    assert [m.content for m in gateway.received()] == [
        "【悦颜】张三您好，双11满199减30，拒收请回复R"
    ]
    receipt = client.delivery("+8613812345678", "ledger-1", datetime.now(UTC) + timedelta(hours=8))
    assert receipt.found and receipt.delivered and receipt.provider_ref == sent.provider_ref
    for args, code in [
        (("+8613900000001", "别家", "SMS_000001", OFFER), "isv.SMS_SIGNATURE_ILLEGAL"),
        (("+8613900000002", "悦颜", "SMS_999999", OFFER), "isv.SMS_TEMPLATE_ILLEGAL"),
        (
            ("+8613900000003", "悦颜", "SMS_000001", {"name": "李四"}),
            "isv.TEMPLATE_MISSING_PARAMETERS",
        ),
        (("+12025550123", "悦颜", "SMS_000001", OFFER), "isv.MOBILE_NUMBER_ILLEGAL"),
    ]:
        result = client.send_sms(*args, out_id="x")
        assert (result.outcome, result.code) == ("failed", code)
    wrong = AliyunSms(gateway.access_key_id, "not-the-secret", client.endpoint)
    assert (
        wrong.send_sms("+8613900000004", "悦颜", "SMS_000001", OFFER, "y").code
        == "SignatureDoesNotMatch"
    )
    assert len(gateway.received()) == 1


def test_limits_and_transient_errors_are_retried_later(sms: tuple[Any, Any]) -> None:
    gateway, client = sms
    assert client.send_sms("+8613812345678", "悦颜", "SMS_000001", OFFER, "a").outcome == "sent"
    again = client.send_sms("+8613812345678", "悦颜", "SMS_000001", OFFER, "b")
    assert (again.outcome, again.code) == ("retry", "isv.BUSINESS_LIMIT_CONTROL")
    assert again.retry_after and again.retry_after >= 60
    gateway.inject("isp.SYSTEM_ERROR")
    busy = client.send_sms("+8613700000000", "悦颜", "SMS_000001", OFFER, "c")
    assert (busy.outcome, busy.code) == ("retry", "isp.SYSTEM_ERROR")


def test_a_late_answer_is_ambiguous_and_settled_by_asking(sms: tuple[Any, Any]) -> None:
    from siyu.reach.channels.sms import AliyunSms

    gateway, client = sms
    impatient = AliyunSms(
        gateway.access_key_id, gateway.access_key_secret, client.endpoint, timeout=0.3
    )
    gateway.inject("slow", seconds=1.0)
    result = impatient.send_sms("+8613812345678", "悦颜", "SMS_000001", OFFER, out_id="ledger-9")
    assert result.outcome == "ambiguous"
    today = datetime.now(UTC) + timedelta(hours=8)
    settled = client.delivery("+8613812345678", "ledger-9", today)
    assert settled.found and settled.delivered  # it did go out: record sent, do not resend
    assert client.delivery("+8613812345678", "ledger-404", today).found is False
    assert len(gateway.received("13812345678")) == 1
