"""The backups capability: export a cluster's resources to the backup store, list backups, restore one.

Backups and restores are operations (durable, resumable, with progress) and are audited; only the cluster's
owner or an admin may take them. A restore also needs the right to manage the backup's source cluster,
since a backup holds that cluster's Secrets.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlmodel import Session

if TYPE_CHECKING:
    from handlers.runner import OperationRunner

from handlers import access, errors, messages
from handlers.actors import Actor, Origin
from handlers.apps import NO_ORIGIN
from handlers.policy import can_manage
from handlers.replies import BackupList, BackupRow, OperationAccepted
from providers.errors import PermanentProviderError
from providers.kube import backup as kube_backup
from storage import backup_repo, repo
from storage.backup_store import BackupNotFound, BackupStore
from storage.models import Backup, Cluster, Operation, OperationKind

MAX_LISTED = 20
"""Backups shown by `/kaas backups`: each is one row of a message that holds at most 50 blocks."""


def backup_name(cluster: str, at: dt.datetime) -> str:
    """`CLUSTER-YYYYMMDD-HHMMSS`: sortable, readable, and a DNS label (cluster names are ≤ 40 characters)."""
    return f"{cluster}-{at.strftime('%Y%m%d-%H%M%S')}"


def store_key(team_id: str, cluster_id: int, name: str, operation_id: int) -> str:
    return f"{team_id.lower()}/{cluster_id}/{name}-{operation_id}.tar.gz"


def _row(backup: Backup) -> BackupRow:
    summary = backup.summary or {}
    kinds = tuple((str(k), int(n)) for k, n in summary.get("kinds") or [])
    return BackupRow(
        name=backup.name,
        created_at=backup.created_at,
        size_bytes=backup.size_bytes,
        object_count=backup.object_count,
        namespace=backup.namespace,
        kinds=kinds,
        pvcs=len(summary.get("pvcs") or []),
        created_by=backup.created_by,
    )


class BackupService:
    """Record backups and restores, and list what exists."""

    def __init__(
        self,
        *,
        sessions: Callable[[], Session],
        wake_runner: Callable[[], None] = lambda: None,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ):
        self._sessions = sessions
        self._wake = wake_runner
        self._now = now

    def backup(
        self,
        actor: Actor,
        cluster_name: str,
        *,
        namespace: str | None = None,
        idempotency_key: str,
        origin: Origin = NO_ORIGIN,
    ) -> OperationAccepted:
        """Record a backup of the whole cluster, or of one namespace."""
        with self._sessions() as session:
            repeated = access.repeated(session, idempotency_key)
            if repeated is not None:
                return repeated
            cluster = access.ready_cluster(session, actor, cluster_name, "back up")
            reply = access.enqueue(
                session,
                actor,
                cluster,
                OperationKind.BACKUP,
                idempotency_key=idempotency_key,
                origin=origin,
                params={
                    "subject": namespace or "",
                    "namespace": namespace,
                    "name": backup_name(cluster.name, self._now()),
                },
                detail=f"namespace={namespace}" if namespace else "whole cluster",
            )
        self._wake()
        return reply

    def backups(self, actor: Actor, cluster_name: str) -> BackupList:
        """The cluster's backups, newest first (owners and admins: they hold the cluster's Secrets)."""
        with self._sessions() as session:
            cluster = access.managed_cluster(session, actor, cluster_name, "list backups")
            rows = backup_repo.list_backups(session, cluster_id=cluster.id, limit=MAX_LISTED)
        return BackupList(cluster=cluster.name, rows=tuple(_row(b) for b in rows))

    def restore(
        self,
        actor: Actor,
        cluster_name: str,
        backup: str,
        *,
        namespace: str | None = None,
        overwrite: bool = False,
        idempotency_key: str,
        origin: Origin = NO_ORIGIN,
    ) -> OperationAccepted:
        """Record a restore of `backup` (a name or id of this workspace) into the cluster."""
        with self._sessions() as session:
            repeated = access.repeated(session, idempotency_key)
            if repeated is not None:
                return repeated
            target = access.ready_cluster(session, actor, cluster_name, "restore")
            found = backup_repo.find_backup(session, team_id=actor.team_id, name=backup)
            if found is None:
                raise errors.NotFound(
                    messages.no_such_backup(backup), hint=messages.hint_backups(cluster_name)
                )
            source = repo.get_cluster_by_id(session, cluster_id=found.cluster_id)
            allowed = actor.is_admin or (
                can_manage(actor, source) if source is not None else found.created_by == actor.user_id
            )
            if not allowed:
                repo.record_audit(
                    session,
                    team_id=actor.team_id,
                    actor_id=actor.user_id,
                    action="restore",
                    result="denied",
                    cluster=target,
                    detail=f"backup {found.name} of another owner's cluster",
                )
                session.commit()
                raise errors.Forbidden(messages.backup_not_yours(found.name), hint=messages.HINT_ASK_OWNER)
            if namespace and found.namespace and namespace != found.namespace:
                raise errors.InvalidRequest(
                    messages.backup_lacks_namespace(found.name, namespace, found.namespace),
                    hint=f"Use `--namespace {found.namespace}`, or no `--namespace`.",
                )
            reply = access.enqueue(
                session,
                actor,
                target,
                OperationKind.RESTORE,
                idempotency_key=idempotency_key,
                origin=origin,
                params={
                    "subject": found.name,
                    "backup_id": found.id,
                    "namespace": namespace,
                    "overwrite": overwrite,
                },
                detail=f"backup={found.name} namespace={namespace} overwrite={overwrite}",
            )
        self._wake()
        return reply


class _Progress:
    def __init__(self, runner: OperationRunner, op: Operation, low: int, high: int):
        self._runner, self._op, self._low, self._high = runner, op, low, high
        self._last = ""

    def __call__(self, step: str, percent: int) -> None:
        scaled = self._low + (self._high - self._low) * max(0, min(percent, 100)) // 100
        if step != self._last:
            self._last = step
            self._runner.save(self._op, step=step[:200], progress=scaled)


class _StoredWork(access.ClusterWork):
    """A work that also reads or writes the backup store."""

    def __init__(self, *, store: BackupStore, **common):
        super().__init__(**common)
        self._store = store


class BackupWork(_StoredWork):
    """Runner step of a backup: stream the export into the store, then record it (idempotent per op)."""

    def step(self, runner: OperationRunner, op: Operation, cluster: Cluster) -> float | None:
        name = str(op.params["name"])
        namespace = op.params.get("namespace")
        key = store_key(cluster.team_id, cluster.id, name, op.id or 0)
        client = self._client_for(cluster, self._crypto)
        try:
            runner.save(op, step="reading the cluster's resources", progress=5)
            with self._store.open_write(key) as out:
                summary = kube_backup.export(
                    client,
                    cluster=cluster.name,
                    namespace=namespace,
                    out=out,
                    created_at=runner.now(),
                    on_progress=_Progress(runner, op, 5, 90),
                )
        finally:
            client.close()
        with self._sessions() as session:
            backup_repo.record_backup(
                session,
                cluster=cluster,
                name=name,
                namespace=namespace,
                store_key=key,
                size_bytes=self._store.size(key),
                object_count=summary.object_count,
                summary=summary.to_dict(),
                created_by=op.requester_id,
                operation_id=op.id or 0,
                now=runner.now(),
            )
        runner.finish(
            op,
            messages.backed_up(
                name, cluster.name, summary.object_count, kube_backup.volume_guidance(summary)
            ),
        )
        return None


class RestoreWork(_StoredWork):
    """Runner step of a restore; safe to repeat after a crash, since objects that exist are skipped."""

    def step(self, runner: OperationRunner, op: Operation, cluster: Cluster) -> float | None:
        with self._sessions() as session:
            found = session.get(Backup, int(op.params["backup_id"]))
        if found is None:
            raise PermanentProviderError(messages.no_such_backup(str(op.params.get("subject"))))
        runner.save(op, step=f"reading backup {found.name}", progress=5)
        try:
            with self._store.open_read(found.store_key) as stream:
                archive = kube_backup.read_archive(stream)
        except BackupNotFound:
            raise PermanentProviderError(messages.backup_blob_missing(found.name)) from None
        client = self._client_for(cluster, self._crypto)
        try:
            result = kube_backup.restore(
                client,
                archive,
                namespace=op.params.get("namespace"),
                overwrite=bool(op.params.get("overwrite")),
                on_progress=_Progress(runner, op, 10, 95),
            )
        finally:
            client.close()
        text = messages.restored(
            found.name,
            cluster.name,
            len(result.created),
            len(result.updated),
            len(result.skipped),
            result.failed,
        )
        if result.failed:
            raise PermanentProviderError(text)
        runner.finish(op, text)
        return None
