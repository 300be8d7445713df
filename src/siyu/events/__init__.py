"""Behaviour events from mini programs, shops and sites: the ingest API and its writer."""

from siyu.capability import Capability, Permission

EVENTS_WRITE = Permission("events:write", "Send behaviour events", api_key=True)

CAPABILITY = Capability(
    name="events",
    summary="Behaviour events: the ingest API and its writer",
    models=(".models",),
    routers=(".api:router",),
    segment_fields=(".segment_fields:FIELDS",),
    copied_tables=(".models:COPIED",),
    permissions=(EVENTS_WRITE,),
    package=__name__,
)
