"""Imports of customers, members and orders from platform exports (CSV, Excel), with runs,
rejects and the console's upload page."""

from siyu.capability import Capability

CAPABILITY = Capability(
    name="ingest",
    summary="Imports from platform exports, runs and rejects, the upload page",
    models=(".models",),
    pages=("siyu.console.import_views:router",),
    cli=".cli:register",
    tasks=(".tasks",),
    package=__name__,
)
