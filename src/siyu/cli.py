"""The `siyu` command: a Typer root that each capability adds its commands to."""

from __future__ import annotations

import typer

from siyu.clikit import RefusalsSaid, fail

app = typer.Typer(
    name="siyu",
    cls=RefusalsSaid,
    help="私域 Siyu — private-domain customer operations. Every command takes --help.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    from siyu.config import get_settings
    from siyu.migrations.runner import upgrade

    url = get_settings().resolved_database_url
    try:
        upgrade(url, revision=revision)
    except Exception as exc:  # a failed migration must say why, not dump a trace
        fail(f"migration failed: {exc}")
    typer.echo(f"database is at {revision}: {_safe_url(url)}")


@db_app.command("check")
def db_check() -> None:
    """Exit 1 if the models and the migrated database disagree."""
    from siyu.db import get_engine
    from siyu.migrations.runner import drift

    with get_engine().connect() as conn:
        diffs = drift(conn)
    if diffs:
        for d in diffs:
            typer.echo(str(d), err=True)
        raise typer.Exit(1)
    typer.echo("models and migrations agree")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _register() -> None:
    from siyu.capabilities import CAPABILITIES
    from siyu.server import register as server

    server(app)  # serve, worker, run: the platform's own commands
    for cap in CAPABILITIES:
        if cap.cli:
            cap.load(cap.cli)(app)


_register()


def main() -> None:
    app()
