"""login attempts counted in one row per username and per address, reserved atomically before a
password is checked (the failure rows counted afterwards let parallel attempts through)

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 20:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import siyu.db

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_start", siyu.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttle")),
    )
    with op.batch_alter_table("login_throttle") as batch:
        batch.create_index(
            batch.f("ix_login_throttle_window_start"), ["window_start"], unique=False
        )
    with op.batch_alter_table("login_failure") as batch:
        batch.drop_index(batch.f("ix_login_failure_username"))
        batch.drop_index(batch.f("ix_login_failure_at"))
        batch.drop_index(batch.f("ix_login_failure_address"))
    op.drop_table("login_failure")


def downgrade() -> None:
    op.create_table(
        "login_failure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("at", siyu.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failure")),
    )
    with op.batch_alter_table("login_failure") as batch:
        batch.create_index(batch.f("ix_login_failure_address"), ["address"], unique=False)
        batch.create_index(batch.f("ix_login_failure_at"), ["at"], unique=False)
        batch.create_index(batch.f("ix_login_failure_username"), ["username"], unique=False)
    with op.batch_alter_table("login_throttle") as batch:
        batch.drop_index(batch.f("ix_login_throttle_window_start"))
    op.drop_table("login_throttle")
