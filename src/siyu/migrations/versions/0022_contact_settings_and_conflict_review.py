"""do-not-disturb with its source, operator-recorded consent evidence, identity conflicts reviewed

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import siyu.db

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("customer") as batch:
        batch.add_column(sa.Column("do_not_disturb_source", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("do_not_disturb_reason", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("do_not_disturb_by", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("do_not_disturb_at", siyu.db.UTCDateTime(), nullable=True))
    with op.batch_alter_table("consent") as batch:
        batch.add_column(sa.Column("evidence_ref", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("recorded_by", sa.String(length=100), nullable=True))
    with op.batch_alter_table("identity_conflict") as batch:
        batch.add_column(sa.Column("resolution", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("resolved_by", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("identity_conflict") as batch:
        batch.drop_column("resolved_by")
        batch.drop_column("resolution")
    with op.batch_alter_table("consent") as batch:
        batch.drop_column("recorded_by")
        batch.drop_column("evidence_ref")
    with op.batch_alter_table("customer") as batch:
        batch.drop_column("do_not_disturb_at")
        batch.drop_column("do_not_disturb_by")
        batch.drop_column("do_not_disturb_reason")
        batch.drop_column("do_not_disturb_source")
