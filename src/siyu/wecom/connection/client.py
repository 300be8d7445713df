"""Our own thin WeCom API client (DESIGN §3, §5): the few calls Siyu makes, made carefully.

- access_token cached per (corp, secret), refreshed by one thread at a time (single flight);
  42001/40014/40082 → refresh once and retry once.
- client-side rate limits per corp and API, and per staff member for messages to staff,
  because WeCom silently drops what exceeds its limits.
- 45009/45033 (rate limited) → that API is not called again for ≥ 60 s plus jitter.
- errors classified: transient (-1 busy, rate limits, network) may be retried later; the rest
  are permanent and are not retried.
- every call is logged and kept (``calls``) with its errcode, for the status page.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from siyu import runtime

log = logging.getLogger("siyu.wecom")

TOKEN_ERRORS = {40014, 42001, 40082}
RATE_LIMITED = {45009, 45033}
BUSY = -1
NETWORK = -2  # our own code: no answer (timeout, refused connection)
BAD_RESPONSE = -3  # our own code: an answer that is not WeCom JSON
TRANSIENT = RATE_LIMITED | {BUSY, NETWORK, BAD_RESPONSE, 45011}

ERRCODE_MEANING = {
    -1: "WeCom busy",
    40001: "wrong secret",
    40013: "wrong corp id",
    40014: "invalid access_token",
    40096: "invalid external_userid",
    41051: "welcome code already used or expired",
    42001: "access_token expired",
    45009: "API call frequency out of limit",
    45033: "API concurrency out of limit",
    60111: "userid not found",
    84061: "not an external contact of this member",
    95000: "invalid open_kfid",
    95001: "customer-service reply limit reached (5 per customer message)",
    95018: "customer-service session not open (48 h reply window passed)",
}


class WecomError(Exception):
    """WeCom answered with an error (or did not answer). ``transient`` says whether trying again
    later may succeed; permanent errors (wrong secret, unknown user…) are not retried."""

    def __init__(self, api: str, errcode: int, errmsg: str) -> None:
        meaning = ERRCODE_MEANING.get(errcode, "")
        super().__init__(
            f"{api}: errcode {errcode} {errmsg}" + (f" ({meaning})" if meaning else "")
        )
        self.api, self.errcode, self.errmsg = api, errcode, errmsg

    @property
    def transient(self) -> bool:
        return self.errcode in TRANSIENT


class RateLimited(WecomError):
    """45009/45033, or still inside the back-off that followed one: ``retry_at`` (monotonic
    clock) says when the API may be called again."""

    def __init__(self, api: str, errcode: int, errmsg: str, retry_at: float) -> None:
        super().__init__(api, errcode, errmsg)
        self.retry_at = retry_at


@dataclass
class CallRecord:
    api: str
    errcode: int
    errmsg: str
    elapsed_ms: int


class _TokenCache:
    """Process-wide: tokens are per (corp, secret) and live 2 hours; every client shares them."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: tuple[str, str], fetch: Callable[[], tuple[str, int]], now: float) -> str:
        hit = self._tokens.get(key)
        if hit and hit[1] > now:
            return hit[0]
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:  # one refresh per key at a time; the others wait and take its result
            hit = self._tokens.get(key)
            if hit and hit[1] > now:
                return hit[0]
            token, expires_in = fetch()
            self._tokens[key] = (token, now + max(60, expires_in - 300))
            return token

    def invalidate(self, key: tuple[str, str], token: str) -> None:
        with self._guard:
            if self._tokens.get(key, ("", 0))[0] == token:
                del self._tokens[key]

    def clear(self) -> None:
        with self._guard:
            self._tokens.clear()


TOKENS = _TokenCache()
runtime.forgets("wecom.client.tokens", TOKENS.clear)


class _Window:
    """At most ``limit`` events per 60 s (a sliding window of timestamps)."""

    def __init__(self, limit: int) -> None:
        self.limit, self.times = limit, deque[float]()

    def wait_time(self, now: float) -> float:
        while self.times and self.times[0] <= now - 60:
            self.times.popleft()
        return 0.0 if len(self.times) < self.limit else self.times[0] + 60 - now


class _Limits:
    """Process-wide client-side limits and back-offs, keyed by corp."""

    def __init__(self) -> None:
        self.windows: dict[tuple[str, ...], _Window] = {}
        self.blocked_until: dict[tuple[str, str], float] = {}
        self.lock = threading.Lock()

    def take(self, key: tuple[str, ...], limit: int, clock: Callable[[], float]) -> float:
        """Reserve a slot; returns how long to wait first (0 if none)."""
        with self.lock:
            window = self.windows.setdefault(key, _Window(limit))
            window.limit = limit
            now = clock()
            wait = window.wait_time(now)
            window.times.append(now + wait)
            return wait

    def clear(self) -> None:
        with self.lock:
            self.windows.clear()
            self.blocked_until.clear()


LIMITS = _Limits()
runtime.forgets("wecom.client.limits", LIMITS.clear)


@dataclass
class WecomClient:
    """Calls for one corp. ``base`` is WeCom's address or the simulator's."""

    corp_id: str
    secret: str
    base: str
    per_minute: int = 6000
    member_per_minute: int = 30
    backoff_seconds: int = 60
    timeout: float = 10.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    transport: httpx.BaseTransport | None = None
    calls: list[CallRecord] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._http = httpx.Client(
            base_url=self.base.rstrip("/") + "/cgi-bin/",
            timeout=self.timeout,
            transport=self.transport,
        )
        secret_digest = hashlib.sha256(self.secret.encode()).hexdigest()[:16]
        self._token_key = (self.corp_id, secret_digest)

    def close(self) -> None:
        self._http.close()

    # -- the one way out -----------------------------------------------------------------------
    def get(self, api: str, **params: Any) -> dict[str, Any]:
        return self.call("GET", api, params=params)

    def post(
        self, api: str, body: dict[str, Any], member: str | None = None, *, retry: bool = True
    ) -> dict[str, Any]:
        """``retry=False`` for calls that create something WeCom gives no idempotency key for
        (a mass-send task): a lost answer is then the caller's to reconcile, never re-sent."""
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
        refreshed = False
        attempt = 0
        while True:
            self._respect_backoff(api)
            self._pace(("api", self.corp_id, api), self.per_minute)
            if member:
                self._pace(("member", self.corp_id, member), self.member_per_minute)
            token = TOKENS.get(self._token_key, self._fetch_token, self.clock())
            data = self._send(method, api, {**(params or {}), "access_token": token}, body)
            code = int(data.get("errcode", 0) or 0)
            if code == 0:
                return data
            msg = str(data.get("errmsg", ""))[:200]
            if code in TOKEN_ERRORS and not refreshed:
                TOKENS.invalidate(self._token_key, token)
                refreshed = True
                continue
            if code in RATE_LIMITED:
                raise RateLimited(api, code, msg, self._block(api))
            if code in (BUSY, NETWORK, BAD_RESPONSE) and attempt < 2 and retry:
                attempt += 1
                self.sleep(0.2 * 2**attempt * (1 + random.random()))
                continue
            raise WecomError(api, code, msg)

    def _send(
        self, method: str, api: str, params: dict[str, Any], body: dict[str, Any] | None
    ) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            resp = self._http.request(method, api, params=params, json=body)
            data = resp.json()
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except httpx.HTTPError as exc:
            data = {"errcode": NETWORK, "errmsg": f"{type(exc).__name__}: {exc}"[:200]}
        except ValueError:
            data = {"errcode": BAD_RESPONSE, "errmsg": f"HTTP {resp.status_code}, not JSON"}
        self._record(api, data, started)
        return data

    def _record(self, api: str, data: dict[str, Any], started: float) -> None:
        code = int(data.get("errcode", 0) or 0)
        rec = CallRecord(
            api, code, str(data.get("errmsg", ""))[:200], int((time.perf_counter() - started) * 1e3)
        )
        self.calls.append(rec)
        level = logging.INFO if code == 0 else logging.WARNING
        log.log(level, "wecom %s %s errcode=%s %sms", self.corp_id, api, code, rec.elapsed_ms)

    def _fetch_token(self) -> tuple[str, int]:
        started = time.perf_counter()
        try:
            resp = self._http.get(
                "gettoken", params={"corpid": self.corp_id, "corpsecret": self.secret}
            )
            data = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            data = {"errcode": NETWORK, "errmsg": f"{type(exc).__name__}: {exc}"[:200]}
        self._record("gettoken", data, started)
        code = int(data.get("errcode", 0) or 0)
        if code or not data.get("access_token"):
            raise WecomError("gettoken", code or BAD_RESPONSE, str(data.get("errmsg", "")))
        return str(data["access_token"]), int(data.get("expires_in", 7200))

    # -- limits --------------------------------------------------------------------------------
    def _pace(self, key: tuple[str, ...], limit: int) -> None:
        wait = LIMITS.take(key, limit, self.clock)
        if wait > 0:
            self.sleep(wait)

    def _respect_backoff(self, api: str) -> None:
        until = LIMITS.blocked_until.get((self.corp_id, api), 0.0)
        if until > self.clock():
            raise RateLimited(api, 45009, "backing off after a rate limit", until)

    def _block(self, api: str) -> float:
        until = self.clock() + self.backoff_seconds * (1 + random.random() / 4)
        with LIMITS.lock:
            LIMITS.blocked_until[(self.corp_id, api)] = until
        log.warning(
            "wecom %s %s rate limited; backing off until +%.0fs",
            self.corp_id,
            api,
            until - self.clock(),
        )
        return until
