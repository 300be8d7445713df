"""Reach: campaigns, transactional messages, the send ledger, channels, eligibility and policy,
tracking."""

from siyu.capability import Capability

CAPABILITY = Capability(
    name="reach",
    summary="Campaigns, transactional messages, the send ledger, channels, policy, tracking",
    models=(".models",),
    routers=(".api:router", ".public:router"),
    pages=("siyu.console.campaign_views:router",),
    cli=".cli:register",
    tasks=(".tasks",),
    pumps=(".tasks:dispatch", ".tasks:send_transactional"),
    erasers=(".privacy:erase_messages",),
    channels=(
        ".channels.configured:sms",
        ".channels.configured:email",
        ".channels.configured:official_account",
        ".channels.configured:webhook",
        ".wecom_mass:channel",
        ".wecom_tasks:channel",
    ),
    package=__name__,
)
