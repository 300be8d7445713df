"""`siyu segments …`: define segments by rule or list, count, refresh, export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from siyu.clikit import echo_json, fail, require
from siyu.untrusted import ID_MAX

app = typer.Typer(
    help="Segments: groups of customers by rule (dynamic) or by list (static).",
    no_args_is_help=True,
)
RULE_HELP = (
    "The rule, as text (tag:高价值 and city in [上海, 杭州] and orders(last 90d).count = 0) "
    "or as JSON."
)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="segments")


@app.command("create")
def create(
    name: str = typer.Argument(..., help="The segment's name (unique)."),
    rule: str = typer.Option(..., "--rule", help=RULE_HELP),
    brand: str = typer.Option(None, "--brand", help="Only this brand's orders, traits, consent."),
    description: str = typer.Option("", "--description"),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Create a dynamic segment; its membership is filled by the next refresh."""
    from siyu.db import session_scope
    from siyu.segments.queries import segment_summary
    from siyu.segments.service import create_segment

    actor = require("segments:write")
    with session_scope() as session:
        seg = create_segment(
            session, name, rule=rule, actor=actor, brand=brand, description=description
        )
        out = segment_summary(seg)
    if as_json:
        echo_json(out.model_dump())
        return
    typer.echo(f"segment {out.id} {out.name}: {out.rule_text}")


@app.command("import-list")
def import_list(
    name: str = typer.Argument(..., help="The segment's name (unique)."),
    file: Path = typer.Argument(..., help="Phone numbers, one per line (UTF-8)."),
    description: str = typer.Option("", "--description"),
) -> None:
    """Create a static segment from a list of phone numbers."""
    from siyu.db import session_scope
    from siyu.segments.service import create_static_segment

    actor = require("segments:write")
    if not file.is_file():
        fail(f"{file} is not a file")
    try:
        lines = [x.strip() for x in file.read_text(encoding="utf-8-sig").splitlines()]
    except UnicodeDecodeError:
        fail(f"{file} is not UTF-8 text")
    phones = [x for x in lines if x]
    if not phones:
        fail(f"{file} holds no phone numbers")
    with session_scope() as session:
        seg, missing = create_static_segment(
            session, name, phones=phones, actor=actor, description=description
        )
        typer.echo(f"segment {seg.id} {seg.name}: {seg.size:,} customers")
    if missing:
        typer.echo(f"{len(missing):,} numbers matched nobody, e.g. {', '.join(missing[:5])}")


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """Every segment with its size and when it was refreshed."""
    from siyu.clikit import acting_principal
    from siyu.db import session_scope
    from siyu.segments.queries import list_segments

    with session_scope() as session:
        rows = list_segments(session, acting_principal(session))
    if as_json:
        echo_json([r.model_dump() for r in rows])
        return
    if not rows:
        typer.echo("no segments yet: siyu segments create NAME --rule 'tag:高价值'")
    for r in rows:
        kind = "dynamic" if r.dynamic else "static"
        typer.echo(f"{r.id:>4}  {r.name}  {r.size:,} ({kind}, refreshed {r.refreshed_at})")
        if r.rule_text:
            typer.echo(f"      {r.rule_text}")


@app.command("show")
def show(
    segment_id: int = typer.Argument(..., min=1, max=ID_MAX),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """One segment: rule, size and size history."""
    from siyu.clikit import acting_principal
    from siyu.db import session_scope
    from siyu.segments.queries import SegmentDetail, segment_view, size_history
    from siyu.segments.service import get_segment

    with session_scope() as session:
        who = acting_principal(session)
        seg = segment_view(session, get_segment(session, segment_id), who)
        history = size_history(session, segment_id, principal=who)
        out = SegmentDetail(**seg.model_dump(), history=history)
    if as_json:
        echo_json(out.model_dump())
        return
    typer.echo(f"{out.id} {out.name} — {out.size:,} customers")
    if out.rule_text:
        typer.echo(f"rule: {out.rule_text}")
    for h in out.history[-10:]:
        typer.echo(f"  {h.at}  {h.size:>10,}  +{h.entered:,} -{h.exited:,}")


@app.command("count")
def count(
    segment_id: int = typer.Argument(
        None, help="A segment's number (or give --rule).", min=1, max=ID_MAX
    ),
    rule: str = typer.Option(None, "--rule", help=RULE_HELP),
    brand: str = typer.Option(None, "--brand", help="With --rule: one brand's data."),
    engine: str = typer.Option("duckdb", "--engine", help="duckdb or spark."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """How many customers match now, on the analytical copy (and how fresh it is)."""
    from siyu.clikit import acting_principal
    from siyu.db import session_scope
    from siyu.segments.service import count_rule, count_segment

    if (segment_id is None) == (rule is None):
        fail("give a segment number or --rule, not both")
    with session_scope() as session:
        who = acting_principal(session)
        if rule is not None:
            result = count_rule(
                session_settings(), session, rule, brand=brand, engine=engine, principal=who
            )
        else:
            result = count_segment(
                session_settings(), session, segment_id, engine=engine, principal=who
            )
    out: dict[str, Any] = {
        "count": result.count,
        "data_as_of": result.data_as_of.isoformat() if result.data_as_of else None,
        "rule_text": result.rule_text,
    }
    if as_json:
        echo_json(out)
        return
    typer.echo(f"{result.count:,} customers (data as of {out['data_as_of'] or 'never'})")


def session_settings() -> Any:
    from siyu.config import get_settings

    return get_settings()


@app.command("update")
def update(
    segment_id: int = typer.Argument(..., min=1, max=ID_MAX),
    name: str = typer.Option(None, "--name"),
    rule: str = typer.Option(None, "--rule", help=RULE_HELP),
    description: str = typer.Option(None, "--description"),
) -> None:
    """Rename a segment or change its rule (membership follows at the next refresh)."""
    from siyu.db import session_scope
    from siyu.segments.service import update_segment

    actor = require("segments:write")
    with session_scope() as session:
        seg = update_segment(
            session, segment_id, actor=actor, name=name, rule=rule, description=description
        )
        typer.echo(f"segment {seg.id} {seg.name}: {seg.rule_text}")


@app.command("delete")
def delete(segment_id: int = typer.Argument(..., min=1, max=ID_MAX)) -> None:
    """Delete a segment no other segment uses."""
    from siyu.db import session_scope
    from siyu.segments.service import delete_segment

    actor = require("segments:write")
    with session_scope() as session:
        delete_segment(session, segment_id, actor=actor)
    typer.echo(f"segment {segment_id} deleted")


@app.command("refresh")
def refresh(
    segment_ids: list[int] = typer.Argument(
        None, help="Segments to refresh (default: all).", min=1, max=ID_MAX
    ),
    incremental: bool = typer.Option(
        False, "--incremental", help="Re-check only customers whose data changed."
    ),
    no_copy: bool = typer.Option(
        False, "--no-copy", help="Do not refresh the analytical copy first."
    ),
    engine: str = typer.Option("duckdb", "--engine", help="duckdb or spark."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Bring dynamic segments' membership up to date (entering/leaving become events)."""
    from dataclasses import asdict

    from siyu.analytics.service import refresh_copy
    from siyu.db import get_engine
    from siyu.segments.membership import refresh_segments

    require("segments:write")
    settings = session_settings()
    if not no_copy:
        refresh_copy(settings)
    run = refresh_segments(
        get_engine(),
        settings,
        segment_ids=segment_ids or None,
        incremental=incremental,
        compute_engine=engine,
        progress=lambda name: typer.echo(f"  {name} …", err=True),
    )
    if as_json:
        echo_json(asdict(run))
    else:
        for o in run.outcomes:
            if o.error:
                typer.echo(f"{o.segment_id} {o.name}: FAILED {o.error}")
                continue
            note = " (baseline: no events)" if o.baseline else ""
            typer.echo(f"{o.segment_id} {o.name}: {o.size:,} (+{o.entered:,} -{o.exited:,}){note}")
        typer.echo(f"done in {run.seconds:.1f}s")
    if any(o.error for o in run.outcomes):
        raise typer.Exit(1)


@app.command("export")
def export(
    segment_id: int = typer.Argument(..., min=1, max=ID_MAX),
    file: Path = typer.Argument(..., help="CSV file to write."),
    unmask: bool = typer.Option(False, "--unmask", help="Full names and phones (if allowed)."),
) -> None:
    """Write a segment's members to CSV, masked unless --unmask (audit-logged)."""
    from siyu.clikit import acting_principal
    from siyu.db import session_scope
    from siyu.segments.queries import export_members
    from siyu.segments.service import get_segment

    if file.is_dir():
        fail(f"{file} is a folder; give a file name")
    with session_scope() as session:
        principal = acting_principal(session)
        get_segment(session, segment_id)
        rows = export_members(session, principal, segment_id, file, unmask=unmask)
    typer.echo(f"wrote {rows:,} customers to {file}")


@app.command("fields")
def fields(as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """The fields rules can use, with their operators and values."""
    from siyu.db import session_scope
    from siyu.segments.fields import catalogue

    with session_scope() as session:
        rows = [spec.describe(session) for spec in catalogue().values()]
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        ops = ", ".join(o["op"] for o in r["ops"])
        extra = " (window)" if r["windowed"] else ""
        typer.echo(f"{r['name']:<16} {r['label']}{extra}: {ops}")
