"""Tag groups, tags, manual tagging and tag rules."""

from siyu.capability import Capability

CAPABILITY = Capability(
    name="tags",
    summary="Tag groups, tags, manual tagging, tag rules",
    models=(".models",),
    routers=(".api:router",),
    cli=".cli:register",
    tasks=(".tasks",),
    erasers=(".service:erase_tags",),
    segment_fields=(".segment_fields:FIELDS",),
    copied_tables=(".models:COPIED",),
    package=__name__,
)
