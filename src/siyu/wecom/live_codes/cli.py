"""`siyu wecom group-code …`: group live codes (群活码)."""

from __future__ import annotations

import typer

from siyu.clikit import echo_json, fail, require

group_code_app = typer.Typer(help="Group live codes (群活码).", no_args_is_help=True)


@group_code_app.command("create")
def group_code_create(
    name: str = typer.Argument(..., help="What the code is for, e.g. 新客福利群."),
    chat: list[str] = typer.Option(..., "--chat", help="A group's chat_id, in order; repeatable."),
    corp: str = typer.Option(None, "--corp"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Create a group live code over groups in order; full groups are moved out as they fill."""
    from siyu.db import session_scope
    from siyu.wecom.connection.service import WecomConfigError, client_for, only_corp, record_calls
    from siyu.wecom.live_codes.group_codes import create_group_code, group_code_summary
    from siyu.wecom.live_codes.service import LiveCodeError

    actor = require("wecom:manage")
    with session_scope() as session:
        try:
            target = only_corp(session, corp)
            client = client_for(session, target)
            code = create_group_code(
                session, client, target.id, name=name, chat_ids=chat, actor=actor
            )
        except (WecomConfigError, LiveCodeError) as exc:
            fail(str(exc))
        record_calls(session, target, client)
        out = group_code_summary(session, code)
    if as_json:
        echo_json(out)
        return
    typer.echo(f"group live code {out['id']} {name}: {len(chat)} groups, QR at {out['qr']}")


@group_code_app.command("list")
def group_code_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Group live codes and how full their groups are."""
    from siyu.db import session_scope
    from siyu.wecom.queries import group_codes

    require("customers:read")
    with session_scope() as session:
        rows = group_codes(session)
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        groups = ", ".join(
            f"{g['name'] or g['chat_id']} {g['members']}{'*' if g['in_join_way'] else ''}"
            for g in r["groups"]
        )
        typer.echo(f"{r['id']}\t{r['name']}\t{'FULL ' if r['full'] else ''}{groups}")
