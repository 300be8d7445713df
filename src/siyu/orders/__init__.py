"""Orders and order lines from every platform, as the imports write them."""

from siyu.capability import Capability

CAPABILITY = Capability(
    name="orders",
    summary="Orders and order lines from every platform",
    models=(".models",),
    segment_fields=(".segment_fields:FIELDS",),
    copied_tables=(".models:COPIED",),
    template_variables=(".queries:TEMPLATE_VARIABLES",),
    package=__name__,
)
