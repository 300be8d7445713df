"""Small helpers shared by every CLI module: clear errors, the acting user, JSON output.

A command never catches a service's refusal to say it: the root command (``RefusalsSaid``)
prints any ``Refusal`` that ends a command, as ``fail`` does, and exits with the refusal's
``exit_code`` (1, or 4 when the acting user lacks a permission)."""

from __future__ import annotations

import getpass
import json
import os
from typing import Any, NoReturn

import typer
from typer.core import TyperGroup

from siyu.refusals import Refusal


def fail(message: str, code: int = 1) -> NoReturn:
    typer.secho(f"错误 error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code)


class RefusalsSaid(TyperGroup):
    """The root command: a refusal from any command below it is said on stderr (in English,
    the CLI's language) and the command exits non-zero, instead of a traceback."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except Refusal as exc:
            fail(str(exc), exc.exit_code)


def cli_actor() -> str:
    """Who is acting: SIYU_ACTOR if set, else the operating-system user, marked as CLI."""
    return os.environ.get("SIYU_ACTOR") or f"cli:{getpass.getuser()}"


def echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def acting_principal(session: Any) -> Any:
    """The principal the CLI acts as: the machine's operator with full rights (they hold the
    database anyway), or, with SIYU_CLI_USER set, that user with their role, as on the web."""
    from siyu.accounts.service import cli_principal

    return cli_principal(session, cli_actor(), os.environ.get("SIYU_CLI_USER") or None)


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
