"""The customer pool: profiles, identities, identity resolution, merges, consent and masking."""

from siyu.capability import Capability, NavEntry, Permission
from siyu.i18n import NP_

CUSTOMERS_READ = Permission(
    "customers:read",
    "See customer profiles (masked)",
    roles=("operator", "analyst", "store_guide"),
    api_key=True,
)
CUSTOMERS_UNMASK = Permission(
    "customers:unmask",
    "See full phone numbers, emails and names (audit-logged)",
    roles=("operator", "store_guide"),
    api_key=True,
)
CUSTOMERS_WRITE = Permission(
    "customers:write",
    "Merge, unmerge and edit customers",
    roles=("operator",),
)
CUSTOMERS_EXPORT = Permission(
    "customers:export",
    "Export customer lists",
    roles=("operator",),
    api_key=True,
)
CUSTOMERS_CONSENT = Permission(
    "customers:consent",
    "Record do-not-disturb and marketing consent, with evidence",
    roles=("operator", "store_guide"),
)

CAPABILITY = Capability(
    name="customers",
    summary="Customer pool: profiles, identities, resolution, merges, consent, masking",
    models=(".models",),
    routers=(".api:router",),
    pages=(".views:router", ".merging.views:router"),
    cli=".cli:register",
    segment_fields=(".segment_fields:FIELDS",),
    copied_tables=(".models:COPIED",),
    template_variables=(".queries:TEMPLATE_VARIABLES",),
    permissions=(
        CUSTOMERS_READ,
        CUSTOMERS_UNMASK,
        CUSTOMERS_WRITE,
        CUSTOMERS_EXPORT,
        CUSTOMERS_CONSENT,
    ),
    nav=(NavEntry("customers", NP_("navigation", "Customers"), ((None, "/customers"),), order=20),),
    package=__name__,
)
