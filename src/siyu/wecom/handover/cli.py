"""`siyu wecom handover …`: on-job transfer and resigned inheritance of a guide's customers."""

from __future__ import annotations

from typing import Any

import typer

from siyu.clikit import echo_json, fail, require
from siyu.untrusted import ID_MAX

handover_app = typer.Typer(help="Staff handover (在职转接 / 离职继承).", no_args_is_help=True)


def _show(out: dict[str, Any]) -> None:
    counts = ", ".join(f"{k} {v}" for k, v in sorted(out["counts"].items())) or "nothing"
    typer.echo(
        f"handover {out['id']} {out['kind']} {out['from']} → {out['to']}: {out['status']} ({counts})"
    )


@handover_app.command("create")
def handover_create(
    giver: str = typer.Option(..., "--from", help="The member whose customers move (userid)."),
    taker: str = typer.Option(..., "--to", help="The member who takes them over."),
    resigned: bool = typer.Option(
        False, "--resigned", help="Resigned inheritance (离职继承): --from has left."
    ),
    tag: str = typer.Option(None, "--tag", help="Only customers with this tag (分组/标签)."),
    live_code: int = typer.Option(
        None, "--live-code", help="Only customers from this live code.", min=1, max=ID_MAX
    ),
    customer: list[str] = typer.Option([], "--customer", help="Only this external_userid."),
    groups: bool = typer.Option(True, "--groups/--no-groups", help="Move their groups too."),
    message: str = typer.Option("", "--message", help="Told to each customer (on-job only)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would move; ask nothing."),
    corp: str = typer.Option(None, "--corp"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Hand a member's customers (and groups) to another member and ask WeCom now; WeCom
    completes each customer's transfer 24 hours later unless they refuse."""
    from siyu.db import new_session
    from siyu.wecom.activity import handover_detail
    from siyu.wecom.connection.client import WecomError
    from siyu.wecom.connection.service import WecomConfigError, client_for, only_corp
    from siyu.wecom.handover.service import HandoverError, Selection, plan
    from siyu.wecom.handover.transfers import submit

    actor = require("wecom:manage")
    selection = Selection(tag, live_code, tuple(customer), groups and not customer)
    with new_session() as session:
        try:
            target = only_corp(session, corp)
            handover = plan(
                session,
                target,
                kind="resigned" if resigned else "onjob",
                handover_userid=giver,
                takeover_userid=taker,
                selection=selection,
                message=message,
                actor=actor,
            )
        except (WecomConfigError, HandoverError) as exc:
            fail(str(exc))
        if dry_run:
            out = handover_detail(session, handover.id)
            session.rollback()
            assert out is not None
            out["status"] = "dry-run"
        else:
            session.commit()
            try:
                submit(session, client_for(session, target), handover)
            except WecomError as exc:
                session.rollback()
                fail(f"WeCom: {exc}; the rest is asked by the worker (siyu wecom handover list)")
            out = handover_detail(session, handover.id)
            assert out is not None
    if as_json:
        echo_json(out)
        return
    _show(out)


@handover_app.command("list")
def handover_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Handovers, newest first."""
    from siyu.db import session_scope
    from siyu.wecom.activity import handovers

    require("customers:read")
    with session_scope() as session:
        rows = handovers(session)
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        _show(r)


@handover_app.command("show")
def handover_show(
    handover_id: int = typer.Argument(..., min=1, max=ID_MAX),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """One handover, customer by customer."""
    from siyu.db import session_scope
    from siyu.wecom.activity import handover_detail

    require("customers:read")
    with session_scope() as session:
        out = handover_detail(session, handover_id)
    if out is None:
        fail(f"no handover {handover_id}")
    if as_json:
        echo_json(out)
        return
    _show(out)
    for i in out["items"]:
        why = f"\t{i['errcode'] or ''} {i['error'] or ''}" if i["error"] or i["errcode"] else ""
        typer.echo(f"  {i['type']}\t{i['id']}\t→ {i['to']}\t{i['status']}{why}")


@handover_app.command("check")
def handover_check(handover_id: int = typer.Argument(..., min=1, max=ID_MAX)) -> None:
    """Ask WeCom now how the waiting transfers stand (the worker does this every 10 minutes)."""
    from siyu.db import new_session
    from siyu.wecom.activity import handover_detail
    from siyu.wecom.connection.client import WecomError
    from siyu.wecom.connection.models import WecomCorp
    from siyu.wecom.connection.service import client_for
    from siyu.wecom.handover.models import Handover
    from siyu.wecom.handover.transfers import check, submit

    require("wecom:manage")
    with new_session() as session:
        handover = session.get(Handover, handover_id)
        if handover is None:
            fail(f"no handover {handover_id}")
        corp = session.get(WecomCorp, handover.corp_id)
        assert corp is not None
        client = client_for(session, corp)
        try:
            submit(session, client, handover)
            check(session, client, handover)
        except WecomError as exc:
            fail(f"WeCom: {exc}")
        out = handover_detail(session, handover_id)
    assert out is not None
    _show(out)


@handover_app.command("retry")
def handover_retry(
    handover_id: int = typer.Argument(..., min=1, max=ID_MAX),
    taker: str = typer.Option(None, "--to", help="Another member to take them over."),
) -> None:
    """Ask again for customers whose takeover member was full (or failed otherwise), to the
    same member or another; customers who refused are not asked again."""
    from siyu.db import new_session
    from siyu.wecom.activity import handover_detail
    from siyu.wecom.connection.client import WecomError
    from siyu.wecom.connection.models import WecomCorp
    from siyu.wecom.connection.service import client_for
    from siyu.wecom.handover.models import Handover
    from siyu.wecom.handover.service import HandoverError, retry
    from siyu.wecom.handover.transfers import submit

    actor = require("wecom:manage")
    with new_session() as session:
        handover = session.get(Handover, handover_id)
        if handover is None:
            fail(f"no handover {handover_id}")
        try:
            n = retry(session, handover, taker, actor=actor)
        except HandoverError as exc:
            fail(str(exc))
        session.commit()
        corp = session.get(WecomCorp, handover.corp_id)
        assert corp is not None
        if n:
            try:
                submit(session, client_for(session, corp), handover)
            except WecomError as exc:
                fail(f"WeCom: {exc}; the worker asks again later")
        out = handover_detail(session, handover_id)
    assert out is not None
    typer.echo(f"{n} asked again")
    _show(out)
