"""The customer pool: profiles, identities, identity resolution, merges, consent and masking."""

from siyu.capability import Capability

CAPABILITY = Capability(
    name="customers",
    summary="Customer pool: profiles, identities, resolution, merges, consent, masking",
    models=(".models",),
    routers=(".api:router",),
    pages=("siyu.console.customer_views:router", "siyu.console.merge_views:router"),
    cli=".cli:register",
    segment_fields=(".segment_fields:FIELDS",),
    copied_tables=(".models:COPIED",),
    template_variables=(".queries:TEMPLATE_VARIABLES",),
    package=__name__,
)
