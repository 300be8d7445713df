"""`siyu loyalty …`: programmes, earn rules, enrolment, a member's points, the backfill and
the nightly expiry, for the operations team's scripts."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer

from siyu.clikit import echo_json, fail, require
from siyu.loyalty import LOYALTY_MANAGE
from siyu.loyalty.cli_support import audit, programme_of
from siyu.untrusted import ID_MAX

app = typer.Typer(
    help="Loyalty: programmes, earn rules, members' points, backfill and expiry.",
    no_args_is_help=True,
)
rules_app = typer.Typer(help="Earn rules of a programme.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")
tiers_app = typer.Typer(help="Tiers of a programme and how members qualify.", no_args_is_help=True)
app.add_typer(tiers_app, name="tiers")


def register(root: typer.Typer) -> None:
    from siyu.loyalty.benefits.cli import benefits_app
    from siyu.loyalty.coupons.cli import coupons_app

    app.add_typer(coupons_app, name="coupons")
    app.add_typer(benefits_app, name="benefits")
    root.add_typer(app, name="loyalty")


@app.command("create")
def create(
    code: str = typer.Argument(..., help="A short code, e.g. vip."),
    name: str = typer.Argument(..., help="The programme's name customers see."),
    brand: str | None = typer.Option(
        None,
        "--brand",
        help="A brand's code: the programme is that brand's (default: the group's).",
    ),
    pending_days: int = typer.Option(
        7, "--pending-days", min=0, max=365, help="Refund window before points count."
    ),
    months: int = typer.Option(
        12, "--months", min=0, max=120, help="How long points last (0: for ever)."
    ),
    refund_rule: str = typer.Option(
        "negative", "--refund-rule", help="negative or deduct_later (points already spent)."
    ),
) -> None:
    """Create a loyalty programme."""
    import sqlalchemy as sa

    from siyu.brands.service import brand_id_of
    from siyu.db import session_scope
    from siyu.loyalty.models import Programme
    from siyu.loyalty.service import create_programme

    require(LOYALTY_MANAGE)
    if not 0 < len(code) <= 40 or not 0 < len(name) <= 100:
        fail("code 1–40 characters, name 1–100")
    with session_scope() as session:
        brand_id = None if brand is None else brand_id_of(session, brand)
        if session.scalar(sa.select(Programme.id).where(Programme.code == code)):
            fail(f"a programme {code!r} exists already")
        create_programme(
            session,
            code,
            name,
            brand_id=brand_id,
            pending_days=pending_days,
            lot_months=months,
            refund_rule=refund_rule,
        )
    typer.echo(f"programme {code} created; next: siyu loyalty rules spend {code} 100")


@rules_app.command("spend")
def rule_spend(
    code: str = typer.Argument(..., help="The programme's code."),
    rate: int = typer.Argument(
        ..., min=0, max=100_000, help="Points per 100 yuan paid (100: 1 point per yuan)."
    ),
    brand: str | None = typer.Option(None, "--brand", help="Only this brand's orders."),
    store: str | None = typer.Option(None, "--store", help="Only this store's orders (code)."),
    category: str | None = typer.Option(None, "--category", help="Only lines of this category."),
) -> None:
    """Set what spend earns, for the programme or one brand, store or category."""
    from siyu.brands.service import brand_id_of, store_id_of
    from siyu.db import session_scope
    from siyu.loyalty.rules import set_spend_rule

    require(LOYALTY_MANAGE)
    with session_scope() as session:
        programme = programme_of(session, code)
        brand_id = None if brand is None else brand_id_of(session, brand)
        store_id = None if store is None else store_id_of(session, store, brand_id)
        if store is not None and store_id is None:
            fail(f"no store {store!r}")
        set_spend_rule(
            session, programme, rate, brand_id=brand_id, store_id=store_id, category=category
        )
    scope = brand or store or category or "every order"
    typer.echo(f"{code}: {rate} points per 100 yuan for {scope}")


@rules_app.command("event")
def rule_event(
    code: str = typer.Argument(..., help="The programme's code."),
    event: str = typer.Argument(..., help="The event's name, e.g. 签到 or 首次添加企微."),
    points: int = typer.Argument(..., min=0, max=1_000_000, help="Points for each such event."),
) -> None:
    """Set what an event earns."""
    from siyu.db import session_scope
    from siyu.loyalty.rules import set_event_rule

    require(LOYALTY_MANAGE)
    with session_scope() as session:
        set_event_rule(session, programme_of(session, code), event, points)
    typer.echo(f"{code}: {points} points for each {event}")


@rules_app.command("list")
def rules_list(
    code: str = typer.Argument(..., help="The programme's code."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """The programme's earn rules."""
    from siyu.db import session_scope
    from siyu.loyalty.listing import programme_terms

    require(LOYALTY_MANAGE)  # members' ledgers and the programme's terms are the team's
    with session_scope() as session:
        terms = programme_terms(session, programme_of(session, code).id)
    assert terms is not None
    rules = [r.model_dump(exclude={"id", "brand"}) for r in sorted(terms.rules, key=lambda r: r.id)]
    if as_json:
        echo_json(rules)
        return
    if not rules:
        typer.echo(f"no rules yet: siyu loyalty rules spend {code} 100")
    for r in rules:
        if r["basis"] == "event":
            typer.echo(f"event {r['event']}: {r['points']} points")
        else:
            scope = (
                f"category {r['category']}"
                if r["category"]
                else f"store #{r['store_id']}"
                if r["store_id"]
                else f"brand #{r['brand_id']}"
                if r["brand_id"]
                else "every order"
            )
            typer.echo(f"spend, {scope}: {r['rate']} points per 100 yuan")


@app.command("enrol")
def enrol_cmd(
    code: str = typer.Argument(..., help="The programme's code."),
    customer: int = typer.Option(..., "--customer", "-c", min=1, max=ID_MAX, help="Customer id."),
    channel: str = typer.Option("import", "--channel", help="How they joined (store, import …)."),
) -> None:
    """Enrol a customer (their consent recorded elsewhere, e.g. at the till or in the import)."""
    from siyu.customers.service import active_customer
    from siyu.db import session_scope
    from siyu.loyalty.service import enrol

    require(LOYALTY_MANAGE)
    with session_scope() as session:
        programme = programme_of(session, code)
        active_customer(session, customer)  # a refusal when there is none
        member = enrol(session, programme, customer, channel=channel[:20])
        member_id = member.id
    typer.echo(f"customer {customer} is member {member_id} of {code}")


@app.command("backfill")
def backfill_cmd(
    code: str = typer.Argument(..., help="The programme's code."),
    since: datetime | None = typer.Option(
        None, "--since", help="Orders paid from this date (default: as far back as points last)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Earn points for the members' past orders under the current rules (safe to run again:
    orders that earned already are left as they are)."""
    from zoneinfo import ZoneInfo

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from siyu.config import get_settings
    from siyu.db import get_engine
    from siyu.loyalty.backfill import backfill

    actor = require(LOYALTY_MANAGE)
    console = Console(stderr=True)
    with Progress(
        TextColumn("[bold]积分回溯 backfill"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        disable=as_json or not console.is_terminal,
    ) as bar:
        task = bar.add_task(code, total=None)
        summary = backfill(
            get_engine(),
            code,
            since=since.replace(tzinfo=ZoneInfo(get_settings().timezone)) if since else None,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    audit(actor, "loyalty.backfill", code, summary.__dict__)
    if as_json:
        echo_json(summary.__dict__)
        return
    typer.echo(
        f"{summary.orders:,} orders read, {summary.earned:,} earned {summary.points:,} points"
        f" ({summary.one_by_one:,} of members owing points settled one by one)"
        f" in {summary.seconds:.1f} s"
    )


@app.command("expire")
def expire_cmd() -> None:
    """Expire the lots whose date has passed (the worker does this nightly; safe to repeat)."""
    from siyu.db import get_engine
    from siyu.loyalty.expiry import expire_all

    require(LOYALTY_MANAGE)
    done = expire_all(get_engine())
    typer.echo(f"{done.lots:,} lots expired ({done.points:,} points, {done.members:,} members)")


@app.command("member")
def member_cmd(
    member: int = typer.Argument(..., min=1, max=ID_MAX, help="The member's id."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """A member's balance, lots and history."""
    from siyu.db import session_scope
    from siyu.loyalty.queries import member_points

    require(LOYALTY_MANAGE)  # members' ledgers and the programme's terms are the team's
    with session_scope() as session:
        found = member_points(session, member)
    if found is None:
        fail(f"no member {member}")
    if as_json:
        echo_json(found.model_dump(mode="json"))
        return
    typer.echo(
        f"member {member}: {found.spendable:,} spendable, {found.pending:,} pending,"
        f" {found.debt:,} owed; earned {found.earned:,}, spent {found.spent:,},"
        f" expired {found.expired:,}"
    )
    for lot in found.lots:
        typer.echo(
            f"  lot {lot.source}: {lot.left:,}/{lot.points:,}"
            f" from {lot.available_at:%Y-%m-%d} until {lot.expires_at or '—'}"
        )
    for e in found.history:
        typer.echo(f"  {e.at:%Y-%m-%d %H:%M} {e.kind} {e.points:+,} {e.source} {e.reason}")


@tiers_app.command("set")
def tier_set(
    code: str = typer.Argument(..., help="The programme's code."),
    tier: str = typer.Argument(..., help="The tier's code, e.g. gold."),
    name: str = typer.Argument(..., help="The name members see, e.g. 金卡."),
    rank: int = typer.Option(..., "--rank", min=0, max=19, help="0 is the entry tier."),
    threshold: int = typer.Option(
        0, "--threshold", min=0, max=10**12, help="What qualifies, in the programme's measure."
    ),
    multiplier: int = typer.Option(
        100, "--multiplier", min=10, max=1000, help="Percent of what spend earns (150: 1.5×)."
    ),
) -> None:
    """Add or change a tier."""
    from siyu.db import session_scope
    from siyu.loyalty.tiers import set_tier

    require(LOYALTY_MANAGE)
    with session_scope() as session:
        set_tier(
            session,
            programme_of(session, code),
            tier,
            name,
            rank=rank,
            threshold=threshold,
            multiplier_pct=multiplier,
        )
    typer.echo(f"{code}: tier {tier} ({name}) at rank {rank} from {threshold:,}")


@tiers_app.command("configure")
def tier_configure(
    code: str = typer.Argument(..., help="The programme's code."),
    measure: str | None = typer.Option(None, "--measure", help="points, spend_fen or orders."),
    window: str | None = typer.Option(None, "--window", help="rolling or calendar."),
    months: int | None = typer.Option(None, "--months", min=1, max=36, help="Window length."),
    downgrade: str | None = typer.Option(None, "--downgrade", help="one_level or by_measure."),
    grace_days: int | None = typer.Option(None, "--grace-days", min=0, max=365),
) -> None:
    """How members qualify for tiers and go down."""
    from siyu.db import session_scope
    from siyu.loyalty.tiers import configure

    require(LOYALTY_MANAGE)
    with session_scope() as session:
        configure(
            session,
            programme_of(session, code),
            measure=measure,
            window=window,
            months=months,
            downgrade=downgrade,
            grace_days=grace_days,
        )
    typer.echo(f"{code}: tier rules saved")


@tiers_app.command("list")
def tier_list(
    code: str = typer.Argument(..., help="The programme's code."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """The programme's tiers, how they qualify, and how many members hold each."""
    from siyu.db import session_scope
    from siyu.loyalty.listing import programme_terms

    require(LOYALTY_MANAGE)  # members' ledgers and the programme's terms are the team's
    with session_scope() as session:
        terms = programme_terms(session, programme_of(session, code).id)
    assert terms is not None
    p = terms.programme
    tiers = [t.model_dump(exclude={"id"}) for t in terms.tiers]
    rules = (
        f"by {p.tier_measure} over {p.tier_months} months"
        f" ({p.tier_window}), down {p.tier_downgrade}"
        f" after {p.tier_grace_days} days' grace"
    )
    if as_json:
        echo_json(tiers)
        return
    typer.echo(f"{code}: {rules}")
    for t in tiers:
        typer.echo(
            f"  {t['rank']}. {t['code']} {t['name']}: from {t['threshold']:,},"
            f" ×{t['multiplier_pct'] / 100:g}, {t['members']:,} members"
        )


@tiers_app.command("review")
def tier_review() -> None:
    """Review every member's tier now (the worker does it daily; run it after a backfill)."""
    from siyu.db import session_scope
    from siyu.loyalty.tiers import review_all

    require(LOYALTY_MANAGE)
    with session_scope() as session:
        moved = review_all(session)
    typer.echo(f"{moved['upgrade']:,} up, {moved['downgrade']:,} down")


@app.command("import-balances")
def import_balances_cmd(
    code: str = typer.Argument(..., help="The programme's code."),
    file: Path = typer.Argument(
        ..., help="CSV: 手机号/会员卡号, 积分, 积分过期时间, 会员等级, 入会时间."
    ),
    rejects: Path | None = typer.Option(None, "--rejects", help="Where to write the rejects."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Bring members' opening points (with their expiry), tiers and join dates from another
    system; the members themselves come first through `siyu import customers`. Safe to run
    again: rows imported before change nothing."""
    from siyu.db import session_scope
    from siyu.loyalty.imports import import_balances

    actor = require(LOYALTY_MANAGE)
    with session_scope() as session:
        summary = import_balances(session, code, file, rejects_path=rejects)
    audit(actor, "loyalty.import_balances", code, {"file": file.name, **summary.as_dict()})
    if as_json:
        echo_json(summary.as_dict())
    else:
        typer.echo(
            f"{summary.rows:,} rows: {summary.enrolled:,} enrolled, {summary.lots:,} opening lots"
            f" ({summary.points:,} points), {summary.unchanged:,} unchanged,"
            f" {summary.tiers:,} tiers set, {sum(summary.rejected.values()):,} rejected"
        )
        for reason, n in summary.rejected.most_common():
            typer.echo(f"  {n:,} × {reason}")
        if summary.rejects_path:
            typer.echo(f"rejects: {summary.rejects_path}")
    if summary.rows and not (summary.rows - sum(summary.rejected.values())):
        raise typer.Exit(1)  # nothing could be imported
