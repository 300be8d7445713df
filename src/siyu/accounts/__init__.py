"""Console users, roles and API keys; sign-in, sessions and the audit log."""

from siyu.capability import Capability

CAPABILITY = Capability(
    name="accounts",
    summary="Users, roles, API keys, sign-in, the audit log",
    models=(".models",),
    pages=("siyu.console.admin_views:router",),
    cli=".cli:register",
    package=__name__,
)
