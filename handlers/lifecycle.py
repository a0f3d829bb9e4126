"""The cluster lifecycle kinds as Works: create, delete, scale and register, each with its failure policy.

Provider work is resumable: the handle a `start_*` call returns is saved before the first poll, and a
resumed operation (after a crash, or a lease taken over by another replica) polls that handle instead of
starting again. `start_*` calls are idempotent per operation (their request id is the operation's
idempotency key), which covers a crash between the provider accepting a request and the handle being saved.

Failure policies: only a failed create (or register) leaves the cluster `failed`. A refused scale leaves it as
it was, with the provider's message on the operation; a refused delete leaves a cluster that still runs
`ready` (reconcile corrects it if the provider says otherwise).
"""

from __future__ import annotations

from sqlmodel import Session

from handlers import messages
from handlers.clock import SYSTEM_CLOCK, Clock
from handlers.clusters import cluster_buttons
from handlers.profiles import ProfileRegistry
from handlers.runner import BaseWork, OperationRunner
from providers.base import ClusterSpec, Progress, Provider
from providers.errors import ClusterNotFound, PermanentProviderError
from storage import outbox, repo
from storage.crypto import Crypto
from storage.models import Cluster, ClusterState, Operation

CANCELLED_BEFORE_START = "cancelled before the provider was asked for it"


class LifecycleWork(BaseWork):
    """What the lifecycle kinds share: the provider profiles, the key, and one poll of a saved handle."""

    def __init__(self, *, profiles: ProfileRegistry, crypto: Crypto, clock: Clock = SYSTEM_CLOCK):
        self._profiles = profiles
        self._crypto = crypto
        self._now = clock.now

    def _provider(self, cluster: Cluster) -> Provider:
        return self._profiles.provider(cluster.provider_profile)

    @staticmethod
    def _poll_once(
        runner: OperationRunner, op: Operation, provider: Provider, handle: dict, cluster: Cluster
    ) -> Progress:
        progress: Progress = runner.call(lambda: provider.poll(handle))
        if progress.cluster_ref and progress.cluster_ref != cluster.provider_ref:
            runner.transition(op, cluster, ClusterState(cluster.state), provider_ref=progress.cluster_ref)
        runner.save(op, step=progress.step[:200], progress=max(0, min(progress.percent, 100)))
        return progress

    @staticmethod
    def _set_state(
        session: Session, cluster: Cluster, state: ClusterState, reason: str, now, *, only_from: set[str]
    ) -> None:
        current = repo.get_cluster_by_id(session, cluster_id=cluster.id)
        if current is not None and current.state in only_from:
            repo.set_cluster_state(session, current, state, reason=reason[:2000], now=now, commit=False)


class CreateWork(LifecycleWork):
    """Start the provider's create once, poll it to the end, then store the kubeconfig and mark it ready."""

    def step(self, runner: OperationRunner, op: Operation, cluster: Cluster) -> float | None:
        provider = self._provider(cluster)
        handle = op.provider_state
        if not handle:
            if cluster.state == ClusterState.REQUESTED:
                runner.transition(op, cluster, ClusterState.PROVISIONING)
            spec = ClusterSpec(
                name=cluster.name,
                node_count=int(op.params.get("nodes", cluster.node_count)),
                version=str(op.params.get("version", cluster.version)),
                machine_type=op.params.get("machine_type"),
                request_id=op.idempotency_key,
            )
            handle = runner.call(lambda: provider.start_create(spec))
            # The handle is saved before anything else: a crash from here on resumes by polling it.
            runner.save(op, step="creating", progress=1, provider_state=handle)
        progress = self._poll_once(runner, op, provider, handle, cluster)
        if not progress.done:
            return runner.poll_seconds
        ref = progress.cluster_ref or cluster.provider_ref
        if ref is None:
            raise PermanentProviderError("the provider finished without naming the cluster")
        kubeconfig = runner.call(lambda: provider.kubeconfig(ref))
        described = runner.call(lambda: provider.describe(ref))
        with runner.transaction(op) as session:
            current = repo.get_cluster_by_id(session, cluster_id=cluster.id)
            if current is None:
                raise PermanentProviderError("the cluster record disappeared")
            repo.save_kubeconfig(session, current, crypto=self._crypto, kubeconfig=kubeconfig, commit=False)
            repo.update_cluster(
                session,
                cluster_id=current.id,
                now=runner.now(),
                commit=False,
                values={
                    "endpoint": described.endpoint,
                    "version": described.version,
                    "node_count": described.node_count,
                    "provider_ref": ref,
                },
            )
            if current.state != ClusterState.READY:
                repo.set_cluster_state(session, current, ClusterState.READY, now=runner.now(), commit=False)
        runner.finish(
            op, messages.operation_succeeded(op.kind, cluster.name), buttons=cluster_buttons(cluster.name)
        )
        return None

    def failed(self, session: Session, op: Operation, cluster: Cluster, error: str) -> None:
        self._set_state(
            session,
            cluster,
            ClusterState.FAILED,
            error,
            self._now(),
            only_from={ClusterState.REQUESTED, ClusterState.PROVISIONING},
        )

    def cancelled(self, session: Session, op: Operation, cluster: Cluster) -> None:
        # Only a queued create is ever cancelled: the provider was never asked, so there is nothing to delete.
        self._set_state(
            session,
            cluster,
            ClusterState.DELETED,
            CANCELLED_BEFORE_START,
            self._now(),
            only_from={ClusterState.REQUESTED},
        )


class RegisterWork(CreateWork):
    """Adopt a cluster from its kubeconfig: ready once it answers `/version`."""

    def step(self, runner: OperationRunner, op: Operation, cluster: Cluster) -> float | None:
        provider = self._provider(cluster)
        kubeconfig = repo.read_kubeconfig(cluster, crypto=self._crypto)
        if kubeconfig is None:
            raise PermanentProviderError("the kubeconfig to register is missing")
        if cluster.state == ClusterState.REQUESTED:
            runner.transition(op, cluster, ClusterState.PROVISIONING)
        runner.save(op, step="verifying the cluster answers", progress=10)
        described = runner.call(lambda: provider.verify(kubeconfig))
        runner.transition(
            op,
            cluster,
            ClusterState.READY,
            endpoint=described.endpoint,
            version=described.version,
            node_count=described.node_count,
            provider_ref=described.ref,
        )
        runner.finish(
            op, messages.operation_succeeded(op.kind, cluster.name), buttons=cluster_buttons(cluster.name)
        )
        return None


class DeleteWork(LifecycleWork):
    """Delete at the provider (a cluster the provider no longer has counts as deleted), then forget it."""

    def step(self, runner: OperationRunner, op: Operation, cluster: Cluster) -> float | None:
        if cluster.state == ClusterState.DELETED:
            runner.finish(op, messages.operation_succeeded(op.kind, cluster.name))
            return None
        if cluster.state != ClusterState.DELETING:
            runner.transition(op, cluster, ClusterState.DELETING)
        handle = op.provider_state
        if not handle and cluster.provider_ref:
            provider = self._provider(cluster)
            ref = cluster.provider_ref
            try:
                handle = runner.call(lambda: provider.start_delete(ref, request_id=op.idempotency_key))
            except ClusterNotFound:
                handle = {"op": "gone"}
            runner.save(op, step="deleting", progress=1, provider_state=handle)
        if handle and handle.get("op") != "gone":
            try:
                if not self._poll_once(runner, op, self._provider(cluster), handle, cluster).done:
                    return runner.poll_seconds
            except ClusterNotFound:
                pass
        runner.transition(op, cluster, ClusterState.DELETED, kubeconfig_encrypted=None)
        with runner.transaction(op) as session:
            # Earlier messages about the cluster keep no live buttons (Kubeconfig, Delete) once it is gone.
            outbox.strip_buttons(session, cluster_id=cluster.id or 0, now=runner.now())
        runner.finish(op, messages.operation_succeeded(op.kind, cluster.name))
        return None

    def failed(self, session: Session, op: Operation, cluster: Cluster, error: str) -> None:
        # The provider refused or failed the delete: a cluster kaas could use before still runs.
        current = repo.get_cluster_by_id(session, cluster_id=cluster.id)
        if current is None or current.state != ClusterState.DELETING:
            return
        usable = current.kubeconfig_encrypted is not None
        state = ClusterState.READY if usable else ClusterState.FAILED
        repo.set_cluster_state(
            session, current, state, reason=f"delete failed: {error}"[:2000], now=self._now(), commit=False
        )


class ScaleWork(LifecycleWork):
    """Change the node count; a refusal leaves the cluster as the provider has it."""

    def step(self, runner: OperationRunner, op: Operation, cluster: Cluster) -> float | None:
        if cluster.provider_ref is None:
            raise PermanentProviderError("the cluster has no provider reference to scale")
        if cluster.state != ClusterState.READY:
            raise PermanentProviderError(messages.not_ready_to_change(cluster.name, cluster.state))
        provider = self._provider(cluster)
        ref = cluster.provider_ref
        nodes = int(op.params["nodes"])
        handle = op.provider_state
        if not handle:
            handle = runner.call(lambda: provider.start_scale(ref, nodes, request_id=op.idempotency_key))
            runner.save(op, step=f"scaling to {nodes} nodes", progress=1, provider_state=handle)
        if not self._poll_once(runner, op, provider, handle, cluster).done:
            return runner.poll_seconds
        described = runner.call(lambda: provider.describe(ref))
        runner.transition(op, cluster, ClusterState.READY, node_count=described.node_count)
        runner.finish(
            op, messages.operation_succeeded(op.kind, cluster.name), buttons=cluster_buttons(cluster.name)
        )
        return None
