"""`siyu loyalty coupons …`: coupon templates, issuing them, and their figures."""

from __future__ import annotations

import typer

from siyu.clikit import echo_json, fail, require
from siyu.loyalty import LOYALTY_MANAGE
from siyu.loyalty.cli_support import audit, programme_of
from siyu.untrusted import ID_MAX

coupons_app = typer.Typer(help="Coupon templates and issuing.", no_args_is_help=True)


@coupons_app.command("create")
def coupon_create(
    code: str = typer.Argument(..., help="The programme's code."),
    coupon: str = typer.Argument(..., help="The coupon's code, e.g. c20."),
    name: str = typer.Argument(..., help="What members see, e.g. 满100减20."),
    kind: str = typer.Option(
        "amount_off", "--kind", help="amount_off, percent_off, gift or free_shipping."
    ),
    amount: int = typer.Option(0, "--amount-fen", min=0, max=1_000_000_000, help="Amount off."),
    percent: int = typer.Option(0, "--percent-off", min=0, max=99, help="Percent off."),
    cap: int = typer.Option(0, "--cap-fen", min=0, max=1_000_000_000, help="Most off (percent)."),
    threshold: int = typer.Option(
        0, "--threshold-fen", min=0, max=1_000_000_000, help="Order at least."
    ),
    gift: str = typer.Option("", "--gift", help="The gift (kind gift)."),
    days: int = typer.Option(30, "--valid-days", min=1, max=3660, help="Valid days from issue."),
    per_member: int = typer.Option(1, "--per-member", min=0, max=1000, help="0: no limit."),
    total: int = typer.Option(0, "--total", min=0, max=100_000_000, help="0: no limit."),
    points: int = typer.Option(
        0, "--points-price", min=0, max=100_000_000, help="Sold for points (0: not sold)."
    ),
    claimable: bool = typer.Option(False, "--claimable", help="Members take it themselves."),
    keep_on_refund: bool = typer.Option(
        False, "--keep-on-refund", help="A refund does not give the coupon back."
    ),
) -> None:
    """Create a coupon template."""
    from siyu.db import session_scope
    from siyu.loyalty.coupons.service import create_template

    require(LOYALTY_MANAGE)
    with session_scope() as session:
        create_template(
            session,
            programme_of(session, code),
            coupon,
            name,
            kind,
            amount_fen=amount,
            percent_off=percent,
            cap_fen=cap,
            threshold_fen=threshold,
            gift=gift,
            valid_days=days,
            per_member=per_member,
            total=total,
            points_price=points,
            claimable=claimable,
            return_on_refund=not keep_on_refund,
        )
    typer.echo(f"{code}: coupon {coupon} ({name}) created")


@coupons_app.command("issue")
def coupon_issue(
    code: str = typer.Argument(..., help="The programme's code."),
    coupon: str = typer.Argument(..., help="The coupon's code."),
    member: list[int] = typer.Option(
        [], "--member", "-m", min=1, max=ID_MAX, help="A member id (repeatable)."
    ),
    source: str = typer.Option(
        ..., "--source", help="Why, once per member: e.g. campaign-12 (the same again issues none)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the codes as JSON."),
) -> None:
    """Issue a coupon to members (once per member and --source)."""
    import sqlalchemy as sa

    from siyu.db import session_scope
    from siyu.loyalty.coupons.models import CouponTemplate
    from siyu.loyalty.coupons.service import issue

    actor = require(LOYALTY_MANAGE)
    if not member:
        fail("name at least one --member")
    if not 0 < len(source) <= 100:
        fail("--source: 1–100 characters")
    codes = {}
    with session_scope() as session:
        programme = programme_of(session, code)
        template = session.scalar(
            sa.select(CouponTemplate).where(
                CouponTemplate.programme_id == programme.id, CouponTemplate.code == coupon
            )
        )
        if template is None:
            fail(f"no coupon {coupon!r} in {code}")
        for member_id in member:
            codes[member_id] = issue(session, template, member_id, ("manual", source)).code
    audit(actor, "loyalty.coupons_issue", code, {"coupon": coupon, "members": member})
    if as_json:
        echo_json(codes)
        return
    for member_id, got in codes.items():
        typer.echo(f"member {member_id}: {got}")


@coupons_app.command("list")
def coupon_list(
    code: str = typer.Argument(..., help="The programme's code."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """The programme's coupon templates with how many were issued and redeemed."""
    from siyu.db import session_scope
    from siyu.loyalty.coupons.queries import templates

    require(LOYALTY_MANAGE)  # members' ledgers and the programme's terms are the team's
    with session_scope() as session:
        found = templates(session, programme_of(session, code).id)
    if as_json:
        echo_json([t.model_dump() for t in found])
        return
    if not found:
        typer.echo(
            f"no coupons yet: siyu loyalty coupons create {code} c20 满100减20 --amount-fen 2000"
        )
    for t in found:
        typer.echo(f"{t.code} {t.name} ({t.kind}): {t.issued:,} issued, {t.redeemed:,} redeemed")


@coupons_app.command("rule")
def coupon_rule(
    code: str = typer.Argument(..., help="The programme's code."),
    rule: str = typer.Argument(..., help="The rule's code, e.g. welcome."),
    coupon: str = typer.Option(..., "--coupon", help="The coupon it gives."),
    on: str = typer.Option(
        ..., "--on", help="joined, tier:<tier code> or event:<event name> (from now on)."
    ),
    off: bool = typer.Option(False, "--off", help="Stop giving it (kept, with its figures)."),
) -> None:
    """Give a coupon by itself: to members who join, reach a tier, or do something tracked."""
    from siyu.db import session_scope
    from siyu.loyalty.coupons.rules import set_rule

    actor = require(LOYALTY_MANAGE)
    with session_scope() as session:
        set_rule(session, programme_of(session, code), rule, coupon, on, active=not off)
    audit(
        actor, "loyalty.coupon_rule", code, {"rule": rule, "coupon": coupon, "on": on, "off": off}
    )
    typer.echo(f"{code}: rule {rule} gives {coupon} on {on}" + (" (off)" if off else ""))


@coupons_app.command("rules")
def coupon_rules(
    code: str = typer.Argument(..., help="The programme's code."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """The programme's coupon rules and how many coupons each gave."""
    from dataclasses import asdict

    from siyu.db import session_scope
    from siyu.loyalty.coupons.rules import rules_of

    require(LOYALTY_MANAGE)
    with session_scope() as session:
        found = rules_of(session, programme_of(session, code).id)
    if as_json:
        echo_json([asdict(r) for r in found])
        return
    if not found:
        typer.echo(
            f"no rules yet: siyu loyalty coupons rule {code} welcome --coupon c20 --on joined"
        )
    for r in found:
        state = "" if r.active else " (off)"
        typer.echo(f"{r.code}: {r.coupon} on {r.on}{state}, {r.issued:,} given")


@coupons_app.command("pool")
def coupon_pool(
    code: str = typer.Argument(..., help="The programme's code."),
    coupon: str = typer.Argument(..., help="The coupon a WeCom keyword reply gives."),
    pool: str = typer.Argument(..., help="The benefit pool's name the keyword rule names."),
    corp: str = typer.Option(None, "--corp", help="The WeCom corp (when there are several)."),
    exhausted_text: str = typer.Option(
        None, "--exhausted-text", help="What customers are told once the coupon has run out."
    ),
) -> None:
    """Give a coupon by WeCom keyword reply: a benefit pool whose codes are this coupon, issued
    to the member who asks (then: siyu wecom keyword add … --pool POOL)."""
    from siyu.db import session_scope
    from siyu.loyalty.coupons.keywords import keyword_pool
    from siyu.wecom.connection.service import only_corp

    actor = require(LOYALTY_MANAGE)
    with session_scope() as session:
        keyword_pool(
            session,
            programme_of(session, code),
            coupon,
            only_corp(session, corp).id,
            pool,
            exhausted_text=exhausted_text,
            actor=actor,
        )
    typer.echo(f"pool {pool} gives coupon {coupon} of {code}; name it in a keyword rule (--pool)")
