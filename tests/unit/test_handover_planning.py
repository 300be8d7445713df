"""Handover planning on plain values and the in-memory WeCom, without a database: who may hand
over to whom, what a handover lists (and what it does not ask for: a customer at WeCom's
two-on-job-transfers-in-90-days limit), calls of at most 100 customers per takeover member,
WeCom's answers taken item by item, and what may be retried to whom."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from siyu.wecom.connection.client import WecomError
from siyu.wecom.connection.models import WecomStaff
from siyu.wecom.contacts.alerts import FRIEND_CAP
from siyu.wecom.fakes import FakeWecomClient
from siyu.wecom.handover.models import Handover, HandoverItem
from siyu.wecom.handover.service import (
    BATCH,
    ONJOB_LIMIT,
    ONJOB_LIMIT_ERROR,
    RESULT_STATUS,
    HandoverError,
    Selection,
    check_members,
    check_room,
    handover_items,
    retryable,
)
from siyu.wecom.handover.transfers import batches, take_customer_answer, take_group_answer

pytestmark = pytest.mark.no_database

NOW = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)


def staff(userid: str, status: int = 1) -> WecomStaff:
    return WecomStaff(userid=userid, status=status)


def handover(kind: str = "onjob", giver: str = "guide001", taker: str = "guide002") -> Handover:
    return Handover(id=7, corp_id=1, kind=kind, handover_userid=giver, takeover_userid=taker)


def items_of(
    h: Handover,
    customers: list[str],
    groups: list[str] | None = None,
    earlier: dict[str, int] | None = None,
) -> list[HandoverItem]:
    made = handover_items(h, [(e, None) for e in customers], groups or [], earlier or {}, NOW)
    for i in made:
        i.attempts, i.errcode = 0, 0  # the columns' defaults, which a flush would give
    return made


# -- who may hand over to whom ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "giver", "taker", "refusal"),
    [
        ("onjob", 1, 1, None),
        ("onjob", 2, 1, None),  # a disabled member is still at the company
        ("onjob", 5, 1, "guide001 has left the company: use resigned inheritance"),
        ("resigned", 5, 1, None),
        ("resigned", 1, 1, "guide001 has not left the company: use an on-job transfer"),
        ("resigned", 2, 1, "guide001 has not left the company"),
        ("onjob", 1, 2, r"guide002 is not an active member \(status 2\)"),
        ("onjob", 1, 4, r"\(status 4\)"),  # not activated
        ("resigned", 5, 5, r"\(status 5\)"),
    ],
)
def test_who_may_hand_over_to_whom(kind: str, giver: int, taker: int, refusal: str | None) -> None:
    members = (staff("guide001", giver), staff("guide002", taker))
    if refusal is None:
        check_members(kind, *members)
    else:
        with pytest.raises(HandoverError, match=refusal):
            check_members(kind, *members)


def test_groups_move_only_with_the_whole_book() -> None:
    assert Selection().moves_groups
    assert not Selection(groups=False).moves_groups
    assert not Selection(tag="会员/金卡").moves_groups
    assert not Selection(live_code_id=3).moves_groups
    assert not Selection(external_userids=("wm1",)).moves_groups


# -- what a handover lists -------------------------------------------------------------------------
def test_every_customer_then_every_group_goes_to_the_takeover_member() -> None:
    items = handover_items(handover(), [("wm1", 11), ("wm2", None)], ["wr1"], {}, NOW)
    assert [(i.target_type, i.target_id, i.customer_id) for i in items] == [
        ("customer", "wm1", 11),
        ("customer", "wm2", None),
        ("group", "wr1", None),
    ]
    assert {(i.takeover_userid, i.status, i.handover_id, i.corp_id) for i in items} == {
        ("guide002", "queued", 7, 1)
    }


def test_a_customer_at_wecom_s_on_job_limit_fails_without_asking() -> None:
    assert ONJOB_LIMIT == 2
    earlier = {"wm1": ONJOB_LIMIT - 1, "wm2": ONJOB_LIMIT, "wm3": ONJOB_LIMIT + 1}
    items = items_of(handover(), ["wm1", "wm2", "wm3", "wm4"], earlier=earlier)
    assert [i.status for i in items] == ["queued", "failed", "failed", "queued"]
    assert (
        items[1].error
        == ONJOB_LIMIT_ERROR
        == ("WeCom allows 2 on-job transfers per customer in 90 days")
    )
    assert items[1].finished_at == NOW and items[0].finished_at is None
    assert not retryable(items[1])  # asking again cannot change WeCom's answer


# -- calls -----------------------------------------------------------------------------------------
def test_calls_take_at_most_100_customers_of_one_takeover_member() -> None:
    assert BATCH == 100
    items = items_of(handover(), [f"wm{n}" for n in range(250)])
    calls = batches(items)
    assert [(taker, len(group)) for taker, group in calls] == [
        ("guide002", 100),
        ("guide002", 100),
        ("guide002", 50),
    ]
    assert [i.target_id for _t, group in calls for i in group] == [i.target_id for i in items]
    assert batches([]) == []


def test_a_retry_to_another_member_is_its_own_call() -> None:
    items = items_of(handover(), ["wm1", "wm2", "wm3"])
    items[1].takeover_userid = "guide003"
    assert [(t, [i.target_id for i in g]) for t, g in batches(items)] == [
        ("guide002", ["wm1", "wm3"]),
        ("guide003", ["wm2"]),
    ]


def corp() -> FakeWecomClient:
    wecom = FakeWecomClient()
    for userid in ("guide001", "guide002", "guide003"):
        wecom.add_staff(userid)
    return wecom


def ask(wecom: FakeWecomClient, h: Handover, items: list[HandoverItem]) -> None:
    """What ``transfers.submit`` asks of WeCom for the customers, call by call."""
    path = "externalcontact/" + ("" if h.kind == "onjob" else "resigned/") + "transfer_customer"
    customers = [i for i in items if i.target_type == "customer" and i.status == "queued"]
    for taker, group in batches(customers):
        body = {
            "handover_userid": h.handover_userid,
            "takeover_userid": taker,
            "external_userid": [i.target_id for i in group],
        }
        take_customer_answer(group, wecom.post(path, body), NOW)


def settle(wecom: FakeWecomClient, h: Handover, items: list[HandoverItem]) -> None:
    """What ``transfers.check`` takes from transfer_result for the waiting customers."""
    path = "externalcontact/" + ("" if h.kind == "onjob" else "resigned/") + "transfer_result"
    for taker in sorted({i.takeover_userid for i in items if i.status == "waiting"}):
        answer = wecom.post(
            path,
            {"handover_userid": h.handover_userid, "takeover_userid": taker, "cursor": ""},
        )
        status = {c["external_userid"]: c["status"] for c in answer["customer"]}
        for i in items:
            if i.takeover_userid == taker and i.status == "waiting":
                outcome = RESULT_STATUS.get(status.get(i.target_id, 0), "failed")
                if outcome != "waiting":
                    i.status = outcome


def test_wecom_s_answer_is_taken_customer_by_customer() -> None:
    wecom = corp()
    mine = [wecom.add_customer() for _ in range(3)]
    for ext in mine[:2]:
        wecom.befriend("guide001", ext)
    earlier = handover(taker="guide003")  # the second is being transferred already
    ask(wecom, earlier, items_of(earlier, [mine[1]]))
    h = handover()
    items = items_of(h, mine)
    ask(wecom, h, items)
    assert [(i.status, i.errcode, i.attempts, i.submitted_at) for i in items] == [
        ("waiting", 0, 1, NOW),
        ("failed", 40129, 1, NOW),  # its first transfer's result decides
        ("failed", 84061, 1, NOW),  # no friend of the member
    ]
    assert items[2].error == "WeCom refused the transfer (errcode 84061)"
    assert [retryable(i) for i in items] == [False, False, False]


def test_a_customer_missing_from_the_answer_fails_as_unanswered() -> None:
    items = items_of(handover(), ["wm1", "wm2"])
    take_customer_answer(items, {"customer": [{"external_userid": "wm1", "errcode": 0}]}, NOW)
    assert [(i.status, i.errcode) for i in items] == [("waiting", 0), ("failed", -3)]
    assert retryable(items[1])


def test_groups_move_at_once_unless_wecom_lists_them_as_failed() -> None:
    wecom = corp()
    h = handover()
    standing, dismissed = wecom.add_group("guide001"), wecom.add_group("guide001")
    wecom.groups[dismissed]["dismissed"] = True
    items = items_of(h, [], [standing, dismissed])
    answer = wecom.post(
        "externalcontact/groupchat/onjob_transfer",
        {"chat_id_list": [standing, dismissed], "new_owner": "guide002"},
    )
    moved = take_group_answer(items, answer, NOW)
    assert moved == [items[0]] and wecom.groups[standing]["owner"] == "guide002"
    assert (items[0].status, items[0].finished_at) == ("succeeded", NOW)
    assert (items[1].status, items[1].errcode, items[1].error) == (
        "failed",
        40050,
        "invalid chatid",
    )


def test_refusal_full_takeover_and_the_retry_to_someone_else() -> None:
    wecom = corp()
    customers = [wecom.add_customer() for _ in range(4)]
    for ext in customers:
        wecom.befriend("guide001", ext)
    h = handover()
    items = items_of(h, customers)
    ask(wecom, h, items)
    assert {i.status for i in items} == {"waiting"}
    wecom.refuse_transfer(customers[0])  # the customer says no within 24 hours
    wecom.friend_cap = wecom.friend_count("guide002") + 2  # room for two more only
    wecom.complete_transfers()
    settle(wecom, h, items)
    assert [i.status for i in items] == ["refused", "succeeded", "succeeded", "limit"]
    assert {u for u, e in wecom.follows if e in customers[1:3]} == {"guide002"}
    # the refusal is the customer's choice; the full takeover goes to someone with room
    assert [retryable(i) for i in items] == [False, False, False, True]
    again = [i for i in items if retryable(i)]
    with pytest.raises(HandoverError, match="guide003 has room for 0 more customers only"):
        check_room("guide003", FRIEND_CAP, again)
    check_room("guide003", FRIEND_CAP - 1, again)  # exactly enough room
    for i in again:
        i.status, i.takeover_userid = "queued", "guide003"
    ask(wecom, h, items)
    wecom.complete_transfers()
    settle(wecom, h, items)
    assert [i.status for i in items] == ["refused", "succeeded", "succeeded", "succeeded"]
    assert items[3].attempts == 2
    assert ("guide003", customers[3]) in wecom.follows


def test_resigned_inheritance_is_for_a_member_who_left() -> None:
    wecom = corp()
    ext = wecom.add_customer()
    wecom.befriend("guide001", ext)
    h = handover("resigned")
    items = items_of(h, [ext])
    with pytest.raises(WecomError, match="not a resigned transfer") as refused:
        ask(wecom, h, items)  # WeCom refuses the whole call: guide001 has not left
    assert refused.value.errcode == 40058 and items[0].status == "queued"
    wecom.staff["guide001"].status = 5
    ask(wecom, h, items)
    wecom.complete_transfers()
    settle(wecom, h, items)
    assert items[0].status == "succeeded" and ("guide002", ext) in wecom.follows


def test_wecom_takes_no_more_than_100_customers_a_call() -> None:
    wecom = corp()
    customers = [wecom.add_customer() for _ in range(BATCH + 1)]
    body = {"handover_userid": "guide001", "takeover_userid": "guide002"}
    with pytest.raises(WecomError, match="1 to 100"):
        wecom.post("externalcontact/transfer_customer", {**body, "external_userid": customers})
    answer = wecom.post(
        "externalcontact/transfer_customer", {**body, "external_userid": customers[:BATCH]}
    )
    assert len(answer["customer"]) == BATCH


@pytest.mark.parametrize(
    ("status", "errcode", "error", "again"),
    [
        ("limit", 0, None, True),
        ("failed", 0, "WeCom said: busy", True),
        ("failed", 60111, "userid not found", True),
        ("failed", 84061, None, False),
        ("failed", 40129, None, False),
        ("failed", 0, ONJOB_LIMIT_ERROR, False),
        ("refused", 0, None, False),
        ("waiting", 0, None, False),
        ("succeeded", 0, None, False),
        ("queued", 0, None, False),
    ],
)
def test_what_may_be_retried(status: str, errcode: int, error: str | None, again: bool) -> None:
    item = HandoverItem(status=status, errcode=errcode, error=error, target_type="customer")
    assert retryable(item) is again


def test_a_retry_needs_room_for_the_customers_not_the_groups() -> None:
    h = handover()
    items = items_of(h, ["wm1", "wm2"], ["wr1", "wr2", "wr3"])
    check_room("guide003", FRIEND_CAP - 2, items)
    with pytest.raises(HandoverError, match="room for 1 more"):
        check_room("guide003", FRIEND_CAP - 1, items)
    check_room("guide003", FRIEND_CAP, items[2:])  # groups only
