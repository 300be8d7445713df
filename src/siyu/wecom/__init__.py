"""WeCom (企业微信) operations: corps, contacts, live codes, welcome, replies, handover, tag sync."""

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
    models=(".models",),
    routers=(
        ".api:router",
        ".api_replies:router",
        ".api_handover:router",
        ".api_group_codes:router",
    ),
    pages=("siyu.console.wecom_views:router",),
    middleware=(".api:CallbackEndpoint",),
    cli=".cli:register",
    tasks=(".tasks", ".tagsync"),
    pumps=(".tasks:inbox",),
    erasers=(".privacy:erase_wecom",),
    subscribers=(("tag.changed", ".tagsync:on_tag_changed"),),
    permissions=(WECOM_MANAGE,),
    nav=(NavEntry("wecom", NP_("navigation", "WeCom"), ((None, "/wecom"),), order=60),),
    package=__name__,
)
