"""What the ledger records for each answer a channel gives, with the in-memory channel answering
each recipient as the test says: accepted, refused for good, failing for now (and the backoff
that follows), or taken with its answer lost (and what reconciliation then finds)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from siyu.reach.channels.base import Channel, Outgoing, SendResult
from siyu.reach.channels.fake import FakeChannel
from siyu.reach.sending.dispatch import MAX_ATTEMPTS, MAX_BACKOFF, Entry, ledger_entry, out_id

pytestmark = pytest.mark.no_database

NOW = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)


def message(row_id: int, address: str) -> Outgoing:
    return Outgoing(
        ref=out_id(row_id),
        row_id=row_id,
        campaign_id=1,
        customer_id=row_id,
        address=address,
        parts={"text": "【悦颜】您好"},
        template={},
        purpose="marketing",
        channel="sms",
    )


def test_the_fake_is_a_channel() -> None:
    channel: Channel = FakeChannel("sms")
    assert (channel.name, channel.reconcilable, channel.absence_proves_unsent) == (
        "sms",
        True,
        True,
    )


def test_each_recipient_gets_the_answer_the_test_gave_and_the_ledger_records_it() -> None:
    sms = FakeChannel("sms")
    sms.refuse("+8613900000002", code="isv.MOBILE_NUMBER_ILLEGAL", error="no such number")
    sms.fail_for_now("+8613900000003", code="isp.SYSTEM_ERROR")
    sms.lose_answer("+8613900000004")
    entries = [
        ledger_entry(sms.send(message(i, f"+861390000000{i}")), attempts=1, now=NOW, jitter=0)
        for i in (1, 2, 3, 4)
    ]
    assert entries == [
        Entry("sent", provider_ref="sms-1"),
        Entry("failed", reason="isv.MOBILE_NUMBER_ILLEGAL", error="no such number"),
        Entry("deferred", reason="retry:isp.SYSTEM_ERROR", due_at=NOW + timedelta(seconds=10)),
        Entry("ambiguous", reason="lost", error=""),
    ]
    assert [m.row_id for m in sms.asked] == [1, 2, 3, 4]
    assert sorted(sms.taken) == ["L1", "L4"]  # the refused and the failed never arrived


def test_a_refusal_holds_a_failure_for_now_passes() -> None:
    sms = FakeChannel("sms")
    sms.refuse("+8613900000002")
    sms.fail_for_now("+8613900000003", times=2)
    refused = [sms.send(message(i, "+8613900000002")).outcome for i in (1, 2, 3)]
    assert refused == ["failed"] * 3
    busy = [sms.send(message(i, "+8613900000003")).outcome for i in (4, 5, 6)]
    assert busy == ["retry", "retry", "sent"]
    assert len(sms.to("+8613900000003")) == 3


def test_a_lost_answer_is_settled_by_asking_the_provider() -> None:
    sms = FakeChannel("sms")
    sms.lose_answer("+8613900000001")
    sms.lose_answer("+8613900000002", taken=False)
    first, second = message(1, "+8613900000001"), message(2, "+8613900000002")
    assert sms.send(first).outcome == sms.send(second).outcome == "ambiguous"
    found = sms.delivery("+8613900000001", out_id(1), NOW)
    assert found.found and found.provider_ref == "sms-1"
    assert not sms.delivery("+8613900000002", out_id(2), NOW).found
    assert not sms.delivery("+8613900000009", out_id(1), NOW).found  # another number


@pytest.mark.parametrize(
    ("attempts", "retry_after", "seconds"),
    [
        (1, None, 10),  # 5 s × 2^attempts: the first claim waits 10 s
        (2, None, 20),
        (7, None, 640),
        (1, 30.0, 30),  # the provider's wish, when longer
        (3, 30.0, 40),  # … and never shorter than the backoff
        (1, 7200.0, MAX_BACKOFF),  # at most an hour, whatever the provider asked
    ],
)
def test_a_failure_for_now_waits_longer_each_attempt(
    attempts: int, retry_after: float | None, seconds: float
) -> None:
    result = SendResult("retry", code="busy", retry_after=retry_after)
    entry = ledger_entry(result, attempts, NOW, jitter=0)
    assert entry == Entry("deferred", reason="retry:busy", due_at=NOW + timedelta(seconds=seconds))
    stretched = ledger_entry(result, attempts, NOW, jitter=0.999999)
    assert stretched.due_at is not None
    assert NOW + timedelta(seconds=seconds) < stretched.due_at
    assert stretched.due_at < NOW + timedelta(seconds=seconds * 1.25)


def test_after_the_last_attempt_a_failure_for_now_is_a_failure() -> None:
    result = SendResult("retry", code="busy", error="gateway busy")
    assert MAX_ATTEMPTS == 8
    assert ledger_entry(result, MAX_ATTEMPTS - 1, NOW, 0).state == "deferred"
    assert ledger_entry(result, MAX_ATTEMPTS, NOW, 0) == Entry(
        "failed", reason="too_many_attempts", error="gateway busy"
    )


def test_reasons_fit_the_ledger_s_column() -> None:
    code = "X" * 60
    assert ledger_entry(SendResult("failed", code=code), 1, NOW, 0).reason == "X" * 40
    retry = ledger_entry(SendResult("retry", code=code), 1, NOW, 0).reason
    assert retry == ("retry:" + code)[:40]


def test_send_states_and_origins_keep_their_stored_values() -> None:
    """The enums name what the columns already hold: no value changed, each fits its column."""
    from siyu.reach.models import SendOrigin, SendRow, SendState

    assert {s.value for s in SendState} == {
        "pending", "claimed", "submitted", "sent", "failed",
        "deferred", "skipped", "held_out", "ambiguous",
    }  # fmt: skip
    assert all(s.name == s.value for s in (*SendState, *SendOrigin))
    columns = SendRow.__table__.c
    assert max(len(s) for s in SendState) <= getattr(columns.state.type, "length", 0)
    assert max(len(s) for s in SendOrigin) <= getattr(columns.origin.type, "length", 0)
