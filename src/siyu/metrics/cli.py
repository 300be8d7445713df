"""`siyu metrics …`: the growth overview for a period, and what each metric means."""

from __future__ import annotations

from datetime import date

import typer

from siyu.clikit import echo_json, fail, require
from siyu.untrusted import ID_MAX

app = typer.Typer(help="Growth metrics: is the private domain working?", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="metrics")


def _date(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"{option}: a date as YYYY-MM-DD, not {text!r}")


def _shown(key: str, value: float | int | None) -> str:
    from siyu.metrics.registry import METRICS

    if value is None:
        return "—"
    unit = METRICS[key].unit
    if unit == "fen":
        return f"¥{value / 100:,.2f}"
    if unit == "ratio" and key != "frequency":
        return f"{value:.1%}"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"


@app.command("overview")
def overview_cmd(
    start: str = typer.Option(..., "--from", help="First day, YYYY-MM-DD (Beijing time)."),
    end: str = typer.Option(..., "--to", help="Last day, YYYY-MM-DD (included)."),
    brand: int | None = typer.Option(
        None, "--brand", help="One brand's id (default: all).", min=1, max=ID_MAX
    ),
    store: int | None = typer.Option(
        None,
        "--store",
        help="One home store's id: only its customers (default: all).",
        min=1,
        max=ID_MAX,
    ),
    engine: str = typer.Option("duckdb", "--engine", help="duckdb (default) or spark."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """The period's numbers beside the period before, from the analytical copy."""
    from siyu.config import get_settings
    from siyu.metrics.registry import METRICS
    from siyu.metrics.service import overview

    require("metrics:read")
    got = overview(
        get_settings(),
        _date(start, "--from"),
        _date(end, "--to"),
        brand_id=brand,
        store_id=store,
        engine=engine,
    )
    if as_json:
        echo_json(got)
        return
    p, q = got["period"], got["previous"]
    typer.echo(f"{p['start']} – {p['end']}  (对比 vs {q['start']} – {q['end']})")
    for key, v in got["kpis"].items():
        delta = "" if v["delta"] is None else f"  {v['delta']:+.1%}"
        name = f"{METRICS[key].zh} {METRICS[key].name}"
        typer.echo(
            f"  {name:<34} {_shown(key, v['value']):>14}   ← {_shown(key, v['previous'])}{delta}"
        )
    for r in got["by_source"]:
        ratio = "—" if r["ltv_cac"] is None else f"{r['ltv_cac']:.2f}"
        ltv = "—" if r["ltv_fen"] is None else f"¥{r['ltv_fen'] / 100:,.2f}"
        cac = "—" if r["cac_fen"] is None else f"¥{r['cac_fen'] / 100:,.2f}"
        typer.echo(
            f"  来源 {r['source'] or '—':<10} 新客 {r['customers']:>6}  LTV {ltv:>10}  CAC {cac:>10}  LTV/CAC {ratio}"
        )
    for key, why in got["pending"].items():
        typer.echo(f"  {METRICS[key].zh} {METRICS[key].name:<26} {'—':>14}   ({why})")
    typer.echo(f"分析副本更新于 copy as of: {got['fresh_as_of'] or '从未 never'}")


@app.command("list")
def list_cmd(as_json: bool = typer.Option(False, "--json")) -> None:
    """Every metric with its definition (Chinese and English)."""
    from siyu.metrics.registry import METRICS

    if as_json:
        echo_json([m.described() for m in METRICS.values()])
        return
    for m in METRICS.values():
        d = m.described()
        typer.echo(f"{m.key}: {d['zh']} / {m.name}{'  (' + m.pending + ')' if m.pending else ''}")
        typer.echo(f"    {d['definition_zh']}\n    {m.definition}")


spend_app = typer.Typer(
    help="Acquisition spend per source and month (for CAC).", no_args_is_help=True
)
app.add_typer(spend_app, name="spend")


@spend_app.command("set")
def spend_set(
    source: str = typer.Argument(
        ..., help="The acquisition source, as on customers (e.g. taobao)."
    ),
    month: str = typer.Argument(..., help="YYYY-MM."),
    yuan: float = typer.Argument(..., help="What acquiring that month's customers cost, in yuan."),
    note: str = typer.Option("", "--note"),
) -> None:
    """Record or correct one source's spend for a month (audit-logged)."""
    from siyu.db import session_scope
    from siyu.metrics.service import set_spend

    actor = require("imports:run")
    with session_scope() as session:
        row = set_spend(session, source, month, round(yuan * 100), actor=actor, note=note)
        typer.echo(f"{row.source} {row.month}: ¥{row.amount_fen / 100:,.2f}")


@spend_app.command("list")
def spend_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Every spend entered, by month and source."""
    from siyu.db import session_scope
    from siyu.metrics.queries import list_spend

    require("metrics:read")
    with session_scope() as session:
        rows = list_spend(session)
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        typer.echo(f"{r['month']}  {r['source']:<12} ¥{r['amount_fen'] / 100:>12,.2f}  {r['note']}")
