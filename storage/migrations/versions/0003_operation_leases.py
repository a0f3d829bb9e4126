"""Per-cluster serialization, crash counting and cancellation of operations.

Revision ID: 0003
Revises: 0002
Created: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("operations") as batch:
        batch.add_column(sa.Column("crashes", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("cluster_lock", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("cancel_requested", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_index("uq_operations_cluster_lock", "operations", ["cluster_lock"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_operations_cluster_lock", table_name="operations")
    with op.batch_alter_table("operations") as batch:
        batch.drop_column("cancel_requested")
        batch.drop_column("cluster_lock")
        batch.drop_column("crashes")
