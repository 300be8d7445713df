"""The Tencent Cloud SMS channel against the local gateway over real HTTP: TC3-signed JSON
requests, numbered template parameters, per-number limits retried later, a lost answer found
by its SessionContext — and, because Tencent lists a message only once its receipt is in, a
row the provider does not know left for an operator rather than sent again. A campaign sends
through it when the settings name Tencent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from tests.reach_world import drain

OFFER = ["张三", "双11满199减30"]


@pytest.fixture()
def tencent(gateway_server: Any) -> tuple[Any, Any]:
    from siyu.reach.channels.sms_tencent import TencentSms
    from siyu.simulators.sms.gateway import Gateway

    gateway = Gateway()
    gateway_server.app.state.gateway = gateway
    client = TencentSms(
        gateway.secret_id, gateway.access_key_secret, gateway.sdk_app_id, gateway_server.base
    )
    return gateway, client


def test_signature_matches_tencents_published_example() -> None:
    """The TC3 derivation checked against a value computed independently from the spec."""
    import hashlib
    import hmac

    from siyu.reach.channels.sms_tencent import tc3_authorization

    payload = '{"Limit":1}'
    header = tc3_authorization(
        "AKIDx", "secret", "sms.tencentcloudapi.com", "SendSms", payload, 1551113065
    )
    canonical = (
        "POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:sms.tencentcloudapi.com\n"
        "x-tc-action:sendsms\n\ncontent-type;host;x-tc-action\n"
        + hashlib.sha256(payload.encode()).hexdigest()
    )
    to_sign = (
        "TC3-HMAC-SHA256\n1551113065\n2019-02-25/sms/tc3_request\n"
        + hashlib.sha256(canonical.encode()).hexdigest()
    )
    k = hmac.new(b"TC3secret", b"2019-02-25", hashlib.sha256).digest()
    k = hmac.new(k, b"sms", hashlib.sha256).digest()
    k = hmac.new(k, b"tc3_request", hashlib.sha256).digest()
    expected = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    assert header == (
        "TC3-HMAC-SHA256 Credential=AKIDx/2019-02-25/sms/tc3_request, "
        f"SignedHeaders=content-type;host;x-tc-action, Signature={expected}"
    )


def test_send_receipt_limits_and_permanent_errors(tencent: tuple[Any, Any]) -> None:
    from siyu.reach.channels.sms_tencent import TencentSms

    gateway, client = tencent
    sent = client.send_sms("+8613812345678", "悦颜", "1000001", OFFER, "L1")
    assert sent.outcome == "sent" and sent.provider_ref
    assert [m.content for m in gateway.received()] == [
        "【悦颜】张三您好，双11满199减30，拒收请回复R"
    ]
    receipt = client.delivery("+8613812345678", "L1", datetime.now(UTC))
    assert receipt.found and receipt.delivered and receipt.provider_ref == sent.provider_ref
    again = client.send_sms("+8613812345678", "悦颜", "1000001", OFFER, "L2")
    assert (again.outcome, again.code) == ("retry", "LimitExceeded.PhoneNumberThirtySecondLimit")
    for args, code in [
        (
            ("+8613900000001", "别家", "1000001", OFFER),
            "FailedOperation.SignatureIncorrectOrUnapproved",
        ),
        (
            ("+8613900000002", "悦颜", "9999999", OFFER),
            "FailedOperation.TemplateIncorrectOrUnapproved",
        ),
        (
            ("+8613900000003", "悦颜", "1000001", ["李四"]),
            "InvalidParameterValue.TemplateParameterFormatError",
        ),
        (("+12025550123", "悦颜", "1000001", OFFER), "InvalidParameterValue.IncorrectPhoneNumber"),
    ]:
        result = client.send_sms(*args, "x")
        assert (result.outcome, result.code) == ("failed", code)
    wrong = TencentSms(gateway.secret_id, "not-the-key", gateway.sdk_app_id, client.endpoint)
    bad = wrong.send_sms("+8613900000004", "悦颜", "1000001", OFFER, "y")
    assert (bad.outcome, bad.code) == ("failed", "AuthFailure.SignatureFailure")
    gateway.inject("InternalError.Timeout")
    busy = client.send_sms("+8613700000000", "悦颜", "1000001", OFFER, "z")
    assert (busy.outcome, busy.code) == ("retry", "InternalError.Timeout")
    assert len(gateway.received()) == 1


def test_a_lost_answer_is_found_by_its_context_never_resent(tencent: tuple[Any, Any]) -> None:
    from siyu.reach.channels.sms_tencent import TencentSms

    gateway, client = tencent
    impatient = TencentSms(
        gateway.secret_id,
        gateway.access_key_secret,
        gateway.sdk_app_id,
        client.endpoint,
        timeout=0.3,
    )
    gateway.inject("slow", seconds=1.0)
    lost = impatient.send_sms("+8613812345678", "悦颜", "1000001", OFFER, "L9")
    assert lost.outcome == "ambiguous"
    since = datetime.now(UTC) - timedelta(minutes=1)
    assert client.delivery("+8613812345678", "L9", since).found
    assert client.delivery("+8613812345678", "L404", since).found is False
    assert len(gateway.received("13812345678")) == 1


def test_a_campaign_through_tencent_and_an_unknown_row_left_to_an_operator(
    world: dict[str, Any],
    session: Any,
    gateway_server: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from siyu.config import get_settings, reset_settings
    from siyu.reach.campaigns.commands import PlanCampaign
    from siyu.reach.campaigns.service import plan_campaign, start
    from siyu.reach.channels.configured import sms as sms_channel
    from siyu.reach.models import SendRow
    from siyu.reach.sending.dispatch import reconcile

    gateway = world["gateway"]
    monkeypatch.setenv("SIYU_SMS_PROVIDER", "tencent")
    monkeypatch.setenv("SIYU_SMS_ACCESS_KEY_ID", gateway.secret_id)
    monkeypatch.setenv("SIYU_SMS_SDK_APP_ID", gateway.sdk_app_id)
    reset_settings()
    settings = get_settings()
    campaign = plan_campaign(
        session,
        PlanCampaign(
            name="双11",
            segment_id=world["segment"],
            channel="sms",
            template={
                "sign_name": "悦颜",
                "template_code": "1000001",
                "text": "{1}您好，{2}，拒收请回复R",
                "params": {"1": "{{ name }}", "2": "满199减30"},
            },
        ),
        actor="test",
    )
    start(session, campaign, actor="test")
    session.commit()
    assert drain(settings, sms_channel(settings)) == 30
    contents = {m.content for m in gateway.received()}
    assert (
        len(gateway.received()) == 20 and "【悦颜】顾客00您好，满199减30，拒收请回复R" in contents
    )
    row = session.scalars(
        sa.select(SendRow).where(SendRow.campaign_id == campaign.id, SendRow.state == "sent")
    ).first()
    row.state, row.finished_at = "ambiguous", datetime.now(UTC) - timedelta(hours=1)
    gateway.messages = [m for m in gateway.messages if m.out_id != f"L{row.id}"]  # no receipt yet
    session.commit()
    assert reconcile(session, {"sms": sms_channel(settings)}, settings) == 0
    session.refresh(row)
    assert row.state == "ambiguous"  # an operator settles it; it is not sent again
