"""Tag groups, tags, manual tagging and tag rules."""

from siyu.capability import Capability, Permission

TAGS_WRITE = Permission(
    "tags:write",
    "Manage tag groups, tags and tag rules; tag customers by hand",
    roles=("operator",),
)

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
    permissions=(TAGS_WRITE,),
    package=__name__,
)
