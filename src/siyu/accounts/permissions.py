"""Roles and what they may do. One table, used by the API, the console and the CLI alike."""

from __future__ import annotations

from enum import StrEnum

from siyu.i18n import N_


class Perm(StrEnum):
    customers_read = "customers:read"  # masked profiles
    customers_unmask = "customers:unmask"  # full phone/email/name (audit-logged)
    customers_write = "customers:write"  # merge, unmerge, edit
    customers_export = "customers:export"
    # do-not-disturb and marketing consent recorded by staff (with evidence), in their scope
    customers_consent = "customers:consent"
    imports_run = "imports:run"
    events_write = "events:write"
    # PIPL requests, administrators only by default: access (everything held about a person,
    # unmasked, as a file) and erasure
    privacy_export = "privacy:export"
    privacy_manage = "privacy:manage"
    users_manage = "users:manage"
    apikeys_manage = "apikeys:manage"
    audit_read = "audit:read"
    tags_write = "tags:write"  # tag groups, tags, manual tagging, tag rules
    traits_run = "traits:run"  # refresh the analytical copy, recompute RFM/lifecycle/CLV
    segments_write = "segments:write"  # define, change, refresh and delete segments
    wecom_manage = "wecom:manage"  # connect corps, sync, live codes, welcome, replies, handover
    campaigns_write = "campaigns:write"  # plan, start, pause, resume, cancel campaigns; caps
    campaigns_approve = "campaigns:approve"  # approve a large send planned by someone else
    metrics_read = "metrics:read"  # brand-wide growth numbers (aggregates, no one's data)
    metrics_write = "metrics:write"  # define the dashboard's funnels


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

ROLE_PERMISSIONS: dict[Role, frozenset[Perm]] = {
    Role.admin: frozenset(Perm),
    Role.operator: frozenset(
        {
            Perm.customers_read,
            Perm.customers_unmask,
            Perm.customers_write,
            Perm.customers_export,
            Perm.customers_consent,
            Perm.imports_run,
            Perm.tags_write,
            Perm.traits_run,
            Perm.segments_write,
            Perm.wecom_manage,
            Perm.campaigns_write,
            Perm.metrics_read,
            Perm.metrics_write,
        }
    ),
    # Analysts look at numbers and masked profiles; they never see unmasked personal data.
    Role.analyst: frozenset(
        {
            Perm.customers_read,
            Perm.traits_run,
            Perm.segments_write,
            Perm.metrics_read,
            Perm.metrics_write,
        }
    ),
    # Guides serve their own store's customers, and may see their phone numbers to do so; they
    # hear a customer's "do not disturb me" or "no more SMS" first, so they may record it.
    Role.store_guide: frozenset(
        {Perm.customers_read, Perm.customers_unmask, Perm.customers_consent}
    ),
}

# Scopes an API key may carry (machines never get user administration).
API_KEY_SCOPES = frozenset(
    {
        Perm.events_write,
        Perm.customers_read,
        Perm.customers_unmask,
        Perm.customers_export,
        Perm.imports_run,
        Perm.segments_write,
        Perm.campaigns_write,
        Perm.metrics_read,
    }
)


def allows(role: str, perm: Perm) -> bool:
    try:
        return perm in ROLE_PERMISSIONS[Role(role)]
    except ValueError:
        return False
