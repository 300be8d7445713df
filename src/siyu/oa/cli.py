"""`siyu oa sync|status`: the official account's followers."""

from __future__ import annotations

import time

import typer

from siyu.clikit import echo_json, fail, require

app = typer.Typer(help="Official account (公众号): followers, sync, status.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="oa")


@app.command("sync")
def sync_cmd(
    wait: bool = typer.Option(
        True, "--wait/--no-wait", help="On a transient WeChat error, wait and go on (default)."
    ),
) -> None:
    """Read the whole follower list (user/get, then user/info/batchget 100 at a time) into
    customers and follow status. Resumes an interrupted sync where it stopped."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from siyu.config import get_settings
    from siyu.db import session_scope
    from siyu.oa.service import OaConfigError, run_sync
    from siyu.oa.sync import SyncFailed, SyncPaused

    require("wecom:manage")
    console = Console(stderr=True)
    settings = get_settings()
    with (
        Progress(
            TextColumn("[bold]公众号粉丝 followers"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
            disable=not console.is_terminal,
        ) as bar,
        session_scope() as session,
    ):
        task = bar.add_task("followers", total=None)
        while True:
            try:
                run = run_sync(
                    session,
                    settings,
                    lambda done, total: bar.update(task, completed=done, total=total or None),
                )
                break
            except OaConfigError as exc:
                fail(str(exc))
            except SyncFailed as exc:
                fail(f"sync failed: {exc}")
            except SyncPaused as paused:
                if not wait:
                    fail(f"sync {paused.run_id} paused: {paused.error}; run again to resume", 3)
                pause = paused.retry_after or 5.0
                console.print(f"[yellow]{paused.error}; waiting {pause:.0f} s, then resuming")
                time.sleep(pause)
    typer.echo(f"sync {run.id} done: " + ", ".join(f"{k} {v:,}" for k, v in run.counts.items()))


@app.command("status")
def status_cmd(as_json: bool = typer.Option(False, "--json")) -> None:
    """Followers, the last sync and the push inbox. Exits 2 when the last sync or a push
    failed, so monitoring can alert on it."""
    from dataclasses import asdict

    from siyu.config import get_settings
    from siyu.db import session_scope
    from siyu.oa.queries import status

    require("customers:read")
    with session_scope() as session:
        account = status(session, get_settings())
    if account is None:
        fail("no official account is configured (set SIYU_OA_APPID and SIYU_OA_SECRET)")
    if as_json:
        echo_json(asdict(account))
    else:
        typer.echo(
            f"{account.appid}: {account.followers:,} followers, {account.unfollowed:,} unfollowed"
        )
        pushes = "safe mode" if account.safe_mode else "plain mode"
        typer.echo(
            f"  pushes: /oa/callback/{account.appid} ({pushes})"
            if account.callback_on
            else "  pushes: off (set SIYU_OA_TOKEN)"
        )
        s = account.last_sync
        if s is None:
            typer.echo("  sync: never run (siyu oa sync)")
        else:
            typer.echo(
                f"  sync: {s.status} {s.started_at:%Y-%m-%d %H:%M} UTC {s.counts}"
                + (f" — {s.error}" if s.error else "")
            )
        typer.echo("  inbox: " + (", ".join(f"{k} {v}" for k, v in account.inbox.items()) or "-"))
    failing = account.inbox.get("failed") or (
        account.last_sync and account.last_sync.status == "failed"
    )
    if failing:
        raise typer.Exit(2)
