"""The tables kaas keeps: clusters, the durable operations that change them, and the audit trail.

Times are timezone-aware UTC. Secrets (kubeconfigs) are stored only as Fernet tokens (`storage.crypto`), in
columns whose names end in `_encrypted`, so a dump of the database leaks nothing usable without the key.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import JSON, Column, Field, SQLModel

from storage.types import UTCDateTime


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ClusterState(StrEnum):
    """Lifecycle of a cluster; `storage.states.check_transition` says which moves are legal."""

    REQUESTED = "requested"
    PROVISIONING = "provisioning"
    READY = "ready"
    DELETING = "deleting"
    DELETED = "deleted"
    FAILED = "failed"


class OperationStatus(StrEnum):
    QUEUED = "queued"
    AWAITING_APPROVAL = "awaiting_approval"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL_STATUSES = frozenset({OperationStatus.SUCCEEDED, OperationStatus.FAILED, OperationStatus.CANCELLED})


class OperationKind(StrEnum):
    CREATE = "create"
    DELETE = "delete"
    REGISTER = "register"
    SCALE = "scale"
    DEPLOY = "deploy"
    UNDEPLOY = "undeploy"
    BACKUP = "backup"
    RESTORE = "restore"


CLUSTER_LIFECYCLE_KINDS = frozenset(
    {OperationKind.CREATE, OperationKind.DELETE, OperationKind.REGISTER, OperationKind.SCALE}
)
"""Kinds whose failure leaves the cluster itself failed; a failed deploy or backup leaves it as it was."""


class Cluster(SQLModel, table=True):
    """A cluster kaas created or adopted, owned by one Slack user of one workspace (team)."""

    __tablename__ = "clusters"
    __table_args__ = (
        # Names are unique per workspace among clusters that still exist; deleted rows keep history.
        sa.Index(
            "uq_clusters_team_name_live",
            "team_id",
            "name",
            unique=True,
            sqlite_where=sa.text("state != 'deleted'"),
            postgresql_where=sa.text("state != 'deleted'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(index=True, max_length=32)
    name: str = Field(max_length=63)
    owner_id: str = Field(index=True, max_length=32)
    provider_profile: str = Field(max_length=63)
    provider_kind: str = Field(max_length=32)
    provider_ref: str | None = Field(default=None, max_length=255)
    """The provider's own identifier of the cluster, known once creation has started."""
    state: str = Field(default=ClusterState.REQUESTED, max_length=16, index=True)
    state_reason: str | None = Field(default=None, max_length=2000)
    node_count: int = 0
    version: str = Field(default="", max_length=32)
    machine_type: str | None = Field(default=None, max_length=64)
    endpoint: str | None = Field(default=None, max_length=512)
    kubeconfig_encrypted: str | None = Field(default=None, sa_column=Column(sa.Text, nullable=True))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    deleted_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class Operation(SQLModel, table=True):
    """One long-running change of a cluster, recorded before the request is acknowledged.

    The runner claims queued (or abandoned running) operations, keeps `lease_expires_at` ahead of the clock
    while it runs them, and saves the provider's handle in `provider_state` before it polls, so a restarted
    process resumes by polling the saved handle and never starts the provider work twice.
    """

    __tablename__ = "operations"
    __table_args__ = (
        # At most one operation holds a cluster at a time: the database, not a check in Python, decides.
        # NULLs are distinct in a unique index on SQLite and PostgreSQL alike, so idle rows never collide.
        sa.Index("uq_operations_cluster_lock", "cluster_lock", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32)
    cluster_id: int = Field(foreign_key="clusters.id", index=True)
    team_id: str = Field(max_length=32)
    requester_id: str = Field(max_length=32)
    channel_id: str | None = Field(default=None, max_length=32)
    thread_ts: str | None = Field(default=None, max_length=32)
    status: str = Field(default=OperationStatus.QUEUED, max_length=24, index=True)
    step: str = Field(default="", max_length=200)
    progress: int = 0
    params: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    """What was asked (e.g. node count, version); never secrets."""
    provider_state: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    payload_encrypted: str | None = Field(default=None, sa_column=Column(sa.Text, nullable=True))
    """What was asked that may hold secrets (a pasted manifest, Helm values), as a Fernet token."""
    idempotency_key: str = Field(max_length=200, unique=True)
    lease_owner: str | None = Field(default=None, max_length=100)
    lease_expires_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    attempts: int = 0
    """How many times a runner claimed it."""
    crashes: int = 0
    """How many of those claims took it over from a runner that stopped renewing its lease (died)."""
    cluster_lock: int | None = Field(default=None)
    """The cluster id while this operation holds its cluster (see `uq_operations_cluster_lock`), else None."""
    cancel_requested: bool = False
    """Asked to cancel: queued ones are cancelled, running ones stop at a safe point if they can."""
    error: str | None = Field(default=None, max_length=4000)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    started_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class AuditEvent(SQLModel, table=True):
    """Who did what to which cluster, when, and how it ended (including refusals)."""

    __tablename__ = "audit_events"

    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    team_id: str = Field(max_length=32)
    actor_id: str = Field(max_length=32, index=True)
    action: str = Field(max_length=64)
    cluster_name: str | None = Field(default=None, max_length=63)
    cluster_id: int | None = Field(default=None, index=True)
    result: str = Field(max_length=16)
    """ok, denied, invalid or error."""
    detail: str = Field(default="", max_length=2000)


class ReleaseStatus(StrEnum):
    DEPLOYING = "deploying"
    READY = "ready"
    FAILED = "failed"
    REMOVING = "removing"
    REMOVED = "removed"


class AppRelease(SQLModel, table=True):
    """One version of one app deployed on a cluster, with the inventory of what kaas applied for it.

    The inventory (`objects`, or the Helm release) is what `undeploy` removes: exactly what was deployed.
    """

    __tablename__ = "app_releases"
    __table_args__ = (
        # One live release per app version and cluster; removed rows keep history.
        sa.Index(
            "uq_app_releases_live",
            "cluster_id",
            "app",
            "version",
            unique=True,
            sqlite_where=sa.text("status != 'removed'"),
            postgresql_where=sa.text("status != 'removed'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    cluster_id: int = Field(foreign_key="clusters.id", index=True)
    app: str = Field(max_length=63)
    version: str = Field(default="", max_length=63)
    """"" when deployed without `@VERSION`."""
    namespace: str = Field(max_length=63)
    source_kind: str = Field(max_length=16)
    """manifest or helm."""
    source: str = Field(default="", max_length=2048)
    """Where it came from (URL, file name, chart reference); never the content."""
    helm_release: str | None = Field(default=None, max_length=53)
    objects: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    """[{"apiVersion", "kind", "namespace", "name"}] applied by kaas (manifests), or rendered by Helm."""
    created_namespace: bool = False
    status: str = Field(default=ReleaseStatus.DEPLOYING, max_length=16)
    message: str = Field(default="", max_length=4000)
    deployed_by: str = Field(max_length=32)
    operation_id: int | None = Field(default=None)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Backup(SQLModel, table=True):
    """One backup archive of a cluster's resources, kept in the backup store under `store_key`."""

    __tablename__ = "backups"

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32, index=True)
    cluster_id: int = Field(foreign_key="clusters.id", index=True)
    name: str = Field(max_length=63)
    namespace: str | None = Field(default=None, max_length=63)
    """The one namespace backed up, or None for the whole cluster."""
    store_key: str = Field(max_length=255)
    size_bytes: int = 0
    object_count: int = 0
    summary: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    """Kinds and counts, namespaces and PVCs (see providers.kube.backup.BackupSummary)."""
    created_by: str = Field(max_length=32)
    operation_id: int = Field(unique=True)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class OutboxMessage(SQLModel, table=True):
    """One message users see (an operation's progress and outcome), written in the transaction that
    changed what it reports, and delivered by one sender per audience however many replicas run.

    The row is the message: later writes replace `body` and bump `version`; the sender delivers the latest
    version (coalescing what came between), records the chat message it made, and is done when
    `delivered_version` catches up. `notes` are the step lines for the message's thread (or the terminal).
    """

    __tablename__ = "outbox"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200, unique=True)
    """What the message is about, e.g. `op:42`: one message per key, updated in place."""
    audience: str = Field(max_length=64, index=True)
    """Who delivers it: `slack`, or one `kaas shell` session."""
    team_id: str = Field(max_length=32)
    cluster_id: int | None = Field(default=None, index=True)
    operation_id: int | None = Field(default=None)
    body: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    notes: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    final: bool = False
    version: int = 1
    delivered_version: int = 0
    delivered_notes: int = 0
    message_ts: str | None = Field(default=None, max_length=32)
    """The chat message once posted; later versions update it."""
    next_attempt_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    """Not before (after a failed delivery); None: as soon as a sender may."""
    last_sent_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    attempts: int = 0
    """Failed deliveries in a row (reset by a success)."""
    error: str | None = Field(default=None, max_length=2000)
    claimed_by: str | None = Field(default=None, max_length=100)
    claimed_until: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
