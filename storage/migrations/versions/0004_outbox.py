"""The outbox: every message users see, written with the state change it reports (it also keeps the
chat message of an operation, so operations.message_ts goes).

Revision ID: 0004
Revises: 0003
Created: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp(name: str, *, nullable: bool) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("audience", sa.String(length=64), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=True),
        sa.Column("operation_id", sa.Integer(), nullable=True),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("notes", sa.JSON(), nullable=False),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("delivered_version", sa.Integer(), nullable=False),
        sa.Column("delivered_notes", sa.Integer(), nullable=False),
        sa.Column("message_ts", sa.String(length=32), nullable=True),
        _timestamp("next_attempt_at", nullable=True),
        _timestamp("last_sent_at", nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=2000), nullable=True),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        _timestamp("claimed_until", nullable=True),
        _timestamp("created_at", nullable=False),
        _timestamp("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_index("ix_outbox_audience", "outbox", ["audience"])
    op.create_index("ix_outbox_cluster_id", "outbox", ["cluster_id"])
    # The chat message of an operation is the outbox row's now.
    with op.batch_alter_table("operations") as batch:
        batch.drop_column("message_ts")


def downgrade() -> None:
    with op.batch_alter_table("operations") as batch:
        batch.add_column(sa.Column("message_ts", sa.String(length=32), nullable=True))
    op.drop_table("outbox")
