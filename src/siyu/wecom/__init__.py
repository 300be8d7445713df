"""WeCom (企业微信) operations, one sub-package per feature: ``connection`` (corps, client,
crypto, the API-call log), ``callbacks`` (URL, inbox, handlers), ``contacts`` (sync, arrivals,
alerts), ``live_codes`` (channel and group codes, welcome), ``replies`` (keywords, benefit
pools), ``handover`` and ``tagsync``. Each keeps its own tables (``models.py``); the status read paths,
erasure and the worker's entry points stay at this level."""

from siyu.capability import Capability, NavEntry, Permission
from siyu.i18n import NP_

WECOM_MANAGE = Permission(
    "wecom:manage",
    "Manage WeCom: corps, sync, live codes, welcome messages, replies, handover",
    roles=("operator",),
)

CAPABILITY = Capability(
    name="wecom",
    summary="WeCom: corps, contacts, live codes, welcome, replies, handover, tag sync",
    models=(
        ".connection.models",
        ".callbacks.models",
        ".contacts.models",
        ".live_codes.models",
        ".replies.models",
        ".handover.models",
        ".tagsync.models",
    ),
    routers=(
        ".api:router",
        ".replies.api:router",
        ".handover.api:router",
        ".live_codes.api:router",
    ),
    pages=(".views:router",),
    middleware=(".api:CallbackEndpoint",),
    cli=".cli:register",
    tasks=(".tasks", ".tagsync.tasks"),
    pumps=(".tasks:inbox",),
    erasers=(".privacy:erase_wecom",),
    subscribers=(("tag.changed", ".tagsync.service:on_tag_changed"),),
    permissions=(WECOM_MANAGE,),
    nav=(NavEntry("wecom", NP_("navigation", "WeCom"), ((None, "/wecom"),), order=60),),
    package=__name__,
)
