"""PIPL rights: a person's access export and erasure, suppression of erased identities."""

from siyu.capability import Capability, Permission

PRIVACY_EXPORT = Permission(
    "privacy:export",
    "Export everything held about a person (PIPL access)",
)
PRIVACY_MANAGE = Permission("privacy:manage", "Erase a person everywhere (PIPL erasure)")

CAPABILITY = Capability(
    name="privacy",
    summary="PIPL access export and erasure, suppression",
    models=(".models",),
    routers=(".api:router",),
    pages=(".views:router",),
    cli=".cli:register",
    permissions=(PRIVACY_EXPORT, PRIVACY_MANAGE),
    package=__name__,
)
