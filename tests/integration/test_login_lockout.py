"""The login lockout holds under concurrency: attempts are reserved in the database before a
password is checked, so thirty wrong passwords at once get at most ``login_max_failures`` checks,
in one process or spread over several."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from siyu.accounts import service, throttle
from siyu.accounts.models import LoginSession

PASSWORD = "correct-horse-battery"


def _user(settings, username: str = "target") -> None:  # type: ignore[no-untyped-def]
    from siyu.db import session_scope

    with session_scope() as s:
        service.create_user(s, settings, username, PASSWORD, "operator")


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the password checks (argon2 verifications) made from now on."""
    seen = [0]
    lock = threading.Lock()
    real = service._verify

    def verify(password_hash: str, password: str) -> bool:
        with lock:
            seen[0] += 1
        return real(password_hash, password)

    monkeypatch.setattr(service, "_verify", verify)
    return seen


def _attempt(settings, username: str, password: str, address: str) -> str:  # type: ignore[no-untyped-def]
    from siyu.db import session_scope

    try:
        with session_scope() as s:
            service.login(s, settings, username, password, address)
    except service.LoginRefused as exc:
        return exc.code
    return "ok"


def _parallel(n: int, attempt: Callable[[int], str]) -> list[str]:
    start = threading.Barrier(n)
    out: list[str] = [""] * n

    def run(i: int) -> None:
        start.wait()
        try:
            out[i] = attempt(i)
        except Exception as exc:  # a deadlock or a lock timeout fails the test, not the thread
            out[i] = repr(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(out) <= {"ok", "wrong", "locked"}, out
    return out


def test_thirty_parallel_wrong_passwords_get_at_most_the_limit_of_checks(
    settings, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    _user(settings)
    checks = _counting(monkeypatch)
    out = _parallel(30, lambda i: _attempt(settings, "target", f"wrong-{i:04d}-x", "10.0.0.1"))
    assert checks[0] <= settings.login_max_failures, checks[0]
    assert out.count("wrong") == checks[0] and out.count("locked") == 30 - checks[0]
    # the right password is refused too until the lockout ends
    assert _attempt(settings, "target", PASSWORD, "10.0.0.2") == "locked"
    assert checks[0] <= settings.login_max_failures


def test_parallel_attempts_from_one_address_on_many_usernames(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    for i in range(3):
        _user(settings, f"u{i}")
    checks = _counting(monkeypatch)
    _parallel(24, lambda i: _attempt(settings, f"u{i % 3}", f"wrong-{i:04d}-x", "10.9.9.9"))
    assert checks[0] <= settings.login_max_failures


def test_a_success_gives_its_reservation_back(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Right passwords are not failures: many logins in a row never lock anyone out."""
    _user(settings)
    for _ in range(settings.login_max_failures + 3):
        assert _attempt(settings, "target", PASSWORD, "10.0.0.3") == "ok"
    for _ in range(settings.login_max_failures):
        assert _attempt(settings, "target", "wrong-password-1", "10.0.0.3") == "wrong"
    assert _attempt(settings, "target", PASSWORD, "10.0.0.3") == "locked"


def test_the_lockout_ends_after_its_time(settings) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from siyu import clock

    _user(settings)
    for _ in range(settings.login_max_failures):
        _attempt(settings, "target", "wrong-password-1", "10.0.0.4")
    assert _attempt(settings, "target", PASSWORD, "10.0.0.4") == "locked"
    later = clock.now() + throttle.LOCKOUT + timedelta(seconds=1)
    with clock.frozen(later):
        assert _attempt(settings, "target", PASSWORD, "10.0.0.4") == "ok"


def test_an_unknown_username_is_throttled_alike(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """No user: no password check, but the attempt counts the same, so the answer and its
    timing tell nothing about who exists."""
    out = _parallel(12, lambda i: _attempt(settings, "nobody", f"wrong-{i:04d}-x", "10.0.0.5"))
    assert out.count("wrong") == settings.login_max_failures
    assert out.count("locked") == 12 - settings.login_max_failures


_CHILD = """
import json, sys, threading
from siyu.accounts import service, throttle
from siyu.config import get_settings
from siyu.db import session_scope

seen = [0]
lock = threading.Lock()
real = service._verify

def verify(h, p):
    with lock:
        seen[0] += 1
    return real(h, p)

service._verify = verify
settings = get_settings()
go = threading.Barrier(15)
codes = []

def run(i):
    go.wait()
    try:
        with session_scope() as s:
            service.login(s, settings, "target", f"wrong-{sys.argv[1]}-{i}-x", "10.0.0.7")
        codes.append("ok")
    except service.LoginRefused as exc:
        codes.append(exc.code)

sys.stdin.readline()  # both processes start together
threads = [threading.Thread(target=run, args=(i,)) for i in range(15)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps({"checks": seen[0], "codes": codes}))
"""


def test_two_processes_share_the_counter(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _user(settings)
    src = Path(service.__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(src)}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(n)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for n in range(2)
    ]
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    results = [json.loads(child.communicate(timeout=120)[0]) for child in children]
    assert all(child.returncode == 0 for child in children)
    checks = sum(r["checks"] for r in results)
    assert checks <= settings.login_max_failures, results
    codes = [c for r in results for c in r["codes"]]
    assert codes.count("wrong") == checks and codes.count("locked") == 30 - checks


def test_no_session_row_for_a_refused_login(settings, session) -> None:  # type: ignore[no-untyped-def]
    _user(settings)
    _attempt(settings, "target", "wrong-password-1", "10.0.0.8")
    assert session.scalar(sa.select(sa.func.count()).select_from(LoginSession)) == 0
