"""The send ledger's moves on SQLite and PostgreSQL: fan-out with a reproducible holdout, claims
that never hand a row to two workers, leases that end as ambiguous (never resent), send-by
expiry, outcomes only from the worker holding the row."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa


def _audience(session: Any, n: int) -> int:
    from siyu.customers.models import Customer
    from siyu.db import utcnow
    from siyu.segments.models import Segment, SegmentMember

    now = utcnow()
    session.execute(
        sa.insert(Customer),
        [
            {
                "name": f"客户{i}",
                "status": "active",
                "suppressed": False,
                "do_not_disturb": False,
                "created_at": now,
                "updated_at": now,
            }
            for i in range(n)
        ],
    )
    seg = Segment(name="受众", dynamic=False, created_by="test")
    session.add(seg)
    session.flush()
    ids = session.scalars(sa.select(Customer.id)).all()
    session.execute(
        sa.insert(SegmentMember),
        [{"segment_id": seg.id, "customer_id": c, "entered_at": now} for c in ids],
    )
    session.commit()
    return seg.id


def _campaign(session: Any, segment_id: int, **kw: Any) -> Any:
    from siyu.reach.models import Campaign

    campaign = Campaign(
        name=kw.pop("name", "双11"),
        segment_id=segment_id,
        channel="sms",
        created_by="test",
        **kw,
    )
    session.add(campaign)
    session.commit()
    return campaign


def test_fan_out_counts_the_rows_when_the_driver_does_not(session: Any, monkeypatch: Any) -> None:
    """The first write's report comes from the segment only when the insert's own count
    agrees with it; a driver that answers -1 (or a segment refreshed meanwhile) falls back to
    counting the ledger rows."""
    from siyu.reach.sending import ledger
    from siyu.segments.models import SegmentMember

    seg = _audience(session, 200)
    members = session.scalars(
        sa.select(SegmentMember.customer_id).where(SegmentMember.segment_id == seg)
    )
    held = sum(ledger.in_holdout(c, 3, 20) for c in members)
    monkeypatch.setattr(ledger, "rowcount", lambda result: -1)
    report = ledger.fan_out(session, _campaign(session, seg, holdout_pct=20, holdout_seed=3))
    assert report == {"added": 200, "held_out": held, "already": 0}


def test_fan_out_is_idempotent_with_a_reproducible_holdout(session: Any) -> None:
    from siyu.reach.models import SendRow
    from siyu.reach.sending.ledger import counts, fan_out, in_holdout

    seg = _audience(session, 1000)
    a = _campaign(session, seg, holdout_pct=10, holdout_seed=42)
    first = fan_out(session, a)
    session.commit()
    assert first["added"] == 1000 and 60 <= first["held_out"] <= 140
    again_report = fan_out(session, a)  # started twice: nothing more
    assert again_report == {"added": 0, "held_out": first["held_out"], "already": 1000}
    session.commit()
    assert counts(session, a.id) == {
        "pending": 1000 - first["held_out"],
        "held_out": first["held_out"],
    }
    held = set(
        session.scalars(
            sa.select(SendRow.customer_id).where(
                SendRow.campaign_id == a.id, SendRow.state == "held_out"
            )
        )
    )
    audience = session.scalars(sa.select(SendRow.customer_id).where(SendRow.campaign_id == a.id))
    assert held == {c for c in audience if in_holdout(c, 42, 10)}  # SQL and Python agree
    b = _campaign(session, seg, name="复购", holdout_pct=10, holdout_seed=42)
    fan_out(session, b)
    session.commit()
    again = set(
        session.scalars(
            sa.select(SendRow.customer_id).where(
                SendRow.campaign_id == b.id, SendRow.state == "held_out"
            )
        )
    )
    assert again == held  # the same seed draws the same control group


def test_concurrent_claims_never_share_a_row(session: Any) -> None:
    from siyu.db import is_sqlite, new_session
    from siyu.reach.sending.ledger import claim, fan_out

    seg = _audience(session, 600)
    campaign = _campaign(session, seg)
    fan_out(session, campaign)
    session.commit()
    if is_sqlite(session):
        pytest.skip("on SQLite one worker holds the dispatch lease; claims are not concurrent")
    got: dict[str, list[int]] = {}

    def work(name: str) -> None:
        with new_session() as s:
            mine: list[int] = []
            while batch := claim(s, name, limit=25):
                mine += [c.id for c in batch]
            got[name] = mine

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for ids in got.values() for i in ids]
    assert len(every) == 600 and len(set(every)) == 600
    assert all(got.values())  # each worker got some


def test_leases_outcomes_and_expiry(session: Any) -> None:
    from siyu.db import utcnow
    from siyu.reach.models import SendRow
    from siyu.reach.sending.ledger import LedgerError, claim, counts, end_stale, fan_out, record

    seg = _audience(session, 5)
    campaign = _campaign(session, seg)
    fan_out(session, campaign)
    session.commit()
    rows = claim(session, "w1", limit=4, lease_seconds=60)
    assert len(rows) == 4 and claim(session, "w2") != []  # the fifth is still free
    assert record(session, rows[0].id, "w1", "sent", provider_ref="sms-1")
    assert not record(session, rows[1].id, "w2", "sent")  # w2 does not hold it
    later = utcnow() + timedelta(hours=1)
    assert record(session, rows[1].id, "w1", "deferred", reason="quiet_hours", due_at=later)
    with pytest.raises(LedgerError):
        record(session, rows[2].id, "w1", "deferred")
    session.commit()
    # w1 dies holding rows[2] and rows[3]: after the lease they are ambiguous, never re-claimed
    session.execute(
        sa.update(SendRow)
        .where(SendRow.id.in_([rows[2].id, rows[3].id]))
        .values(lease_until=utcnow() - timedelta(seconds=1))
    )
    session.commit()
    assert claim(session, "w3") == []
    assert not record(session, rows[2].id, "w1", "sent")  # too late: the answer is lost
    session.commit()
    # the deferred row is past its send-by time when it comes due: skipped as expired
    session.execute(
        sa.update(SendRow)
        .where(SendRow.id == rows[1].id)
        .values(due_at=utcnow() - timedelta(minutes=1), send_by=utcnow() - timedelta(seconds=1))
    )
    assert end_stale(session)["expired"] == 1
    session.commit()
    assert counts(session, campaign.id) == {"sent": 1, "skipped": 1, "ambiguous": 2, "claimed": 1}
    assert session.scalar(sa.select(SendRow.reason).where(SendRow.id == rows[1].id)) == "expired"
