"""Members and loyalty: programmes, memberships and the points ledger (issue 25, first part:
the ledger; tiers, coupons, the member centre and their pages come next)."""

from siyu.capability import Capability, Permission

LOYALTY_MANAGE = Permission(
    "loyalty:manage",
    "Run loyalty programmes: rules, members' points, adjustments",
    roles=("operator",),
)

CAPABILITY = Capability(
    name="loyalty",
    package=__name__,
    summary="Loyalty programmes, members and the points ledger",
    models=(".models",),
    erasers=(".service:erase_members",),
    permissions=(LOYALTY_MANAGE,),
)
