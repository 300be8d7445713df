"""Customer intelligence: RFM, lifecycle stage and CLV, computed on the analytical copy."""

from siyu.capability import Capability

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
    package=__name__,
)
