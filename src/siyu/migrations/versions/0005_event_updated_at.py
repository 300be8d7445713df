"""event.updated_at, so the analytical copy follows events that move between profiles

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 08:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import siyu.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("updated_at", siyu.db.UTCDateTime(), nullable=True))
    op.execute("UPDATE event SET updated_at = received_at")
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.alter_column("updated_at", existing_type=siyu.db.UTCDateTime(), nullable=False)
        batch_op.create_index(batch_op.f("ix_event_updated_at"), ["updated_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_updated_at"))
        batch_op.drop_column("updated_at")
