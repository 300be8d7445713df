"""`siyu tags …`: tag groups, tags, manual tagging, rules."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from siyu.clikit import acting_principal, echo_json, fail, require
from siyu.untrusted import ID_MAX

app = typer.Typer(
    help="Customer tags: groups, manual and rule-based tagging.", no_args_is_help=True
)
PATH_HELP = "The tag as 分组/标签 (group/tag), e.g. 肤质/油性."


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="tags")


@app.command("add-group")
def add_group(
    name: str,
    single: bool = typer.Option(
        False, "--single", help="At most one tag of this group per customer."
    ),
) -> None:
    """Add a tag group (multi-choice unless --single)."""
    from siyu.db import session_scope
    from siyu.tags.service import add_group as add

    actor = require("tags:write")
    with session_scope() as session:
        add(session, name, single=single, actor=actor)
    typer.echo(f"tag group {name} added ({'single' if single else 'multi'}-choice)")


@app.command("add")
def add(path: str = typer.Argument(..., help=PATH_HELP)) -> None:
    """Add a tag to a group."""
    from siyu.db import session_scope
    from siyu.tags.service import add_tag

    actor = require("tags:write")
    with session_scope() as session:
        add_tag(session, path, actor=actor)
    typer.echo(f"tag {path} added")


@app.command("list")
def list_tags(as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """Groups, tags, how many customers carry each, and their rules."""
    from siyu.db import session_scope
    from siyu.tags.queries import catalogue

    with session_scope() as session:
        groups = catalogue(session, acting_principal(session))
    if as_json:
        echo_json([g.model_dump() for g in groups])
        return
    if not groups:
        typer.echo("no tags yet: siyu tags add-group 肤质 --single; siyu tags add 肤质/油性")
    for g in groups:
        typer.echo(f"{g.group} ({'single' if g.single else 'multi'}-choice)")
        for t in g.tags:
            by_source = ", ".join(f"{k} {v:,}" for k, v in t.customers.items()) or "nobody"
            typer.echo(f"  {t.name}: {by_source}")
            for r in t.rules:
                typer.echo(f"    rule {r.id}: {json.dumps(r.condition, ensure_ascii=False)}")


@app.command("assign")
def assign(
    path: str = typer.Argument(..., help=PATH_HELP),
    customer: list[int] = typer.Option(
        [], "--customer", "-c", help="A customer id (repeatable).", min=1, max=ID_MAX
    ),
    phones: Path | None = typer.Option(None, "--phones", help="A file with one phone per line."),
    source: str | None = typer.Option(None, "--source", help="Everyone who came from this source."),
    store: int | None = typer.Option(
        None, "--store-id", help="Everyone of this store.", min=1, max=ID_MAX
    ),
) -> None:
    """Tag customers by hand: by id, in bulk by a list of phone numbers, or everyone of a
    source and/or store (the customer list's filter)."""
    from siyu.clikit import acting_principal
    from siyu.customers.queries import CustomerFilter, customer_ids, customers_by_phones
    from siyu.db import session_scope
    from siyu.tags.service import assign as put
    from siyu.tags.service import find_tag

    actor = require("tags:write")
    missing: list[str] = []
    with session_scope() as session:
        tag = find_tag(session, path)
        ids = list(customer)
        if phones is not None:
            lines = [ln.strip() for ln in _read(phones).splitlines() if ln.strip()]
            found, missing = customers_by_phones(session, lines)
            ids += found
        if source or store:
            who = acting_principal(session)
            ids += customer_ids(session, who, CustomerFilter(source=source, store_id=store))
        added = put(session, tag, ids, actor=actor)
    typer.echo(f"{path}: {added:,} customers newly tagged")
    if missing:
        typer.echo(
            f"{len(missing):,} phone numbers matched nobody: {', '.join(missing[:10])}", err=True
        )


@app.command("remove")
def remove(
    path: str = typer.Argument(..., help=PATH_HELP),
    customer: list[int] = typer.Option(
        ..., "--customer", "-c", help="A customer id (repeatable).", min=1, max=ID_MAX
    ),
) -> None:
    """Take a hand-set tag off customers."""
    from siyu.db import session_scope
    from siyu.tags.service import find_tag, unassign

    actor = require("tags:write")
    with session_scope() as session:
        removed = unassign(session, find_tag(session, path), customer, actor=actor)
    typer.echo(f"{path}: removed from {removed:,} customers")


@app.command("rule-add")
def rule_add(
    path: str = typer.Argument(..., help=PATH_HELP),
    when: str = typer.Option(
        ..., "--when", help='JSON, e.g. {"kind": "total_spend", "min_yuan": 1000}'
    ),
) -> None:
    """Keep a tag on everyone meeting a condition (applied at each recompute)."""
    from siyu.db import session_scope
    from siyu.tags.service import add_rule, find_tag

    actor = require("tags:write")
    try:
        condition = json.loads(when)
    except json.JSONDecodeError as exc:
        fail(f"--when is not JSON: {exc}")
    with session_scope() as session:
        rule = add_rule(session, find_tag(session, path), condition, actor=actor)
        rule_id = rule.id
    typer.echo(
        f"rule {rule_id} added to {path}; it applies at the next `siyu tags apply` or recompute"
    )


@app.command("rule-delete")
def rule_delete(rule_id: int = typer.Argument(..., min=1, max=ID_MAX)) -> None:
    """Delete a rule and the tags it set (tags set by hand stay)."""
    from siyu.db import session_scope
    from siyu.tags.service import delete_rule

    actor = require("tags:write")
    with session_scope() as session:
        removed = delete_rule(session, rule_id, actor=actor)
    typer.echo(f"rule {rule_id} deleted; {removed:,} tags it had set were removed")


@app.command("apply")
def apply(as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """Refresh the analytical copy and bring every rule's tags up to date now."""
    from dataclasses import asdict

    from siyu.analytics.service import refresh_copy
    from siyu.config import get_settings
    from siyu.db import get_engine
    from siyu.tags.service import apply_rules

    require("tags:write")
    settings = get_settings()
    refresh_copy(settings)
    outcomes = apply_rules(get_engine(), settings)
    if as_json:
        echo_json([asdict(o) for o in outcomes])
        return
    for o in outcomes:
        typer.echo(
            f"rule {o.rule_id} ({o.tag}): {o.matched:,} customers, +{o.added:,} −{o.removed:,}"
        )
    if not outcomes:
        typer.echo("no tag rules yet")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {path}: {exc}")
