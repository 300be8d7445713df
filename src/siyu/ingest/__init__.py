"""Imports of customers, members and orders from platform exports (CSV, Excel), with runs,
rejects and the console's upload page."""

from siyu.capability import Capability, NavEntry, Permission
from siyu.i18n import NP_

IMPORTS_RUN = Permission(
    "imports:run",
    "Import customers and orders",
    roles=("operator",),
    api_key=True,
)

ORDERS_WRITE = Permission(
    "orders:write",
    "Push orders from a POS or the mini-program (POST /api/v1/orders)",
    roles=("operator",),
    api_key=True,
)

CAPABILITY = Capability(
    name="ingest",
    summary="Imports from platform exports, runs and rejects, the upload page",
    models=(".models",),
    routers=(".api:router",),
    pages=(".views:router",),
    cli=".cli:register",
    tasks=(".tasks",),
    permissions=(IMPORTS_RUN, ORDERS_WRITE),
    nav=(
        NavEntry("imports", NP_("navigation", "Import"), (("imports:run", "/imports"),), order=70),
    ),
    package=__name__,
)
