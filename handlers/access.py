"""What every capability does first: find the cluster the actor names, check they may act on it, and
record an operation with its audit event. Shared so that clusters, apps and backups refuse alike."""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import Session

from handlers import errors, messages
from handlers.actors import Actor, Origin
from handlers.policy import can_manage, can_see
from handlers.replies import OperationAccepted
from providers.kube.client import KubeClient
from providers.kube.errors import KubeError
from storage import repo
from storage.crypto import Crypto
from storage.models import Cluster, ClusterState, Operation, OperationKind


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
    """Record the operation and its audit event with whatever the session holds, in one commit."""
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
    session.commit()
    return accepted(session, op, duplicate=not created)


def repeated(session: Session, idempotency_key: str) -> OperationAccepted | None:
    """The reply already given to this request (a Slack retry, a double click), if it was recorded."""
    existing = repo.get_operation_by_key(session, idempotency_key=idempotency_key)
    return None if existing is None else accepted(session, existing, duplicate=True)


def accepted(session: Session, op: Operation, *, duplicate: bool) -> OperationAccepted:
    """The reply for a recorded operation (also for a repeated request that found it)."""
    cluster = repo.get_cluster_by_id(session, cluster_id=op.cluster_id)
    name = cluster.name if cluster else "?"
    text = messages.operation_accepted(op.kind, name, str((op.params or {}).get("subject", "")))
    return OperationAccepted(op.id or 0, name, op.kind, text, duplicate=duplicate)


def open_client(cluster: Cluster, crypto: Crypto) -> KubeClient:
    """A client for the cluster's API from its stored kubeconfig."""
    kubeconfig = repo.read_kubeconfig(cluster, crypto=crypto)
    if kubeconfig is None:
        raise KubeError(f"kaas holds no kubeconfig for cluster {cluster.name}")
    return KubeClient.from_kubeconfig(kubeconfig)


class ClusterWork:
    """Base of the runner's works that talk to a cluster's API: the database, the key, a client factory."""

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
