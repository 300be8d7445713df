"""`siyu wecom …`: connect corps, sync, see what failed; `siyu simulate wecom`: a local WeCom."""

from __future__ import annotations

import os
import time
from pathlib import Path

import typer

from siyu.clikit import echo_json, fail, require
from siyu.untrusted import ID_MAX

app = typer.Typer(help="WeCom (企业微信): corps, sync, status.", no_args_is_help=True)
corp_app = typer.Typer(help="Connected WeCom corps.", no_args_is_help=True)
app.add_typer(corp_app, name="corp")
simulate_app = typer.Typer(help="Local stand-ins for outside platforms.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    from siyu.wecom.handover.cli import handover_app
    from siyu.wecom.live_codes.cli import group_code_app
    from siyu.wecom.replies.cli import benefit_app, keyword_app
    from siyu.wecom.tagsync.cli import tags_app

    app.add_typer(tags_app, name="tags")

    app.add_typer(handover_app, name="handover")
    app.add_typer(group_code_app, name="group-code")
    app.add_typer(keyword_app, name="keyword")
    app.add_typer(benefit_app, name="benefit")
    root.add_typer(app, name="wecom")
    root.add_typer(simulate_app, name="simulate")


def _secret_option(value: str | None, env: str, what: str) -> str:
    value = value or os.environ.get(env)
    if not value:
        fail(f"{what}: give --{what.replace(' ', '-')} or set {env}")
    return value


@corp_app.command("add")
def corp_add(
    corp_id: str = typer.Option(..., "--corp-id", help="The corp id (我的企业 → 企业ID, ww…)."),
    agent_id: str = typer.Option(..., "--agent-id", help="The self-built app's AgentId."),
    secret: str = typer.Option(None, "--secret", help="The app's Secret (or SIYU_WECOM_SECRET)."),
    token: str = typer.Option(None, "--token", help="Callback Token (or SIYU_WECOM_TOKEN)."),
    aes_key: str = typer.Option(
        None, "--aes-key", help="Callback EncodingAESKey, 43 characters (or SIYU_WECOM_AES_KEY)."
    ),
    name: str = typer.Option("", "--name", help="A name to show (e.g. the brand)."),
    brand: str = typer.Option(None, "--brand", help="Brand code the corp belongs to."),
) -> None:
    """Connect a corp (or replace its keys). Secrets are stored encrypted, never shown back."""
    from siyu.db import session_scope
    from siyu.wecom.connection.service import WecomConfigError, add_corp

    actor = require("wecom:manage")
    with session_scope() as session:
        try:
            view = add_corp(
                session,
                corp_id=corp_id,
                agent_id=agent_id,
                secret=_secret_option(secret, "SIYU_WECOM_SECRET", "secret"),
                token=_secret_option(token, "SIYU_WECOM_TOKEN", "token"),
                aes_key_text=_secret_option(aes_key, "SIYU_WECOM_AES_KEY", "aes key"),
                name=name,
                brand_code=brand,
                actor=actor,
            )
        except WecomConfigError as exc:
            fail(str(exc))
    typer.echo(
        f"corp {view.corp_id} connected (secret {view.secret_hint}); callback URL path: "
        f"/wecom/callback/{view.corp_id}"
    )


@corp_app.command("list")
def corp_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Connected corps (secrets shown only by their last characters)."""
    from siyu.db import session_scope
    from siyu.wecom.connection.service import list_corps

    require("customers:read")
    with session_scope() as session:
        corps = list_corps(session)
    if as_json:
        echo_json([c.__dict__ for c in corps])
        return
    for c in corps:
        typer.echo(f"{c.corp_id}\t{c.name}\tagent {c.agent_id}\tsecret {c.secret_hint}")


@app.command("sync")
def sync_cmd(
    corp: str = typer.Option(None, "--corp", help="Corp id (needed when several are connected)."),
    wait: bool = typer.Option(
        True, "--wait/--no-wait", help="On a WeCom rate limit, wait and go on (default) or stop."
    ),
) -> None:
    """Full sync: departments, staff, every friendship, customer groups. Resumes an interrupted
    sync where it stopped."""
    from rich.console import Console

    from siyu.db import session_scope
    from siyu.wecom.connection.client import WecomError
    from siyu.wecom.connection.service import WecomConfigError, client_for, only_corp
    from siyu.wecom.contacts.sync import SyncPaused, sync

    require("wecom:manage")
    console = Console(stderr=True)

    def show(phase: str, counts: dict[str, int]) -> None:
        console.print(f"[dim]{phase}[/dim] " + " ".join(f"{k}={v:,}" for k, v in counts.items()))

    with session_scope() as session:
        try:
            target = only_corp(session, corp)
        except WecomConfigError as exc:
            fail(str(exc))
        client = client_for(session, target)
        while True:
            try:
                run = sync(session, target, client, show)
                break
            except SyncPaused as paused:
                if not wait:
                    fail(f"sync {paused.run_id} paused: {paused.error}; run again to resume", 3)
                pause = (paused.retry_at - time.monotonic()) if paused.retry_at else 5.0
                console.print(
                    f"[yellow]{paused.error}; waiting {pause:.0f} s, then resuming[/yellow]"
                )
                time.sleep(max(1.0, pause))
            except WecomError as exc:
                fail(f"sync failed: {exc}")
    typer.echo(f"sync {run.id} done: " + ", ".join(f"{k} {v:,}" for k, v in run.counts.items()))


@app.command("status")
def status_cmd(as_json: bool = typer.Option(False, "--json")) -> None:
    """Sync state, inbox backlog and failures, API errors in the last hour, per corp. Exits 2
    when something failed, so monitoring can alert on it."""
    from siyu.db import session_scope
    from siyu.wecom.queries import status

    require("customers:read")
    with session_scope() as session:
        corps = status(session)
    if as_json:
        echo_json(corps)
    else:
        if not corps:
            typer.echo("no WeCom corp connected (siyu wecom corp add)")
        for c in corps:
            s = c["sync"]
            typer.echo(
                f"{c['corp_id']} {c['name']}: {c['staff']} staff, {c['friendships']:,} "
                f"friendships, {c['customers']:,} customers"
            )
            if s is None:
                typer.echo("  sync: never run (siyu wecom sync)")
            else:
                typer.echo(
                    f"  sync {s['id']}: {s['status']} {s['counts']}"
                    + (f" — {s['error']}" if s["error"] else "")
                )
            typer.echo("  inbox: " + ", ".join(f"{k} {v}" for k, v in c["inbox"].items()))
            for f in c["inbox_failures"]:
                typer.echo(f"  failed callback {f['id']} {f['event']}: {f['error']}")
            for e in c["api_errors_last_hour"]:
                typer.echo(f"  {e['count']}× {e['api']} errcode {e['errcode']} {e['meaning']}")
    failing = any(
        c["inbox"]["failed"] or (c["sync"] and c["sync"]["status"] == "failed") for c in corps
    )
    if failing:
        raise typer.Exit(2)


@simulate_app.command("wecom")
def simulate_wecom(
    port: int = typer.Option(9300, "--port", min=1, max=65_535),
    host: str = typer.Option("127.0.0.1", "--host"),
    siyu: str = typer.Option(
        "http://127.0.0.1:8000", "--siyu", help="Siyu's address, for the callbacks."
    ),
    staff: int = typer.Option(
        5, "--staff", help="Staff members in the simulated corp.", min=1, max=1_000
    ),
    customers_per_minute: float = typer.Option(
        0, "--customers-per-minute", help="Simulated customers adding staff (0: none)."
    ),
    connect: bool = typer.Option(
        False, "--connect", help="Also connect the simulated corp in Siyu's database."
    ),
) -> None:
    """A local WeCom API with a simulated corp, sending Siyu real encrypted callbacks. Point
    Siyu at it with SIYU_WECOM_API_BASE=http://HOST:PORT."""
    from siyu.simulators.wecom.run import serve

    serve(host, port, siyu, staff, customers_per_minute, connect)


live_app = typer.Typer(help="Channel live codes (渠道活码).", no_args_is_help=True)
app.add_typer(live_app, name="live-code")
welcome_app = typer.Typer(help="Welcome messages (欢迎语).", no_args_is_help=True)
app.add_typer(welcome_app, name="welcome")


@live_app.command("create")
def live_create(
    name: str = typer.Argument(..., help="What the code is for, e.g. 南京西路店柜台."),
    staff: str = typer.Option(
        ...,
        "--staff",
        help="Staff behind the code: userid[:weight[:daily limit]], comma-separated.",
    ),
    channel: str = typer.Option(
        "other", "--channel", help="store, poster, parcel, live, ad, event, other."
    ),
    rotation: str = typer.Option("round_robin", "--rotation", help="round_robin or weighted."),
    tag: list[str] = typer.Option(
        [], "--tag", help="Tag put on customers who scan (分组/标签); repeatable."
    ),
    welcome: str = typer.Option(
        None, "--welcome", help="This code's welcome: {{ nickname }} {{ staff }} {{ store }}."
    ),
    store: str = typer.Option(None, "--store", help="Store code."),
    verify: bool = typer.Option(
        False, "--verify", help="Staff confirm each friend request (default: auto-accept)."
    ),
    corp: str = typer.Option(None, "--corp"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Create a live code at WeCom; prints its id and where its QR image is."""
    from siyu.db import session_scope
    from siyu.wecom.connection.service import WecomConfigError, client_for, only_corp, record_calls
    from siyu.wecom.live_codes.service import LiveCodeError, create_live_code, parse_staff
    from siyu.wecom.queries import live_code_summary

    actor = require("wecom:manage")
    with session_scope() as session:
        try:
            target = only_corp(session, corp)
            client = client_for(session, target)
            code = create_live_code(
                session,
                client,
                target.id,
                name=name,
                staff=parse_staff(staff),
                channel=channel,
                rotation=rotation,
                skip_verify=not verify,
                tag_paths=tag,
                welcome_text=welcome,
                store_code=store,
                actor=actor,
            )
        except (WecomConfigError, LiveCodeError) as exc:
            fail(str(exc))
        record_calls(session, target, client)
        out = live_code_summary(code, [])
    if as_json:
        echo_json(out)
        return
    typer.echo(
        f"live code {out['id']} {out['name']} (state {out['state']}): QR at {out['qr']} "
        f"or: siyu wecom live-code qr {out['id']} 文件.png"
    )


@live_app.command("list")
def live_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Live codes, their staff and net adds."""
    from siyu.db import session_scope
    from siyu.wecom.queries import live_codes

    require("customers:read")
    with session_scope() as session:
        rows = live_codes(session)
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        staff = ",".join(s["userid"] for s in r["staff"])
        typer.echo(
            f"{r['id']}\t{r['name']}\t{r['channel']}\t{r['rotation']}\tnet {r['net_adds']}\t{staff}"
        )


@live_app.command("stats")
def live_stats(
    code_id: int = typer.Argument(..., min=1, max=ID_MAX),
    days: int = typer.Option(30, "--days", min=1, max=366),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Adds, deletions and net adds by day and by staff member."""
    from siyu.db import session_scope
    from siyu.wecom.live_codes.models import LiveCode
    from siyu.wecom.live_codes.service import stats

    require("customers:read")
    with session_scope() as session:
        code = session.get(LiveCode, code_id)
        if code is None:
            fail(f"no live code {code_id}")
        out = stats(session, code, days)
    if as_json:
        echo_json(out)
        return
    typer.echo(
        f"{out['name']}: adds {out['adds']}, deletions {out['deletions']}, net {out['net_adds']}"
    )
    for userid, n in sorted(out["by_staff"].items()):
        typer.echo(f"  {userid}\t{n}")
    for d in out["days"]:
        if d["adds"] or d["deletions"]:
            typer.echo(f"  {d['date']}\t+{d['adds']}\t-{d['deletions']}")


@live_app.command("qr")
def live_qr(
    code_id: int = typer.Argument(..., min=1, max=ID_MAX),
    file: Path = typer.Argument(..., help="PNG file to write."),
) -> None:
    """Save the code's QR image."""
    from siyu.db import session_scope
    from siyu.wecom.live_codes.models import LiveCode
    from siyu.wecom.live_codes.service import fetch_qr

    require("customers:read")
    with session_scope() as session:
        code = session.get(LiveCode, code_id)
        if code is None:
            fail(f"no live code {code_id}")
        png = code.qr_png or fetch_qr(code.qr_url)
        if png is None:
            fail("WeCom's QR image could not be fetched; try again")
        code.qr_png = png
    file.write_bytes(png)
    typer.echo(f"wrote {file} ({len(png):,} bytes)")


@welcome_app.command("set-default")
def welcome_default(
    text: str = typer.Argument(..., help="Text with {{ nickname }}, {{ staff }}, {{ store }}."),
    corp: str = typer.Option(None, "--corp"),
) -> None:
    """The welcome for customers who add staff without a live code of their own."""
    from siyu.db import session_scope
    from siyu.wecom.connection.service import WecomConfigError, only_corp
    from siyu.wecom.live_codes.welcome import WelcomeError, set_default

    actor = require("wecom:manage")
    with session_scope() as session:
        try:
            set_default(session, only_corp(session, corp).id, text, actor=actor)
        except (WecomConfigError, WelcomeError) as exc:
            fail(str(exc))
    typer.echo("default welcome saved")


@app.command("alerts")
def alerts_cmd(as_json: bool = typer.Option(False, "--json")) -> None:
    """Open alerts (capacity, customers lost, failed transfers) and welcome figures (24 h)."""
    from siyu.db import session_scope
    from siyu.wecom.queries import open_alerts, welcome_stats

    require("customers:read")
    with session_scope() as session:
        alerts, w = open_alerts(session), welcome_stats(session)
    if as_json:
        echo_json({"alerts": alerts, "welcome": w})
        return
    typer.echo(f"welcome (24 h): {w['by_status']} p50 {w['p50_ms']} ms p99 {w['p99_ms']} ms")
    for a in alerts:
        typer.echo(f"{a['at']}\t{a['kind']}\t{a['message']}")


@app.command("duplicates")
def duplicates_cmd(as_json: bool = typer.Option(False, "--json")) -> None:
    """Customers added by several staff members: overall, by live code, by store."""
    from siyu.db import session_scope
    from siyu.wecom.queries import duplicates

    require("customers:read")
    with session_scope() as session:
        out = duplicates(session)
    if as_json:
        echo_json(out)
        return
    typer.echo(
        f"{out['customers']:,} customers, {out['friendships']:,} friendships; "
        f"{out['customers_with_several_staff']:,} customers are friends of several staff "
        f"({out['extra_friendships']:,} extra friendships)"
    )
    for e in out["by_live_code"]:
        typer.echo(
            f"  live code {e['id']} {e['name']}: {e['duplicate_adds']} adds by existing friends"
        )
    for e in out["by_store"]:
        typer.echo(f"  store {e['store_id'] or '-'}: {e['customers']} customers with several staff")
