"""customer ids are never handed out twice on SQLite (AUTOINCREMENT)

Without it SQLite gives a new row the highest id plus one, so a customer created after the
one with the highest id was erased took that id, and with it what other tables keep under it
(the send ledger's rows: the campaigns the erased person got would skip the newcomer).
PostgreSQL's sequence never goes back: nothing to do there.

Revision ID: 0032
Revises: 0031
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _rebuild(autoincrement: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    # The table is rebuilt (created anew, rows copied, the old one dropped): the rows other
    # tables hold would make dropping it a foreign-key violation, or cascade into them. SQLite
    # honours the pragma only outside a transaction: the migration's own (an earlier
    # migration's row in alembic_version opened one) is committed first.
    with op.get_context().autocommit_block():
        bind.exec_driver_sql("PRAGMA foreign_keys=OFF")
        if bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
            raise RuntimeError(
                "foreign keys could not be switched off to rebuild the customer table"
            )
    try:
        with op.batch_alter_table(
            "customer", recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ):
            pass  # the rows copied with their ids set SQLite's mark to the highest of them
        if autoincrement:  # and past the people erased already, whose ids the ledger keeps
            bind.exec_driver_sql(
                "INSERT OR REPLACE INTO sqlite_sequence (rowid, name, seq) SELECT"
                " (SELECT rowid FROM sqlite_sequence WHERE name = 'customer'), 'customer',"
                " MAX(COALESCE((SELECT MAX(id) FROM customer), 0),"
                " COALESCE((SELECT MAX(customer_id) FROM send_ledger), 0))"
            )
        broken = [
            row
            for table in _referring(bind)
            for row in bind.execute(sa.text(f'PRAGMA foreign_key_check("{table}")')).fetchall()
        ]
        if broken:
            raise RuntimeError(f"foreign keys broken by the rebuild: {broken[:5]}")
    finally:
        with op.get_context().autocommit_block():
            bind.exec_driver_sql("PRAGMA foreign_keys=ON")


def _referring(bind: sa.engine.Connection) -> list[str]:
    """The tables with a foreign key to customer (checked after the rebuild, not the whole
    database: at a million orders that would take minutes)."""
    tables = [
        r[0] for r in bind.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'")
    ]
    return [
        t
        for t in tables
        if any(r[2] == "customer" for r in bind.exec_driver_sql(f'PRAGMA foreign_key_list("{t}")'))
    ]


def upgrade() -> None:
    _rebuild(True)


def downgrade() -> None:
    _rebuild(False)
