"""`siyu traits …`: recompute RFM and lifecycle; look at the runs."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date

import typer

from siyu.clikit import echo_json, fail, require

app = typer.Typer(help="Customer traits: RFM, lifecycle stage, CLV.", no_args_is_help=True)
STEPS = {
    "copy": "刷新分析副本 refreshing the copy",
    "compute": "计算 computing",
    "write": "写回 writing back",
    "tags": "规则标签 applying tag rules",
}


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="traits")


@app.command("recompute")
def recompute(
    engine: str = typer.Option("duckdb", "--engine", help="duckdb (default) or spark."),
    reference_date: str | None = typer.Option(
        None, "--reference-date", help="YYYY-MM-DD the traits stand on (default: today)."
    ),
    window_days: int | None = typer.Option(
        None, "--window-days", help="RFM window in days.", min=1, max=3_650
    ),
    no_refresh: bool = typer.Option(
        False, "--no-refresh", help="Use the analytical copy as it is."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Recompute RFM and lifecycle for every customer, per brand and across brands."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from siyu.config import get_settings
    from siyu.db import get_engine
    from siyu.traits.service import recompute as run

    actor = require("traits:run")
    ref = _date(reference_date, "--reference-date") if reference_date else None
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        transient=True,
        disable=as_json,
    ) as bar:
        task = bar.add_task("…", total=None)
        result = run(
            get_engine(),
            get_settings(),
            compute_engine=engine,
            reference_date=ref,
            window_days=window_days,
            actor=actor,
            refresh=not no_refresh,
            progress=lambda step: bar.update(task, description=STEPS.get(step, step)),
        )
    if as_json:
        echo_json(asdict(result))
        return
    typer.echo(
        f"run {result.run_id} ({result.engine}, {result.reference_date}): "
        f"{result.customers:,} buyers scored, {result.stage_changes:,} stage changes"
    )
    for lim in result.thresholds:
        scope = "all brands" if lim["scope"] == 0 else f"brand {lim['scope']}"
        how = "derived" if lim["derived"] else "configured"
        typer.echo(
            f"  {scope}: at risk after {lim['at_risk_days']} days, lapsed after "
            f"{lim['lapsed_days']} days ({how}, {lim['gaps']:,} repeat purchases)"
        )
    for rule in result.tags:
        typer.echo(
            f"  tag rule {rule['rule_id']} ({rule['tag']}): {rule['matched']:,} customers, "
            f"+{rule['added']:,} −{rule['removed']:,}"
        )
    for message in result.messages:
        typer.echo(f"  note: {message}")
    typer.echo("  " + ", ".join(f"{k} {v:.2f}s" for k, v in result.seconds.items()))


@app.command("runs")
def runs(
    limit: int = typer.Option(10, "--limit", help="How many recent runs.", min=1, max=1_000),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Recent recomputes, newest first, with how they ended."""
    from siyu.db import session_scope
    from siyu.traits.queries import recent_runs

    with session_scope() as session:
        rows = recent_runs(session, limit)
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        line = (
            f"{r['id']:>5}  {r['status']:<8} {r['engine']:<7} {r['reference_date']}  "
            f"{r['customers']:>10,} buyers  {r['stage_changes']:>8,} changes"
        )
        typer.echo(line + (f"  {r['error']}" if r["error"] else ""))


def _date(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"{option} must be YYYY-MM-DD, not {text!r}")


@app.command("clv")
def clv(
    calibration_end: str = typer.Option(
        ..., "--calibration-end", help="YYYY-MM-DD: fit on purchases up to this day."
    ),
    unit: str = typer.Option("day", "--unit", help="day or week: the model's time unit."),
    reference_date: str | None = typer.Option(
        None, "--reference-date", help="YYYY-MM-DD end of the holdout (default: today)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the fit as JSON."),
) -> None:
    """Fit BG/NBD + Gamma-Gamma and check predictions against a holdout period."""
    from siyu.config import get_settings
    from siyu.traits.clv import clv_report

    require("traits:run")
    report = clv_report(
        get_settings(),
        calibration_end=_date(calibration_end, "--calibration-end"),
        unit=unit,
        reference_date=_date(reference_date, "--reference-date") if reference_date else None,
    )
    data = asdict(report)
    if as_json:
        echo_json(data)
        return
    bg, gg = report.bgnbd, report.gamma_gamma
    units = report.units
    typer.echo(
        f"BG/NBD ({report.customers:,} customers, unit {report.unit}): r={bg['r']:.4f} "
        f"alpha={bg['alpha']:.4f} {units['alpha']}s a={bg['a']:.4f} b={bg['b']:.4f}  "
        f"log-likelihood {report.log_likelihood:,.1f}"
    )
    if gg:
        typer.echo(f"Gamma-Gamma: p={gg['p']:.4f} q={gg['q']:.4f} v={gg['v']:.4f} {units['v']}")
    typer.echo(f"holdout {report.calibration_end} → {report.holdout_end}:")
    typer.echo("  frequency  customers    actual  predicted")
    for row in report.holdout:
        if row["customers"]:
            typer.echo(
                f"  {row['frequency']:>9}  {row['customers']:>9,}  {row['actual']:>8.3f}  "
                f"{row['predicted']:>9.3f}"
            )
    for note in report.notes:
        typer.echo(f"  note: {note}")
