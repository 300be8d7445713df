"""PIPL rights: a person's access export and erasure, suppression of erased identities."""

from siyu.capability import Capability

CAPABILITY = Capability(
    name="privacy",
    summary="PIPL access export and erasure, suppression",
    models=(".models",),
    routers=(".api:router",),
    pages=("siyu.console.privacy_views:router",),
    cli=".cli:register",
    package=__name__,
)
