"""Reach: one sub-package per part. ``campaigns`` (plan, start, approve, schedule, results; the
API and commands), ``sending`` (the ledger, transactional messages, dispatch, eligibility, policy, caps, rendering and
template variables), ``channels`` (every channel behind the one interface, WeCom's mass-send,
guide-task and group paths included) and ``tracking`` (short links, receipts and replies, the
unsubscribe page). The tables and the worker's entry points stay at this level."""

from siyu.capability import Capability, NavEntry, Permission
from siyu.i18n import NP_

CAMPAIGNS_WRITE = Permission(
    "campaigns:write",
    "Plan, start, pause, resume and cancel campaigns; set frequency caps",
    roles=("operator",),
    api_key=True,
)
CAMPAIGNS_APPROVE = Permission("campaigns:approve", "Approve a large send planned by someone else")

CAPABILITY = Capability(
    name="reach",
    summary="Campaigns, transactional messages, the send ledger, channels, policy, tracking",
    models=(".models",),
    routers=(".campaigns.api:router", ".tracking.public:router"),
    pages=(".campaigns.views:router",),
    cli=".campaigns.cli:register",
    tasks=(".tasks",),
    pumps=(".tasks:dispatch", ".tasks:send_transactional"),
    erasers=(".privacy:erase_messages",),
    channels=(
        ".channels.configured:sms",
        ".channels.configured:email",
        ".channels.configured:official_account",
        ".channels.configured:webhook",
        ".channels.wecom_mass:channel",
        ".channels.wecom_tasks:channel",
    ),
    permissions=(CAMPAIGNS_WRITE, CAMPAIGNS_APPROVE),
    nav=(NavEntry("campaigns", NP_("navigation", "Campaigns"), ((None, "/campaigns"),), order=50),),
    package=__name__,
)
