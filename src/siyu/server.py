"""`siyu serve`, `siyu worker` and `siyu run` (both, for the embedded demo)."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading

import typer

from siyu.clikit import fail


def register(root: typer.Typer) -> None:
    root.command("serve")(serve)
    root.command("worker")(worker)
    root.command("run")(run)


def _checks() -> None:
    from siyu.accounts.service import AccountError
    from siyu.app import startup_checks
    from siyu.config import MissingSecretKey

    try:
        startup_checks()
    except (MissingSecretKey, AccountError) as exc:
        fail(str(exc))


def _uvicorn(host: str, port: int, workers: int = 1) -> None:
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    uvicorn.run(
        "siyu.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        log_level="info",
    )


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    workers: int = typer.Option(
        1, "--workers", help="Server processes (PostgreSQL: one per core)."
    ),
) -> None:
    """Serve the API and the console."""
    _checks()
    _uvicorn(host, port, workers)


def worker(
    once: bool = typer.Option(False, "--once", help="Run what is due, then exit."),
) -> None:
    """Run background jobs (several may run at once on PostgreSQL)."""
    from siyu.config import get_settings
    from siyu.jobs.service import run_forever, run_once, run_pumps, worker_name

    _checks()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if once:
        typer.echo(f"{run_once()} job(s) run, {run_pumps(worker_name())} inbox item(s)")
        return
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    with contextlib.suppress(KeyboardInterrupt):
        run_forever(get_settings().worker_poll_seconds, stopping.is_set)


def run(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port"),
) -> None:
    """Server and worker in one process (the embedded demo); prints the URL and login."""
    from siyu.config import DEMO_ADMIN_PASSWORD, DEMO_ADMIN_USERNAME, get_settings
    from siyu.jobs.service import run_forever

    _checks()
    settings = get_settings()
    stopping = threading.Event()
    thread = threading.Thread(
        target=run_forever, args=(settings.worker_poll_seconds, stopping.is_set), daemon=True
    )
    thread.start()
    typer.secho(
        f"\n  私域 Siyu 控制台 console: http://{host}:{port}/", fg=typer.colors.GREEN, bold=True
    )
    if settings.is_demo:
        typer.secho(
            f"  演示账号 demo login: {DEMO_ADMIN_USERNAME} / {DEMO_ADMIN_PASSWORD}\n",
            fg=typer.colors.GREEN,
        )
    try:
        _uvicorn(host, port)
    finally:
        stopping.set()
