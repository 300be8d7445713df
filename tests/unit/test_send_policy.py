"""The send policy on plain facts, without a database: who may get a message at all (active,
not suppressed, an address), what marketing needs besides (no do-not-disturb, consent on SMS
and email, outside the quiet hours 21:00–08:00 Asia/Shanghai), and which channel of a
campaign's priority list a message goes on (``pick_channel``)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from siyu.config import QuietHours
from siyu.reach.sending.eligibility import FALL_THROUGH, pick_channel
from siyu.reach.sending.policy import (
    SEND,
    Decision,
    Standing,
    consent_refusal,
    decision_for,
    quiet_until,
)

pytestmark = pytest.mark.no_database

SHANGHAI = ZoneInfo("Asia/Shanghai")
ACTIVE = Standing("active")
QUIET = QuietHours(21, 8)  # the default: 21:00–08:00


def local(text: str) -> datetime:
    """A moment written in Shanghai time, as the UTC instant the dispatcher has."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).astimezone(UTC)


NOON = local("2026-03-10 12:00")


def decide(
    customer: Standing | None = ACTIVE,
    *,
    channel: str = "sms",
    purpose: str = "marketing",
    address: str | None = "+8613900000001",
    now: datetime = NOON,
    following: bool = True,
    consents: Collection[str] = ("granted",),
    asked: list[str] | None = None,
    quiet: QuietHours = QUIET,
) -> Decision:
    asked = [] if asked is None else asked

    def follows(openid: str) -> bool:
        asked.append(f"follows:{openid}")
        return following

    def consent_of(address: str) -> Collection[str]:
        asked.append(f"consents:{address}")
        return consents

    return decision_for(
        customer,
        channel=channel,
        purpose=purpose,
        address=address,
        now=now,
        tz=SHANGHAI,
        quiet=quiet,
        follows=follows,
        consents=consent_of,
    )


# -- who may get anything ----------------------------------------------------------------------
def test_an_active_consenting_customer_at_noon_gets_marketing() -> None:
    assert decide() == SEND


@pytest.mark.parametrize("customer", [None, Standing("merged"), Standing("erased")])
def test_a_customer_gone_or_merged_gets_nothing_of_any_purpose(customer: Standing | None) -> None:
    for purpose in ("marketing", "service"):
        assert decide(customer, purpose=purpose) == Decision(False, "not_active")


def test_suppression_holds_for_service_messages_too_and_comes_before_the_address() -> None:
    suppressed = Standing("active", suppressed=True, do_not_disturb=True)
    assert decide(suppressed, purpose="service", address=None) == Decision(False, "suppressed")


def test_no_address_on_the_channel() -> None:
    assert decide(address=None) == Decision(False, "no_address")
    assert decide(address=None, purpose="service") == Decision(False, "no_address")


def test_an_official_account_message_needs_a_follower_whatever_its_purpose() -> None:
    asked: list[str] = []
    for purpose in ("marketing", "service"):
        gone = decide(
            channel="oa", address="oOPENID", purpose=purpose, following=False, asked=asked
        )
        assert gone == Decision(False, "not_following")
    assert asked == ["follows:oOPENID"] * 2
    assert decide(channel="oa", address="oOPENID", consents=()) == SEND  # no consent asked


def test_only_the_official_account_asks_whether_the_customer_follows() -> None:
    asked: list[str] = []
    for channel in ("sms", "email", "webhook", "wecom", "wecom_app"):
        decide(channel=channel, following=False, asked=asked)
    assert not [a for a in asked if a.startswith("follows")]


# -- what marketing needs ------------------------------------------------------------------------
def test_do_not_disturb_stops_marketing_only_and_before_consent_is_asked() -> None:
    quiet = Standing("active", do_not_disturb=True)
    asked: list[str] = []
    assert decide(quiet, asked=asked) == Decision(False, "do_not_disturb")
    assert asked == []
    assert decide(quiet, purpose="service", consents=()) == SEND


@pytest.mark.parametrize(
    ("statuses", "reason"),
    [
        ((), "no_consent"),
        (("pending",), "no_consent"),
        (("withdrawn",), "consent_withdrawn"),
        (("granted", "withdrawn"), "consent_withdrawn"),  # a withdrawal anywhere wins
    ],
)
def test_marketing_sms_and_email_need_a_standing_grant(
    statuses: tuple[str, ...], reason: str
) -> None:
    for channel in ("sms", "email"):
        assert decide(channel=channel, consents=statuses) == Decision(False, reason)
        assert decide(channel=channel, consents=statuses, purpose="service") == SEND
    assert consent_refusal(statuses) == Decision(False, reason)
    assert consent_refusal({"granted"}) is None


def test_consent_is_asked_for_the_address_the_message_goes_to() -> None:
    asked: list[str] = []
    decide(channel="email", address="a@example.com", asked=asked)
    assert asked == ["consents:a@example.com"]


@pytest.mark.parametrize("channel", ["webhook", "wecom", "wecom_app", "oa"])
def test_channels_without_a_consent_record_do_not_ask_for_one(channel: str) -> None:
    asked: list[str] = []
    assert decide(channel=channel, consents=(), asked=asked) == SEND
    assert not [a for a in asked if a.startswith("consents")]


# -- quiet hours ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("at", "due"),
    [
        ("2026-03-10 08:00:00", None),  # the quiet hours end at 08:00 sharp
        ("2026-03-10 20:59:59.999999", None),
        ("2026-03-10 21:00:00", "2026-03-11 08:00"),  # and start at 21:00 sharp
        ("2026-03-10 23:59:59", "2026-03-11 08:00"),
        ("2026-03-11 00:00:00", "2026-03-11 08:00"),  # after midnight: the same morning
        ("2026-03-11 07:59:59.999999", "2026-03-11 08:00"),
        ("2026-01-31 22:00", "2026-02-01 08:00"),  # across a month
        ("2026-12-31 21:30", "2027-01-01 08:00"),  # and a year
    ],
)
def test_quiet_hours_run_from_21_00_to_08_00_shanghai_time(at: str, due: str | None) -> None:
    expected = None if due is None else local(due)
    assert quiet_until(local(at), SHANGHAI, QUIET) == expected
    decision = decide(now=local(at))
    assert decision == (SEND if due is None else Decision(False, "quiet_hours", expected))


def test_quiet_hours_are_shanghai_s_whatever_zone_the_clock_is_in() -> None:
    at = datetime(2026, 3, 10, 13, 30, tzinfo=UTC)  # 21:30 in Shanghai, 13:30 in London
    due = quiet_until(at, SHANGHAI, QUIET)
    assert due is not None and due.isoformat() == "2026-03-11T08:00:00+08:00"
    assert due == datetime(2026, 3, 11, 0, 0, tzinfo=UTC)
    assert (
        quiet_until(datetime(2026, 3, 10, 0, 0, tzinfo=UTC), SHANGHAI, QUIET) is None
    )  # 08:00 there


def test_service_messages_go_out_at_night() -> None:
    assert decide(purpose="service", now=local("2026-03-10 23:00")) == SEND


def test_a_no_is_a_skip_not_a_deferral_even_at_night() -> None:
    night = local("2026-03-10 23:00")
    assert decide(now=night, consents=()) == Decision(False, "no_consent")
    assert decide(Standing("active", do_not_disturb=True), now=night).due_at is None


def test_the_quiet_hours_are_the_ones_given() -> None:
    """The window comes from the settings (``SIYU_QUIET_HOURS_START``/``_END``), not a constant:
    the integration tests turn it off and on through them."""
    lunch = QuietHours(11, 13)
    assert quiet_until(NOON, SHANGHAI, lunch) == local("2026-03-10 13:00")
    assert decide(now=NOON, quiet=lunch) == Decision(
        False, "quiet_hours", local("2026-03-10 13:00")
    )
    never = QuietHours(0, 0)
    assert quiet_until(local("2026-03-10 23:59:59"), SHANGHAI, never) is None
    assert decide(now=local("2026-03-10 23:00"), quiet=never) == SEND


# -- the channel a campaign's message goes on --------------------------------------------------------
@dataclass
class Facts:
    """One customer as ``pick_channel`` sees them, with what it asked."""

    addresses: dict[str, str]
    customer: Standing = ACTIVE
    consents: dict[str, tuple[str, ...]] = field(default_factory=dict)  # channel → statuses
    caps: dict[str, str] = field(default_factory=dict)  # channel → the cap it would break
    wecom_full: bool = False
    sms_room: datetime | None = None
    purpose: str = "marketing"
    now: datetime = NOON
    asked: list[str] = field(default_factory=list)

    def address(self, channel: str) -> str | None:
        self.asked.append(f"address:{channel}")
        return self.addresses.get(channel)

    def policy(self, channel: str, address: str | None) -> Decision:
        return decision_for(
            self.customer,
            channel=channel,
            purpose=self.purpose,
            address=address,
            now=self.now,
            tz=SHANGHAI,
            quiet=QUIET,
            follows=lambda _openid: True,
            consents=lambda _address: self.consents.get(channel, ()),
        )

    def cap(self, channel: str) -> str | None:
        self.asked.append(f"cap:{channel}")
        return self.caps.get(channel)

    def wecom_quota_used(self) -> bool:
        self.asked.append("wecom_quota")
        return self.wecom_full

    def sms_room_at(self) -> datetime | None:
        self.asked.append("sms_room")
        return self.sms_room


EVERY = ("sms", "email", "wecom", "webhook", "oa", "wecom_app")
ADDRESSES = {"sms": "+8613900000001", "email": "a@example.com", "wecom": "corp:guide001:wmX"}


def pick(
    facts: Facts,
    order: tuple[str, ...] = ("sms", "email"),
    row: str = "sms",
    configured: tuple[str, ...] = EVERY,
) -> tuple[str, str] | Decision:
    return pick_channel(order, row, configured, facts.purpose, facts)


def test_the_first_channel_that_may_send_is_taken() -> None:
    both = Facts(ADDRESSES, consents={"sms": ("granted",), "email": ("granted",)})
    assert pick(both) == ("sms", ADDRESSES["sms"])
    assert both.asked == ["address:sms", "cap:sms", "sms_room"]
    only_email = Facts(ADDRESSES, consents={"email": ("granted",)})
    assert pick(only_email) == ("email", ADDRESSES["email"])


def test_a_reason_of_one_channel_tries_the_next_and_the_first_reason_is_kept() -> None:
    assert set(FALL_THROUGH) == {"no_address", "no_consent", "consent_withdrawn", "not_following"}
    facts = Facts({"sms": ADDRESSES["sms"]}, consents={"sms": ("withdrawn",)})
    assert pick(facts) == Decision(False, "consent_withdrawn")  # email had no address either
    assert facts.asked == ["address:sms", "address:email"]
    assert pick(Facts(ADDRESSES), configured=("email",)) == Decision(
        False, "channel_not_configured"
    )
    assert pick(Facts(ADDRESSES), configured=()) == Decision(False, "channel_not_configured")
    assert pick(Facts(ADDRESSES), order=()) == Decision(False, "no_channel")


def test_a_reason_about_the_customer_stops_at_the_first_channel() -> None:
    for customer, reason in [
        (Standing("active", suppressed=True), "suppressed"),
        (Standing("active", do_not_disturb=True), "do_not_disturb"),
        (Standing("merged"), "not_active"),
    ]:
        facts = Facts(ADDRESSES, customer=customer, consents={"email": ("granted",)})
        assert pick(facts) == Decision(False, reason)
        assert facts.asked == ["address:sms"]


def test_quiet_hours_defer_rather_than_try_another_channel() -> None:
    night = Facts(ADDRESSES, consents={"sms": ("granted",)}, now=local("2026-03-10 22:00"))
    assert pick(night) == Decision(False, "quiet_hours", local("2026-03-11 08:00"))


def test_a_row_that_fell_through_before_starts_at_its_own_channel() -> None:
    facts = Facts(ADDRESSES, consents={"sms": ("granted",), "email": ("granted",)})
    assert pick(facts, row="email") == ("email", ADDRESSES["email"])
    assert "address:sms" not in facts.asked
    assert pick(Facts(ADDRESSES, consents={"sms": ("granted",)}), row="oa") == (
        "sms",
        ADDRESSES["sms"],
    )  # a channel the campaign no longer has: from the top


def test_a_channel_s_own_cap_tries_the_next_the_cap_over_all_channels_stops() -> None:
    consented = {"sms": ("granted",), "email": ("granted",)}
    own = Facts(ADDRESSES, consents=consented, caps={"sms": "cap:sms/day"})
    assert pick(own) == ("email", ADDRESSES["email"])
    both = Facts(
        ADDRESSES, consents=consented, caps={"sms": "cap:sms/day", "email": "cap:email/week"}
    )
    assert pick(both) == Decision(False, "cap:sms/day")
    every = Facts(ADDRESSES, consents=consented, caps={"sms": "cap:all/day"})
    assert pick(every) == Decision(False, "cap:all/day")
    assert "address:email" not in every.asked


def test_service_messages_are_not_capped_but_keep_the_per_number_limit() -> None:
    due = local("2026-03-10 12:01")
    service = Facts(ADDRESSES, purpose="service", caps={"sms": "cap:all/day"}, sms_room=due)
    assert pick(service) == Decision(False, "sms_number_limit", due)
    assert service.asked == ["address:sms", "sms_room"]


def test_the_sms_number_limit_defers_instead_of_falling_through() -> None:
    due = local("2026-03-10 12:01")
    facts = Facts(ADDRESSES, consents={"sms": ("granted",), "email": ("granted",)}, sms_room=due)
    assert pick(facts) == Decision(False, "sms_number_limit", due)


def test_wecom_s_monthly_quota_falls_through_to_the_next_channel() -> None:
    full = Facts(ADDRESSES, consents={"sms": ("granted",)}, wecom_full=True)
    assert pick(full, order=("wecom", "sms"), row="wecom") == ("sms", ADDRESSES["sms"])
    alone = Facts(ADDRESSES, wecom_full=True)
    assert pick(alone, order=("wecom",), row="wecom") == Decision(False, "wecom_monthly_quota")
    room = Facts(ADDRESSES)
    assert pick(room, order=("wecom",), row="wecom") == ("wecom", ADDRESSES["wecom"])
    assert room.asked == ["address:wecom", "cap:wecom", "wecom_quota"]  # no SMS limit asked
