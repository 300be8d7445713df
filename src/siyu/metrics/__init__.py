"""Growth metrics: the dashboard's numbers, funnels and their cache."""

from siyu.capability import Capability

CAPABILITY = Capability(
    name="metrics",
    summary="Dashboard metrics, funnels, their cache",
    models=(".models",),
    routers=(".api:router",),
    pages=("siyu.console.metrics_views:router", "siyu.console.funnel_views:router"),
    cli=".cli:register",
    tasks=(".tasks",),
    metrics=(".registry:DEFINED",),
    package=__name__,
)
