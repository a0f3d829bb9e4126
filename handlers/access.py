"""What every capability does first: find the cluster the actor names, check they may act on it, and
record an operation with its audit event. Shared so that clusters, apps and backups refuse alike."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from sqlmodel import Session

from handlers import errors, messages
from handlers.actors import Actor, Origin
from handlers.policy import can_manage, can_see
from handlers.replies import OperationAccepted, OperationUpdate
from handlers.runner import BaseWork, operation_key
from providers.kube.client import KubeClient
from providers.kube.errors import KubeError
from storage import leases, outbox, repo
from storage.crypto import Crypto
from storage.models import Cluster, ClusterState, Operation, OperationKind, OperationStatus, utcnow


def find_cluster(session: Session, actor: Actor, name: str) -> Cluster:
    """The live cluster `name` of the actor's workspace; NotFound when absent or not visible."""
    cluster = repo.get_cluster(session, team_id=actor.team_id, name=name)
    if cluster is None or not can_see(actor, cluster):
        raise errors.NotFound(messages.no_such_cluster(name), hint=messages.HINT_LIST)
    return cluster


def managed_cluster(session: Session, actor: Actor, name: str, action: str) -> Cluster:
    """The cluster, if the actor owns it or is an admin; a refusal is audited and raised as Forbidden."""
    cluster = find_cluster(session, actor, name)
    if not can_manage(actor, cluster):
        repo.record_audit(
            session,
            team_id=actor.team_id,
            actor_id=actor.user_id,
            action=action,
            result="denied",
            cluster=cluster,
            detail="not owner or admin",
        )
        session.commit()
        raise errors.Forbidden(messages.not_yours(name, cluster.owner_id), hint=messages.HINT_ASK_OWNER)
    return cluster


def ready_cluster(session: Session, actor: Actor, name: str, action: str) -> Cluster:
    """A managed cluster that is ready (it has a kubeconfig kaas can use)."""
    cluster = managed_cluster(session, actor, name, action)
    if cluster.state != ClusterState.READY or cluster.kubeconfig_encrypted is None:
        raise errors.Conflict(
            messages.cluster_not_ready_for(name, cluster.state, action), hint=messages.HINT_WAIT
        )
    return cluster


def enqueue(
    session: Session,
    actor: Actor,
    cluster: Cluster,
    kind: OperationKind,
    *,
    idempotency_key: str,
    origin: Origin,
    params: dict | None = None,
    detail: str = "",
    payload: str | None = None,
    crypto: Crypto | None = None,
) -> OperationAccepted:
    """Record the operation and its audit event with whatever the session holds, in one commit.

    Nothing new is accepted for a cluster that is being deleted; otherwise the operation waits its turn
    behind those already queued or running on the cluster (the reply says behind what).
    """
    if kind != OperationKind.DELETE and being_deleted(session, cluster):
        session.rollback()
        raise errors.Conflict(messages.already_deleting(cluster.name), hint=messages.HINT_WAIT)
    op, created = repo.enqueue_operation(
        session,
        kind=kind,
        cluster=cluster,
        requester_id=actor.user_id,
        idempotency_key=idempotency_key,
        params=params or {},
        channel_id=origin.channel_id,
        thread_ts=origin.thread_ts,
        payload=payload,
        crypto=crypto,
        commit=False,
    )
    repo.record_audit(
        session,
        team_id=actor.team_id,
        actor_id=actor.user_id,
        action=str(kind),
        result="ok",
        cluster=cluster,
        detail=detail,
        commit=False,
    )
    reply = accepted(session, op, duplicate=not created)
    if created:
        # The progress message starts with the request, in its transaction: it is posted even if this
        # process dies right after answering.
        outbox.publish(
            session,
            key=operation_key(op.id or 0),
            audience=origin.audience,
            team_id=cluster.team_id,
            cluster_id=cluster.id,
            operation_id=op.id,
            body=dataclasses.asdict(
                OperationUpdate(
                    operation_id=op.id or 0,
                    cluster_name=cluster.name,
                    kind=str(kind),
                    status=OperationStatus.QUEUED.value,
                    step="queued",
                    progress=0,
                    text=reply.text,
                    final=False,
                    channel_id=origin.channel_id,
                    thread_ts=origin.thread_ts,
                    requester_id=actor.user_id,
                )
            ),
            note=None,
            final=False,
            now=utcnow(),
        )
    session.commit()
    return reply


def repeated(session: Session, idempotency_key: str) -> OperationAccepted | None:
    """The reply already given to this request (a Slack retry, a double click), if it was recorded."""
    existing = repo.get_operation_by_key(session, idempotency_key=idempotency_key)
    return None if existing is None else accepted(session, existing, duplicate=True)


def being_deleted(session: Session, cluster: Cluster) -> bool:
    """Whether a delete of the cluster is queued or running."""
    return cluster.state == ClusterState.DELETING or any(
        op.kind == OperationKind.DELETE for op in leases.active_operations(session, cluster_id=cluster.id)
    )


def accepted(session: Session, op: Operation, *, duplicate: bool) -> OperationAccepted:
    """The reply for a recorded operation (also for a repeated request that found it), saying what it
    waits for when the cluster is busy."""
    cluster = repo.get_cluster_by_id(session, cluster_id=op.cluster_id)
    name = cluster.name if cluster else "?"
    text = messages.operation_accepted(op.kind, name, str((op.params or {}).get("subject", "")))
    if op.status == OperationStatus.QUEUED:
        ahead = [
            other
            for other in leases.active_operations(session, cluster_id=op.cluster_id)
            if (other.id or 0) < (op.id or 0) and _in_the_way(other)
        ]
        if ahead:
            text = f"{text} {messages.waits_for([other.kind for other in ahead])}"
    return OperationAccepted(op.id or 0, name, op.kind, text, duplicate=duplicate)


def _in_the_way(op: Operation) -> bool:
    """Whether `op` keeps a later operation of its cluster waiting: it holds the cluster, or will."""
    if op.status == OperationStatus.RUNNING:
        return op.cluster_lock is not None
    return not op.cancel_requested


def open_client(cluster: Cluster, crypto: Crypto) -> KubeClient:
    """A client for the cluster's API from its stored kubeconfig."""
    kubeconfig = repo.read_kubeconfig(cluster, crypto=crypto)
    if kubeconfig is None:
        raise KubeError(f"kaas holds no kubeconfig for cluster {cluster.name}")
    return KubeClient.from_kubeconfig(kubeconfig)


class ClusterWork(BaseWork):
    """Base of the runner's works that talk to a cluster's API: the database, the key, a client factory.

    A failed backup leaves no blob behind (the store writes atomically); objects a failed restore wrote
    stay, and its message says what happened: neither has anything to tidy, as the defaults say."""

    def __init__(
        self,
        *,
        sessions: Callable[[], Session],
        crypto: Crypto,
        client_for: Callable[[Cluster, Crypto], KubeClient] = open_client,
    ):
        self._sessions = sessions
        self._crypto = crypto
        self._client_for = client_for
