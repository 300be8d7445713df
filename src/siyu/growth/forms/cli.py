"""`siyu growth forms …`: create a form or survey from a JSON file of fields, list them, show
one, close one, and a survey's NPS."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from siyu.clikit import echo_json, fail, require
from siyu.growth import GROWTH_MANAGE
from siyu.untrusted import ID_MAX

app = typer.Typer(help="Forms, landing pages and surveys (/f/<slug>).", no_args_is_help=True)
FIELDS_FILE_MAX = 200_000


@app.command("create")
def create(
    slug: str = typer.Argument(..., help="The address: /f/<slug> (a-z, 0-9, -)."),
    title: str = typer.Option(..., help="The title customers see."),
    fields: Path = typer.Option(
        ..., exists=True, dir_okay=False, help="A JSON file: a list of fields."
    ),
    intro: str = typer.Option("", help="The introduction (plain text)."),
    kind: str = typer.Option("form", help="form or survey."),
    once: str = typer.Option("none", help="none, person or day."),
    action: list[str] = typer.Option([], help="A detractor follow-up (tag:group/tag, guide_task)."),
    member_centre: bool = typer.Option(False, help="List the survey in the member centre."),
    live: bool = typer.Option(False, "--live", help="Open it at once (else a draft)."),
) -> None:
    """Create a form or survey. Each field: {"kind": text|choice|phone|address|date|nps|consent,
    "label": …, "required": true, "options": […], "multi": true, "text": …, "version": …}."""
    from siyu.db import session_scope
    from siyu.growth.forms.service import save_form, set_status

    actor = require(GROWTH_MANAGE)
    if fields.stat().st_size > FIELDS_FILE_MAX:
        fail(f"{fields.name}: at most {FIELDS_FILE_MAX} bytes")
    try:
        given = json.loads(fields.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        fail(f"{fields.name} is not JSON: {exc}")
    with session_scope() as session:
        form = save_form(
            session,
            actor,
            slug=slug,
            title=title,
            intro=intro,
            kind=kind,
            once=once,
            fields=given,
            actions=action,
            member_centre=member_centre,
        )
        if live:
            set_status(session, form, "live", actor)
        typer.echo(f"form {form.slug}: {form.status} ({len(form.fields)} fields)")


@app.command("list")
def list_forms(
    limit: int = typer.Option(100, min=1, max=500, help="At most this many."),
    offset: int = typer.Option(0, min=0, max=10_000_000),
) -> None:
    """Forms and surveys, newest first, as JSON."""
    from siyu.db import session_scope
    from siyu.growth.forms.queries import forms

    require(GROWTH_MANAGE)
    with session_scope() as session:
        total, rows = forms(session, offset=offset, most=limit)
        echo_json({"total": total, "forms": [r.model_dump(mode="json") for r in rows]})


@app.command("show")
def show(
    slug: str = typer.Argument(...),
    submissions: int = typer.Option(20, min=0, max=500, help="The newest answers shown."),
) -> None:
    """One form with its newest answers (masked), as JSON."""
    from siyu.db import session_scope
    from siyu.growth.forms.queries import form_view
    from siyu.growth.forms.queries import submissions as answers
    from siyu.growth.forms.service import form_named

    require(GROWTH_MANAGE)
    with session_scope() as session:
        form = form_named(session, slug)
        _total, rows = answers(session, form, most=submissions) if submissions else (0, [])
        echo_json(
            {
                "form": form_view(session, form).model_dump(mode="json"),
                "submissions": [r.model_dump(mode="json") for r in rows],
            }
        )


@app.command("close")
def close(slug: str = typer.Argument(...)) -> None:
    """Close a form: its page says so and takes no more answers."""
    from siyu.db import session_scope
    from siyu.growth.forms.service import form_named, set_status

    actor = require(GROWTH_MANAGE)
    with session_scope() as session:
        form = set_status(session, form_named(session, slug), "closed", actor)
        typer.echo(f"form {form.slug}: {form.status}")


@app.command("nps")
def nps(
    slug: str = typer.Argument(...),
    start: str = typer.Option("", help="First local day, YYYY-MM-DD (a year ago by default)."),
    end: str = typer.Option("", help="Last local day, YYYY-MM-DD (today by default)."),
    segment: int | None = typer.Option(
        None, min=1, max=ID_MAX, help="Also the NPS of this segment's customers."
    ),
) -> None:
    """A survey's NPS over the days, by month and by home store, as JSON."""
    from siyu.db import session_scope
    from siyu.growth.forms.nps import local_days, nps_by_store, nps_for_segment, nps_summary
    from siyu.growth.forms.service import form_named
    from siyu.untrusted import day

    require(GROWTH_MANAGE)
    first, last = day(start), day(end)
    if (start and first is None) or (end and last is None):
        fail("--start and --end are days, YYYY-MM-DD")
    frm, to = local_days(first, last)
    with session_scope() as session:
        form = form_named(session, slug)
        summary = nps_summary(session, frm, to, form_id=form.id)
        stores = nps_by_store(session, frm, to, form_id=form.id)
        inside = nps_for_segment(session, segment, frm, to, form_id=form.id) if segment else None
        echo_json(
            {**summary, "by_store": {str(k): v for k, v in stores.items()}, "segment": inside}
        )
