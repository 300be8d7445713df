"""Live-code rotation on plain values and the in-memory WeCom, without a database: the turn
order (round robin, weighted), who takes the next add (from the code's turn, wrapping around,
past members at their daily limit or near WeCom's friend cap), who a new code starts with, and
the contact way at WeCom following the code."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from siyu.wecom.connection.client import RateLimited, WecomError
from siyu.wecom.fakes import FakeWecomClient
from siyu.wecom.live_codes.models import LiveCode, LiveCodeStaff
from siyu.wecom.live_codes.service import (
    LiveCodeError,
    StaffSpec,
    first_member,
    next_member,
    parse_staff,
    switch_to,
    turn_order,
)

pytestmark = pytest.mark.no_database

STOP_AT = 4800  # the setting's default: stop routing adds to a member this close to 5,000


def members(text: str) -> list[LiveCodeStaff]:
    """The code's members as create_live_code stores them: in the order listed."""
    return [
        LiveCodeStaff(staff_userid=s.userid, weight=s.weight, daily_limit=s.daily_limit, position=i)
        for i, s in enumerate(parse_staff(text))
    ]


def order(text: str, rotation: str = "round_robin") -> list[str]:
    return [m.staff_userid for m in turn_order(members(text), rotation)]


def test_staff_are_written_userid_weight_daily_limit() -> None:
    assert parse_staff("guide001:3:200, guide002,,guide003") == [
        StaffSpec("guide001", 3, 200),
        StaffSpec("guide002", 1, 0),
        StaffSpec("guide003", 1, 0),
    ]
    for bad in ("guide001:0", "guide001:101", "guide 001", "guide001:1:2:3"):
        with pytest.raises(LiveCodeError):
            parse_staff(bad)


def test_round_robin_takes_each_member_once_in_the_listed_order() -> None:
    assert order("c,a,b") == ["c", "a", "b"]
    assert order("a:3,b:1") == ["a", "b"]  # weights count only when weighted
    shuffled = members("a,b,c")[::-1]
    assert [m.staff_userid for m in turn_order(shuffled, "round_robin")] == ["a", "b", "c"]


def test_weighted_gives_a_member_weight_turns_in_a_row() -> None:
    assert order("a:3,b:1", "weighted") == ["a", "a", "a", "b"]
    assert order("a:1,b:2,c:1", "weighted") == ["a", "b", "b", "c"]


def pick(
    text: str,
    turn: int,
    *,
    adds: dict[str, int] | None = None,
    friends: dict[str, int] | None = None,
    rotation: str = "round_robin",
) -> str | None:
    cycle = turn_order(members(text), rotation)
    counts = dict.fromkeys((m.staff_userid for m in cycle), 0) | (friends or {})
    return next_member(cycle, turn, adds or {}, counts, STOP_AT)


def test_the_turn_picks_the_member_and_wraps_around() -> None:
    assert [pick("a,b,c", t) for t in range(7)] == ["a", "b", "c", "a", "b", "c", "a"]
    assert pick("a,b,c", 3000) == "a"


def test_a_member_at_their_daily_limit_is_passed_over() -> None:
    assert pick("a:1:2,b", 0, adds={"a": 1}) == "a"  # one below the limit
    assert pick("a:1:2,b", 0, adds={"a": 2}) == "b"  # at it
    assert pick("a:1:0,b", 0, adds={"a": 10_000}) == "a"  # 0: no limit
    assert pick("a,b:1:1", 1, adds={"b": 1}) == "a"  # the last one full: wrap to the first


def test_a_member_near_the_friend_cap_is_passed_over() -> None:
    assert pick("a,b", 0, friends={"a": STOP_AT - 1}) == "a"
    assert pick("a,b", 0, friends={"a": STOP_AT}) == "b"
    assert pick("a,b", 1, friends={"b": 5000}) == "a"


def test_nobody_when_every_member_is_full() -> None:
    assert pick("a:1:1,b:1:1", 0, adds={"a": 1, "b": 1}) is None
    assert pick("a,b:1:3", 5, friends={"a": STOP_AT}, adds={"b": 3}) is None
    assert next_member([], 0, {}, {}, STOP_AT) is None


def test_weighted_turns_skip_a_full_member_s_whole_share() -> None:
    # a's three turns are passed over while a is at the cap; b takes them
    got = [pick("a:3,b", t, friends={"a": STOP_AT}, rotation="weighted") for t in range(4)]
    assert got == ["b"] * 4


def test_a_new_code_starts_with_the_first_member_who_has_room() -> None:
    staff = parse_staff("a,b,c")
    assert first_member(staff, {"a": 0, "b": 0, "c": 0}, STOP_AT) == "a"
    assert first_member(staff, {"a": STOP_AT, "b": 4799, "c": 0}, STOP_AT) == "b"
    assert first_member(staff, dict.fromkeys("abc", 5000), STOP_AT) == "a"  # all full: the first


# -- a code taking adds, its contact way at WeCom following it -----------------------------------
@dataclass
class Counter:
    """A live code at the counter: what Siyu knows of it and of its members today."""

    staff: str
    rotation: str = "round_robin"
    stop_at: int = STOP_AT
    wecom: FakeWecomClient = field(default_factory=FakeWecomClient)
    adds: dict[str, int] = field(default_factory=dict)
    friends: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        specs = parse_staff(self.staff)
        for s in specs:
            self.wecom.add_staff(s.userid)
            self.friends.setdefault(s.userid, 0)
        first = first_member(specs, self.friends, self.stop_at)
        made = self.wecom.post(
            "externalcontact/add_contact_way",
            {"type": 2, "scene": 2, "state": "lc0123456789ab", "user": [first]},
        )
        self.code = LiveCode(
            config_id=made["config_id"], turn=0, current_userid=first, rotation=self.rotation
        )

    def scan(self) -> str:
        """A customer scans: the member behind the QR gets the add, the code takes its turn
        and moves to the next member (``credit_add``'s rule, then ``switch_to``)."""
        way = self.wecom.contact_ways[self.code.config_id]
        got = way["user"][0]
        self.adds[got] = self.adds.get(got, 0) + 1
        self.friends[got] += 1
        self.code.turn += 1
        cycle = turn_order(members(self.staff), self.rotation)
        nxt = next_member(cycle, self.code.turn, self.adds, self.friends, self.stop_at)
        if nxt is not None and nxt != self.code.current_userid:
            switch_to(self.wecom, self.code, nxt)
        return str(got)


def test_round_robin_at_the_counter() -> None:
    counter = Counter("guide001,guide002,guide003")
    assert [counter.scan() for _ in range(6)] == ["guide001", "guide002", "guide003"] * 2
    updates = [r.body["user"] for r in counter.wecom.requests if "update" in r.api]
    assert updates == [["guide002"], ["guide003"], ["guide001"]] * 2


def test_weighted_rotation_until_a_daily_limit() -> None:
    counter = Counter("guide001:3,guide002:1:2", rotation="weighted")
    who = [counter.scan() for _ in range(14)]
    # weight 3:1 until guide002 has its 2 adds of the day; then guide001 takes every add
    assert (
        who == ["guide001"] * 3 + ["guide002"] + ["guide001"] * 3 + ["guide002"] + ["guide001"] * 6
    )
    # WeCom is asked only when the member changes
    assert sum(1 for r in counter.wecom.requests if "update" in r.api) == 4


def test_a_full_code_stays_with_its_last_member() -> None:
    counter = Counter("guide001,guide002", stop_at=3)
    who = [counter.scan() for _ in range(8)]
    assert who[:6] == ["guide001", "guide002"] * 3
    assert who[6:] == ["guide002", "guide002"]  # nobody has room: the QR keeps its member
    assert counter.code.current_userid == "guide002"


def test_a_new_code_skips_a_member_already_near_the_cap() -> None:
    wecom = FakeWecomClient()
    counter = Counter("guide001,guide002", wecom=wecom, friends={"guide001": STOP_AT})
    assert counter.code.current_userid == "guide002"
    assert wecom.contact_ways[counter.code.config_id]["user"] == ["guide002"]
    assert [counter.scan() for _ in range(3)] == ["guide002"] * 3


def test_the_code_moves_only_when_wecom_took_the_change() -> None:
    counter = Counter("guide001,guide002")
    code, wecom = counter.code, counter.wecom
    wecom.fail("externalcontact/update_contact_way", 45009)
    with pytest.raises(RateLimited):
        switch_to(wecom, code, "guide002")
    assert code.current_userid == "guide001"
    with pytest.raises(RateLimited):  # backing off: WeCom is not asked again meanwhile
        switch_to(wecom, code, "guide002")
    assert [c.errcode for c in wecom.calls if "update" in c.api] == [45009]
    wecom.blocked_until.clear()
    with pytest.raises(WecomError) as refused:
        switch_to(wecom, code, "ghost")  # WeCom knows no such member
    assert refused.value.errcode == 60111 and code.current_userid == "guide001"
    switch_to(wecom, code, "guide002")
    assert code.current_userid == "guide002"
    assert wecom.contact_ways[code.config_id]["user"] == ["guide002"]
