"""Which tables of the system of record the analytical copy holds, and which columns.

The copy keeps what analytics needs and no direct identifiers: no names, phone numbers or
identity values (PIPL data minimisation) — a customer is a number there, with city and gender.
"""

from __future__ import annotations

from dataclasses import dataclass

INT, TEXT, TIME, BOOL, DATE, FLOAT, JSON = "int", "text", "time", "bool", "date", "float", "json"
DUCK_TYPES = {
    INT: "BIGINT",
    TEXT: "VARCHAR",
    TIME: "TIMESTAMP",
    BOOL: "BOOLEAN",
    DATE: "DATE",
    FLOAT: "DOUBLE",
    JSON: "VARCHAR",  # JSON text; analytics parse what they need
}


def quote(name: str) -> str:
    """A table or column name of ours, quoted for SQL (``order`` is a keyword)."""
    return f'"{name}"'


@dataclass(frozen=True)
class CopiedTable:
    """One table of the copy. ``changed_at`` names the column an incremental refresh follows;
    tables without one are small and copied whole each time. ``follows`` makes a child table
    (order lines; a customer's identities, consents and tags) refresh together with the rows of
    its parent that changed — so whoever changes a child row marks its parent changed.
    ``on_request`` tables are rewritten whole by their owner's job (a traits recompute copies
    ``customer_trait`` after it swaps it) and by a full refresh, never by an incremental one.
    ``customer_key`` names the column an erasure deletes by."""

    name: str
    columns: tuple[tuple[str, str], ...]
    changed_at: str | None = None
    # (parent table, column holding the parent id[, the parent's change column: updated_at])
    follows: tuple[str, ...] | None = None
    on_request: bool = False
    customer_key: str | None = None
    where: str | None = None  # a fixed condition on the source rows (alias ``t``)

    @property
    def column_names(self) -> list[str]:
        return [c for c, _k in self.columns]


BRAND = CopiedTable("brand", (("id", INT), ("code", TEXT), ("name", TEXT)))
STORE = CopiedTable(
    "store",
    (("id", INT), ("brand_id", INT), ("code", TEXT), ("name", TEXT), ("city", TEXT)),
)
PRODUCT = CopiedTable(
    "product",
    (("id", INT), ("brand_id", INT), ("sku", TEXT), ("name", TEXT), ("category", TEXT)),
)
CUSTOMER = CopiedTable(
    "customer",
    (
        ("id", INT),
        ("status", TEXT),
        ("merged_into_id", INT),
        ("gender", TEXT),
        ("province", TEXT),
        ("city", TEXT),
        ("source", TEXT),
        ("store_id", INT),
        ("suppressed", BOOL),
        ("do_not_disturb", BOOL),
        ("first_seen_at", TIME),
        ("created_at", TIME),
        ("updated_at", TIME),
    ),
    changed_at="updated_at",
    customer_key="id",
)
ORDER = CopiedTable(
    "order",
    (
        ("id", INT),
        ("brand_id", INT),
        ("customer_id", INT),
        ("platform", TEXT),
        ("store_id", INT),
        ("status", TEXT),
        ("total_fen", INT),
        ("paid_fen", INT),
        ("refund_fen", INT),
        ("ordered_at", TIME),
        ("paid_at", TIME),
        ("updated_at", TIME),
    ),
    changed_at="updated_at",
    customer_key="customer_id",
)
ORDER_LINE = CopiedTable(
    "order_line",
    (
        ("id", INT),
        ("order_id", INT),
        ("product_id", INT),
        ("category", TEXT),
        ("quantity", INT),
        ("amount_fen", INT),
    ),
    follows=("order", "order_id"),
)

# Which kinds of identity a customer has (never the values), for "has a phone / a WeCom friend".
IDENTITY = CopiedTable(
    "identity",
    (("id", INT), ("customer_id", INT), ("kind", TEXT), ("namespace", TEXT), ("verified", BOOL)),
    follows=("customer", "customer_id"),
    customer_key="customer_id",
)
# Consent state per brand, channel and purpose (never the address).
CONSENT = CopiedTable(
    "consent",
    (
        ("id", INT),
        ("customer_id", INT),
        ("brand_id", INT),
        ("channel", TEXT),
        ("purpose", TEXT),
        ("status", TEXT),
        ("recorded_at", TIME),
    ),
    follows=("customer", "customer_id"),
    customer_key="customer_id",
)
TAG_GROUP = CopiedTable("tag_group", (("id", INT), ("name", TEXT), ("single", BOOL)))
TAG = CopiedTable("tag", (("id", INT), ("group_id", INT), ("name", TEXT)))
CUSTOMER_TAG = CopiedTable(
    "customer_tag",
    (
        ("id", INT),
        ("customer_id", INT),
        ("tag_id", INT),
        ("source", TEXT),
        ("rule_id", INT),
        ("assigned_at", TIME),
    ),
    follows=("customer", "customer_id"),
    customer_key="customer_id",
)
EVENT = CopiedTable(
    "event",
    (
        ("id", INT),
        ("customer_id", INT),
        ("type", TEXT),
        ("name", TEXT),
        ("properties", JSON),
        ("occurred_at", TIME),
        ("updated_at", TIME),
    ),
    changed_at="updated_at",
    customer_key="customer_id",
)
CUSTOMER_TRAIT = CopiedTable(
    "customer_trait",
    (
        ("customer_id", INT),
        ("scope", INT),
        ("run_id", INT),
        ("last_purchase_on", DATE),
        ("purchase_days", INT),
        ("recency_days", INT),
        ("frequency", INT),
        ("monetary_fen", INT),
        ("r_score", INT),
        ("f_score", INT),
        ("m_score", INT),
        ("rfm_class", TEXT),
        ("lifecycle_stage", TEXT),
        ("stage_since", DATE),
        ("p_alive", FLOAT),
        ("purchases_90d", FLOAT),
        ("expected_spend_fen", INT),
        ("clv_fen", INT),
    ),
    on_request=True,
    customer_key="customer_id",
)
# Static segments' members (dynamic segments are compiled in place wherever they are used).
SEGMENT = CopiedTable(
    "segment",
    (("id", INT), ("dynamic", BOOL), ("members_changed_at", TIME)),
    changed_at="members_changed_at",
)
SEGMENT_MEMBER = CopiedTable(
    "segment_member",
    (("segment_id", INT), ("customer_id", INT)),
    follows=("segment", "segment_id", "members_changed_at"),
    customer_key="customer_id",
    where="t.segment_id IN (SELECT id FROM segment WHERE dynamic = false)",
)

TABLES: tuple[CopiedTable, ...] = (
    BRAND,
    STORE,
    PRODUCT,
    CUSTOMER,
    ORDER,
    ORDER_LINE,
    IDENTITY,
    CONSENT,
    TAG_GROUP,
    TAG,
    CUSTOMER_TAG,
    EVENT,
    CUSTOMER_TRAIT,
    SEGMENT,
    SEGMENT_MEMBER,
)
BY_NAME = {t.name: t for t in TABLES}
