"""Growth: old customers bring new ones (老带新). Members' referral codes, links and posters,
arrivals attributed after fraud checks, and rewards for the invitees' paid orders — never for
shares — granted after the refund window (issue 26, DESIGN §12). Forms, landing pages and surveys
with their NPS figures are the ``forms`` sub-package (``/f/{slug}``, ``/growth/forms``)."""

from siyu.capability import Capability, NavEntry, Permission
from siyu.i18n import NP_

GROWTH_MANAGE = Permission(
    "growth:manage",
    "Run referral programmes: rewards, fraud thresholds, decisions on held referrals",
    roles=("operator",),
    api_key=True,
)

CAPABILITY = Capability(
    name="growth",
    package=__name__,
    summary="Growth: referral codes and links, fraud checks, rewards after the refund window",
    models=(".models", ".fission.models", ".forms.models"),
    routers=(
        ".api:router",
        ".fission.api:router",
        ".forms.api:router",
        ".public:router",
        ".fission.public:router",
        ".forms.public:router",
    ),
    pages=(".views:router", ".fission.views:router", ".forms.views:router"),
    cli=".cli:register",
    tasks=(".tasks",),
    welcome_extras=(".fission.groups:welcome_group",),  # a group fission's QR
    erasers=(".service:erase_referrals", ".forms.service:erase_submissions"),
    exporters=(".queries:export_referrals", ".forms.queries:export_submissions"),
    copied_tables=(".models:COPIED",),
    metrics=(".figures:METRICS", ".forms.figures:METRICS"),
    subscribers=(
        ("member.joined", ".tasks:member_joined"),
        ("wecom.friend_added", ".tasks:friend_added"),
        ("order.changed", ".tasks:orders_changed"),
        ("order.referred", ".tasks:order_referred"),
        ("wecom.group_joined", ".tasks:group_joined"),
    ),
    permissions=(GROWTH_MANAGE,),
    nav=(
        NavEntry(
            "growth",
            NP_("navigation", "Growth"),
            ((GROWTH_MANAGE, "/growth/referrals"),),
            order=57,
        ),
    ),
)
