"""Roles and what they may do, used by the API, the console and the CLI alike.

The permissions themselves are declared by the capabilities they guard (``Permission`` in each
package's manifest); the table of who holds what is gathered from those declarations."""

from __future__ import annotations

from enum import StrEnum

from siyu.capability import Permission
from siyu.i18n import N_


class Role(StrEnum):
    admin = "admin"
    operator = "operator"
    analyst = "analyst"
    store_guide = "store_guide"


ROLE_LABELS = {
    Role.admin: N_("Administrator"),
    Role.operator: N_("Operator"),
    Role.analyst: N_("Analyst"),
    Role.store_guide: N_("Store guide"),
}


def declared() -> tuple[Permission, ...]:
    """Every permission, as the capabilities declare them, in the capabilities' order."""
    from siyu.capabilities import CAPABILITIES

    return tuple(perm for cap in CAPABILITIES for perm in cap.permissions)


PERMISSIONS: tuple[Permission, ...] = declared()
BY_NAME: dict[str, Permission] = {perm: perm for perm in PERMISSIONS}

# Administrators hold every permission; the other roles those declared for them. Analysts look
# at numbers and masked profiles and never see unmasked personal data; guides serve their own
# store's customers, may see their phone numbers to do so, and hear a customer's "do not
# disturb me" or "no more SMS" first, so they may record it.
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    role: frozenset(p for p in PERMISSIONS if role is Role.admin or role in p.roles)
    for role in Role
}

# Scopes an API key may carry (machines never get user administration).
API_KEY_SCOPES: frozenset[Permission] = frozenset(p for p in PERMISSIONS if p.api_key)


def permission(name: str) -> Permission:
    """The declared permission called ``name``; a name no capability declares is a mistake in
    the code, not a refusal."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise LookupError(f"no capability declares the permission {name!r}") from None


def allows(role: str, perm: str) -> bool:
    try:
        return perm in ROLE_PERMISSIONS[Role(role)]
    except ValueError:
        return False
