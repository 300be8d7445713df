"""The in-memory WeCom keeps the real client's promises: the same methods, the same call
records, and the same handling of WeCom's errors (checked against the real client over a mock
transport), with errors on demand and corp state the services change."""

from __future__ import annotations

import inspect
import itertools
from typing import Any

import httpx
import pytest

from siyu.wecom.connection import client as wc
from siyu.wecom.connection.client import BUSY, NETWORK, RateLimited, WecomClient, WecomError
from siyu.wecom.fakes import FakeWecomClient

pytestmark = pytest.mark.no_database

API = "externalcontact/get_follow_user_list"
_corps = itertools.count(1)


@pytest.mark.parametrize("name", ["get", "post", "call", "close"])
def test_the_fake_has_the_client_s_methods(name: str) -> None:
    assert inspect.signature(getattr(FakeWecomClient, name)) == inspect.signature(
        getattr(WecomClient, name)
    )
    assert hasattr(FakeWecomClient(), "calls")


def real_client(errcodes: list[int]) -> WecomClient:
    """The real client over a transport that answers ``errcodes`` in turn, then success."""
    answers = list(errcodes)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/gettoken"):
            return httpx.Response(200, json={"errcode": 0, "access_token": "t", "expires_in": 7200})
        code = answers.pop(0) if answers else 0
        if code == NETWORK:
            raise httpx.ConnectError("refused")
        return httpx.Response(200, json={"errcode": code, "errmsg": "x", "follow_user": []})

    return WecomClient(
        corp_id=f"wwparity{next(_corps)}",  # the token cache and limits are process-wide
        secret="s",
        base="http://wecom.invalid",
        transport=httpx.MockTransport(handler),
        sleep=lambda _s: None,
    )


def fake_client(errcodes: list[int]) -> FakeWecomClient:
    fake = FakeWecomClient()
    for code in errcodes:
        fake.fail(API, code)
    return fake


def outcome(client: Any, retry: bool) -> tuple[str, list[tuple[str, int]]]:
    try:
        client.post(API, {}, retry=retry)
        result = "ok"
    except RateLimited as exc:
        result = f"RateLimited {exc.errcode}"
    except WecomError as exc:
        result = f"WecomError {exc.errcode} transient={exc.transient}"
    calls = [(c.api, c.errcode) for c in client.calls]
    if calls and calls[0][0] == "gettoken":
        calls = calls[1:]  # the real client's first token (the fake has none to fetch)
    return result, calls


@pytest.mark.parametrize(
    ("errcodes", "retry", "expected"),
    [
        ([], True, "ok"),
        ([BUSY, BUSY], True, "ok"),  # asked again twice
        ([BUSY, BUSY, BUSY], True, "WecomError -1 transient=True"),
        ([BUSY], False, "WecomError -1 transient=True"),  # never again without retry
        ([NETWORK, NETWORK], True, "ok"),
        ([NETWORK], False, "WecomError -2 transient=True"),
        ([42001], True, "ok"),  # a token error refreshes the token once
        ([42001, 40014], True, "WecomError 40014 transient=False"),
        ([45009], True, "RateLimited 45009"),
        ([45033], False, "RateLimited 45033"),
        ([60111], True, "WecomError 60111 transient=False"),
        ([45011], True, "WecomError 45011 transient=True"),  # transient, but not asked again
    ],
)
def test_errors_are_handled_as_the_real_client_handles_them(
    errcodes: list[int], retry: bool, expected: str
) -> None:
    real = outcome(real_client(errcodes), retry)
    fake = outcome(fake_client(errcodes), retry)
    assert real[0] == fake[0] == expected
    assert real[1] == fake[1]


def test_a_rate_limit_backs_the_api_off_without_asking_again() -> None:
    now = [1000.0]
    fake = FakeWecomClient(clock=lambda: now[0], backoff_seconds=60)
    fake.fail(API, 45009)
    with pytest.raises(RateLimited) as first:
        fake.get(API)
    assert first.value.retry_at == 1060.0
    now[0] = 1059.0
    with pytest.raises(RateLimited):
        fake.get(API)
    assert fake.get("department/list")["errcode"] == 0  # other APIs are not held back
    assert len([r for r in fake.requests if r.api == API]) == 1
    now[0] = 1060.0
    assert fake.get(API)["follow_user"] == []


def test_the_calls_are_kept_as_the_status_page_reads_them() -> None:
    fake = FakeWecomClient()
    fake.add_staff("guide001")
    fake.fail("externalcontact/get", 40096, errmsg="invalid external userid")
    with pytest.raises(WecomError):
        fake.get("externalcontact/get", external_userid="wm1")
    fake.post(
        "message/send", {"touser": "guide001", "text": {"content": "您好"}}, member="guide001"
    )
    assert [(c.api, c.errcode, c.errmsg, c.elapsed_ms) for c in fake.calls] == [
        ("externalcontact/get", 40096, "invalid external userid", 0),
        ("message/send", 0, "ok", 0),
    ]
    assert fake.requests[1].member == "guide001"
    assert fake.sent == [("message/send", {"touser": "guide001", "text": {"content": "您好"}})]
    assert wc.ERRCODE_MEANING[40096] in str(WecomError("x", 40096, ""))


def test_what_the_fake_does_not_model_is_refused_loudly_or_answered_as_told() -> None:
    fake = FakeWecomClient()
    with pytest.raises(NotImplementedError, match="kf/sync_msg"):
        fake.post("kf/sync_msg", {})
    fake.answer("kf/sync_msg", {"msg_list": [], "has_more": 0})
    assert fake.post("kf/sync_msg", {})["msg_list"] == []


def test_customers_friendships_and_tags() -> None:
    fake = FakeWecomClient()
    fake.add_staff("guide001", "小王")
    ext = fake.add_customer("张三", unionid="u1")
    fake.befriend("guide001", ext, state="lc1", remark_mobiles=["13900000001"])
    got = fake.get("externalcontact/get", external_userid=ext)
    assert got["external_contact"]["unionid"] == "u1"
    assert got["follow_user"][0]["state"] == "lc1"
    tag = fake.add_tag("渠道", "门店")
    fake.post(
        "externalcontact/mark_tag", {"userid": "guide001", "external_userid": ext, "add_tag": [tag]}
    )
    assert fake.follows[("guide001", ext)].tag_ids == [tag]
    with pytest.raises(WecomError) as unknown:
        fake.post(
            "externalcontact/mark_tag",
            {"userid": "guide001", "external_userid": ext, "add_tag": ["nope"]},
        )
    assert unknown.value.errcode == 40068
    page = fake.post(
        "externalcontact/batch/get_by_user", {"userid_list": ["guide001"], "limit": 100}
    )
    assert [c["follow_info"]["userid"] for c in page["external_contact_list"]] == ["guide001"]


def test_a_member_at_the_friend_cap_takes_no_more_customers() -> None:
    fake = FakeWecomClient()
    fake.add_staff("guide001")
    fake.friend_cap = 2
    added = [fake.befriend("guide001", fake.add_customer()) for _ in range(3)]
    assert [a is not None for a in added] == [True, True, False]


def test_a_welcome_code_welcomes_once() -> None:
    fake = FakeWecomClient()
    code = fake.issue_welcome_code("guide001", "wm1")
    body = {"welcome_code": code, "text": {"content": "欢迎"}}
    fake.post("externalcontact/send_welcome_msg", body)
    with pytest.raises(WecomError) as again:
        fake.post("externalcontact/send_welcome_msg", body)
    assert again.value.errcode == 41051
    assert fake.welcome_codes[code]["sent"] == body
