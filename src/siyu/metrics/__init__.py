"""Growth metrics: the dashboard's numbers, funnels and their cache."""

from siyu.capability import Capability, NavEntry, Permission
from siyu.i18n import NP_

METRICS_READ = Permission(
    "metrics:read",
    "See brand-wide growth numbers (aggregates, no one's data)",
    roles=("operator", "analyst"),
    api_key=True,
)
METRICS_WRITE = Permission(
    "metrics:write",
    "Define the dashboard's funnels",
    roles=("operator", "analyst"),
)

CAPABILITY = Capability(
    name="metrics",
    summary="Dashboard metrics, funnels, their cache",
    models=(".models",),
    routers=(".api:router",),
    pages=(".views:router", ".funnels.views:router"),
    cli=".cli:register",
    tasks=(".tasks",),
    metrics=(".registry:DEFINED",),
    permissions=(METRICS_READ, METRICS_WRITE),
    nav=(NavEntry("dashboard", NP_("navigation", "Dashboard"), ((None, "/dashboard"),), order=10),),
    package=__name__,
)
