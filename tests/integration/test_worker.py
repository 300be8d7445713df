"""The worker claims due jobs under a lease, retries failures, and runs periodic housekeeping."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from siyu.accounts.models import LoginSession, User
from siyu.db import utcnow
from siyu.jobs import service
from siyu.jobs.models import Job, WorkerLease

calls: list[dict[str, Any]] = []


@service.handler("test.echo")
def _echo(session, payload):  # type: ignore[no-untyped-def]
    if payload.get("fail"):
        raise RuntimeError("boom")
    calls.append(payload)


def test_jobs_run_once_and_failures_back_off(session) -> None:  # type: ignore[no-untyped-def]
    calls.clear()
    service.enqueue(session, "test.echo", {"n": 1}, dedupe_key="once")
    service.enqueue(session, "test.echo", {"n": 1}, dedupe_key="once")  # deduplicated
    service.enqueue(session, "test.echo", {"fail": True})
    session.commit()
    service.run_once("w1")
    assert calls == [{"n": 1}]
    session.expire_all()
    failed = session.scalar(sa.select(Job).where(Job.kind == "test.echo", Job.status != "done"))
    assert failed.status == "queued" and failed.attempts == 1 and "boom" in failed.last_error
    assert failed.run_at > utcnow()
    # periodic housekeeping was scheduled and ran
    assert (
        session.scalar(sa.select(Job).where(Job.kind == "housekeeping.sessions")).status == "done"
    )


def test_expired_sessions_are_purged(session) -> None:  # type: ignore[no-untyped-def]
    user = User(username="u", display_name="u", password_hash="x", role="admin")
    session.add(user)
    session.flush()
    session.add(
        LoginSession(
            token_hash="a" * 64,
            user_id=user.id,
            csrf_token="c",
            expires_at=utcnow() - timedelta(hours=1),
        )
    )
    session.commit()
    service.run_once("w1")
    session.expire_all()
    assert session.scalar(sa.select(sa.func.count()).select_from(LoginSession)) == 0


def test_a_dead_workers_job_is_taken_over(session) -> None:  # type: ignore[no-untyped-def]
    calls.clear()
    session.add(
        Job(
            kind="test.echo",
            payload={"n": 2},
            status="running",
            leased_by="dead",
            lease_until=utcnow() - timedelta(seconds=1),
            attempts=1,
        )
    )
    session.add(WorkerLease(name="dispatch", holder="dead", until=utcnow() - timedelta(seconds=1)))
    session.commit()
    service.run_once("w2")
    assert calls == [{"n": 2}]


def test_on_sqlite_only_the_lease_holder_dispatches(session, engine) -> None:  # type: ignore[no-untyped-def]
    if engine.dialect.name != "sqlite":
        return
    session.add(
        WorkerLease(name="dispatch", holder="other", until=utcnow() + timedelta(seconds=60))
    )
    session.commit()
    assert service.run_once("w3") == 0


seen_leases: list[Any] = []


@service.handler("test.slow")
def _slow(session, payload):  # type: ignore[no-untyped-def]
    import time

    from siyu.db import new_session

    time.sleep(payload["seconds"])
    with new_session() as s:
        seen_leases.append(s.scalar(sa.select(Job.lease_until).where(Job.kind == "test.slow")))


def test_leases_are_renewed_while_a_long_job_runs(session, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(service, "LEASE", timedelta(seconds=0.9))  # renewed every 0.3 s
    seen_leases.clear()
    service.enqueue(session, "test.slow", {"seconds": 1.5})
    session.commit()
    started = utcnow()
    service.run_once("w-long")
    # claimed with a 0.9 s lease; without renewal it would have run out 0.6 s before the end
    assert seen_leases[0] > started + timedelta(seconds=1.5)


def test_workers_scheduling_at_once_do_not_crash(session) -> None:  # type: ignore[no-untyped-def]
    """Several workers start together (PostgreSQL): each schedules the periodic jobs; the one
    that loses the race on a dedupe key must carry on, not die (a worker that died this way
    left the messages it had claimed waiting for their lease to end)."""
    import threading

    import sqlalchemy as sa

    from siyu.db import new_session
    from siyu.jobs.models import Job
    from siyu.jobs.service import PERIODIC, import_tasks, schedule_periodic

    import_tasks()
    barrier, errors = threading.Barrier(4), []

    def go() -> None:
        with new_session() as s:
            barrier.wait()
            try:
                schedule_periodic(s)
            except Exception as exc:
                errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    keys = session.scalars(sa.select(Job.dedupe_key)).all()
    assert len(keys) == len(set(keys)) == len(PERIODIC)


def test_the_poll_queues_periodic_jobs_once_a_period_without_asking_each_time(session) -> None:  # type: ignore[no-untyped-def]
    """The worker polls every fraction of a second; the periodic jobs are queued when their
    period turns, and the polls in between send the database nothing."""
    from datetime import UTC, datetime

    from siyu import clock

    service.import_tasks()
    statements: list[str] = []
    engine = session.get_bind()

    def seen(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    with clock.frozen(datetime(2026, 12, 7, 1, 0, 5, tzinfo=UTC)):
        service.schedule_periodic(session)
        queued = session.scalar(sa.select(sa.func.count()).select_from(Job))
        assert queued == len(service.PERIODIC)
        sa.event.listen(engine, "before_cursor_execute", seen)
        try:
            service.schedule_periodic(session)
            assert statements == []
            clock.advance(timedelta(seconds=min(e for e, _fn in service.PERIODIC.values())))
            service.schedule_periodic(session)
            assert statements  # a period turned: that kind is queued again
        finally:
            sa.event.remove(engine, "before_cursor_execute", seen)
    assert session.scalar(sa.select(sa.func.count()).select_from(Job)) > queued
