"""The job queue and its worker: jobs claimed under a lease, periodic runs, and the console's
jobs page."""

from siyu.capability import Capability

CAPABILITY = Capability(
    name="jobs",
    summary="Job queue, worker leases, periodic runs, the jobs page",
    models=(".models",),
    pages=("siyu.console.jobs_views:router",),
    tasks=(".tasks", "siyu.reactions"),
    package=__name__,
)
