"""The operations runner: a bounded pool of workers that claims durable operations and drives providers.

Each operation is leased (`lease_owner`, `lease_expires_at`) and the lease is renewed with every progress
save. Provider work is resumable: the handle a `start_*` call returns is saved before the first poll, and a
resumed operation (after a crash, or a lease taken over by another replica) polls that handle instead of
starting again. `start_create` is idempotent per operation (its idempotency key is the request id), which
covers a crash between the provider accepting the request and the handle being saved.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from sqlmodel import Session
from storage.crypto import Crypto

from handlers import messages
from handlers.clusters import cluster_buttons
from handlers.profiles import ProfileRegistry
from handlers.replies import OperationUpdate
from providers.base import ClusterSpec, Progress
from providers.errors import ClusterNotFound, PermanentProviderError, ProviderError, TransientProviderError
from storage import repo
from storage.models import Cluster, ClusterState, Operation, OperationKind, OperationStatus, utcnow

log = logging.getLogger(__name__)

MAX_TRANSIENT_FAILURES = 20
"""Consecutive transient provider errors tolerated before an operation fails (with backoff between)."""


class ProgressSink(Protocol):
    """Where operation progress goes (a Slack message updated in place, a terminal line)."""

    def publish(self, update: OperationUpdate) -> None: ...


class NullSink:
    def publish(self, update: OperationUpdate) -> None:
        pass


class LeaseLost(Exception):
    """Another runner owns the operation now; this worker must stop touching it."""


class Stopping(Exception):
    """The runner is shutting down; the operation stays leased to nobody and resumes elsewhere."""


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class OperationRunner:
    """Claims queued or abandoned operations and runs them on a bounded thread pool."""

    def __init__(
        self,
        *,
        sessions: Callable[[], Session],
        profiles: ProfileRegistry,
        crypto: Crypto,
        sink: ProgressSink | None = None,
        owner: str | None = None,
        workers: int = 8,
        lease_seconds: float = 30.0,
        poll_seconds: float = 1.0,
        now: Callable[[], dt.datetime] = utcnow,
    ):
        self._sessions = sessions
        self._profiles = profiles
        self._crypto = crypto
        self.sink = sink or NullSink()
        self.owner = owner or default_owner()
        self._workers = workers
        self._lease = lease_seconds
        self._poll = poll_seconds
        self._now = now
        self._pool: ThreadPoolExecutor | None = None
        self._running: set[int] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._dispatcher: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> OperationRunner:
        if self._dispatcher is not None:
            return self
        self._stop.clear()
        self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="kaas-op")
        self._dispatcher = threading.Thread(target=self._dispatch_loop, name="kaas-dispatcher", daemon=True)
        self._dispatcher.start()
        return self

    def stop(self) -> None:
        """Stop claiming, let workers release their leases, and wait for them."""
        self._stop.set()
        self._wake.set()
        if self._dispatcher is not None:
            self._dispatcher.join(timeout=10)
            self._dispatcher = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def wake(self) -> None:
        """Look for new work now instead of at the next poll."""
        self._wake.set()

    def busy(self) -> bool:
        """Whether any operation is still queued or running anywhere (the shell waits on this at EOF)."""
        with self._sessions() as session:
            return repo.count_unfinished(session) > 0

    # -- dispatching ---------------------------------------------------------------------------------

    def _dispatch_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._claim_and_submit()
            except Exception:  # the dispatcher must outlive a database hiccup
                log.exception("claiming operations failed")
            self._wake.wait(self._poll)
            self._wake.clear()

    def _claim_and_submit(self) -> None:
        with self._lock:
            free = self._workers - len(self._running)
        if free <= 0 or self._pool is None:
            return
        with self._sessions() as session:
            claimed = repo.claim_operations(
                session, owner=self.owner, lease_seconds=self._lease, now=self._now(), limit=free
            )
            ids = [op.id for op in claimed if op.id is not None]
        for op_id in ids:
            with self._lock:
                self._running.add(op_id)
            self._pool.submit(self._guarded, op_id)

    def _guarded(self, op_id: int) -> None:
        try:
            self.run_one(op_id)
        except (LeaseLost, Stopping) as e:
            log.info("operation %s left to another runner: %s", op_id, type(e).__name__)
        except Exception:
            log.exception("operation %s crashed", op_id)
            self._fail(op_id, "kaas hit an internal error; the operation was stopped")
        finally:
            with self._lock:
                self._running.discard(op_id)
            self._wake.set()

    # -- running one operation -----------------------------------------------------------------------

    def run_one(self, op_id: int) -> None:
        """Drive one claimed operation to its end (public for tests that step the runner by hand)."""
        with self._sessions() as session:
            op = repo.get_operation(session, op_id=op_id)
            cluster = repo.get_cluster_by_id(session, cluster_id=op.cluster_id) if op else None
        if op is None or cluster is None:
            return
        try:
            if op.kind == OperationKind.CREATE:
                self._create(op, cluster)
            elif op.kind == OperationKind.DELETE:
                self._delete(op, cluster)
            elif op.kind == OperationKind.REGISTER:
                self._register(op, cluster)
            else:
                raise PermanentProviderError(f"unknown operation kind {op.kind!r}")
        except PermanentProviderError as e:
            self._fail(op_id, e.message)

    def _call(self, op: Operation, fn: Callable[[], object]):
        """Call the provider, retrying transient errors with backoff while keeping the lease."""
        failures = 0
        while True:
            try:
                return fn()
            except TransientProviderError as e:
                failures += 1
                if failures >= MAX_TRANSIENT_FAILURES:
                    raise PermanentProviderError(f"{e.message} (gave up after {failures} attempts)") from e
                log.warning("operation %s: transient provider error: %s", op.id, e.message)
                self._save(op, step=f"retrying: {e.message}"[:200], progress=op.progress)
                self._sleep(op, min(self._poll * 2**failures, 30.0))
            except ProviderError:
                raise
            except Exception as e:  # an adapter bug must not look like success
                raise PermanentProviderError(f"provider call failed unexpectedly: {type(e).__name__}") from e

    def _sleep(self, op: Operation, seconds: float) -> None:
        """Wait between polls; on shutdown, release the lease so another runner resumes at once."""
        if self._stop.wait(seconds):
            self._release(op.id)
            raise Stopping()

    def _release(self, op_id: int | None) -> None:
        with self._sessions() as session:
            repo.heartbeat(session, op_id=op_id, owner=self.owner, lease_seconds=0, now=self._now())
            session.commit()

    def _save(self, op: Operation, *, step: str, progress: int, provider_state: dict | None = None) -> None:
        """Persist progress (and the provider handle) if this runner still holds the lease; publish it."""
        changed = step != op.step or progress != op.progress or provider_state is not None
        with self._sessions() as session:
            ok = repo.save_progress(
                session,
                op_id=op.id,
                owner=self.owner,
                step=step,
                progress=progress,
                provider_state=provider_state,
            ) and repo.heartbeat(
                session, op_id=op.id, owner=self.owner, lease_seconds=self._lease, now=self._now()
            )
            session.commit()
        if not ok:
            raise LeaseLost()
        op.step, op.progress = step, progress
        if provider_state is not None:
            op.provider_state = provider_state
        if changed:
            self._publish(op, op.status, step, progress, messages.operation_accepted(op.kind, self._name(op)))

    def _name(self, op: Operation) -> str:
        with self._sessions() as session:
            cluster = repo.get_cluster_by_id(session, cluster_id=op.cluster_id)
        return cluster.name if cluster else "?"

    def _publish(
        self,
        op: Operation,
        status: str,
        step: str,
        progress: int,
        text: str,
        *,
        final: bool = False,
        buttons: tuple = (),
    ) -> None:
        update = OperationUpdate(
            operation_id=op.id or 0,
            cluster_name=self._name(op),
            kind=op.kind,
            status=status,
            step=step,
            progress=progress,
            text=text,
            final=final,
            channel_id=op.channel_id,
            thread_ts=op.thread_ts,
            message_ts=op.message_ts,
            requester_id=op.requester_id,
            buttons=buttons,
        )
        try:
            self.sink.publish(update)
        except Exception:  # a chat outage must not fail the cluster operation
            log.exception("publishing progress of operation %s failed", op.id)

    def _transition(
        self, cluster: Cluster, state: ClusterState, *, reason: str | None = None, **fields
    ) -> None:
        with self._sessions() as session:
            current = repo.get_cluster_by_id(session, cluster_id=cluster.id)
            if current is None:
                return
            for key, value in fields.items():
                setattr(current, key, value)
            if current.state != state:
                repo.set_cluster_state(session, current, state, reason=reason, now=self._now())
            session.add(current)
            session.commit()
            cluster.state = current.state

    def _finish(self, op: Operation, text: str, *, buttons: tuple = ()) -> None:
        with self._sessions() as session:
            ok = repo.finish_operation(
                session, op_id=op.id, owner=self.owner, status=OperationStatus.SUCCEEDED, now=self._now()
            )
            session.commit()
        if not ok:
            raise LeaseLost()
        self._publish(op, OperationStatus.SUCCEEDED, "done", 100, text, final=True, buttons=buttons)

    def _fail(self, op_id: int, error: str) -> None:
        with self._sessions() as session:
            op = repo.get_operation(session, op_id=op_id)
            if op is None:
                return
            cluster = repo.get_cluster_by_id(session, cluster_id=op.cluster_id)
            if not repo.finish_operation(
                session,
                op_id=op_id,
                owner=self.owner,
                status=OperationStatus.FAILED,
                error=error[:4000],
                now=self._now(),
            ):
                session.rollback()
                return
            if cluster is not None and cluster.state not in (ClusterState.DELETED, ClusterState.FAILED):
                repo.set_cluster_state(
                    session, cluster, ClusterState.FAILED, reason=error[:2000], now=self._now()
                )
            session.commit()
            name = cluster.name if cluster else "?"
        self._publish(
            op,
            OperationStatus.FAILED,
            "failed",
            op.progress,
            messages.operation_failed(op.kind, name, error),
            final=True,
        )

    # -- the operations ------------------------------------------------------------------------------

    def _poll_until_done(self, op: Operation, provider, handle: dict, cluster: Cluster) -> Progress:
        while True:
            progress: Progress = self._call(op, lambda: provider.poll(handle))
            if progress.cluster_ref and progress.cluster_ref != cluster.provider_ref:
                self._transition(cluster, ClusterState(cluster.state), provider_ref=progress.cluster_ref)
                cluster.provider_ref = progress.cluster_ref
            self._save(op, step=progress.step[:200], progress=max(0, min(progress.percent, 100)))
            if progress.done:
                return progress
            self._sleep(op, self._poll)

    def _create(self, op: Operation, cluster: Cluster) -> None:
        provider = self._profiles.provider(cluster.provider_profile)
        handle = op.provider_state
        if not handle:
            if cluster.state == ClusterState.REQUESTED:
                self._transition(cluster, ClusterState.PROVISIONING)
            spec = ClusterSpec(
                name=cluster.name,
                node_count=int(op.params.get("nodes", cluster.node_count)),
                version=str(op.params.get("version", cluster.version)),
                machine_type=op.params.get("machine_type"),
                request_id=op.idempotency_key,
            )
            handle = self._call(op, lambda: provider.start_create(spec))
            # The handle is saved before anything else: a crash from here on resumes by polling it.
            self._save(op, step="creating", progress=1, provider_state=handle)
        progress = self._poll_until_done(op, provider, handle, cluster)
        ref = progress.cluster_ref or cluster.provider_ref
        if ref is None:
            raise PermanentProviderError("the provider finished without naming the cluster")
        kubeconfig = self._call(op, lambda: provider.kubeconfig(ref))
        described = self._call(op, lambda: provider.describe(ref))
        with self._sessions() as session:
            current = repo.get_cluster_by_id(session, cluster_id=cluster.id)
            if current is None or current.state != ClusterState.PROVISIONING:
                # Deleted (or failed) while we were creating: leave it to the delete operation.
                session.rollback()
                self._finish(op, messages.operation_succeeded(op.kind, cluster.name))
                return
            repo.save_kubeconfig(session, current, crypto=self._crypto, kubeconfig=kubeconfig)
            current.endpoint = described.endpoint
            current.version = described.version
            current.node_count = described.node_count
            current.provider_ref = ref
            repo.set_cluster_state(session, current, ClusterState.READY, now=self._now())
            session.add(current)
            session.commit()
        self._finish(
            op, messages.operation_succeeded(op.kind, cluster.name), buttons=cluster_buttons(cluster.name)
        )

    def _delete(self, op: Operation, cluster: Cluster) -> None:
        if cluster.state == ClusterState.DELETED:
            self._finish(op, messages.operation_succeeded(op.kind, cluster.name))
            return
        handle = op.provider_state
        if cluster.state != ClusterState.DELETING:
            self._transition(cluster, ClusterState.DELETING)
        if not handle and cluster.provider_ref:
            provider = self._profiles.provider(cluster.provider_profile)
            try:
                handle = self._call(op, lambda: provider.start_delete(cluster.provider_ref))
            except ClusterNotFound:
                handle = {"op": "gone"}
            self._save(op, step="deleting", progress=1, provider_state=handle)
        if handle and handle.get("op") != "gone":
            provider = self._profiles.provider(cluster.provider_profile)
            with contextlib.suppress(ClusterNotFound):
                self._poll_until_done(op, provider, handle, cluster)
        self._transition(cluster, ClusterState.DELETED, kubeconfig_encrypted=None, deleted_at=self._now())
        self._finish(op, messages.operation_succeeded(op.kind, cluster.name))

    def _register(self, op: Operation, cluster: Cluster) -> None:
        provider = self._profiles.provider(cluster.provider_profile)
        kubeconfig = repo.read_kubeconfig(cluster, crypto=self._crypto)
        if kubeconfig is None:
            raise PermanentProviderError("the kubeconfig to register is missing")
        if cluster.state == ClusterState.REQUESTED:
            self._transition(cluster, ClusterState.PROVISIONING)
        self._save(op, step="verifying the cluster answers", progress=10)
        described = self._call(op, lambda: provider.verify(kubeconfig))
        self._transition(
            cluster,
            ClusterState.READY,
            endpoint=described.endpoint,
            version=described.version,
            node_count=described.node_count,
            provider_ref=described.ref,
        )
        self._finish(
            op, messages.operation_succeeded(op.kind, cluster.name), buttons=cluster_buttons(cluster.name)
        )
