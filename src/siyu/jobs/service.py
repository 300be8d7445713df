"""The worker: claims due jobs under a lease and runs their handlers; runs periodic jobs.

On PostgreSQL many workers claim in parallel (FOR UPDATE SKIP LOCKED). On SQLite exactly one
worker holds the ``dispatch`` lease at a time; the others wait to take over if it dies.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu import clock, runtime
from siyu.db import is_sqlite, new_session
from siyu.jobs.models import Job, WorkerLease

log = logging.getLogger("siyu.worker")
Handler = Callable[[Session, dict[str, Any]], None]
HANDLERS: dict[str, Handler] = {}
# name -> (interval seconds, handler); each periodic run is a job with a time-bucket dedupe key.
PERIODIC: dict[str, tuple[int, Handler]] = {}
LEASE = timedelta(seconds=60)
# The worker runs the @handler/@periodic functions of the modules capabilities list as ``tasks``.
# Pumps (manifests' ``pumps``): work that cannot wait for the next poll (a WeCom welcome_code
# lives 20 s). Each takes the worker's name and returns how many items it handled; a pump thread
# runs them back to back and sleeps on WAKE (set by whoever queues such work in this process)
# when they are idle.
Pump = Callable[[str], int]
WAKE = threading.Event()
PUMP_IDLE_SECONDS = 0.2


def import_tasks() -> None:
    from siyu.capabilities import import_tasks as import_all

    import_all()


def handler(kind: str) -> Callable[[Handler], Handler]:
    def add(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        return fn

    return add


def periodic(kind: str, every_seconds: int) -> Callable[[Handler], Handler]:
    def add(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        PERIODIC[kind] = (every_seconds, fn)
        return fn

    return add


_PUMPS: list[tuple[str, Pump]] = []


def run_pumps(name: str) -> int:
    if not _PUMPS:  # looked up once: the pump thread calls this every 0.2 s when idle
        from siyu.capabilities import provided

        _PUMPS.extend((f"{cap.name}.{fn.__name__}", fn) for cap, fn in provided("pumps"))
    done = 0
    for label, pump in _PUMPS:
        try:
            done += pump(name)
        except Exception:  # a busy database or one bad item: the next round tries again
            log.exception("pump %s failed", label)
    return done


def _pump_forever(name: str, stop: Callable[[], bool]) -> None:
    while not stop():
        if not run_pumps(name):
            WAKE.wait(PUMP_IDLE_SECONDS)
            WAKE.clear()


def enqueue(
    session: Session,
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    dedupe_key: str | None = None,
    delay_seconds: float = 0,
    max_attempts: int | None = None,
) -> None:
    """Queue a job; ``max_attempts`` 1 for work that must not be retried after it failed
    (a worker that died while running it is another matter: its job is taken up again)."""
    if kind not in HANDLERS:
        import_tasks()  # the capabilities' task modules register their handlers when imported
    if kind not in HANDLERS:
        raise ValueError(f"no handler for job kind {kind!r}")
    if dedupe_key and session.scalar(sa.select(Job.id).where(Job.dedupe_key == dedupe_key)):
        return
    job = Job(
        kind=kind,
        payload=payload or {},
        dedupe_key=dedupe_key,
        run_at=clock.now() + timedelta(seconds=delay_seconds),
    )
    if max_attempts is not None:
        job.max_attempts = max_attempts
    if not dedupe_key:
        session.add(job)
        return
    try:  # another worker may enqueue the same periodic run at the same moment
        with session.begin_nested():
            session.add(job)
    except IntegrityError:
        pass


def enqueue_on(conn: Connection, kind: str, payloads: list[dict[str, Any]]) -> None:
    """Queue one ``kind`` job per payload on a bulk writer's connection (its transaction: the
    jobs exist exactly when what it writes does)."""
    if kind not in HANDLERS:
        import_tasks()
    if kind not in HANDLERS:
        raise ValueError(f"no handler for job kind {kind!r}")
    if payloads:
        now = clock.now()
        conn.execute(
            sa.insert(Job),
            [{"kind": kind, "payload": p, "run_at": now, "created_at": now} for p in payloads],
        )


def enqueue_soon(engine: Engine, kind: str, within_seconds: int) -> None:
    """Ask for ``kind`` to run once at the end of the current ``within_seconds`` window, however
    many times it is asked for in that window (arrivals in bursts make one run, not hundreds)."""
    import_tasks()
    now = clock.timestamp()
    bucket = int(now // within_seconds)
    delay = (bucket + 1) * within_seconds - now
    with Session(engine) as session:
        enqueue(session, kind, dedupe_key=f"soon:{kind}:{bucket}", delay_seconds=delay)
        try:
            session.commit()
        except sa.exc.IntegrityError:  # another process asked in the same window first
            session.rollback()


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def hold_dispatch_lease(session: Session, name: str) -> bool:
    """SQLite's single-dispatcher rule: take or renew the lease row; False if another holds it."""
    now = clock.now()
    lease = session.get(WorkerLease, "dispatch")
    if lease is None:
        session.add(WorkerLease(name="dispatch", holder=name, until=now + LEASE))
    elif lease.holder == name or lease.until < now:
        lease.holder, lease.until = name, now + LEASE
    else:
        return False
    session.commit()
    return True


_QUEUED: dict[str, int] = {}  # periodic kind → the period this process last saw queued
runtime.forgets("jobs.periodic", _QUEUED.clear)


def schedule_periodic(session: Session) -> None:
    """Queue each periodic job once per period. The dedupe key holds across workers; the
    process also remembers the periods it has seen queued, so the worker's poll (every 0.2 s
    to a few seconds) asks the database nothing until a period turns."""
    now = clock.timestamp()
    due = {kind: int(now // every) for kind, (every, _fn) in PERIODIC.items()}
    due = {kind: bucket for kind, bucket in due.items() if _QUEUED.get(kind) != bucket}
    if not due:
        return
    for kind, bucket in due.items():
        enqueue(session, kind, dedupe_key=f"periodic:{kind}:{bucket}")
    session.commit()
    _QUEUED.update(due)


def claim(session: Session, name: str, limit: int = 10) -> list[Job]:
    now = clock.now()
    stmt = (
        sa.select(Job)
        .where(
            sa.or_(
                sa.and_(Job.status == "queued", Job.run_at <= now),
                sa.and_(Job.status == "running", Job.lease_until < now),  # a dead worker's job
            )
        )
        .order_by(Job.run_at, Job.id)
        .limit(limit)
    )
    if not is_sqlite(session):
        stmt = stmt.with_for_update(skip_locked=True)
    jobs = list(session.scalars(stmt))
    for job in jobs:
        job.status, job.leased_by, job.lease_until = "running", name, now + LEASE
        job.attempts += 1
    session.commit()
    return jobs


def run_job(session: Session, job: Job) -> None:
    fn = HANDLERS.get(job.kind)
    try:
        if fn is None:
            raise LookupError(f"no handler for {job.kind}")
        fn(session, job.payload)
        job.status, job.finished_at, job.last_error = "done", clock.now(), None
    except Exception:
        session.rollback()
        job = session.merge(job)
        job.last_error = traceback.format_exc()[-4000:]
        if job.attempts >= job.max_attempts:
            job.status, job.finished_at = "failed", clock.now()
        else:
            job.status = "queued"
            job.run_at = clock.now() + timedelta(seconds=min(3600, 2**job.attempts * 5))
        log.exception("job %s (%s) failed", job.id, job.kind)
    session.commit()


def run_once(name: str | None = None) -> int:
    """One pass: schedule periodic jobs, claim and run what is due. Returns jobs run."""
    import_tasks()  # importing the task modules registers their handlers

    name = name or worker_name()
    session = new_session()
    try:
        if is_sqlite(session) and not hold_dispatch_lease(session, name):
            return 0
        schedule_periodic(session)
        jobs = claim(session, name)
        with _heartbeat(name):
            for job in jobs:
                run_job(session, job)
        return len(jobs)
    finally:
        session.close()


@contextmanager
def _heartbeat(name: str) -> Iterator[None]:
    """While jobs run, keep this worker's leases (its claimed jobs, and on SQLite the dispatch
    lease) from running out, so a long job (a recompute at a million customers takes a minute
    or more) is not taken for a dead worker's and run a second time elsewhere."""
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(LEASE.total_seconds() / 3):
            try:
                with new_session() as s:
                    until = clock.now() + LEASE
                    s.execute(
                        sa.update(Job)
                        .where(Job.leased_by == name, Job.status == "running")
                        .values(lease_until=until)
                    )
                    s.execute(
                        sa.update(WorkerLease).where(WorkerLease.holder == name).values(until=until)
                    )
                    s.commit()
            except Exception:  # busy database: the next beat tries again, well within the lease
                log.warning("worker %s could not renew its leases", name, exc_info=True)

    beat = threading.Thread(target=renew, name=f"lease-{name}", daemon=True)
    beat.start()
    try:
        yield
    finally:
        stop.set()
        beat.join()


def run_forever(poll_seconds: float, stop: Callable[[], bool] = lambda: False) -> None:
    name = worker_name()
    log.info("worker %s started", name)
    import_tasks()
    threading.Thread(
        target=_pump_forever, args=(name, stop), name=f"pump-{name}", daemon=True
    ).start()
    while not stop():
        try:
            done = run_once(name)
        except Exception:  # a lost connection or a busy database must not end the worker
            log.exception("worker %s: a round failed; trying again", name)
            done = 0
        if not done:
            time.sleep(poll_seconds)
