"""Small helpers shared by every CLI module: clear errors, the acting user, JSON output."""

from __future__ import annotations

import getpass
import json
import os
from typing import Any, NoReturn

import typer


def fail(message: str, code: int = 1) -> NoReturn:
    typer.secho(f"错误 error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code)


def cli_actor() -> str:
    """Who is acting: SIYU_ACTOR if set, else the operating-system user, marked as CLI."""
    return os.environ.get("SIYU_ACTOR") or f"cli:{getpass.getuser()}"


def echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def acting_principal(session: Any) -> Any:
    """The principal the CLI acts as: the machine's operator with full rights (they hold the
    database anyway), or, with SIYU_CLI_USER set, that user with their role, as on the web."""
    from siyu.accounts.service import AccountError, cli_principal

    try:
        return cli_principal(session, cli_actor(), os.environ.get("SIYU_CLI_USER") or None)
    except AccountError as exc:
        fail(str(exc))


def require(perm: str) -> str:
    """Check the acting principal may do ``perm``; returns the actor name for the audit log."""
    from siyu.accounts.permissions import permission
    from siyu.db import session_scope

    with session_scope() as session:
        principal = acting_principal(session)
    if not principal.can(permission(perm)):
        fail(f"{principal.actor} (role {principal.role}) may not {perm}", code=4)
    named = os.environ.get("SIYU_CLI_USER")
    return str(principal.actor) if not named else f"{principal.actor} via {cli_actor()}"
