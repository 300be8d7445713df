"""`siyu wecom keyword …` and `siyu wecom benefit …`: keyword auto-replies and the benefit-code
pools they hand out."""

from __future__ import annotations

from pathlib import Path

import typer

from siyu.clikit import echo_json, fail, require
from siyu.untrusted import ID_MAX, KEYWORD_PRIORITY_MAX

keyword_app = typer.Typer(help="Keyword auto-replies (关键词回复).", no_args_is_help=True)
benefit_app = typer.Typer(help="Benefit-code pools (福利码池).", no_args_is_help=True)


@keyword_app.command("add")
def keyword_add(
    name: str = typer.Argument(..., help="What the rule is for, e.g. 领券."),
    pattern: str = typer.Option(..., "--pattern", help="Text, regular expression or words."),
    match: str = typer.Option(
        "words", "--match", help="exact, contains, regex or words (jieba segmentation)."
    ),
    reply: str = typer.Option(
        "", "--reply", help="Reply text; {{ code }} places the benefit code."
    ),
    pool: str = typer.Option(None, "--pool", help="Benefit pool to give a code from."),
    tag: list[str] = typer.Option([], "--tag", help="Tag put on the customer (分组/标签)."),
    channel: list[str] = typer.Option(
        ["kf", "app"], "--channel", help="kf (微信客服) and/or app (自建应用); repeatable."
    ),
    priority: int = typer.Option(
        100, "--priority", help="Lower is tried first.", min=0, max=KEYWORD_PRIORITY_MAX
    ),
    corp: str = typer.Option(None, "--corp"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Add a keyword rule."""
    from siyu.db import session_scope
    from siyu.wecom.connection.service import only_corp
    from siyu.wecom.replies.service import RuleSpec, add_rule

    actor = require("wecom:manage")
    spec = RuleSpec(name, match, pattern, reply, pool, tuple(tag), tuple(channel), priority)
    with session_scope() as session:
        rule = add_rule(session, only_corp(session, corp).id, spec, actor=actor)
        rule_id = rule.id
    if as_json:
        echo_json({"id": rule_id})
        return
    typer.echo(f"keyword rule {rule_id} {name}: {match} {pattern!r}")


@keyword_app.command("list")
def keyword_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Rules, in the order they are tried, with replies sent in the last 30 days."""
    from siyu.db import session_scope
    from siyu.wecom.activity import keyword_rules

    require("customers:read")
    with session_scope() as session:
        rows = keyword_rules(session)
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        state = "on" if r["active"] else "off"
        typer.echo(
            f"{r['id']}\t{state}\t{r['priority']}\t{r['name']}\t{r['match']} {r['pattern']!r}"
            f"\tpool {r['pool'] or '-'}\tsent {r['sent']}, not sent {r['not_sent']}"
        )


def _set_active(rule_id: int, active: bool) -> None:
    from siyu.db import session_scope
    from siyu.wecom.replies.service import set_active

    actor = require("wecom:manage")
    with session_scope() as session:
        set_active(session, rule_id, active, actor=actor)
    typer.echo(f"keyword rule {rule_id} {'enabled' if active else 'disabled'}")


@keyword_app.command("disable")
def keyword_disable(rule_id: int = typer.Argument(..., min=1, max=ID_MAX)) -> None:
    """Stop a rule answering (its history stays)."""
    _set_active(rule_id, False)


@keyword_app.command("enable")
def keyword_enable(rule_id: int = typer.Argument(..., min=1, max=ID_MAX)) -> None:
    _set_active(rule_id, True)


@keyword_app.command("replies")
def keyword_replies_cmd(
    limit: int = typer.Option(50, "--limit", min=1, max=1000),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The latest customer messages and what was answered."""
    from siyu.db import session_scope
    from siyu.wecom.activity import keyword_replies

    require("customers:read")
    with session_scope() as session:
        rows = keyword_replies(session, limit)
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        why = f" ({r['errcode']} {r['meaning']})" if r["errcode"] else ""
        typer.echo(
            f"{r['at']}\t{r['channel']}\t{r['status']}{why}\trule {r['rule_id']}\t{r['text']}"
        )


@benefit_app.command("load")
def benefit_load(
    pool: str = typer.Argument(..., help="Pool name, e.g. 双11满减券."),
    file: Path = typer.Argument(..., help="Text file, one code per line (UTF-8)."),
    exhausted: str = typer.Option(
        None, "--exhausted-text", help="What customers are told once the pool is empty."
    ),
    corp: str = typer.Option(None, "--corp"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Add codes to a pool (created if new); codes already there are not added twice."""
    from siyu.db import session_scope
    from siyu.wecom.connection.service import only_corp
    from siyu.wecom.replies.service import load_codes

    actor = require("wecom:manage")
    try:
        lines = file.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{file}: {exc}")
    with session_scope() as session:
        result = load_codes(
            session,
            only_corp(session, corp).id,
            pool,
            lines,
            exhausted_text=exhausted,
            actor=actor,
        )
    out = {
        "pool_id": result.pool_id,
        "added": result.added,
        "already_in_pool": result.already,
        "rejected": [{"line": n, "reason": why} for n, why in result.rejected],
    }
    if as_json:
        echo_json(out)
        return
    typer.echo(f"pool {pool}: {result.added} added, {result.already} already there")
    for n, why in result.rejected[:20]:
        typer.echo(f"  line {n}: {why}", err=True)
    if not result.added and result.rejected:
        raise typer.Exit(1)


@benefit_app.command("list")
def benefit_list(
    corp: str = typer.Option(None, "--corp"), as_json: bool = typer.Option(False, "--json")
) -> None:
    """Pools with codes given and left."""
    from siyu.db import session_scope
    from siyu.wecom.connection.service import only_corp
    from siyu.wecom.replies.service import pool_stock

    require("customers:read")
    with session_scope() as session:
        rows = pool_stock(session, only_corp(session, corp).id)
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        if r["issued_by"]:
            typer.echo(f"{r['id']}\t{r['name']}\t{r['claimed']} given, issued by {r['issued_by']}")
        else:
            typer.echo(
                f"{r['id']}\t{r['name']}\t{r['claimed']}/{r['codes']} given, {r['left']} left"
            )
