"""Email through the local relay (aiosmtpd) and signed webhooks: text and HTML parts, the
List-Unsubscribe one-click header that withdraws consent, refusals by SMTP reply code, a lost
answer left ambiguous for an operator (never resent), channel priority falling through to
email, webhook signatures and the SSRF guard."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa


@pytest.fixture()
def relay(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from siyu.config import reset_settings
    from siyu.simulators.smtp import SmtpServer

    server = SmtpServer()
    monkeypatch.setenv("SIYU_SMTP_HOST", server.host)
    monkeypatch.setenv("SIYU_SMTP_PORT", str(server.port))
    monkeypatch.setenv("SIYU_EMAIL_FROM", "悦颜 <news@yueyan.example>")
    monkeypatch.setenv("SIYU_PUBLIC_URL", "https://crm.yueyan.example")
    reset_settings()
    yield server
    server.stop()


def _emails(session: Any, world: dict[str, Any], consent_upto: int = 10) -> dict[int, str]:
    """An email address for every customer; the first ``consent_upto`` consented."""
    from siyu.customers.models import Consent, Identity
    from siyu.db import utcnow

    brand = session.scalar(sa.text("SELECT id FROM brand"))
    out = {}
    for n, cid in enumerate(sorted(world["phones"])):
        address = f"c{cid}@mail.example"
        out[cid] = address
        session.add(
            Identity(customer_id=cid, kind="email", namespace="", value=address, source="t")
        )
        if n < consent_upto:
            session.add(
                Consent(
                    customer_id=cid,
                    brand_id=brand,
                    channel="email",
                    purpose="marketing",
                    address=address,
                    status="granted",
                    source="form",
                    recorded_at=utcnow(),
                )
            )
    session.commit()
    return out


EMAIL = {
    "subject": "{{ name }}，冬季新品",
    "text": "{{ name }}您好，冬季新品上市。",
    "html": "<p>{{ name }}您好，<b>冬季新品</b>上市。</p>",
}
SMS = {
    "sign_name": "悦颜",
    "template_code": "SMS_000001",
    "text": "${name}您好，${offer}，拒收请回复R",
    "params": {"name": "{{ name }}", "offer": "冬季新品"},
}


def _start(session: Any, segment: int, **kw: Any) -> Any:
    from siyu.reach.campaigns.commands import PlanCampaign
    from siyu.reach.campaigns.service import plan_campaign, start

    campaign = plan_campaign(
        session, PlanCampaign(name=kw.pop("name", "冬季"), segment_id=segment, **kw), actor="t"
    )
    start(session, campaign, actor="t")
    session.commit()
    return campaign


def _channels(settings: Any) -> dict[str, Any]:
    from siyu.reach.sending.dispatch import configured_channels

    return configured_channels(settings)


def _run(settings: Any) -> None:
    from siyu.db import new_session
    from siyu.reach.sending.dispatch import dispatch_once

    with new_session() as s:
        while dispatch_once(s, "w1", settings, _channels(settings), limit=7):
            pass


def test_marketing_email_with_one_click_unsubscribe(
    world: dict[str, Any], relay: Any, session: Any, client: Any
) -> None:
    from siyu.config import get_settings
    from siyu.customers.models import Consent

    emails = _emails(session, world)
    settings = get_settings()
    campaign = _start(session, world["segment"], channel="email", template=EMAIL)
    _run(settings)
    box = relay.mailbox
    assert len(box.messages) == 10 and len({m["To"] for m in box.messages}) == 10
    mail = box.messages[0]
    assert mail["Subject"].endswith("冬季新品") and mail["From"].endswith("<news@yueyan.example>")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = mail["List-Unsubscribe"].strip("<>")
    assert link.startswith("https://crm.yueyan.example/u/")
    assert mail.get_body(("html",)).get_content().strip().startswith("<p>顾客")
    path = link.removeprefix("https://crm.yueyan.example")
    assert client.get(path).status_code == 200  # a scanner following the link changes nothing
    assert client.post(path[:-2] + "xx").status_code == 404  # a forged token
    assert client.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    session.expire_all()
    withdrawn = session.scalars(
        sa.select(Consent.address).where(Consent.status == "withdrawn", Consent.channel == "email")
    ).all()
    assert withdrawn == [mail["To"]]
    again = _start(session, world["segment"], name="冬季二", channel="email", template=EMAIL)
    _run(settings)
    reasons = {
        r.customer_id: r.reason
        for r in session.execute(
            sa.text("SELECT customer_id, reason FROM send_ledger WHERE campaign_id = :c"),
            {"c": again.id},
        )
    }
    who = next(c for c, a in emails.items() if a == mail["To"])
    assert reasons[who] == "consent_withdrawn"
    assert campaign.id != again.id


def test_a_long_email_goes_out_with_crlf_lines(
    world: dict[str, Any], relay: Any, session: Any
) -> None:
    """SMTP lines end in CRLF (RFC 5321 §2.3.8); a message sent with bare LF is one long line
    to a strict relay, refused once it passes 1,000 bytes (and by providers that refuse bare
    LF against SMTP smuggling)."""
    from siyu.config import get_settings

    _emails(session, world, consent_upto=2)
    long = {
        "subject": "{{ name }}，冬季新品",
        "text": "{{ name }}您好，" + "冬季新品上市，会员专享 8 折。" * 40,
        "html": "<p>{{ name }}您好，</p>" + "<p><b>冬季新品</b>上市，会员专享 8 折。</p>" * 40,
    }
    campaign = _start(session, world["segment"], channel="email", template=long)
    _run(get_settings())
    states = session.execute(
        sa.text("SELECT state, reason FROM send_ledger WHERE campaign_id = :c"), {"c": campaign.id}
    ).all()
    assert [s for s in states if s[0] != "skipped"] == [("sent", None)] * 2  # the 2 consented
    assert len(relay.mailbox.messages) == 2
    body = relay.mailbox.messages[0].get_body(("plain",)).get_content()
    assert body.count("冬季新品上市") == 40


def test_smtp_refusals_and_a_lost_answer(
    world: dict[str, Any], relay: Any, session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from siyu.config import get_settings
    from siyu.reach.campaigns.queries import ambiguous
    from siyu.reach.campaigns.service import settle
    from siyu.reach.channels.email import SmtpEmail
    from siyu.reach.sending import dispatch

    _emails(session, world)
    settings = get_settings()
    relay.mailbox.inject("550 5.1.1 mailbox unavailable", times=1)
    relay.mailbox.inject("451 4.3.0 try again later", times=1)
    relay.mailbox.inject("slow", times=1, seconds=1.5)
    real = dispatch.configured_channels

    def impatient(s: Any) -> dict[str, Any]:
        out = real(s)
        out["email"] = SmtpEmail(relay.host, relay.port, s.email_from, timeout=0.5)
        return out

    monkeypatch.setattr(dispatch, "configured_channels", impatient)
    campaign = _start(session, world["segment"], channel="email", template=EMAIL)
    _run(settings)
    rows = session.execute(
        sa.text("SELECT id, state, reason FROM send_ledger WHERE campaign_id = :c ORDER BY id"),
        {"c": campaign.id},
    ).all()
    states = [(s, r) for _i, s, r in rows]
    assert ("failed", "550") in states
    assert ("deferred", "retry:451") in states
    lost = [i for i, s, _r in rows if s == "ambiguous"]
    assert len(lost) == 1 and [a.id for a in ambiguous(session)] == lost
    assert len(relay.mailbox.messages) == 8  # 7 sent, 1 taken but answered too late
    from siyu.reach.sending.dispatch import reconcile

    assert reconcile(session, impatient(settings), settings) == 0  # SMTP cannot be asked
    settle(session, lost[0], "sent", actor="operator")
    session.commit()
    assert ambiguous(session) == []


def test_channel_priority_falls_through_to_sms(
    world: dict[str, Any], relay: Any, session: Any
) -> None:
    """Email first; customers without email consent get the SMS instead, once."""
    from siyu.config import get_settings

    _emails(session, world, consent_upto=5)
    settings = get_settings()
    campaign = _start(
        session,
        world["segment"],
        channels=["email", "sms"],
        templates={"email": EMAIL, "sms": SMS},
    )
    _run(settings)
    rows = session.execute(
        sa.text(
            "SELECT channel, state, count(*) FROM send_ledger WHERE campaign_id = :c"
            " GROUP BY channel, state"
        ),
        {"c": campaign.id},
    ).all()
    got = {(ch, st): n for ch, st, n in rows}
    assert got[("email", "sent")] == 5 and got[("sms", "sent")] == 15
    assert len(relay.mailbox.messages) == 5 and len(world["gateway"].received()) == 15


def test_webhook_is_signed_and_private_targets_are_refused(
    world: dict[str, Any], session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from siyu.config import get_settings, reset_settings
    from siyu.reach.campaigns.commands import PlanCampaign
    from siyu.reach.campaigns.service import plan_campaign
    from siyu.reach.channels.webhook import signing_key
    from siyu.reach.sending.ledger import LedgerError
    from siyu.simulators.threaded import ThreadedServer

    seen: list[tuple[dict[str, str], bytes]] = []

    async def hook(request: Request) -> JSONResponse:
        seen.append((dict(request.headers), await request.body()))
        return JSONResponse({"ok": True})

    server = ThreadedServer(Starlette(routes=[Route("/hook", hook, methods=["POST"])]))
    try:
        url = f"{server.base}/hook"
        with pytest.raises(LedgerError, match="loopback"):
            plan_campaign(
                session,
                PlanCampaign(
                    name="推送",
                    segment_id=world["segment"],
                    channel="webhook",
                    template={"url": url, "text": "{{ name }}，新品"},
                ),
                actor="t",
            )
        monkeypatch.setenv("SIYU_WEBHOOK_ALLOW", "127.0.0.1")
        reset_settings()
        settings = get_settings()
        campaign = _start(
            session,
            world["segment"],
            channel="webhook",
            purpose="service",
            template={"url": url, "text": "{{ name }}，新品"},
        )
        _run(settings)
    finally:
        server.stop()
    assert len(seen) == 29  # all but the suppressed customer
    headers, body = seen[0]
    mac = hmac.new(
        signing_key(settings),
        headers["x-siyu-timestamp"].encode() + b"." + body,
        hashlib.sha256,
    ).hexdigest()
    assert headers["x-siyu-signature"] == f"sha256={mac}"
    payload = json.loads(body)
    assert payload["campaign_id"] == campaign.id and payload["text"].endswith("，新品")
    assert len({h["x-siyu-id"] for h, _b in seen}) == 29
