"""Segments: rules over the customer pool, counted and refreshed on the analytical copy."""

from siyu.capability import Capability, NavEntry, Permission
from siyu.i18n import NP_

SEGMENTS_WRITE = Permission(
    "segments:write",
    "Define, change, refresh and delete segments",
    roles=("operator", "analyst"),
    api_key=True,
)

CAPABILITY = Capability(
    name="segments",
    summary="Segments: rules, counts, previews, dynamic membership",
    models=(".models",),
    routers=(".api:router",),
    cli=".cli:register",
    tasks=(".tasks",),
    erasers=(".privacy:erase_memberships",),
    segment_fields=(".segment_fields:FIELDS",),
    copied_tables=(".models:COPIED",),
    permissions=(SEGMENTS_WRITE,),
    nav=(NavEntry("segments", NP_("navigation", "Segments"), ((None, "/segments"),), order=40),),
    package=__name__,
)
