"""Fault test (issue 7): real `siyu worker` processes send a campaign to the SMS gateway while
the test kills them with SIGKILL again and again and starts new ones. In the end every
recipient is in a terminal state, the gateway was asked at most once per ledger row (a row
whose answer was lost is ambiguous and settled through the gateway, never resent), and each
customer got one message. PostgreSQL: three workers claim at once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.reach_world import never_quiet, quiet_now

# the suite runs a small campaign; SIYU_FAULT_RECIPIENTS=10000 runs the full size
RECIPIENTS = int(os.environ.get("SIYU_FAULT_RECIPIENTS", "3000"))


def _audience(session: Any, n: int) -> int:
    from siyu.brands.models import Brand
    from siyu.customers.models import Consent, Customer, Identity
    from siyu.db import utcnow
    from siyu.segments.models import Segment, SegmentMember

    now = utcnow()
    brand = Brand(code="yy", name="悦颜")
    seg = Segment(name="全员", dynamic=False, created_by="test")
    session.add_all([brand, seg])
    session.flush()
    session.execute(
        sa.insert(Customer),
        [
            {
                "id": i,
                "name": f"顾客{i}",
                "status": "active",
                "suppressed": False,
                "do_not_disturb": False,
                "created_at": now,
                "updated_at": now,
            }
            for i in range(1, n + 1)
        ],
    )
    phone = {i: f"+86137{i:08d}" for i in range(1, n + 1)}
    session.execute(
        sa.insert(Identity),
        [
            {
                "customer_id": i,
                "kind": "phone",
                "namespace": "",
                "value": p,
                "verified": True,
                "source": "test",
                "created_at": now,
            }
            for i, p in phone.items()
        ],
    )
    session.execute(
        sa.insert(Consent),
        [
            {
                "customer_id": i,
                "brand_id": brand.id,
                "channel": "sms",
                "purpose": "marketing",
                "address": p,
                "status": "granted",
                "source": "test",
                "recorded_at": now,
            }
            for i, p in phone.items()
        ],
    )
    session.execute(
        sa.insert(SegmentMember),
        [{"segment_id": seg.id, "customer_id": i, "entered_at": now} for i in phone],
    )
    session.commit()
    return seg.id


def test_killed_workers_never_lose_or_double_a_message(
    session: Any, database_url: str, siyu_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from siyu.db import is_sqlite
    from siyu.reach.campaigns.commands import PlanCampaign
    from siyu.reach.campaigns.service import plan_campaign, start
    from siyu.reach.channels.sms import AliyunSms
    from siyu.reach.sending import dispatch
    from siyu.reach.sending.dispatch import reconcile
    from siyu.reach.sending.ledger import counts
    from siyu.simulators.sms.gateway import Gateway, create_app
    from siyu.simulators.threaded import ThreadedServer

    if is_sqlite(session):
        pytest.skip("on SQLite one worker dispatches; the concurrent kill test runs on PostgreSQL")
    gateway = Gateway()
    server = ThreadedServer(create_app(gateway))
    env = {
        **os.environ,
        "SIYU_DATABASE_URL": database_url,
        "SIYU_SMS_ENDPOINT": server.base,
        "SIYU_SMS_ACCESS_KEY_ID": gateway.access_key_id,
        "SIYU_SMS_ACCESS_KEY_SECRET": gateway.access_key_secret,
        "SIYU_REACH_LEASE_SECONDS": "3",
        "SIYU_WORKER_POLL_SECONDS": "0.2",
    }
    seg = _audience(session, RECIPIENTS)
    campaign = plan_campaign(
        session,
        PlanCampaign(
            name="压测",
            segment_id=seg,
            channel="sms",
            purpose="service",
            template={
                "sign_name": "悦颜",
                "template_code": "SMS_000002",
                "text": "您的订单${order}已发货",
                "params": {"order": "{{ name }}"},
            },
            holdout_pct=5,
            holdout_seed=9,
        ),
        actor="test",
    )
    start(session, campaign, actor="test")  # a service message: no consent or quiet hours
    session.commit()
    siyu = str(Path(sys.executable).parent / "siyu")

    def spawn() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [siyu, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    workers = [spawn() for _ in range(3)]
    rng = random.Random(5)
    kills = 0
    try:
        deadline = time.time() + 240 + RECIPIENTS / 25  # ends early once all is settled
        while time.time() < deadline:
            time.sleep(rng.uniform(0.3, 0.8))
            session.expire_all()
            sending = counts(session, campaign.id).get("sent", 0)
            if sending and kills < 30 and _open(session, campaign.id):
                victim = workers.pop(rng.randrange(len(workers)))
                victim.send_signal(signal.SIGKILL)
                victim.wait()
                kills += 1
                workers.append(spawn())
                continue
            session.expire_all()
            left = counts(session, campaign.id)
            if left.get("deferred") and not (left.get("pending") or left.get("claimed")):
                # only retries waiting out their backoff are left: let that time pass
                _due_now(session, campaign.id)
                continue
            if not any(left.get(s) for s in ("pending", "deferred", "claimed")):
                # what the killed workers left: ambiguous, settled through the gateway
                monkeypatch.setattr(dispatch, "ABSENT_AFTER", timedelta(0))
                sms = AliyunSms(gateway.access_key_id, gateway.access_key_secret, server.base)
                if not left.get("ambiguous") or not reconcile(session, {"sms": sms}, _settings()):
                    break
    finally:
        for w in workers:
            w.send_signal(signal.SIGKILL)
            w.wait()
        server.stop()
    final = counts(session, campaign.id)
    print(f"\n{RECIPIENTS} recipients, {kills} workers killed, final states {final}")
    assert kills >= 3, kills
    assert set(final) <= {"sent", "held_out"}, final
    assert final["sent"] + final["held_out"] == RECIPIENTS
    per_row = Counter(gateway.attempts)
    assert max(per_row.values()) == 1  # the gateway was never asked twice for one row
    phones = Counter(m.phone for m in gateway.messages)
    assert len(phones) == final["sent"] and max(phones.values()) == 1


def _due_now(session: Any, campaign_id: int) -> None:
    from siyu.reach.models import SendRow

    session.execute(
        sa.update(SendRow)
        .where(SendRow.campaign_id == campaign_id, SendRow.state == "deferred")
        .values(due_at=sa.func.now())
    )
    session.commit()


def _open(session: Any, campaign_id: int) -> bool:
    from siyu.reach.sending.ledger import counts

    left = counts(session, campaign_id)
    return any(left.get(s) for s in ("pending", "deferred", "claimed"))


def _settings() -> Any:
    from siyu.config import get_settings

    return get_settings()


def _local_gateway(session: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    """The SMS gateway in this process, the settings pointed at it (PostgreSQL only: on
    SQLite one worker dispatches)."""
    from siyu.config import reset_settings
    from siyu.db import is_sqlite
    from siyu.simulators.sms.gateway import Gateway, create_app
    from siyu.simulators.threaded import ThreadedServer

    if is_sqlite(session):
        pytest.skip("on SQLite one worker dispatches")
    gateway = Gateway()
    server = ThreadedServer(create_app(gateway))
    monkeypatch.setenv("SIYU_SMS_ENDPOINT", server.base)
    monkeypatch.setenv("SIYU_SMS_ACCESS_KEY_ID", gateway.access_key_id)
    monkeypatch.setenv("SIYU_SMS_ACCESS_KEY_SECRET", gateway.access_key_secret)
    reset_settings()
    return gateway, server


def _marketing_sms(session: Any, segment: int, name: str, offer: str) -> int:
    from siyu.reach.campaigns.commands import PlanCampaign
    from siyu.reach.campaigns.service import plan_campaign, start

    c = plan_campaign(
        session,
        PlanCampaign(
            name=name,
            segment_id=segment,
            channel="sms",
            template={
                "sign_name": "悦颜",
                "template_code": "SMS_000001",
                "text": "${name}您好，${offer}，拒收请回复R",
                "params": {"name": "{{ name }}", "offer": offer},
            },
        ),
        actor="test",
    )
    start(session, c, actor="test")
    session.commit()
    return c.id


def _three_dispatchers(prefix: str, limit: int) -> None:
    """Three threads dispatching until nothing is due; raises what any of them raised."""
    import threading

    from siyu.db import new_session
    from siyu.reach.channels.configured import sms as sms_channel
    from siyu.reach.sending.dispatch import dispatch_once

    settings = _settings()
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            sms = sms_channel(settings)
            with new_session() as s:
                while dispatch_once(s, name, settings, {"sms": sms}, limit=limit):
                    pass
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"{prefix}{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors


def _daytime(monkeypatch: pytest.MonkeyPatch, day: bool) -> None:
    if day:
        never_quiet(monkeypatch)
    else:
        quiet_now(monkeypatch)


def test_caps_hold_with_three_workers_sending_two_campaigns_at_once(
    session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two marketing campaigns to the same customers, three dispatchers in parallel on
    PostgreSQL: the one-SMS-a-day cap lets exactly one message through per customer."""
    from siyu.reach.models import SendRow
    from siyu.reach.sending.ledger import counts

    gateway, server = _local_gateway(session, monkeypatch)
    _daytime(monkeypatch, True)
    seg = _audience(session, 400)
    campaigns = [_marketing_sms(session, seg, name, name) for name in ("早场", "晚场")]
    # one customer's two messages side by side in the claim order, so that two workers
    # usually hold them at the same moment
    base = session.scalar(sa.select(sa.func.min(SendRow.due_at)))
    for row in session.scalars(sa.select(SendRow)):
        row.due_at = base + timedelta(milliseconds=row.customer_id)
    session.commit()
    try:
        _three_dispatchers("w", 1)
    finally:
        server.stop()
    phones = Counter(m.phone for m in gateway.messages)
    assert len(phones) == 400 and max(phones.values()) == 1
    both: Counter[str] = Counter()
    for cid in campaigns:
        both.update(counts(session, cid))
    assert both == {"sent": 400, "skipped": 400}, both


def test_quiet_hours_hold_with_three_workers(session: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A marketing campaign started at night, three dispatchers at once on PostgreSQL: nothing
    leaves, every row waits for 08:00; when the morning comes each customer gets one message."""
    from siyu.reach.models import SendRow
    from siyu.reach.sending.ledger import counts

    gateway, server = _local_gateway(session, monkeypatch)
    _daytime(monkeypatch, False)  # it is night, whatever the clock says
    cid = _marketing_sms(session, _audience(session, 300), "夜间", "早安特惠")
    try:
        _three_dispatchers("q", 20)
        assert gateway.messages == [] and counts(session, cid) == {"deferred": 300}
        reasons = set(session.scalars(sa.select(SendRow.reason).where(SendRow.campaign_id == cid)))
        assert reasons == {"quiet_hours"}
        _daytime(monkeypatch, True)  # morning
        session.execute(
            sa.update(SendRow).where(SendRow.campaign_id == cid).values(due_at=sa.func.now())
        )
        session.commit()
        _three_dispatchers("m", 20)
    finally:
        server.stop()
    phones = Counter(m.phone for m in gateway.messages)
    assert len(phones) == 300 and max(phones.values()) == 1
    session.expire_all()
    assert counts(session, cid) == {"sent": 300}
