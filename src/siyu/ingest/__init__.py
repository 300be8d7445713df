"""Imports of customers, members and orders from platform exports (CSV, Excel), with runs,
rejects and the console's upload page."""

from siyu.capability import Capability, Permission

IMPORTS_RUN = Permission(
    "imports:run",
    "Import customers and orders",
    roles=("operator",),
    api_key=True,
)

CAPABILITY = Capability(
    name="ingest",
    summary="Imports from platform exports, runs and rejects, the upload page",
    models=(".models",),
    pages=("siyu.console.import_views:router",),
    cli=".cli:register",
    tasks=(".tasks",),
    permissions=(IMPORTS_RUN,),
    package=__name__,
)
