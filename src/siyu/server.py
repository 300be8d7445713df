"""`siyu serve`, `siyu worker` and `siyu run` (both, for the embedded demo)."""

from __future__ import annotations

import contextlib
import ipaddress
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


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # httpx logs each request's URL, and WeCom's access_token travels in the query string
    logging.getLogger("httpx").setLevel(logging.WARNING)


def trusted_proxies(value: str) -> str:
    """The proxies whose forwarded headers uvicorn believes, checked: addresses or networks
    (CIDR) or ``*``. A typo must not quietly trust nobody (every client would look like the
    proxy and share one lockout) or somebody else."""
    items = [item.strip() for item in value.split(",") if item.strip()]
    if not items:
        raise ValueError("forwarded-allow-ips is empty; give the proxy's address (or 127.0.0.1)")
    for item in items:
        if item == "*":
            continue
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(
                f"forwarded-allow-ips: {item!r} is not an address or a network (CIDR)"
            ) from None
    return ",".join(items)


def _proxies(given: str | None) -> str:
    from siyu.config import get_settings

    try:
        return trusted_proxies(given if given is not None else get_settings().forwarded_allow_ips)
    except ValueError as exc:
        fail(str(exc))


def _uvicorn(host: str, port: int, workers: int = 1, proxies: str = "127.0.0.1") -> None:
    import uvicorn

    _logging()
    uvicorn.run(
        "siyu.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        log_level="info",
        # the client address and scheme a trusted proxy forwards become the request's own:
        # the login lockout counts per real client, and https marks the cookie Secure
        proxy_headers=True,
        forwarded_allow_ips=proxies,
    )


FORWARDED_HELP = (
    "Reverse proxies whose X-Forwarded-For/-Proto are believed: comma-separated addresses or "
    "networks (CIDR), * for any (default: SIYU_FORWARDED_ALLOW_IPS, else 127.0.0.1)."
)


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", help="Port to listen on.", min=1, max=65_535),
    workers: int = typer.Option(
        1, "--workers", help="Server processes (PostgreSQL: one per core).", min=1, max=64
    ),
    forwarded_allow_ips: str | None = typer.Option(
        None, "--forwarded-allow-ips", help=FORWARDED_HELP
    ),
) -> None:
    """Serve the API and the console."""
    proxies = _proxies(forwarded_allow_ips)
    _checks()
    _uvicorn(host, port, workers, proxies)


def worker(
    once: bool = typer.Option(False, "--once", help="Run what is due, then exit."),
) -> None:
    """Run background jobs (several may run at once on PostgreSQL)."""
    from siyu.config import get_settings
    from siyu.jobs.service import run_forever, run_once, run_pumps, worker_name

    _checks()
    _logging()
    if once:
        typer.echo(f"{run_once()} job(s) run, {run_pumps(worker_name())} inbox item(s)")
        return
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    with contextlib.suppress(KeyboardInterrupt):
        run_forever(get_settings().worker_poll_seconds, stopping.is_set)


def run(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port", min=1, max=65_535),
    wecom_sim_port: int = typer.Option(
        9300,
        "--wecom-sim-port",
        help="Demo only: where the simulated WeCom listens.",
        min=1,
        max=65_535,
    ),
    wecom_sim: bool = typer.Option(
        True, "--wecom-sim/--no-wecom-sim", help="Demo only: serve a simulated WeCom corp."
    ),
    forwarded_allow_ips: str | None = typer.Option(
        None, "--forwarded-allow-ips", help=FORWARDED_HELP
    ),
) -> None:
    """Server and worker in one process (the embedded demo); prints the URL and login. In demo
    mode a simulated WeCom corp runs beside it, with customers arriving."""
    from siyu.config import DEMO_ADMIN_PASSWORD, DEMO_ADMIN_USERNAME, get_settings
    from siyu.jobs.service import run_forever

    proxies = _proxies(forwarded_allow_ips)
    _checks()
    if get_settings().is_demo and wecom_sim:
        _start_wecom_demo(host, port, wecom_sim_port)
    if get_settings().is_demo:
        local = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
        _start_reach_demo(f"http://{local}:{port}")
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
        _uvicorn(host, port, proxies=proxies)
    finally:
        stopping.set()


def _start_reach_demo(siyu_url: str) -> None:
    from siyu.demo.reach import start

    try:
        started = start(siyu_url)
    except Exception as exc:  # the demo still runs; campaigns wait for a provider
        typer.secho(f"  simulated SMS / mail not started: {exc}", fg=typer.colors.YELLOW)
        return
    for label, server in (
        ("短信网关 SMS gateway", started.sms),
        ("公众号 official account", started.oa),
    ):
        if server is not None:
            typer.secho(f"  模拟{label}: {server.base}", fg=typer.colors.GREEN)
    if started.oa is not None:
        typer.secho(f"  公众号关注者 followers: {started.oa_followers}", fg=typer.colors.GREEN)
    if started.mail is not None:
        typer.secho(
            f"  模拟邮件 mail relay: smtp://{started.mail.host}:{started.mail.port}",
            fg=typer.colors.GREEN,
        )


def _start_wecom_demo(host: str, port: int, sim_port: int) -> None:
    from siyu.demo.wecom import start

    local = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
    try:
        world = start(f"http://{local}:{port}", sim_port)
    except Exception as exc:  # the demo still runs without its WeCom
        typer.secho(f"  simulated WeCom not started: {exc}", fg=typer.colors.YELLOW)
        return
    typer.secho(
        f"  模拟企业微信 simulated WeCom: {world.base} (corp {world.corp_id})",
        fg=typer.colors.GREEN,
    )
