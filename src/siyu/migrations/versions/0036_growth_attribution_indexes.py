"""growth attribution indexes: the device and network checks of a batch of arrivals find the
earlier referrals from those devices and networks without reading the programme's whole window

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-08 00:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0036"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.create_index(
            "ix_referral_device", ["programme_id", "device", "arrived_at"], unique=False
        )
        batch_op.create_index(
            "ix_referral_address", ["programme_id", "address", "arrived_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.drop_index("ix_referral_address")
        batch_op.drop_index("ix_referral_device")
