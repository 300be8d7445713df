"""the send ledger is not only campaigns': its unique key is (origin, origin_id, step, customer,
channel); every existing row becomes origin 'campaign' with its campaign as origin_id, and
campaign_id stays beside it (nullable: a transactional message has no campaign); a transactional
row carries its template in ``message``

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 06:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KEY = "uq_send_ledger_campaign_id_step_customer_id_channel"
NEW_KEY = "uq_send_ledger_origin_origin_id_step_customer_id_channel"
TRANSACTIONAL = sa.text("origin = 'transactional'")
BATCHED = sa.text("batch_id IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("send_ledger") as batch:
        batch.add_column(sa.Column("origin", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("origin_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("message", sa.JSON(), nullable=True))
    op.execute("UPDATE send_ledger SET origin = 'campaign', origin_id = campaign_id")
    with op.batch_alter_table("send_ledger") as batch:
        batch.alter_column("origin", existing_type=sa.String(length=16), nullable=False)
        batch.alter_column("origin_id", existing_type=sa.BigInteger(), nullable=False)
        batch.alter_column("campaign_id", existing_type=sa.Integer(), nullable=True)
        batch.drop_constraint(OLD_KEY, type_="unique")
        batch.create_unique_constraint(
            NEW_KEY, ["origin", "origin_id", "step", "customer_id", "channel"]
        )
        # SQLite's batch copies the table: the partial index is made again with its WHERE
        batch.drop_index("ix_send_ledger_batch_id")
        batch.create_index(
            "ix_send_ledger_batch_id",
            ["batch_id"],
            unique=False,
            postgresql_where=BATCHED,
            sqlite_where=BATCHED,
        )
        batch.create_index(
            "ix_send_ledger_transactional_due",
            ["state", "due_at"],
            unique=False,
            postgresql_where=TRANSACTIONAL,
            sqlite_where=TRANSACTIONAL,
        )


def downgrade() -> None:
    # rows that are not a campaign's cannot stay in a ledger keyed by campaign
    op.execute("DELETE FROM send_ledger WHERE origin <> 'campaign'")
    with op.batch_alter_table("send_ledger") as batch:
        batch.drop_index("ix_send_ledger_transactional_due")
        batch.drop_constraint(NEW_KEY, type_="unique")
        batch.create_unique_constraint(OLD_KEY, ["campaign_id", "step", "customer_id", "channel"])
        batch.alter_column("campaign_id", existing_type=sa.Integer(), nullable=False)
        batch.drop_column("message")
        batch.drop_column("origin_id")
        batch.drop_column("origin")
        batch.drop_index("ix_send_ledger_batch_id")
        batch.create_index(
            "ix_send_ledger_batch_id",
            ["batch_id"],
            unique=False,
            postgresql_where=BATCHED,
            sqlite_where=BATCHED,
        )
