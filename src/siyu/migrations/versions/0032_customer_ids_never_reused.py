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
    # tables hold would make dropping it a foreign-key violation. SQLite honours this pragma
    # only outside a transaction, which is where Python's sqlite3 runs DDL.
    bind.exec_driver_sql("PRAGMA foreign_keys=OFF")
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
        broken = bind.execute(sa.text("PRAGMA foreign_key_check")).fetchall()
        if broken:
            raise RuntimeError(f"foreign keys broken by the rebuild: {broken[:5]}")
    finally:
        bind.exec_driver_sql("PRAGMA foreign_keys=ON")


def upgrade() -> None:
    _rebuild(True)


def downgrade() -> None:
    _rebuild(False)
