"""`siyu centre …`: setting up the member centre."""

from __future__ import annotations

from pathlib import Path

import typer

from siyu.clikit import echo_json, fail, require

centre_app = typer.Typer(help="The member centre (/m/).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(centre_app, name="centre")


@centre_app.command("verify-file")
def verify_file(
    file: Path = typer.Argument(
        ..., help="MP_verify_….txt as downloaded from the official account."
    ),
) -> None:
    """Serve a WeChat domain-verification file at the site's root."""
    from siyu.accounts.service import record_audit
    from siyu.centre import CENTRE_MANAGE
    from siyu.centre.verify import BadVerifyFile, keep
    from siyu.db import session_scope

    actor = require(CENTRE_MANAGE)
    if not file.is_file() or file.stat().st_size > 1024:
        fail(f"{file.name}: not a verification file (a few bytes, as WeChat gives it)")
    try:
        with session_scope() as session:
            row = keep(session, file.name, file.read_text(encoding="utf-8", errors="replace"))
            record_audit(session, actor, "centre.verify_file", "verify_file", row.name)
            echo_json({"served_at": f"/{row.name}"})
    except BadVerifyFile as exc:
        fail(str(exc))
