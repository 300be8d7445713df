"""The simulated WeCom's state: one corp's address book, its customers and friendships, groups,
corp tags, contact ways and welcome codes, with WeCom's limits (5,000 friends per member, calls
per minute per API, welcome codes that live 20 s and work once) and injectable faults."""

from __future__ import annotations

import secrets
import string
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

FRIEND_CAP = 5000
WELCOME_CODE_SECONDS = 20
GROUP_CAP = 500
_ALNUM = string.ascii_letters + string.digits


def _rand(n: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(n))


@dataclass
class Staff:
    userid: str
    name: str
    departments: list[int]
    status: int = 1  # 1 active, 2 disabled, 4 not activated, 5 left
    contact_rights: bool = True


@dataclass
class Customer:
    """A WeChat user as the corp sees them."""

    external_userid: str
    name: str
    unionid: str | None = None
    gender: int = 0
    phone: str | None = None  # what a guide may write into the remark mobiles


@dataclass
class Follow:
    """A friendship: staff ``userid`` has customer ``external_userid``."""

    userid: str
    external_userid: str
    createtime: int
    remark: str = ""
    add_way: int = 1
    state: str = ""
    tag_ids: list[str] = field(default_factory=list)
    remark_mobiles: list[str] = field(default_factory=list)


@dataclass
class Group:
    chat_id: str
    name: str
    owner: str
    create_time: int
    members: dict[str, dict[str, Any]] = field(default_factory=dict)  # id → member info
    dismissed: bool = False


@dataclass
class ContactWay:
    config_id: str
    type: int
    scene: int
    users: list[str]
    state: str
    skip_verify: bool
    remark: str = ""

    base: str = "http://127.0.0.1:9300"

    @property
    def qr_code(self) -> str:
        """Where WeCom serves the QR image (the simulator serves it too)."""
        return f"{self.base}/sim/qr/{self.config_id}.png"


@dataclass
class WelcomeCode:
    code: str
    userid: str
    external_userid: str
    issued: float
    used: bool = False
    sent: dict[str, Any] | None = None
    used_at: float | None = None  # wall clock, for measuring welcome latency


@dataclass
class World:
    corp_id: str
    secret: str
    token: str
    aes_key: str
    api_per_minute: int = 10000
    base: str = "http://127.0.0.1:9300"  # where this simulator is served (for QR image URLs)
    clock: Any = time.time
    departments: dict[int, dict[str, Any]] = field(default_factory=dict)
    staff: dict[str, Staff] = field(default_factory=dict)
    customers: dict[str, Customer] = field(default_factory=dict)
    follows: dict[tuple[str, str], Follow] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    tag_groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    contact_ways: dict[str, ContactWay] = field(default_factory=dict)
    welcome_codes: dict[str, WelcomeCode] = field(default_factory=dict)
    tokens: dict[str, float] = field(default_factory=dict)  # token → expires (epoch s)
    faults: list[list[Any]] = field(default_factory=list)  # [api, errcode, times left]
    calls: dict[str, deque[float]] = field(default_factory=dict)
    call_log: list[tuple[str, int]] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)

    # -- address book -----------------------------------------------------------------------
    def add_department(self, dept_id: int, name: str, parent: int = 1) -> None:
        self.departments[dept_id] = {"id": dept_id, "name": name, "parentid": parent, "order": 0}

    def add_staff(self, userid: str, name: str, departments: list[int] | None = None) -> Staff:
        member = Staff(userid, name, departments or [1])
        self.staff[userid] = member
        return member

    def new_customer(
        self, name: str, unionid: str | None = None, phone: str | None = None
    ) -> Customer:
        c = Customer("wm" + _rand(30), name, unionid, phone=phone)
        self.customers[c.external_userid] = c
        return c

    def friends_of(self, userid: str) -> list[Follow]:
        return [f for (u, _e), f in self.follows.items() if u == userid]

    def friend_count(self, userid: str) -> int:
        return sum(1 for (u, _e) in self.follows if u == userid)

    # -- calls -------------------------------------------------------------------------------
    def new_token(self) -> str:
        token = _rand(64)
        self.tokens[token] = self.clock() + 7200
        return token

    def token_error(self, token: str | None) -> int:
        """0 if ``token`` is good, else WeCom's errcode for it."""
        if not token or token not in self.tokens:
            return 40014
        if self.tokens[token] <= self.clock():
            return 42001
        return 0

    def expire_tokens(self) -> None:
        """Every issued token expires now (the next call gets 42001)."""
        for token in self.tokens:
            self.tokens[token] = self.clock() - 1

    def inject(self, api: str, errcode: int, times: int = 1) -> None:
        """The next ``times`` calls of ``api`` answer ``errcode`` (45009, -1, 42001…)."""
        self.faults.append([api, errcode, times])

    def fault_for(self, api: str) -> int:
        for fault in self.faults:
            if fault[0] == api and fault[2] > 0:
                fault[2] -= 1
                return int(fault[1])
        return 0

    def over_limit(self, api: str) -> bool:
        now = self.clock()
        window = self.calls.setdefault(api, deque())
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) >= self.api_per_minute:
            return True
        window.append(now)
        return False

    # -- friendships and welcome codes ---------------------------------------------------------
    def befriend(
        self, userid: str, customer: Customer, *, state: str = "", add_way: int = 1
    ) -> Follow | None:
        """The customer adds ``userid``; None when the member is at the 5,000-friend cap."""
        if self.friend_count(userid) >= FRIEND_CAP:
            return None
        follow = Follow(
            userid, customer.external_userid, int(self.clock()), state=state, add_way=add_way
        )
        self.follows[(userid, customer.external_userid)] = follow
        return follow

    def issue_welcome_code(self, userid: str, external_userid: str) -> str:
        code = _rand(43)
        self.welcome_codes[code] = WelcomeCode(code, userid, external_userid, self.clock())
        return code

    def use_welcome_code(self, code: str, message: dict[str, Any]) -> int:
        """0 if the welcome message may be sent; 41051 if the code was used or has expired."""
        wc = self.welcome_codes.get(code)
        if wc is None or wc.used or self.clock() - wc.issued > WELCOME_CODE_SECONDS:
            return 41051
        wc.used, wc.sent, wc.used_at = True, message, time.time()
        return 0
