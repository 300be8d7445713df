"""WeCom in memory, for service tests: ``FakeWecomClient`` has the client's ``get``, ``post``,
``call`` and ``calls`` and answers from one corp held in dicts (staff, customers and their
friendships, groups, corp tags, contact ways, welcome codes, transfers), with WeCom's answer
shapes and errcodes for the calls Siyu makes (``fake_api``). Errors go through the real
client's handling (a token error refreshes once; a rate limit raises ``RateLimited`` and
backs that API off; busy or no answer is asked again twice unless ``retry=False``), and
``fail`` makes WeCom answer an errcode on demand.

The HTTP simulator (``siyu.simulators.wecom``) stays the WeCom of end-to-end tests; this fake
has no HTTP, no tokens and no clock of its own: a transfer waits until the test completes or
refuses it.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from siyu.wecom.connection.client import (
    BAD_RESPONSE,
    BUSY,
    NETWORK,
    RATE_LIMITED,
    TOKEN_ERRORS,
    CallRecord,
    RateLimited,
    WecomError,
)
from siyu.wecom.fake_api import (
    HANDLERS,
    FakeFollow,
    FakeStaff,
    FakeTransfer,
    J,
    add_corp_tag,
    err,
)

FRIEND_CAP = 5000


@dataclass
class Request:
    """One call as the service made it (each retry is one more)."""

    api: str
    params: J
    body: J
    member: str | None = None


class FakeWecomClient:
    """One corp. Build it with ``add_staff``, ``add_customer``, ``befriend``, ``add_group``,
    ``add_tag`` and ``issue_welcome_code`` (or write to the dicts); see what the services did
    in ``requests``, ``sent``, ``calls`` and the dicts."""

    def __init__(
        self,
        corp_id: str = "wwfake",
        *,
        backoff_seconds: int = 60,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.corp_id, self.backoff_seconds, self.clock = corp_id, backoff_seconds, clock
        self.calls: list[CallRecord] = []  # as the real client keeps them (record_calls)
        self.requests: list[Request] = []
        self.departments: dict[int, J] = {1: {"id": 1, "name": "总部", "parentid": 0}}
        self.staff: dict[str, FakeStaff] = {}
        self.customers: dict[str, J] = {}  # external_userid → external_contact
        self.follows: dict[tuple[str, str], FakeFollow] = {}  # (userid, external_userid)
        self.groups: dict[str, J] = {}  # chat_id → group_chat, with "dismissed"
        self.tag_groups: dict[str, J] = {}  # group_id → tag_group
        self.contact_ways: dict[str, J] = {}  # config_id → contact_way
        self.welcome_codes: dict[str, J] = {}  # code → userid, external_userid, sent
        self.transfers: list[FakeTransfer] = []
        self.sent: list[tuple[str, J]] = []  # (api, body) of every message WeCom took
        self.answers: dict[str, J] = {}  # canned answers of APIs the fake does not model
        self.friend_cap = FRIEND_CAP
        self.blocked_until: dict[str, float] = {}  # api → clock() value
        self._faults: list[list[Any]] = []
        self._ids = itertools.count(1)

    # -- the client's interface ----------------------------------------------------------------
    def get(self, api: str, **params: Any) -> dict[str, Any]:
        return self.call("GET", api, params=params)

    def post(
        self, api: str, body: dict[str, Any], member: str | None = None, *, retry: bool = True
    ) -> dict[str, Any]:
        return self.call("POST", api, body=body, member=member, retry=retry)

    def call(
        self,
        method: str,
        api: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        member: str | None = None,
        retry: bool = True,
    ) -> dict[str, Any]:
        refreshed, attempt = False, 0
        while True:
            until = self.blocked_until.get(api, 0.0)
            if until > self.clock():
                raise RateLimited(api, 45009, "backing off after a rate limit", until)
            data = self._answer(api, dict(params or {}), dict(body or {}), member)
            code = int(data.get("errcode", 0) or 0)
            if code == 0:
                return data
            msg = str(data.get("errmsg", ""))[:200]
            if code in TOKEN_ERRORS and not refreshed:
                refreshed = True
                self.calls.append(CallRecord("gettoken", 0, "ok", 0))
                continue
            if code in RATE_LIMITED:
                self.blocked_until[api] = self.clock() + self.backoff_seconds
                raise RateLimited(api, code, msg, self.blocked_until[api])
            if code in (BUSY, NETWORK, BAD_RESPONSE) and attempt < 2 and retry:
                attempt += 1
                continue
            raise WecomError(api, code, msg)

    def close(self) -> None:
        pass

    # -- faults and canned answers -------------------------------------------------------------
    def fail(self, api: str, errcode: int, times: int = 1, errmsg: str = "") -> None:
        """The next ``times`` calls of ``api`` answer ``errcode`` (``client.NETWORK``: none)."""
        self._faults.append([api, errcode, times, errmsg or "injected by the fake"])

    def answer(self, api: str, data: J) -> None:
        """From now on answer ``api`` (one ``fake_api`` does not model) with ``data``."""
        self.answers[api] = data

    def _answer(self, api: str, params: J, body: J, member: str | None) -> J:
        self.requests.append(Request(api, params, body, member))
        fault = next((f for f in self._faults if f[0] == api and f[2] > 0), None)
        if fault is not None:
            fault[2] -= 1
            data = err(fault[1], fault[3])
        elif api in self.answers:
            data = {"errcode": 0, "errmsg": "ok", **self.answers[api]}
        elif api in HANDLERS:
            data = HANDLERS[api](self, api, params, body)
        else:
            raise NotImplementedError(f"the fake WeCom does not model {api}: use answer()")
        self.calls.append(CallRecord(api, int(data["errcode"]), str(data["errmsg"])[:200], 0))
        return data

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):06d}"

    # -- building the corp ---------------------------------------------------------------------
    def add_staff(self, userid: str, name: str = "", **kw: Any) -> FakeStaff:
        member = self.staff[userid] = FakeStaff(userid, name or userid, **kw)
        return member

    def add_customer(self, name: str = "", unionid: str | None = None) -> str:
        """A WeChat user the corp can see; returns their external_userid."""
        ext = self.new_id("wm")
        self.customers[ext] = {"external_userid": ext, "name": name or ext, "type": 1}
        if unionid:
            self.customers[ext]["unionid"] = unionid
        return ext

    def befriend(self, userid: str, external_userid: str, **kw: Any) -> FakeFollow | None:
        """The customer adds the member; None when the member is at the friend cap."""
        if self.friend_count(userid) >= self.friend_cap:
            return None
        follow = FakeFollow(userid, external_userid, **kw)
        self.follows[(userid, external_userid)] = follow
        return follow

    def friend_count(self, userid: str) -> int:
        return sum(1 for u, _e in self.follows if u == userid)

    def add_group(self, owner: str, name: str = "") -> str:
        chat_id = self.new_id("wr")
        self.groups[chat_id] = {
            "chat_id": chat_id,
            "name": name,
            "owner": owner,
            "dismissed": False,
        }
        return chat_id

    def add_tag(self, group_name: str, name: str) -> str:
        """A corp tag in the group of that name (made if missing); returns the tag's id."""
        add_corp_tag(self, "", {}, {"group_name": group_name, "tag": [{"name": name}]})
        group = next(g for g in self.tag_groups.values() if g["group_name"] == group_name)
        return str(next(t["id"] for t in group["tag"] if t["name"] == name))

    def issue_welcome_code(self, userid: str, external_userid: str) -> str:
        """The code WeCom puts in an add's callback; it welcomes once."""
        code = self.new_id("wc")
        self.welcome_codes[code] = {"userid": userid, "external_userid": external_userid}
        return code

    def complete_transfers(self) -> None:
        """24 hours pass: each waiting transfer completes, the friendship moving to the
        takeover member, or fails if they are at the friend cap by now (status 4)."""
        for t in self.transfers:
            if t.status != 2:
                continue
            if self.friend_count(t.takeover) >= self.friend_cap:
                t.status = 4
                continue
            old = self.follows.pop((t.handover, t.external_userid), None)
            moved = FakeFollow(t.takeover, t.external_userid)
            if old is not None:
                moved.remark, moved.tag_ids = old.remark, list(old.tag_ids)
            self.follows[(t.takeover, t.external_userid)] = moved
            t.status = 1

    def refuse_transfer(self, external_userid: str) -> None:
        """The customer refuses the transfer waiting for them (status 3)."""
        for t in self.transfers:
            if t.external_userid == external_userid and t.status == 2:
                t.status = 3
