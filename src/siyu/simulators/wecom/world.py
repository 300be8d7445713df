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
class Transfer:
    """A customer being handed from one member to another: WeCom completes it
    ``transfer_delay`` seconds after it was asked (24 h), unless the customer refuses or the
    takeover member is at the friend cap by then."""

    kind: str  # onjob | resigned
    handover: str
    takeover: str
    external_userid: str
    asked: float
    status: int = 2  # 1 done, 2 waiting, 3 refused, 4 takeover at the cap
    takeover_time: int = 0


@dataclass
class KfState:
    """One customer's conversation with a WeChat Customer Service account: when they last
    wrote (the 48 h reply window starts there) and how many replies were sent since (≤ 5)."""

    last_customer_at: float
    replies: int = 0


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
    agent_id: str = "1000002"
    kf_accounts: dict[str, str] = field(default_factory=dict)  # open_kfid → name
    kf_messages: list[dict[str, Any]] = field(default_factory=list)
    kf_tokens: dict[str, float] = field(default_factory=dict)  # sync token → expires
    kf_state: dict[tuple[str, str], KfState] = field(default_factory=dict)
    kf_sent: list[dict[str, Any]] = field(default_factory=list)
    app_sent: list[dict[str, Any]] = field(default_factory=list)
    transfers: list[Transfer] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)  # state of optional API modules
    contact_ways_qr: set[str] = field(default_factory=set)  # other codes the QR route serves
    transfer_delay: float = 86400.0
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

    # -- WeChat Customer Service and the app ----------------------------------------------------
    def add_kf_account(self, name: str) -> str:
        open_kfid = "wk" + _rand(30)
        self.kf_accounts[open_kfid] = name
        return open_kfid

    def customer_writes_kf(self, open_kfid: str, external_userid: str, text: str) -> str:
        """A customer writes to a customer-service account; returns the sync token WeCom puts
        in the kf_msg_or_event callback (valid 10 minutes)."""
        now = self.clock()
        self.kf_messages.append(
            {
                "msgid": _rand(32),
                "open_kfid": open_kfid,
                "external_userid": external_userid,
                "send_time": int(now),
                "origin": 3,
                "msgtype": "text",
                "text": {"content": text},
            }
        )
        self.kf_state[(open_kfid, external_userid)] = KfState(now)
        token = "ENC" + _rand(40)
        self.kf_tokens[token] = now + 600
        return token

    # -- handover ---------------------------------------------------------------------------------
    def pending_transfer(self, external_userid: str) -> Transfer | None:
        return next(
            (t for t in self.transfers if t.external_userid == external_userid and t.status == 2),
            None,
        )

    def settle_transfers(self) -> None:
        """Complete every transfer whose 24 hours have passed: the friendship moves to the
        takeover member, or fails because they are at the cap."""
        now = self.clock()
        for t in self.transfers:
            if t.status != 2 or now - t.asked < self.transfer_delay:
                continue
            old = self.follows.pop((t.handover, t.external_userid), None)
            if self.friend_count(t.takeover) >= FRIEND_CAP:
                t.status = 4
                if old is not None:
                    self.follows[(t.handover, t.external_userid)] = old
                continue
            moved = Follow(
                t.takeover,
                t.external_userid,
                int(now),
                remark=old.remark if old else "",
                add_way=old.add_way if old else 0,
                tag_ids=list(old.tag_ids) if old else [],
                remark_mobiles=list(old.remark_mobiles) if old else [],
            )
            self.follows[(t.takeover, t.external_userid)] = moved
            t.status, t.takeover_time = 1, int(now)
