"""`siyu campaigns …`: plan, preview, start and follow campaigns; caps; ambiguous messages;
transactional notices to one customer (``notify``).

Templates come from JSON files, one per channel: ``--template sms=双12.json``. Exit statuses:
0 done, 1 refused (the message says why: a template error names its part and line), 4 not
permitted.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import typer

from siyu.clikit import acting_principal, echo_json, fail, require
from siyu.untrusted import BIG_ID_MAX, COST_FEN_MAX, ID_MAX

app = typer.Typer(
    help="Campaigns: messages to a segment on SMS, email or webhooks, with holdout and A/B.",
    no_args_is_help=True,
)
caps_app = typer.Typer(help="Frequency caps on marketing messages.", no_args_is_help=True)
app.add_typer(caps_app, name="caps")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="campaigns")


def _templates(specs: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for spec in specs:
        channel, _, file = spec.partition("=")
        path = Path(file)
        if not channel or not file:
            fail(f"--template {spec}: write it as CHANNEL=FILE, e.g. sms=双12.json")
        if not path.is_file():
            fail(f"{path} is not a file")
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            fail(f"{path} is not UTF-8 JSON: {exc}")
        if not isinstance(data, dict):
            fail(f'{path}: a JSON object, e.g. {{"text": "…"}}')
        out[channel] = data
    return out


def _get(session: Any, campaign_id: int) -> Any:
    from siyu.reach.campaigns.service import get_campaign

    return get_campaign(session, campaign_id)


@app.command("create")
def create(
    name: str = typer.Argument(..., help="The campaign's name."),
    segment: int = typer.Option(
        None,
        "--segment",
        help="The audience: a segment id (not for wecom_group).",
        min=1,
        max=ID_MAX,
    ),
    channel: list[str] = typer.Option(
        ...,
        "--channel",
        help="A channel (wecom, wecom_app, sms, email, oa, webhook); repeat for a priority "
        "list. wecom_group alone sends to customer groups.",
    ),
    group_owner: list[str] = typer.Option(
        [], "--group-owner", help="wecom_group: groups owned by this staff userid (repeat)."
    ),
    group_name: str = typer.Option("", "--group-name", help="wecom_group: group names with this."),
    template: list[str] = typer.Option(..., "--template", help="CHANNEL=FILE (JSON)."),
    purpose: str = typer.Option("marketing", "--purpose", help="marketing or service."),
    holdout: int = typer.Option(
        0, "--holdout", help="Per cent held out to measure lift.", min=0, max=50
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the holdout draw.", min=0, max=1_000_000),
    live: bool = typer.Option(False, "--live", help="Follow the segment while sending."),
    at: datetime = typer.Option(None, "--at", help="Send at this time (ISO, Asia/Shanghai)."),
    recurrence: str = typer.Option("", "--every", help="daily or weekly (needs --at)."),
    cost_fen: int = typer.Option(
        0, "--cost-fen", help="What one message costs, in fen (ROI).", min=0, max=COST_FEN_MAX
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Plan a campaign (a draft; `siyu campaigns start` sends it)."""
    from siyu.config import get_settings
    from siyu.db import session_scope
    from siyu.reach.campaigns.commands import PlanCampaign
    from siyu.reach.campaigns.queries import summary
    from siyu.reach.campaigns.service import plan_campaign

    actor = require("campaigns:write")
    when = at.replace(tzinfo=get_settings().tz) if at is not None and at.tzinfo is None else at
    with session_scope() as session:
        plan = PlanCampaign(
            name=name,
            segment_id=segment,
            channels=channel,
            group_filter={"owners": group_owner, "name_contains": group_name},
            templates=_templates(template),
            purpose=purpose,
            holdout_pct=holdout,
            holdout_seed=seed,
            audience_mode="live" if live else "snapshot",
            scheduled_at=when,
            recurrence=recurrence,
            cost_fen_per_message=cost_fen,
        )
        c = plan_campaign(session, plan, actor=actor)
        out = summary(c)
    if as_json:
        echo_json(out.model_dump())
        return
    typer.echo(f"campaign {out.id} {out.name}: {out.status}")


@app.command("preview")
def preview_cmd(
    segment: int = typer.Option(..., "--segment", min=1, max=ID_MAX),
    channel: str = typer.Option(..., "--channel"),
    template: Path = typer.Option(..., "--template", help="The template (JSON file)."),
    purpose: str = typer.Option("marketing", "--purpose"),
    samples: int = typer.Option(5, "--samples", min=1, max=20),
) -> None:
    """Show the message as real customers of the segment would get it (names masked)."""
    from siyu.config import get_settings
    from siyu.db import session_scope
    from siyu.reach.campaigns.service import preview

    require("customers:read")
    tpl = _templates([f"{channel}={template}"])[channel]
    with session_scope() as session:
        out = preview(
            session,
            channel=channel,
            template=tpl,
            purpose=purpose,
            segment_id=segment,
            settings=get_settings(),
            samples=samples,
            principal=acting_principal(session),
        )
    echo_json(out.model_dump(exclude_unset=True))


def _move(campaign_id: int, action: str) -> None:
    from dataclasses import replace

    from siyu.db import session_scope
    from siyu.reach.campaigns import service
    from siyu.reach.campaigns.queries import detail

    actor = require("campaigns:write")
    with session_scope() as session:
        campaign = _get(session, campaign_id)
        by = replace(acting_principal(session), actor=actor)
        service.act(session, campaign, action, by=by)
        out = detail(session, campaign)
    typer.echo(f"campaign {campaign_id}: {out.status} · {out.funnel.model_dump()}")


@app.command("start")
def start_cmd(campaign_id: int = typer.Argument(..., min=1, max=ID_MAX)) -> None:
    """Send now (or at its time); a large audience first waits for approval."""
    _move(campaign_id, "start")


@app.command("approve")
def approve_cmd(campaign_id: int = typer.Argument(..., min=1, max=ID_MAX)) -> None:
    """Approve a large send planned by someone else."""
    _move(campaign_id, "approve")


@app.command("pause")
def pause_cmd(campaign_id: int = typer.Argument(..., min=1, max=ID_MAX)) -> None:
    """Pause: waiting messages stay in the ledger."""
    _move(campaign_id, "pause")


@app.command("resume")
def resume_cmd(campaign_id: int = typer.Argument(..., min=1, max=ID_MAX)) -> None:
    _move(campaign_id, "resume")


@app.command("cancel")
def cancel_cmd(campaign_id: int = typer.Argument(..., min=1, max=ID_MAX)) -> None:
    """Cancel: messages not yet sent are skipped as cancelled."""
    _move(campaign_id, "cancel")


@app.command("list")
def list_cmd(as_json: bool = typer.Option(False, "--json")) -> None:
    from siyu.db import session_scope
    from siyu.reach.campaigns.queries import list_campaigns

    require("customers:read")
    with session_scope() as session:
        rows = list_campaigns(session, principal=acting_principal(session))
    if as_json:
        echo_json([r.model_dump() for r in rows])
        return
    for r in rows:
        typer.echo(f"{r.id:>5}  {r.status:<18} {r.progress.percent:>5}%  {r.name}")


@app.command("show")
def show(campaign_id: int = typer.Argument(..., min=1, max=ID_MAX)) -> None:
    """Progress, funnel, skip reasons (JSON)."""
    from siyu.db import session_scope
    from siyu.reach.campaigns.queries import detail

    require("customers:read")
    with session_scope() as session:
        shown = detail(session, _get(session, campaign_id), acting_principal(session))
        echo_json(shown.model_dump(exclude_unset=True))


@app.command("ambiguous")
def ambiguous_cmd() -> None:
    """Messages that may or may not have arrived, for an operator to settle."""
    from siyu.db import session_scope
    from siyu.reach.campaigns.queries import ambiguous

    require("campaigns:write")
    with session_scope() as session:
        echo_json([row.model_dump() for row in ambiguous(session)])


@app.command("settle")
def settle_cmd(
    message_id: int = typer.Argument(
        ..., help="The ledger row of an ambiguous message.", min=1, max=BIG_ID_MAX
    ),
    outcome: str = typer.Argument(..., help="sent, not_sent (send again) or failed."),
) -> None:
    from siyu.db import session_scope
    from siyu.reach.campaigns.service import settle

    actor = require("campaigns:write")
    with session_scope() as session:
        row = settle(session, message_id, outcome, actor=actor)
        typer.echo(f"message {row.id}: {row.state}")


@app.command("notify")
def notify_cmd(
    customer: int = typer.Option(..., "--customer", help="The customer's id.", min=1, max=ID_MAX),
    channel: str = typer.Option(
        ..., "--channel", help="sms, email, oa, or wecom_app (a task for the customer's guide)."
    ),
    template: Path = typer.Option(
        ..., "--template", help="The message's template (JSON file), as a campaign's."
    ),
    key: str = typer.Option(
        ...,
        "--key",
        help="Your name for this message, e.g. order-shipped:E1234; the same key again for the "
        "same customer and channel sends nothing new.",
    ),
    expires: int = typer.Option(
        60, "--expires-minutes", help="Not sent after this many minutes.", min=1, max=10_080
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Send one service notice to one customer now: no marketing consent, caps or quiet hours,
    but never to a suppressed or erased person; skipped as expired if not sent in time."""
    from siyu.db import session_scope
    from siyu.reach.sending.transactional import send_transactional
    from siyu.refusals import Refusal

    actor = require("campaigns:write")
    tpl = _templates([f"{channel}={template}"])[channel]
    with session_scope() as session:
        try:
            queued = send_transactional(
                session,
                key=key,
                customer_id=customer,
                channel=channel,
                template=tpl,
                expires_minutes=expires,
                actor=actor,
            )
        except Refusal as exc:
            fail(str(exc))
    out = {
        "id": queued.id,
        "state": queued.state,
        "send_by": queued.send_by.isoformat(),
        "new": queued.created,
    }
    if as_json:
        echo_json(out)
        return
    said = "queued" if queued.created else "already queued with this key"
    typer.echo(f"message {queued.id}: {queued.state} ({said}; expires {out['send_by']})")


@app.command("results")
def results_cmd(
    campaign_id: int = typer.Argument(..., min=1, max=ID_MAX),
    window: int = typer.Option(7, "--window", min=1, max=90, help="Attribution window, days."),
) -> None:
    """Conversions, last-touch revenue, lift vs holdout (95 % interval), ROI (JSON)."""
    from siyu.db import session_scope
    from siyu.reach.campaigns.results import campaign_results

    require("customers:read")
    with session_scope() as session:
        echo_json(
            campaign_results(
                session,
                _get(session, campaign_id),
                window_days=window,
                principal=acting_principal(session),
            )
        )


@app.command("sms-push-urls")
def sms_push_urls() -> None:
    """The addresses to give Aliyun for delivery receipts and replies (they carry a secret)."""
    from siyu.config import get_settings
    from siyu.reach.tracking.public import push_token

    require("campaigns:write")
    base = get_settings().public_url.rstrip("/")
    typer.echo(f"SmsReport: {base}/reach/sms/{push_token()}/report")
    typer.echo(f"SmsUp:     {base}/reach/sms/{push_token()}/reply")


@app.command("webhook-key")
def webhook_key() -> None:
    """The key webhook receivers check X-Siyu-Signature with (hex)."""
    from siyu.config import get_settings
    from siyu.reach.channels.webhook import signing_key

    require("campaigns:write")
    typer.echo(signing_key(get_settings()).hex())


@caps_app.command("list")
def caps_list() -> None:
    from siyu.db import session_scope
    from siyu.reach.campaigns.queries import caps

    require("customers:read")
    with session_scope() as session:
        for c in caps(session):
            typer.echo(f"{c.channel:<8} {c.period:<6} {c.most}")


@caps_app.command("set")
def caps_set(
    channel: str = typer.Argument(..., help="sms, email, webhook, or * for all together."),
    period: str = typer.Argument(..., help="day, week or month (Asia/Shanghai calendar)."),
    most: int = typer.Argument(
        ..., help="Most marketing messages per customer; -1 removes.", min=-1, max=1_000
    ),
) -> None:
    from siyu.db import session_scope
    from siyu.reach.sending.caps import set_cap

    actor = require("campaigns:write")
    with session_scope() as session:
        set_cap(session, channel, period, None if most < 0 else most, actor=actor)
    typer.echo(f"cap {channel}/{period}: {'removed' if most < 0 else most}")
