"""`siyu analytics …`: the analytical copy (build, refresh, freshness)."""

from __future__ import annotations

from dataclasses import asdict

import typer

from siyu.clikit import echo_json, require

app = typer.Typer(
    help="The analytical copy (DuckDB) that RFM, CLV and segments read.", no_args_is_help=True
)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="analytics")


@app.command("refresh")
def refresh(
    full: bool = typer.Option(False, "--full", help="Copy every table whole, not only changes."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Bring the analytical copy up to date with the database."""
    from siyu.analytics.service import refresh_copy
    from siyu.config import get_settings

    require("traits:run")

    def shown(table: str, rows: int) -> None:
        if not as_json:
            typer.echo(f"  {table}: {rows:,} rows read", err=True)

    report = refresh_copy(get_settings(), full=full, progress=shown)
    if as_json:
        echo_json(asdict(report))
        return
    kind = "full" if full else "incremental"
    typer.echo(f"analytical copy refreshed ({kind}) in {report.seconds:.2f}s")
    for table, rows in report.rows.items():
        typer.echo(f"  {table:<12} {rows:>12,} rows")


@app.command("status")
def status(as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """How fresh the analytical copy is, table by table."""
    from siyu.analytics.service import copy_status
    from siyu.config import get_settings

    tables = copy_status(get_settings())
    if as_json:
        echo_json([asdict(t) for t in tables])
        return
    if not tables:
        typer.echo("the analytical copy has not been built yet: run `siyu analytics refresh`")
        return
    for t in tables:
        typer.echo(
            f"{t.table:<12} {t.rows:>12,} rows  refreshed {t.refreshed_at:%Y-%m-%d %H:%M:%S} UTC"
        )
