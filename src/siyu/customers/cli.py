"""`siyu customers …`: look up, merge and unmerge profiles."""

from __future__ import annotations

import typer

from siyu.clikit import acting_principal, echo_json, require
from siyu.untrusted import ID_MAX

app = typer.Typer(help="The customer pool: search, show, merge, unmerge.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="customers")


@app.command("merge")
def merge(
    a: int = typer.Argument(..., help="The customer that stays.", min=1, max=ID_MAX),
    b: int = typer.Argument(..., help="The customer folded into A.", min=1, max=ID_MAX),
    force: bool = typer.Option(False, help="Merge even though they hold different strong ids."),
) -> None:
    """Merge customer B into A (logged; undo with `siyu customers unmerge MERGE_ID`)."""
    from siyu.customers.service import merge as do_merge
    from siyu.db import session_scope

    actor = require("customers:write")
    with session_scope() as session:
        merge_id = do_merge(session, a, b, actor, force=force)
    typer.echo(
        f"merged {b} into {a}; merge id {merge_id} (undo: siyu customers unmerge {merge_id})"
    )


@app.command("unmerge")
def unmerge(merge_id: int = typer.Argument(..., min=1, max=ID_MAX)) -> None:
    """Undo a merge; orders and events follow the identity that brought them."""
    from siyu.customers.service import unmerge as do_unmerge
    from siyu.db import session_scope

    actor = require("customers:write")
    with session_scope() as session:
        log = do_unmerge(session, merge_id, actor)
        loser = log.loser_id
    typer.echo(f"merge {merge_id} undone; customer {loser} restored")


@app.command("show")
def show(
    customer_id: int = typer.Argument(..., min=1, max=ID_MAX),
    unmask: bool = typer.Option(False, help="Show full personal data (audited)."),
) -> None:
    """Print one customer as JSON (masked unless --unmask)."""
    from siyu.customers.queries import customer_detail
    from siyu.db import session_scope

    require("customers:read")
    with session_scope() as session:  # another store's customer reads as a missing one
        principal = acting_principal(session)
        data = customer_detail(session, principal, customer_id, unmask=unmask)
    echo_json(data)


@app.command("search")
def search(
    q: str = typer.Argument(None, help="Phone, name prefix or member number."),
    source: str | None = typer.Option(None),
    page: int = typer.Option(1, min=1, max=100_000),
) -> None:
    """Search the pool (masked)."""
    from siyu.customers.queries import CustomerFilter, list_customers
    from siyu.db import session_scope

    require("customers:read")
    with session_scope() as session:
        result = list_customers(
            session, acting_principal(session), CustomerFilter(q=q, source=source, page=page)
        )
    typer.echo(f"{result['total']:,} customers")
    for c in result["items"]:
        name, phone, city = c["name"] or "-", c["phone"] or "-", c["city"] or "-"
        typer.echo(f"{c['id']:>8}  {name:<8} {phone:<13} {city:<6} {c['source']}")
