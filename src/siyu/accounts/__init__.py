"""Console users, roles and API keys; sign-in, sessions and the audit log."""

from siyu.capability import Capability, NavEntry, Permission
from siyu.i18n import NP_

USERS_MANAGE = Permission("users:manage", "Manage users and their roles")
APIKEYS_MANAGE = Permission("apikeys:manage", "Manage API keys")
AUDIT_READ = Permission("audit:read", "Read the audit log")

CAPABILITY = Capability(
    name="accounts",
    summary="Users, roles, API keys, sign-in, the audit log",
    models=(".models",),
    pages=(".views:router",),
    cli=".cli:register",
    permissions=(USERS_MANAGE, APIKEYS_MANAGE, AUDIT_READ),
    nav=(
        NavEntry(
            "admin",
            NP_("navigation", "Admin"),
            (("users:manage", "/admin"), ("audit:read", "/admin/audit")),
            order=90,
        ),
    ),
    package=__name__,
)
