"""growth attribution indexes: the device and network checks of a batch of arrivals find the
earlier referrals from those devices and networks without reading the programme's whole window
(partial: WeCom adds and orders have neither, and each index costs every insert)

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-08 00:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0036"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_referral_device",
        "referral",
        ["programme_id", "device", "arrived_at"],
        unique=False,
        sqlite_where=sa.text("device != ''"),
        postgresql_where=sa.text("device != ''"),
    )
    op.create_index(
        "ix_referral_address",
        "referral",
        ["programme_id", "address", "arrived_at"],
        unique=False,
        sqlite_where=sa.text("address != ''"),
        postgresql_where=sa.text("address != ''"),
    )


def downgrade() -> None:
    op.drop_index("ix_referral_address", table_name="referral")
    op.drop_index("ix_referral_device", table_name="referral")
