"""Members and loyalty: programmes, memberships, the points ledger, earn rules that follow
orders, tiers and coupons, and their console pages (issue 25)."""

from siyu.capability import Capability, NavEntry, Permission
from siyu.i18n import NP_

LOYALTY_MANAGE = Permission(
    "loyalty:manage",
    "Run loyalty programmes: rules, members' points, adjustments",
    roles=("operator",),
)

COUPONS_REDEEM = Permission(
    "coupons:redeem",
    "Redeem members' coupons at a till or in the mini-program",
    roles=("operator", "store_guide"),
    api_key=True,
)

LOYALTY_ENROL = Permission(
    "members:enrol",
    "Enrol customers in a loyalty programme at a till or in the mini-program",
    roles=("operator", "store_guide"),
    api_key=True,
)

CAPABILITY = Capability(
    name="loyalty",
    package=__name__,
    summary="Loyalty: programmes, members, points ledger, earn rules, tiers, coupons",
    models=(".models", ".coupons.models", ".benefits.models"),
    routers=(".api:router", ".coupons.api:router"),
    pages=(".views:router", ".coupons.views:router"),
    cli=".cli:register",
    # coupons first: they find the person's memberships before those lose their customer
    erasers=(".coupons.service:erase_coupons", ".service:erase_members"),
    exporters=(".privacy:export_loyalty",),
    benefit_issuers=(".coupons.keywords:issue_for_keyword",),  # coupons by keyword reply
    tasks=(".tasks",),
    metrics=(".figures:METRICS",),
    copied_tables=(".models:COPIED",),
    segment_fields=(".segment_fields:FIELDS",),
    template_variables=(".queries:TEMPLATE_VARIABLES",),
    subscribers=(("order.changed", ".tasks:follow"), ("event.tracked", ".tasks:follow_events")),
    permissions=(LOYALTY_MANAGE, COUPONS_REDEEM, LOYALTY_ENROL),
    # those who run the programmes land on them; the others who may see customers, on the
    # members they may see
    nav=(
        NavEntry(
            "loyalty",
            NP_("navigation", "Loyalty"),
            ((LOYALTY_MANAGE, "/loyalty"), ("customers:read", "/loyalty/members")),
            order=55,
        ),
    ),
)
