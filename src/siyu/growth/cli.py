"""`siyu growth …`: a programme's referral settings, members' codes, the referrals with their
reasons, decisions on held ones, and granting what is due."""

from __future__ import annotations

from pathlib import Path

import typer

from siyu.clikit import echo_json, fail, require
from siyu.growth import GROWTH_MANAGE
from siyu.growth.forms.cli import app as forms_app
from siyu.untrusted import ID_MAX

app = typer.Typer(
    help="Growth: referral programmes, codes, referrals and their rewards.",
    no_args_is_help=True,
)
referral_app = typer.Typer(help="A programme's referral settings.", no_args_is_help=True)
app.add_typer(referral_app, name="referral")
referrals_app = typer.Typer(
    help="Referrals: list, approve or void held ones.", no_args_is_help=True
)
app.add_typer(referrals_app, name="referrals")
app.add_typer(forms_app, name="forms")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="growth")


@referral_app.command("set")
def set_referral(
    programme: str = typer.Argument(..., help="The loyalty programme's code."),
    referrer_points: int | None = typer.Option(
        None, min=0, max=1000000, help="Points for the referrer."
    ),
    invitee_points: int | None = typer.Option(
        None, min=0, max=1000000, help="Points for the new member."
    ),
    referrer_coupon: str | None = typer.Option(
        None, help="A coupon code for the referrer ('' none)."
    ),
    invitee_coupon: str | None = typer.Option(
        None, help="A coupon code for the new member ('' none)."
    ),
    min_order_yuan: float | None = typer.Option(None, help="The first order's least amount, yuan."),
    refund_days: int | None = typer.Option(
        None, min=0, max=365, help="Days before a reward is granted."
    ),
    cap_day: int | None = typer.Option(
        None, min=0, max=10000, help="Most referrer rewards a day (0: no cap)."
    ),
    cap_month: int | None = typer.Option(
        None, min=0, max=100000, help="Most referrer rewards a month (0: no cap)."
    ),
    device_most: int | None = typer.Option(
        None, min=1, max=1000, help="Invitees per device before review."
    ),
    network_most: int | None = typer.Option(
        None, min=1, max=10000, help="Invitees per network before review."
    ),
    burst_most: int | None = typer.Option(
        None, min=1, max=10000, help="Arrivals per referrer in the burst window."
    ),
    store_networks: str | None = typer.Option(
        None, help="Stores' Wi-Fi addresses or CIDR blocks, comma-separated ('' none)."
    ),
    active: bool | None = typer.Option(None, "--active/--paused", help="Running or paused."),
) -> None:
    """Create or change a programme's referral settings. Rewards are for the invitee's first
    paid order once its refund window has passed, never for shares or scans."""
    from siyu.db import session_scope
    from siyu.growth.service import network_list, set_rules

    actor = require(GROWTH_MANAGE)
    numbers = {
        "referrer_points": referrer_points,
        "invitee_points": invitee_points,
        "refund_days": refund_days,
        "cap_day": cap_day,
        "cap_month": cap_month,
        "device_most": device_most,
        "network_most": network_most,
        "burst_most": burst_most,
    }
    if min_order_yuan is not None:
        if not 0 <= min_order_yuan <= 1_000_000:
            fail("--min-order-yuan must be from 0 to 1000000")
        numbers["min_order_fen"] = round(min_order_yuan * 100)
    with session_scope() as session:
        rules = set_rules(
            session,
            programme,
            actor,
            referrer_coupon=referrer_coupon,
            invitee_coupon=invitee_coupon,
            store_networks=network_list(store_networks) if store_networks is not None else None,
            active=active,
            **{k: v for k, v in numbers.items() if v is not None},
        )
        state = "running" if rules.active else "paused"
    typer.echo(f"referral for {programme}: {state}; see: siyu growth referral show {programme}")


@referral_app.command("show")
def show_referral(
    programme: str = typer.Argument(..., help="The loyalty programme's code."),
) -> None:
    """A programme's referral settings, as JSON."""
    from siyu.db import session_scope
    from siyu.growth.api import rules_out
    from siyu.growth.service import settings_of
    from siyu.loyalty.queries import programme_named

    require(GROWTH_MANAGE)
    with session_scope() as session:
        found = programme_named(session, programme)
        rules = settings_of(session, found.id) if found else None
        if found is None or rules is None:
            fail(
                f"no referral settings for {programme!r}; set them with `siyu growth referral set`"
            )
        echo_json(rules_out(session, found.code, rules).model_dump())


@referral_app.command("poster-art")
def poster_art(
    programme: str = typer.Argument(..., help="The loyalty programme's code."),
    image: Path = typer.Argument(..., help="A PNG or JPEG of at most 5 MB (the poster's top)."),
) -> None:
    """Set the brand's art on the programme's posters (re-encoded: metadata dropped)."""
    from siyu.db import session_scope
    from siyu.growth.poster import clean_art
    from siyu.growth.service import set_poster_art

    actor = require(GROWTH_MANAGE)
    if not image.is_file():
        fail(f"no file {image}")
    if image.stat().st_size > 5_000_000:
        fail("the image must be at most 5 MB")
    art = clean_art(image.read_bytes())
    with session_scope() as session:
        set_poster_art(session, programme, art, actor)
    typer.echo(f"poster art set for {programme} ({len(art)} bytes)")


@app.command("code")
def member_code(
    member: int = typer.Argument(..., min=1, max=ID_MAX, help="A member's id."),
) -> None:
    """A member's referral code and link (made the first time)."""
    from siyu.db import session_scope
    from siyu.growth.public import link_of
    from siyu.growth.service import code_for, settings_of
    from siyu.loyalty.queries import member_view

    require(GROWTH_MANAGE)
    with session_scope() as session:
        found = member_view(session, member)
        if found is None or not found.active:
            fail(f"no active member {member}")
        rules = settings_of(session, found.programme_id)
        if rules is None:
            fail(f"programme {found.programme_code} has no referral settings")
        code = code_for(session, found)
        typer.echo(f"{code.code} {link_of(code.code)}")


@referrals_app.command("list")
def list_referrals(
    status: str | None = typer.Option(None, help="attributed, review or void."),
    limit: int = typer.Option(100, min=1, max=500),
) -> None:
    """Referrals, newest first, with the reasons and each side's reward, as JSON."""
    from siyu.db import session_scope
    from siyu.growth.queries import referrals

    require(GROWTH_MANAGE)
    if status not in (None, "attributed", "review", "void"):
        fail("--status is attributed, review or void")
    with session_scope() as session:
        total, rows = referrals(session, status=status, most=limit)
        echo_json({"total": total, "referrals": [r.model_dump(mode="json") for r in rows]})


def _decide(referral: int, approve: bool) -> None:
    from siyu.db import session_scope
    from siyu.growth.service import decide

    actor = require(GROWTH_MANAGE)
    with session_scope() as session:
        found = decide(session, referral, approve, actor)
        typer.echo(f"referral {found.id}: {found.status}")


@referrals_app.command("approve")
def approve(referral: int = typer.Argument(..., min=1, max=ID_MAX)) -> None:
    """Approve a held referral: its rewards are granted when due."""
    _decide(referral, True)


@referrals_app.command("void")
def void(referral: int = typer.Argument(..., min=1, max=ID_MAX)) -> None:
    """Void a held referral: its pending rewards are voided."""
    _decide(referral, False)


@app.command("grant")
def grant() -> None:
    """Grant the rewards whose refund window has passed now (the worker does it every five
    minutes)."""
    from siyu.db import session_scope
    from siyu.growth.rewards import grant_due

    require(GROWTH_MANAGE)
    total = 0
    with session_scope() as session:
        while True:
            done = grant_due(session)
            total += done
            if done < 500:
                break
    typer.echo(f"{total} rewards granted")


fission_app = typer.Typer(
    help="Fission campaigns (任务宝): stages count paid orders.", no_args_is_help=True
)
app.add_typer(fission_app, name="fission")


@fission_app.command("create")
def fission_create(
    programme: str = typer.Argument(..., help="The loyalty programme's code."),
    name: str = typer.Argument(..., help="The campaign's name."),
    stage: list[str] = typer.Option(
        ..., "--stage", help="ORDERS:POINTS[:COUPON], e.g. 3:300 or 5:0:c20 (repeat)."
    ),
    days: int = typer.Option(30, min=1, max=366, help="How long it runs, from today."),
    poster_text: str = typer.Option("", help="The poster's words (nothing promised for sharing)."),
    trigger: str = typer.Option(
        "paid_orders", help="What stages count: paid_orders (shares, scans, adds, invites refused)."
    ),
    group_code: int | None = typer.Option(
        None,
        "--group-code",
        min=1,
        max=ID_MAX,
        help="Group fission: the group live code whose QR new friends are welcomed with.",
    ),
) -> None:
    """Create a fission campaign: stages count invitees' paid orders after the refund window.
    With --group-code, a participant's new friend gets the group's QR in the welcome message
    (joining is noted, never rewarded)."""
    from datetime import datetime, time, timedelta

    from siyu import clock
    from siyu.config import get_settings
    from siyu.db import session_scope
    from siyu.growth.fission.service import StageSpec, create_campaign

    actor = require(GROWTH_MANAGE)
    specs = []
    for text in stage[:10]:
        parts = text.split(":")
        if not 2 <= len(parts) <= 3 or not all(p.isdigit() for p in parts[:2]):
            fail(f"--stage {text!r}: ORDERS:POINTS[:COUPON]")
        specs.append(
            StageSpec(int(parts[0]), int(parts[1]), parts[2] if len(parts) > 2 else "", trigger)
        )
    tz = get_settings().tz
    start = datetime.combine(clock.now().astimezone(tz).date(), time.min, tz)
    with session_scope() as session:
        made = create_campaign(
            session,
            programme,
            name,
            specs,
            starts_at=start,
            ends_at=start + timedelta(days=days),
            poster_text=poster_text,
            group_code_id=group_code,
            actor=actor,
        )
        typer.echo(
            f"campaign {made.id} {made.name}: {len(specs)} stages until {made.ends_at:%Y-%m-%d}"
        )


@fission_app.command("list")
def fission_list() -> None:
    """Campaigns with their stages, as JSON."""
    from siyu.db import session_scope
    from siyu.growth.fission.api import campaign_list

    require(GROWTH_MANAGE)
    with session_scope() as session:
        echo_json([c.model_dump() for c in campaign_list(session)])
