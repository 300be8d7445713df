"""The job queue and its worker: jobs claimed under a lease, periodic runs, and the console's
jobs page."""

from siyu.capability import Capability, NavEntry
from siyu.i18n import NP_

CAPABILITY = Capability(
    name="jobs",
    summary="Job queue, worker leases, periodic runs, the jobs page",
    models=(".models",),
    pages=(".views:router",),
    tasks=(".tasks", "siyu.reactions"),
    nav=(
        NavEntry(
            "jobs",
            NP_("navigation", "Jobs"),
            (("imports:run", "/jobs"), ("traits:run", "/jobs"), ("campaigns:write", "/jobs")),
            order=80,
        ),
    ),
    package=__name__,
)
