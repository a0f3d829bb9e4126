"""Initial schema: clusters, operations, audit_events.

Revision ID: 0001
Revises:
Created: 2025-11-24

Types are plain SQLAlchemy ones (String, DateTime(timezone=True), JSON) so the same revision runs on
SQLite and PostgreSQL and never depends on application classes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Names stay unique per team among clusters that are not deleted, so a deleted name can be reused.
LIVE_CLUSTER = "state != 'deleted'"


def _timestamp(name: str, *, nullable: bool) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "clusters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("owner_id", sa.String(length=32), nullable=False),
        sa.Column("provider_profile", sa.String(length=63), nullable=False),
        sa.Column("provider_kind", sa.String(length=32), nullable=False),
        sa.Column("provider_ref", sa.String(length=255), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("state_reason", sa.String(length=2000), nullable=True),
        sa.Column("node_count", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("machine_type", sa.String(length=64), nullable=True),
        sa.Column("endpoint", sa.String(length=512), nullable=True),
        sa.Column("kubeconfig_encrypted", sa.Text(), nullable=True),
        _timestamp("created_at", nullable=False),
        _timestamp("updated_at", nullable=False),
        _timestamp("deleted_at", nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_clusters_team_id", "clusters", ["team_id"])
    op.create_index("ix_clusters_owner_id", "clusters", ["owner_id"])
    op.create_index("ix_clusters_state", "clusters", ["state"])
    op.create_index(
        "uq_clusters_team_name_live",
        "clusters",
        ["team_id", "name"],
        unique=True,
        sqlite_where=sa.text(LIVE_CLUSTER),
        postgresql_where=sa.text(LIVE_CLUSTER),
    )

    op.create_table(
        "operations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("requester_id", sa.String(length=32), nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=True),
        sa.Column("thread_ts", sa.String(length=32), nullable=True),
        sa.Column("message_ts", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("step", sa.String(length=200), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("provider_state", sa.JSON(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        _timestamp("lease_expires_at", nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=4000), nullable=True),
        _timestamp("created_at", nullable=False),
        _timestamp("updated_at", nullable=False),
        _timestamp("started_at", nullable=True),
        _timestamp("finished_at", nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["cluster_id"], ["clusters.id"]),
        sa.UniqueConstraint("idempotency_key"),
    )
    op.create_index("ix_operations_cluster_id", "operations", ["cluster_id"])
    op.create_index("ix_operations_status", "operations", ["status"])
    op.create_index("ix_operations_lease_expires_at", "operations", ["lease_expires_at"])

    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        _timestamp("at", nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("actor_id", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("cluster_name", sa.String(length=63), nullable=True),
        sa.Column("cluster_id", sa.Integer(), nullable=True),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.String(length=2000), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    op.create_index("ix_audit_events_actor_id", "audit_events", ["actor_id"])
    op.create_index("ix_audit_events_cluster_id", "audit_events", ["cluster_id"])


def downgrade() -> None:
    op.drop_table("audit_events")
    op.drop_table("operations")
    op.drop_table("clusters")
