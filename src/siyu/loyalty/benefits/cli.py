"""`siyu loyalty benefits …`: what each tier gives, and how many take it up."""

from __future__ import annotations

from datetime import timedelta

import typer

from siyu.clikit import echo_json, require
from siyu.loyalty import LOYALTY_MANAGE
from siyu.loyalty.cli_support import audit, programme_of

benefits_app = typer.Typer(help="Tier benefits and their activation.", no_args_is_help=True)


@benefits_app.command("set")
def benefit_set(
    code: str = typer.Argument(..., help="The programme's code."),
    benefit: str = typer.Argument(..., help="The benefit's code, e.g. bday."),
    name: str = typer.Argument(..., help="What members see, e.g. 生日礼."),
    kind: str = typer.Option(
        ...,
        "--kind",
        help="birthday_gift, free_delivery, priority_service, member_price or coupon.",
    ),
    tier: str = typer.Option(..., "--tier", help="The lowest tier that has it (its code)."),
    period: str = typer.Option("year", "--period", help="Taken once a year, month or once."),
    coupon: str | None = typer.Option(None, "--coupon", help="The coupon claiming it issues."),
    off: bool = typer.Option(False, "--off", help="No longer offered."),
) -> None:
    """Create or change a tier benefit."""
    from siyu.db import session_scope
    from siyu.loyalty.benefits.service import set_benefit

    actor = require(LOYALTY_MANAGE)
    with session_scope() as session:
        set_benefit(
            session,
            programme_of(session, code),
            benefit,
            name,
            kind,
            tier,
            period=period,
            coupon_code=coupon,
            active=not off,
        )
    audit(actor, "loyalty.benefit_set", code, {"benefit": benefit, "tier": tier, "off": off})
    typer.echo(f"{code}: benefit {benefit} ({name}) saved")


@benefits_app.command("list")
def benefit_list(
    code: str = typer.Argument(..., help="The programme's code."),
    days: int = typer.Option(30, "--days", min=1, max=3660, help="Activation over the last days."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The programme's benefits with their activation: members who took each up in the last
    --days, of the members whose tier has it."""
    from siyu import clock
    from siyu.db import session_scope
    from siyu.loyalty.benefits.service import activation

    require(LOYALTY_MANAGE)
    now = clock.now()
    with session_scope() as session:
        rows = activation(
            session, [programme_of(session, code).id], now - timedelta(days=days), now
        )
    if as_json:
        echo_json([r.__dict__ for r in rows])
        return
    for r in rows:
        rate = "—" if r.rate is None else f"{r.rate:.1%}"
        typer.echo(f"{r.code}\t{r.name}\t{r.taken}/{r.eligible}\t{rate}")
