"""Do-not-disturb and marketing consent as staff, imports and (later) members set them, and how
send policy honours them at once: a do-not-disturb customer gets no marketing, a withdrawal stops
the messages not yet sent, a grant never silently replaces a withdrawal."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from siyu.customers.consent import ConsentStatement, record_consent, set_do_not_disturb
from siyu.customers.models import Consent, Customer, Identity
from siyu.customers.service import CustomerError
from tests.conftest import write_csv
from tests.reach_world import drain, sms_campaign


def _ids(world: dict[str, Any]) -> list[int]:
    return sorted(world["phones"])


def _states(session: Any, campaign_id: int) -> dict[int, tuple[str, str | None]]:
    from siyu.reach.models import SendRow

    session.expire_all()
    rows = session.scalars(sa.select(SendRow).where(SendRow.campaign_id == campaign_id))
    return {r.customer_id: (r.state, r.reason) for r in rows}


def test_a_do_not_disturb_set_by_staff_stops_marketing_to_that_customer(
    world: dict[str, Any], session: Any, settings: Any
) -> None:
    from siyu.reach.channels.configured import sms as sms_channel

    quiet = _ids(world)[3]  # consented to marketing SMS
    customer = session.get(Customer, quiet)
    assert set_do_not_disturb(
        session, customer, True, source="operator", actor="op", reason="来电：不要再发促销短信"
    )
    session.commit()
    campaign = sms_campaign(session, world["segment"])
    drain(settings, sms_channel(settings))
    assert _states(session, campaign.id)[quiet] == ("skipped", "do_not_disturb")
    assert world["phones"][quiet][3:] not in {m.phone for m in world["gateway"].received()}
    assert len(world["gateway"].received()) == 19  # the other consented customers


def test_a_withdrawal_recorded_by_staff_stops_the_messages_not_yet_sent(
    world: dict[str, Any], session: Any, settings: Any
) -> None:
    from siyu.db import new_session
    from siyu.reach.channels.configured import sms as sms_channel
    from siyu.reach.sending.dispatch import dispatch_once

    ids = _ids(world)
    campaign = sms_campaign(session, world["segment"])
    sms = sms_channel(settings)

    with new_session() as s:  # the first few go out
        dispatch_once(s, "w1", settings, {"sms": sms}, limit=3)
    sent_first = {c for c, (state, _r) in _states(session, campaign.id).items() if state == "sent"}
    assert sent_first and len(sent_first) <= 3
    late = next(c for c in ids[:20] if c not in sent_first)
    done = record_consent(
        session,
        session.get(Customer, late),
        ConsentStatement(action="withdraw", channel="sms", note="门店当面要求退订"),
        "guide",
    )
    session.commit()
    assert done.changed and done.consent.status == "withdrawn"
    drain(settings, sms)
    states = _states(session, campaign.id)
    assert states[late] == ("skipped", "consent_withdrawn")
    assert world["phones"][late][3:] not in {m.phone for m in world["gateway"].received()}


def test_a_grant_needs_evidence_and_never_silently_replaces_a_withdrawal(
    world: dict[str, Any], session: Any, settings: Any
) -> None:
    from siyu.accounts.models import AuditLog
    from siyu.db import utcnow
    from siyu.reach.sending.policy import check

    ids = _ids(world)
    withdrew = session.get(Customer, ids[20])  # withdrew in the world's set-up, "now"
    never = session.get(Customer, ids[25])
    with pytest.raises(CustomerError, match="needs evidence"):
        record_consent(session, never, ConsentStatement(action="grant", channel="sms"), "op")
    with pytest.raises(CustomerError, match="after the consent given"):
        record_consent(
            session,
            withdrew,
            ConsentStatement(
                action="grant",
                channel="sms",
                reference="SQ-1",
                given_at=utcnow() - timedelta(days=30),
                over_withdrawal=True,
            ),
            "op",
        )
    with pytest.raises(CustomerError, match="consented again after that"):
        record_consent(
            session, withdrew, ConsentStatement(action="grant", channel="sms", note="表单"), "op"
        )
    session.rollback()
    row = session.scalar(sa.select(Consent).where(Consent.customer_id == withdrew.id))
    assert row is not None and row.status == "withdrawn"
    done = record_consent(
        session,
        withdrew,
        ConsentStatement(
            action="grant",
            channel="sms",
            note="客户撤回后在门店重新签字同意",
            reference="SQ-2026-0012",
            over_withdrawal=True,
        ),
        "op",
    )
    session.commit()
    assert (done.changed, done.consent.status, done.consent.source) == (True, "granted", "operator")
    assert (done.consent.evidence_ref, done.consent.recorded_by) == ("SQ-2026-0012", "op")
    entry = session.scalar(sa.select(AuditLog).where(AuditLog.action == "consent.grant"))
    assert entry is not None and entry.details["over_withdrawal"] is True
    assert entry.details["address"] == "139****0020"  # the audit log holds no full number
    decision = check(
        session,
        customer_id=withdrew.id,
        channel="sms",
        purpose="marketing",
        address=world["phones"][withdrew.id],
        now=utcnow(),
        settings=settings,
    )
    assert decision.send
    # withdrawing twice changes nothing the second time; granting again as old changes nothing
    first = record_consent(
        session, withdrew, ConsentStatement(action="withdraw", channel="sms"), "op"
    )
    again = record_consent(
        session, withdrew, ConsentStatement(action="withdraw", channel="sms"), "op"
    )
    assert (first.changed, again.changed) == (True, False)


def test_staff_text_is_bounded_and_the_address_must_be_the_customers(
    world: dict[str, Any], session: Any
) -> None:
    from siyu.db import utcnow

    ids = _ids(world)
    c = session.get(Customer, ids[25])
    other_phone = world["phones"][ids[26]]
    cases = [
        (ConsentStatement(action="grant", channel="sms", note="x" * 501), "at most 500"),
        (ConsentStatement(action="grant", channel="sms", reference="r" * 101), "at most 100"),
        (ConsentStatement(action="grant", channel="sms", note="ok\x00"), "control characters"),
        (
            ConsentStatement(action="grant", channel="sms", address=other_phone, note="n"),
            "not one of customer",
        ),
        (ConsentStatement(action="grant", channel="email", note="n"), "has no email"),
        (ConsentStatement(action="grant", channel="wecom", note="n"), "channel: one of"),
        (ConsentStatement(action="grant", channel="sms", purpose="service", note="n"), "purpose"),
        (ConsentStatement(action="maybe", channel="sms"), "grant or withdraw"),
        (
            ConsentStatement(
                action="grant",
                channel="sms",
                note="n",
                given_at=utcnow() + timedelta(days=2),
            ),
            "in the future",
        ),
        (ConsentStatement(action="withdraw", consent_id=999999), "no consent record"),
    ]
    for stmt, why in cases:
        with pytest.raises(CustomerError, match=why):
            record_consent(session, c, stmt, "op")
    with pytest.raises(CustomerError, match="give the reason"):
        set_do_not_disturb(session, c, True, source="operator", actor="op", reason="  ")
    with pytest.raises(CustomerError, match="at most 200"):
        set_do_not_disturb(session, c, True, source="operator", actor="op", reason="长" * 201)
    with pytest.raises(CustomerError, match="source"):
        set_do_not_disturb(session, c, True, source="robot", actor="op", reason="x")
    session.rollback()
    assert (
        session.scalar(
            sa.select(sa.func.count()).select_from(Consent).where(Consent.customer_id == c.id)
        )
        == 0
    )
    assert not session.get(Customer, c.id).do_not_disturb


def test_an_import_sets_do_not_disturb_and_clears_only_its_own(
    engine: Any, settings: Any, session: Any, tmp_path: Path
) -> None:
    from siyu.accounts.models import AuditLog
    from siyu.ingest.customers import import_customers

    header = ["customer_id", "phone", "do_not_disturb"]
    first = write_csv(
        tmp_path / "a.csv",
        header,
        [
            ["D1", "13811112001", "是"],
            ["D2", "13811112002", "Y"],
            ["D3", "13811112003", ""],
            ["D4", "13811112004", "也许"],
        ],
    )
    s = import_customers(engine, settings, first, "csv", actor="t")
    assert s.do_not_disturb == 2 and s.rejected_total == 1  # "也许" is not an answer
    by_member = dict(
        session.execute(
            sa.select(Identity.value, Identity.customer_id).where(Identity.kind == "member_id")
        ).all()
    )
    d1, d2, d3 = (session.get(Customer, by_member[m]) for m in ("D1", "D2", "D3"))
    assert (d1.do_not_disturb, d1.do_not_disturb_source) == (True, "import")
    assert d2.do_not_disturb and not d3.do_not_disturb
    # a guide hears D2 ask for it in person: staff now hold it, and a file cannot undo that
    assert set_do_not_disturb(session, d2, True, source="operator", actor="g", reason="店内要求")
    session.commit()
    second = write_csv(
        tmp_path / "b.csv",
        header,
        [["D1", "13811112001", "否"], ["D2", "13811112002", "0"], ["D3", "13811112003", "1"]],
    )
    s = import_customers(engine, settings, second, "csv", actor="t")
    assert s.do_not_disturb == 2  # D1 cleared, D3 set; D2 kept
    session.expire_all()
    assert not session.get(Customer, d1.id).do_not_disturb
    assert session.get(Customer, d2.id).do_not_disturb_source == "operator"
    assert session.get(Customer, d3.id).do_not_disturb
    audits = session.scalars(
        sa.select(AuditLog)
        .where(AuditLog.action == "customer.do_not_disturb", AuditLog.target_type == "import_run")
        .order_by(AuditLog.id)  # PostgreSQL keeps no order without one
    ).all()
    assert [a.details["on"] for a in audits] == [2, 1]


def test_an_undated_grant_in_a_file_does_not_undo_a_withdrawal(
    engine: Any, settings: Any, session: Any, tmp_path: Path
) -> None:
    """A member list exported before the customer unsubscribed, re-imported later: its yes has
    no time of its own, so it must not make them marketable again."""
    from siyu.customers.service import withdraw_marketing
    from siyu.ingest.customers import import_customers

    header = ["customer_id", "phone", "sms_consent", "consent_evidence"]
    rows = [["W1", "13811113001", "是", "会员注册表单"]]
    import_customers(
        engine, settings, write_csv(tmp_path / "a.csv", header, rows), "csv", actor="t"
    )
    cid = session.scalar(sa.select(Identity.customer_id).where(Identity.value == "W1"))
    withdraw_marketing(
        session,
        channel="sms",
        address="+8613811113001",
        source="sms_reply",
        evidence="R",
        customer_id=cid,
    )
    session.commit()
    s = import_customers(
        engine, settings, write_csv(tmp_path / "b.csv", header, rows), "csv", actor="t"
    )
    assert s.consents == 0
    session.expire_all()
    assert (
        session.scalar(sa.select(Consent.status).where(Consent.customer_id == cid)) == "withdrawn"
    )


def test_a_merge_carries_do_not_disturb_and_an_unmerge_takes_it_back(session: Any) -> None:
    from siyu.customers.service import merge, unmerge
    from siyu.db import utcnow

    now = utcnow()
    a = Customer(name="甲", status="active", created_at=now, updated_at=now)
    b = Customer(name="乙", status="active", created_at=now, updated_at=now)
    session.add_all([a, b])
    session.flush()
    set_do_not_disturb(session, b, True, source="member", actor="member:b")
    session.commit()
    merge_id = merge(session, a.id, b.id, "op")
    session.commit()
    winner = session.get(Customer, a.id)
    assert (winner.do_not_disturb, winner.do_not_disturb_source) == (True, "member")
    unmerge(session, merge_id, "op")
    session.commit()
    assert not session.get(Customer, a.id).do_not_disturb
    assert session.get(Customer, b.id).do_not_disturb  # theirs still
    # set again on the winner after the merge: the unmerge leaves it
    merge_id = merge(session, a.id, b.id, "op")
    session.commit()
    set_do_not_disturb(
        session, session.get(Customer, a.id), False, source="operator", actor="op", reason="x"
    )
    set_do_not_disturb(
        session, session.get(Customer, a.id), True, source="operator", actor="op", reason="y"
    )
    session.commit()
    unmerge(session, merge_id, "op")
    session.commit()
    assert session.get(Customer, a.id).do_not_disturb_reason == "y"
