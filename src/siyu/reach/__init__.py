"""Reach: campaigns, the send ledger, channels, eligibility and policy, tracking."""

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
    summary="Campaigns, the send ledger, channels, policy, tracking",
    models=(".models",),
    routers=(".api:router", ".public:router"),
    pages=("siyu.console.campaign_views:router",),
    cli=".cli:register",
    tasks=(".tasks",),
    pumps=(".tasks:dispatch",),
    channels=(
        ".channels.configured:sms",
        ".channels.configured:email",
        ".channels.configured:official_account",
        ".channels.configured:webhook",
        ".wecom_mass:channel",
        ".wecom_tasks:channel",
    ),
    permissions=(CAMPAIGNS_WRITE, CAMPAIGNS_APPROVE),
    nav=(NavEntry("campaigns", NP_("navigation", "Campaigns"), ((None, "/campaigns"),), order=50),),
    package=__name__,
)
