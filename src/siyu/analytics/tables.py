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


_BY_NAME: dict[str, CopiedTable] = {}


def by_name() -> dict[str, CopiedTable]:
    """Every copied table by name, in the capabilities' order (each declares its own as
    ``COPIED`` in its models, named by its manifest's ``copied_tables``): a parent first."""
    if not _BY_NAME:
        from siyu.capabilities import each

        _BY_NAME.update({t.name: t for t in each("copied_tables")})
    return _BY_NAME


def copied_tables() -> tuple[CopiedTable, ...]:
    return tuple(by_name().values())
