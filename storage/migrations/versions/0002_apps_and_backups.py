"""Applications and backups: app_releases, backups, and an encrypted payload on operations.

Revision ID: 0002
Revises: 0001
Created: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE_RELEASE = "status != 'removed'"


def _timestamp(name: str, *, nullable: bool) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("operations") as batch:
        batch.add_column(sa.Column("payload_encrypted", sa.Text(), nullable=True))

    op.create_table(
        "app_releases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("app", sa.String(length=63), nullable=False),
        sa.Column("version", sa.String(length=63), nullable=False),
        sa.Column("namespace", sa.String(length=63), nullable=False),
        sa.Column("source_kind", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=2048), nullable=False),
        sa.Column("helm_release", sa.String(length=53), nullable=True),
        sa.Column("objects", sa.JSON(), nullable=False),
        sa.Column("created_namespace", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("message", sa.String(length=4000), nullable=False),
        sa.Column("deployed_by", sa.String(length=32), nullable=False),
        sa.Column("operation_id", sa.Integer(), nullable=True),
        _timestamp("created_at", nullable=False),
        _timestamp("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["cluster_id"], ["clusters.id"]),
    )
    op.create_index("ix_app_releases_cluster_id", "app_releases", ["cluster_id"])
    op.create_index(
        "uq_app_releases_live",
        "app_releases",
        ["cluster_id", "app", "version"],
        unique=True,
        sqlite_where=sa.text(LIVE_RELEASE),
        postgresql_where=sa.text(LIVE_RELEASE),
    )

    op.create_table(
        "backups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("namespace", sa.String(length=63), nullable=True),
        sa.Column("store_key", sa.String(length=255), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("object_count", sa.Integer(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.Column("operation_id", sa.Integer(), nullable=False),
        _timestamp("created_at", nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["cluster_id"], ["clusters.id"]),
        sa.UniqueConstraint("operation_id"),
    )
    op.create_index("ix_backups_team_id", "backups", ["team_id"])
    op.create_index("ix_backups_cluster_id", "backups", ["cluster_id"])


def downgrade() -> None:
    op.drop_table("backups")
    op.drop_table("app_releases")
    with op.batch_alter_table("operations") as batch:
        batch.drop_column("payload_encrypted")
