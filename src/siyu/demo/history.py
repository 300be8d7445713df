"""The demo's recent past, played through the real services so every console page has
something true to show on the first run.

After the generated exports are loaded, `siyu demo ensure` connects a simulated WeCom corp
whose guides have friends among the demo's customers (a guide wrote the customer's phone into
the remark, so identity resolution links them) and a few customer groups (客户群). It then
replays the campaigns of the last weeks (``demo.campaigns``) through the reach services —
planned, started, dispatched to the local SMS gateway, mail relay and simulated WeCom, whose
guides confirm the mass sends — with Siyu's clock set to the moment each happened
(``clock.replaying_at``), so the ledger holds the times it would have held. Customers then do what customers do: the SMS
gateway reports receipts, some recipients tap the tracked link, and some buy in the Youzan
shop within the week; those orders arrive as a Youzan export through the order importer.
What a campaign earned — delivered, clicks, conversions, lift against its holdout — is
worked out by ``reach.results`` as for any campaign; nothing here writes a result.

People who find the brand on WeCom keep coming after the campaigns: a few recent friends are
added last (a second sync), as new customers from WeCom.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock, csvsafe
from siyu.demo.campaigns import CAMPAIGNS, PastCampaign
from siyu.demo.catalog import PRODUCTS
from siyu.demo.exports import TZ, YOUZAN_HEADER, YZ_STATUS, _fmt, _yuan

WORKER = "demo-replay"
EAST = ("上海", "杭州", "南京", "苏州")  # 江浙沪: the brand's home region
LINK = re.compile(r"/l/([A-Za-z0-9._~-]+)")


@dataclass
class SimClock:
    """The simulators' clock (WeCom, SMS gateway): the replayed moment while one is set, else
    the time."""

    at: float | None = None

    def __call__(self) -> float:
        return self.at if self.at is not None else clock.timestamp()


@dataclass
class Sale:
    customer_id: int
    at: datetime
    sku: str
    campaign_id: int
    row_id: int


@dataclass
class Replay:
    seed: int
    as_of: date
    sims: Any
    clock: SimClock = field(default_factory=SimClock)
    sales: list[Sale] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    sms_reported: int = 0  # the gateway's messages whose receipts are in

    @property
    def end(self) -> datetime:
        """The generated history's last moment (23:00 the day before ``as_of``)."""
        return datetime.combine(self.as_of, datetime.min.time(), TZ) - timedelta(hours=1)

    def moment(self, days_ago: int) -> datetime:
        day = self.as_of - timedelta(days=days_ago)
        return datetime(day.year, day.month, day.day, 10, 30, tzinfo=TZ)

    @contextmanager
    def at(self, moment: datetime) -> Iterator[None]:
        """Siyu and its simulators all at ``moment``."""

        self.clock.at = moment.timestamp()
        try:
            with clock.replaying_at(moment):
                yield
        finally:
            self.clock.at = None


def replay(seed: int, as_of: date) -> list[str]:
    """WeCom friends and groups, the past campaigns and what their audiences did; returns
    lines for `siyu demo ensure` to print."""
    from siyu.analytics.service import refresh_copy
    from siyu.config import get_settings
    from siyu.demo import friends
    from siyu.demo.reach import replay_providers
    from siyu.demo.wecom import connect

    with replay_providers() as sims:
        run = Replay(seed, as_of, sims)
        sims.world.clock = sims.gateway.clock = run.clock
        made = friends.befriend_customers(sims.world, random.Random(seed), as_of)
        connect(sims.world)
        run.lines.append(
            f"wecom: {made.friends:,} friends of {made.guides} guides, {made.groups} groups"
        )
        refresh_copy(get_settings())
        segments = _segments(as_of)
        sent = [(spec, _campaign(run, spec, segments)) for spec in CAMPAIGNS]
        added = friends.newcomers(sims.world, random.Random(seed + 1), as_of)
        run.lines.append(f"wecom: {added} new friends in the last weeks")
    run.lines.append(_import_sales(run))
    run.lines.extend(_results(spec, cid) for spec, cid in sent)
    return run.lines


def _results(spec: PastCampaign, campaign_id: int | None) -> str:
    """What a campaign earned, as the results page shows it."""
    from siyu.db import new_session
    from siyu.reach.campaigns.results import campaign_results
    from siyu.reach.channels.wecom_groups import counts as group_counts
    from siyu.reach.models import Campaign

    with new_session() as session:
        campaign = session.get(Campaign, campaign_id) if campaign_id else None
        if campaign is None:
            return f"campaign {spec.name}: nobody to send to"
        if spec.segment is None:
            return (
                f"campaign {spec.name}: {group_counts(session, campaign.id).get('sent', 0)} groups"
            )
        r = campaign_results(session, campaign)
    f = r["funnel"]
    lift = "" if r["lift_pp"] is None else f", lift {r['lift_pp']:+.1f} pp vs holdout"
    return (
        f"campaign {spec.name}: {f['sent']} sent, {f['delivered']} delivered, "
        f"{f['clicked']} clicked, {f['converted']} converted{lift}"
    )


def _segments(as_of: date) -> dict[str, int]:
    """The audiences the campaigns used, as dynamic segments refreshed from the copy."""
    from siyu.config import get_settings
    from siyu.db import get_engine, session_scope
    from siyu.segments.membership import refresh_segments
    from siyu.segments.service import create_segment

    sms = {"field": "consent.sms", "op": "=", "value": "granted"}
    recent = {"from": (as_of - timedelta(days=60)).isoformat()}
    rules = {
        "江浙沪短信会员": [sms, {"field": "city", "op": "in", "value": list(EAST)}],
        "近60天购买的短信会员": [
            sms,
            {"field": "orders.count", "op": ">=", "value": 1, "window": recent},
        ],
        "邮件订阅会员": [{"field": "consent.email", "op": "=", "value": "granted"}],
        "企业微信好友": [{"field": "identity", "op": "has", "value": "external_userid"}],
    }
    ids = {}
    with session_scope() as session:
        for name, rule in rules.items():
            ids[name] = create_segment(session, name, rule={"all": rule}, actor="demo").id
    refresh_segments(get_engine(), get_settings(), segment_ids=list(ids.values()))
    return ids


def _campaign(run: Replay, spec: PastCampaign, segments: dict[str, int]) -> int | None:
    """Plan, start and send one campaign at its moment, then its audience answers; returns
    the campaign's id (None: nobody to send to)."""
    from siyu.config import get_settings
    from siyu.db import new_session
    from siyu.reach.campaigns.commands import PlanCampaign
    from siyu.reach.campaigns.service import audience_size, plan_campaign, start
    from siyu.reach.channels.wecom_groups import audience as group_audience

    settings = get_settings()
    when = run.moment(spec.days_ago)
    with new_session() as session:
        with run.at(when - timedelta(days=1)):  # planned the day before
            campaign = plan_campaign(
                session,
                PlanCampaign(
                    name=spec.name,
                    segment_id=segments[spec.segment] if spec.segment else None,
                    channel=spec.channel,
                    template=spec.template or None,
                    variants=[dict(v) for v in spec.variants] or None,
                    holdout_pct=spec.holdout_pct,
                    holdout_seed=run.seed,
                    cost_fen_per_message=spec.cost_fen,
                ),
                actor="demo",
            )
            size = (
                audience_size(session, campaign)
                if spec.segment
                else group_audience(session, campaign)[0]
            )
            if not size:  # a demo too small for this audience: no campaign rather than a draft
                session.rollback()
                return None
            session.commit()
        with run.at(when):
            start(session, campaign, actor="demo", settings=settings)
            session.commit()
        _dispatch(run, session, when)
        _answer(run, session, spec, campaign.id, when)
        return campaign.id


def _dispatch(run: Replay, session: Session, when: datetime) -> None:
    """Send as the worker would at ``when``; the guides confirm WeCom tasks 25 minutes later
    and the reconciliation collects what WeCom reports."""
    from siyu.config import get_settings
    from siyu.reach.channels import wecom_mass
    from siyu.reach.channels.wecom_groups import submit_groups
    from siyu.reach.sending.dispatch import configured_channels, dispatch_once
    from siyu.simulators.wecom.mass import confirm_waiting

    settings = get_settings()
    channels = configured_channels(settings)
    with run.at(when):
        while dispatch_once(session, WORKER, settings, channels):
            pass
        submit_groups(session, WORKER, settings)
        session.commit()
    later = when + timedelta(minutes=25)
    with run.at(later):
        if confirm_waiting(run.sims.world):
            wecom_mass.reconcile(session)
            submit_groups(session, WORKER, settings)  # the group campaign's round ends it
        session.commit()


def _answer(
    run: Replay, session: Session, spec: PastCampaign, campaign_id: int, when: datetime
) -> None:
    """Receipts, taps and purchases for what reached people (a group message reaches no one
    in particular: nothing to follow)."""
    from siyu.config import get_settings
    from siyu.reach.models import SendRow
    from siyu.reach.tracking.links import read_pair
    from siyu.reach.tracking.service import click, sms_receipts

    if spec.segment is None:
        return
    settings = get_settings()
    rng = random.Random(f"{run.seed}-{spec.name}")
    rows = {  # plain rows: the updates below need not look through loaded objects
        r.id: r
        for r in session.execute(
            sa.select(SendRow.id, SendRow.customer_id, SendRow.variant, SendRow.finished_at).where(
                SendRow.campaign_id == campaign_id, SendRow.state == "sent"
            )
        )
    }
    tokens: dict[int, str] = {}
    if spec.channel == "sms":  # a few handsets are off; the gateway reports each message
        gateway = run.sims.gateway
        fresh = gateway.received()[run.sms_reported :]
        for m in fresh:
            if rng.random() < 0.03:
                m.status = 2
        sms_receipts(session, gateway.reports(run.sms_reported))
        session.commit()
        run.sms_reported += len(fresh)
        for m in fresh:
            row_id = int(m.out_id[1:]) if m.out_id[1:].isdigit() else 0
            if m.status == 3 and row_id in rows and (found := LINK.search(m.content)):
                tokens[row_id] = found.group(1)
    elif spec.channel == "email":
        for mail in run.sims.mailbox.messages:
            body = mail.get_body(("plain",))
            found = LINK.search(body.get_content() if body is not None else "")
            pair = read_pair(settings, "link", found.group(1)) if found else None
            if found and pair is not None and pair[0] in rows:
                tokens[pair[0]] = found.group(1)
    horizon = min(when + timedelta(days=7), run.end, clock.now())
    for row_id, row in sorted(rows.items()):
        tapped_at = None
        if row_id in tokens and rng.random() < spec.tap_by_variant.get(row.variant, spec.tap):
            tapped_at = (row.finished_at or when) + timedelta(hours=rng.expovariate(1 / 3))
            if tapped_at < horizon:
                with run.at(tapped_at):
                    click(session, settings, tokens[row_id])
                    session.commit()
            else:
                tapped_at = None
        if tapped_at is not None:
            buys, at = (
                rng.random() < spec.buy_tapped,
                tapped_at + timedelta(hours=rng.uniform(0.2, 20)),
            )
        else:
            since = row.finished_at or when
            buys, at = rng.random() < spec.buy_other, since + timedelta(days=rng.uniform(0.3, 6))
        if buys and at < horizon:
            run.sales.append(Sale(row.customer_id, at, spec.sku, campaign_id, row_id))


def _import_sales(run: Replay) -> str:
    """The campaigns' buyers, as the Youzan shop exports its orders, through the importer."""
    from siyu.config import get_settings
    from siyu.customers.models import Customer, Identity
    from siyu.db import get_engine, new_session
    from siyu.ingest.orders import import_orders

    if not run.sales:
        return "campaign orders: none"
    settings = get_settings()
    products = {p[0]: p for p in PRODUCTS}
    ids = sorted({s.customer_id for s in run.sales})
    with new_session() as session:
        people = {c.id: c for c in session.scalars(sa.select(Customer).where(Customer.id.in_(ids)))}
        phones = dict(
            session.execute(
                sa.select(Identity.customer_id, Identity.value).where(
                    Identity.customer_id.in_(ids), Identity.kind == "phone"
                )
            ).all()
        )
    rng = random.Random(run.seed)
    path = settings.data_dir / "demo" / "youzan_campaign_orders.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csvsafe.writer(fh)
        w.writerow(YOUZAN_HEADER)
        for sale in sorted(run.sales, key=lambda s: (s.at, s.row_id)):
            phone = str(phones.get(sale.customer_id) or "").removeprefix("+86")
            person = people.get(sale.customer_id)
            if not phone or person is None:
                continue
            t = sale.at.astimezone(TZ)
            prod = products[sale.sku]
            qty = 2 if rng.random() < 0.3 else 1
            unit = int(prod[3] * 100 * 0.8)
            w.writerow(
                [
                    f"E{t:%Y%m%d}7{sale.campaign_id:03d}{sale.row_id:08d}",
                    YZ_STATUS["completed"],
                    _fmt(t),
                    _fmt(t + timedelta(minutes=rng.randint(0, 10))),
                    prod[1],
                    prod[0],
                    qty,
                    _yuan(unit),
                    _yuan(unit * qty),
                    "0.00",
                    phone,
                    person.name or "",
                    person.province or "",
                    person.city or "",
                ]
            )
    s = import_orders(get_engine(), settings, path, "youzan", actor="demo")
    return f"campaign orders ({path.name}): inserted {s.inserted:,}, rejected {s.rejected_total:,}"
