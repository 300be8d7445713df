"""official-account followers, follower syncs, event inbox

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 20:46:34.314494
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import siyu.db

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "oa_callback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("appid", sa.String(length=32), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("openid", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("received_at", siyu.db.UTCDateTime(), nullable=False),
        sa.Column("due_at", siyu.db.UTCDateTime(), nullable=False),
        sa.Column("processed_at", siyu.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oa_callback")),
        sa.UniqueConstraint("digest", name=op.f("uq_oa_callback_digest")),
    )
    with op.batch_alter_table("oa_callback", schema=None) as batch_op:
        batch_op.create_index("ix_oa_callback_due", ["status", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_oa_callback_openid"), ["openid"], unique=False)

    op.create_table(
        "oa_follower",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("appid", sa.String(length=32), nullable=False),
        sa.Column("openid", sa.String(length=64), nullable=False),
        sa.Column("subscribed", sa.Boolean(), nullable=False),
        sa.Column("subscribe_time", siyu.db.UTCDateTime(), nullable=True),
        sa.Column("unsubscribed_at", siyu.db.UTCDateTime(), nullable=True),
        sa.Column("scene", sa.String(length=40), nullable=True),
        sa.Column("qr_scene", sa.String(length=64), nullable=True),
        sa.Column("status_at", siyu.db.UTCDateTime(), nullable=False),
        sa.Column("seen_at", siyu.db.UTCDateTime(), nullable=True),
        sa.Column("updated_at", siyu.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oa_follower")),
        sa.UniqueConstraint("appid", "openid", name=op.f("uq_oa_follower_appid_openid")),
    )
    with op.batch_alter_table("oa_follower", schema=None) as batch_op:
        batch_op.create_index(
            "ix_oa_follower_appid_subscribed", ["appid", "subscribed"], unique=False
        )

    op.create_table(
        "oa_sync_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("appid", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("position", sa.JSON(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", siyu.db.UTCDateTime(), nullable=False),
        sa.Column("finished_at", siyu.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oa_sync_run")),
    )
    with op.batch_alter_table("oa_sync_run", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oa_sync_run_appid"), ["appid"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("oa_sync_run", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oa_sync_run_appid"))

    op.drop_table("oa_sync_run")
    with op.batch_alter_table("oa_follower", schema=None) as batch_op:
        batch_op.drop_index("ix_oa_follower_appid_subscribed")

    op.drop_table("oa_follower")
    with op.batch_alter_table("oa_callback", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oa_callback_openid"))
        batch_op.drop_index("ix_oa_callback_due")

    op.drop_table("oa_callback")
