"""Customer intelligence: RFM, lifecycle stage and CLV, computed on the analytical copy."""

from siyu.capability import Capability, NavEntry, Permission
from siyu.i18n import NP_

TRAITS_RUN = Permission(
    "traits:run",
    "Refresh the analytical copy; recompute RFM, lifecycle and CLV",
    roles=("operator", "analyst"),
)

CAPABILITY = Capability(
    name="traits",
    summary="RFM, lifecycle stage, CLV",
    models=(".models",),
    cli=".cli:register",
    tasks=(".tasks",),
    erasers=(".service:erase_traits",),
    segment_fields=(".segment_fields:FIELDS",),
    copied_tables=(".models:COPIED",),
    template_variables=(".queries:TEMPLATE_VARIABLES",),
    permissions=(TRAITS_RUN,),
    nav=(NavEntry("insight", NP_("navigation", "Insight"), ((None, "/insight"),), order=30),),
    package=__name__,
)
