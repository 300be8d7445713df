"""Which tables of the system of record the analytical copy holds, and which columns.

The copy keeps what analytics needs and no direct identifiers: no names, phone numbers or
identity values (PIPL data minimisation) — a customer is a number there, with city and gender.
"""

from __future__ import annotations

from dataclasses import dataclass

INT, TEXT, TIME, BOOL = "int", "text", "time", "bool"
DUCK_TYPES = {INT: "BIGINT", TEXT: "VARCHAR", TIME: "TIMESTAMP", BOOL: "BOOLEAN"}


def quote(name: str) -> str:
    """A table or column name of ours, quoted for SQL (``order`` is a keyword)."""
    return f'"{name}"'


@dataclass(frozen=True)
class CopiedTable:
    """One table of the copy. ``changed_at`` names the column an incremental refresh follows;
    tables without one are small and copied whole each time. ``follows`` makes a child table
    (order lines) refresh together with the rows of its parent that changed."""

    name: str
    columns: tuple[tuple[str, str], ...]
    changed_at: str | None = None
    follows: tuple[str, str] | None = None  # (parent table, column holding the parent id)

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
        ("first_seen_at", TIME),
        ("created_at", TIME),
        ("updated_at", TIME),
    ),
    changed_at="updated_at",
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

TABLES: tuple[CopiedTable, ...] = (BRAND, STORE, PRODUCT, CUSTOMER, ORDER, ORDER_LINE)
