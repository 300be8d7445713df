"""Members and loyalty: programmes, memberships, the points ledger, earn rules that follow
orders, tiers and coupons (issue 25; the member centre and the console pages come next)."""

from siyu.capability import Capability, Permission

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

CAPABILITY = Capability(
    name="loyalty",
    package=__name__,
    summary="Loyalty: programmes, members, points ledger, earn rules, tiers, coupons",
    models=(".models", ".coupons.models"),
    routers=(".coupons.api:router",),
    cli=".cli:register",
    # coupons first: they find the person's memberships before those lose their customer
    erasers=(".coupons.service:erase_coupons", ".service:erase_members"),
    tasks=(".tasks",),
    subscribers=(("order.changed", ".tasks:follow"),),
    permissions=(LOYALTY_MANAGE, COUPONS_REDEEM),
)
