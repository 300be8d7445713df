"""`siyu demo generate|load|ensure`."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer

from siyu.clikit import fail

app = typer.Typer(help="Demo and benchmark data.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="demo")


@app.command("generate")
def generate(
    customers: int = typer.Option(
        2000, "--customers", help="How many people.", min=1, max=1_000_000
    ),
    seed: int = typer.Option(42, "--seed", help="Same seed, same files.", min=0, max=2**31 - 1),
    out: Path = typer.Option(Path("var/demo"), "--out", help="Folder to write the exports to."),
    orders_per_customer: float = typer.Option(
        None, "--orders-per-customer", help="About how many orders each person has (default ≈5.7)."
    ),
    as_of: str = typer.Option(
        None,
        "--as-of",
        help="The history ends the day before this date, YYYY-MM-DD (default: today in "
        "Beijing). Same seed and same date, same files.",
    ),
) -> None:
    """Write realistic platform exports (Taobao GBK, Youzan, JD, POS), the mini-program's
    member sign-ups and an events file: two years of history up to the day before --as-of."""
    from siyu.demo.generate import generate as gen

    if customers < 1 or customers > 10_000_000:
        fail("--customers must be between 1 and 10,000,000")
    if orders_per_customer is not None and not 1.5 <= orders_per_customer <= 60:
        fail("--orders-per-customer must be between 1.5 and 60")
    files = gen(
        customers,
        seed,
        out,
        as_of=_as_of(as_of),
        progress=True,
        orders_per_customer=orders_per_customer,
    )
    for f in files:
        typer.echo(f"wrote {f}")


def _as_of(text: str | None) -> date:
    from siyu.demo.generate import today

    if text is None:
        return today()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        fail(f"--as-of: a date as YYYY-MM-DD, not {text!r}")
    if not date(2000, 1, 1) <= day <= date(2100, 1, 1):
        fail("--as-of: a date between 2000-01-01 and 2100-01-01")
    return day


@app.command("load")
def load(
    folder: Path = typer.Argument(..., help="A folder written by `siyu demo generate`."),
) -> None:
    """Import a generated folder (orders, members, events)."""
    from siyu.demo.load import load_folder

    try:
        for line in load_folder(folder):
            typer.echo(line)
    except FileNotFoundError as exc:
        fail(str(exc))


@app.command("ensure")
def ensure(
    customers: int = typer.Option(2000, "--customers", min=1, max=1_000_000),
    seed: int = typer.Option(42, "--seed", min=0, max=2**31 - 1),
    as_of: str = typer.Option(
        None, "--as-of", help="The history ends the day before this date (default: today)."
    ),
) -> None:
    """Generate and load the demo if the database has no customers yet, with its WeCom corp
    and the campaigns of the last weeks replayed (used by `make run`)."""
    from siyu.demo.generate import today
    from siyu.demo.load import ensure_demo

    if customers < 1 or customers > 10_000_000:
        fail("--customers must be between 1 and 10,000,000")
    day = _as_of(as_of)
    if day > today():
        fail("--as-of: today or earlier (the demo replays its past)")
    typer.echo(ensure_demo(customers, seed, as_of=day))
