"""The operations runner: claims durable operations and drives providers in short, resumable steps.

Each operation is leased (`lease_owner`, `lease_expires_at`) and the lease is renewed with every progress
save. Provider work is resumable: the handle a `start_*` call returns is saved before the first poll, and a
resumed operation (after a crash, or a lease taken over by another replica) polls that handle instead of
starting again. `start_create` is idempotent per operation (its idempotency key is the request id), which
covers a crash between the provider accepting the request and the handle being saved.
"""

from __future__ import annotations

import datetime as dt
import heapq
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from sqlmodel import Session

from handlers import messages
from handlers.clusters import cluster_buttons
from handlers.profiles import ProfileRegistry
from handlers.replies import OperationUpdate
from providers.base import ClusterSpec, Progress
from providers.errors import ClusterNotFound, PermanentProviderError, ProviderError, TransientProviderError
from storage import repo
from storage.crypto import Crypto
from storage.models import (
    CLUSTER_LIFECYCLE_KINDS,
    Cluster,
    ClusterState,
    Operation,
    OperationKind,
    OperationStatus,
    utcnow,
)

log = logging.getLogger(__name__)

MAX_TRANSIENT_FAILURES = 20
"""Consecutive transient provider errors tolerated before an operation fails (with backoff between)."""


class ProgressSink(Protocol):
    """Where operation progress goes (a Slack message updated in place, a terminal line)."""

    def publish(self, update: OperationUpdate) -> None: ...


class NullSink:
    def publish(self, update: OperationUpdate) -> None:
        pass


class Work(Protocol):
    """The steps of an operation kind that works inside a cluster (deploy, backup…), not on its lifecycle.

    `step` advances the operation by one short, resumable step using the runner's `save`, `call` and
    `finish`; it returns seconds until the next step, or None once finished. `failed` tidies up the
    kind's own records when the operation fails; the cluster itself is left as it was.
    """

    def step(self, runner: OperationRunner, op: Operation, cluster: Cluster) -> float | None: ...

    def failed(self, op: Operation, error: str) -> None: ...


class LeaseLost(Exception):
    """Another runner owns the operation now; this worker must stop touching it."""


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class OperationRunner:
    """Claims queued or abandoned operations and drives them in short steps on a bounded thread pool.

    A step is one provider call or poll plus the database writes around it; between polls an operation
    waits in a timer queue, not on a thread, so a handful of workers keeps hundreds of slow cloud
    operations moving (a GKE create polls for minutes).
    """

    def __init__(
        self,
        *,
        sessions: Callable[[], Session],
        profiles: ProfileRegistry,
        crypto: Crypto,
        sink: ProgressSink | None = None,
        owner: str | None = None,
        workers: int = 8,
        max_inflight: int = 500,
        lease_seconds: float = 30.0,
        poll_seconds: float = 1.0,
        works: Mapping[str, Work] | None = None,
        now: Callable[[], dt.datetime] = utcnow,
    ):
        self._sessions = sessions
        self._profiles = profiles
        self._crypto = crypto
        self.sink = sink or NullSink()
        self.owner = owner or default_owner()
        self._workers = workers
        self._max_inflight = max_inflight
        self._lease = lease_seconds
        self._poll = poll_seconds
        self._now = now
        self._works: dict[str, Work] = dict(works or {})
        self._pool: ThreadPoolExecutor | None = None
        self._inflight: set[int] = set()
        self._due: list[tuple[float, int]] = []
        self._failures: dict[int, int] = {}
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
        """Stop claiming, finish the steps under way, and release every lease so others resume at once."""
        self._stop.set()
        self._wake.set()
        if self._dispatcher is not None:
            self._dispatcher.join(timeout=10)
            self._dispatcher = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        with self._lock:
            leftover, self._inflight, self._due = list(self._inflight), set(), []
        for op_id in leftover:
            try:
                with self._sessions() as session:
                    repo.heartbeat(session, op_id=op_id, owner=self.owner, lease_seconds=0, now=self._now())
            except Exception:  # best effort: an unreleased lease just expires
                log.exception("releasing operation %s failed", op_id)

    def add_work(self, kind: str, work: Work) -> None:
        """Teach the runner an operation kind (called while wiring the core, before `start`)."""
        self._works[kind] = work

    @property
    def sessions(self) -> Callable[[], Session]:
        return self._sessions

    @property
    def poll_seconds(self) -> float:
        return self._poll

    def now(self) -> dt.datetime:
        return self._now()

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
                self._claim()
            except Exception:  # the dispatcher must outlive a database hiccup
                log.exception("claiming operations failed")
            timeout = self._submit_due()
            self._wake.wait(timeout)
            self._wake.clear()

    def _claim(self) -> None:
        with self._lock:
            free = self._max_inflight - len(self._inflight)
        if free <= 0:
            return
        with self._sessions() as session:
            claimed = repo.claim_operations(
                session, owner=self.owner, lease_seconds=self._lease, now=self._now(), limit=free
            )
            ids = [op.id for op in claimed if op.id is not None]
        for op_id in ids:
            with self._lock:
                self._inflight.add(op_id)
            self._schedule(op_id, 0.0)

    def _schedule(self, op_id: int, delay: float) -> None:
        with self._lock:
            heapq.heappush(self._due, (time.monotonic() + delay, op_id))
        if delay <= 0:
            self._wake.set()

    def _submit_due(self) -> float:
        """Hand every due step to the pool; return how long the dispatcher may sleep."""
        now = time.monotonic()
        ready = []
        with self._lock:
            while self._due and self._due[0][0] <= now:
                ready.append(heapq.heappop(self._due)[1])
            next_due = self._due[0][0] - now if self._due else self._poll
        for op_id in ready:
            if self._pool is not None:
                self._pool.submit(self._guarded_step, op_id)
        return max(0.0, min(next_due, self._poll))

    def _guarded_step(self, op_id: int) -> None:
        delay: float | None = None
        try:
            delay = self.step(op_id)
            self._failures.pop(op_id, None)
        except LeaseLost:
            log.info("operation %s is now run by another runner", op_id)
        except TransientProviderError as e:
            delay = self._retry_later(op_id, e)
        except PermanentProviderError as e:
            self._fail(op_id, e.message)
        except Exception:
            log.exception("operation %s crashed", op_id)
            self._fail(op_id, "kaas hit an internal error; the operation was stopped")
        if delay is None or self._stop.is_set():
            with self._lock:
                self._inflight.discard(op_id)
            self._failures.pop(op_id, None)
        else:
            self._schedule(op_id, delay)

    def _retry_later(self, op_id: int, error: TransientProviderError) -> float | None:
        failures = self._failures.get(op_id, 0) + 1
        self._failures[op_id] = failures
        if failures >= MAX_TRANSIENT_FAILURES:
            self._fail(op_id, f"{error.message} (gave up after {failures} attempts)")
            return None
        log.warning("operation %s: transient provider error: %s", op_id, error.message)
        with self._sessions() as session:
            op = repo.get_operation(session, op_id=op_id)
        if op is None:
            return None
        try:
            self.save(op, step=f"retrying: {error.message}"[:200], progress=op.progress)
        except LeaseLost:
            return None
        # Exponential backoff with jitter (so many operations hitting one rate limit spread out), never
        # sooner than the provider asked.
        backoff = min(self._poll * 2**failures, 30.0) * random.uniform(0.5, 1.0)
        return max(backoff, min(error.retry_after or 0.0, 300.0))

    # -- one step ------------------------------------------------------------------------------------

    def step(self, op_id: int) -> float | None:
        """Advance one claimed operation by one step; seconds until its next step, or None when it ended."""
        with self._sessions() as session:
            op = repo.get_operation(session, op_id=op_id)
            cluster = repo.get_cluster_by_id(session, cluster_id=op.cluster_id) if op else None
        if (
            op is None
            or cluster is None
            or op.status != OperationStatus.RUNNING
            or op.lease_owner != self.owner
        ):
            return None
        if op.kind == OperationKind.CREATE:
            return self._create(op, cluster)
        if op.kind == OperationKind.DELETE:
            return self._delete(op, cluster)
        if op.kind == OperationKind.REGISTER:
            return self._register(op, cluster)
        if op.kind == OperationKind.SCALE:
            return self._scale(op, cluster)
        work = self._works.get(op.kind)
        if work is not None:
            return work.step(self, op, cluster)
        raise PermanentProviderError(f"unknown operation kind {op.kind!r}")

    def call(self, fn: Callable[[], object]):
        """Call the provider; anything but our own error types is an adapter bug, not a success."""
        try:
            return fn()
        except ProviderError:
            raise
        except Exception as e:
            raise PermanentProviderError(f"provider call failed unexpectedly: {type(e).__name__}") from e

    def save(self, op: Operation, *, step: str, progress: int, provider_state: dict | None = None) -> None:
        """Persist progress (and the provider handle) if this runner still holds the lease; publish it."""
        changed = step != op.step or progress != op.progress or provider_state is not None
        expires = op.lease_expires_at
        fresh = expires is not None and (expires - self._now()).total_seconds() > self._lease * 2 / 3
        if not changed and fresh:
            return  # nothing new to record and the lease is fresh: spare the database a write
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
            self._publish(op, op.status, step, progress, self._accepted_text(op))

    @staticmethod
    def _subject(op: Operation) -> str:
        return str((op.params or {}).get("subject", ""))

    def _accepted_text(self, op: Operation) -> str:
        return messages.operation_accepted(op.kind, self._name(op), self._subject(op))

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
        """Record provider-reported `fields` and move the cluster to `state`, in one transaction."""
        with self._sessions() as session:
            if fields:
                repo.update_cluster(
                    session, cluster_id=cluster.id, values=fields, now=self._now(), commit=False
                )
            current = repo.get_cluster_by_id(session, cluster_id=cluster.id)
            if current is not None and current.state != state:
                repo.set_cluster_state(session, current, state, reason=reason, now=self._now(), commit=False)
            session.commit()
            if current is not None:
                cluster.state = current.state

    def finish(self, op: Operation, text: str, *, buttons: tuple = ()) -> None:
        """Mark the operation succeeded and publish its final message."""
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
                commit=False,
            ):
                session.rollback()
                return
            lifecycle = op.kind in CLUSTER_LIFECYCLE_KINDS
            if (
                lifecycle
                and cluster is not None
                and cluster.state not in (ClusterState.DELETED, ClusterState.FAILED)
            ):
                repo.set_cluster_state(
                    session, cluster, ClusterState.FAILED, reason=error[:2000], now=self._now(), commit=False
                )
            session.commit()
            name = cluster.name if cluster else "?"
        work = self._works.get(op.kind)
        if work is not None:
            try:
                work.failed(op, error)
            except Exception:  # the failure is recorded; tidying up its records is best effort
                log.exception("tidying up failed operation %s", op_id)
        self._publish(
            op,
            OperationStatus.FAILED,
            "failed",
            op.progress,
            messages.operation_failed(op.kind, name, error, self._subject(op)),
            final=True,
        )

    # -- the operations ------------------------------------------------------------------------------

    def _poll_once(self, op: Operation, provider, handle: dict, cluster: Cluster) -> Progress:
        progress: Progress = self.call(lambda: provider.poll(handle))
        if progress.cluster_ref and progress.cluster_ref != cluster.provider_ref:
            self._transition(cluster, ClusterState(cluster.state), provider_ref=progress.cluster_ref)
            cluster.provider_ref = progress.cluster_ref
        self.save(op, step=progress.step[:200], progress=max(0, min(progress.percent, 100)))
        return progress

    def _create(self, op: Operation, cluster: Cluster) -> float | None:
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
            handle = self.call(lambda: provider.start_create(spec))
            # The handle is saved before anything else: a crash from here on resumes by polling it.
            self.save(op, step="creating", progress=1, provider_state=handle)
        if cluster.state != ClusterState.PROVISIONING:
            # Deleted (or failed) while being created: the delete operation takes it from here.
            self.finish(op, messages.operation_succeeded(op.kind, cluster.name))
            return None
        progress = self._poll_once(op, provider, handle, cluster)
        if not progress.done:
            return self._poll
        ref = progress.cluster_ref or cluster.provider_ref
        if ref is None:
            raise PermanentProviderError("the provider finished without naming the cluster")
        kubeconfig = self.call(lambda: provider.kubeconfig(ref))
        described = self.call(lambda: provider.describe(ref))
        with self._sessions() as session:
            current = repo.get_cluster_by_id(session, cluster_id=cluster.id)
            if current is None or current.state != ClusterState.PROVISIONING:
                session.rollback()
                self.finish(op, messages.operation_succeeded(op.kind, cluster.name))
                return None
            repo.save_kubeconfig(session, current, crypto=self._crypto, kubeconfig=kubeconfig, commit=False)
            repo.update_cluster(
                session,
                cluster_id=current.id,
                now=self._now(),
                commit=False,
                values={
                    "endpoint": described.endpoint,
                    "version": described.version,
                    "node_count": described.node_count,
                    "provider_ref": ref,
                },
            )
            repo.set_cluster_state(session, current, ClusterState.READY, now=self._now(), commit=False)
            session.commit()
        self.finish(
            op, messages.operation_succeeded(op.kind, cluster.name), buttons=cluster_buttons(cluster.name)
        )
        return None

    def _delete(self, op: Operation, cluster: Cluster) -> float | None:
        if cluster.state == ClusterState.DELETED:
            self.finish(op, messages.operation_succeeded(op.kind, cluster.name))
            return None
        if cluster.state != ClusterState.DELETING:
            self._transition(cluster, ClusterState.DELETING)
        handle = op.provider_state
        if not handle and cluster.provider_ref:
            provider = self._profiles.provider(cluster.provider_profile)
            try:
                handle = self.call(
                    lambda: provider.start_delete(cluster.provider_ref, request_id=op.idempotency_key)
                )
            except ClusterNotFound:
                handle = {"op": "gone"}
            self.save(op, step="deleting", progress=1, provider_state=handle)
        if handle and handle.get("op") != "gone":
            provider = self._profiles.provider(cluster.provider_profile)
            try:
                if not self._poll_once(op, provider, handle, cluster).done:
                    return self._poll
            except ClusterNotFound:
                pass
        self._transition(cluster, ClusterState.DELETED, kubeconfig_encrypted=None)
        self.finish(op, messages.operation_succeeded(op.kind, cluster.name))
        return None

    def _register(self, op: Operation, cluster: Cluster) -> float | None:
        provider = self._profiles.provider(cluster.provider_profile)
        kubeconfig = repo.read_kubeconfig(cluster, crypto=self._crypto)
        if kubeconfig is None:
            raise PermanentProviderError("the kubeconfig to register is missing")
        if cluster.state == ClusterState.REQUESTED:
            self._transition(cluster, ClusterState.PROVISIONING)
        self.save(op, step="verifying the cluster answers", progress=10)
        described = self.call(lambda: provider.verify(kubeconfig))
        self._transition(
            cluster,
            ClusterState.READY,
            endpoint=described.endpoint,
            version=described.version,
            node_count=described.node_count,
            provider_ref=described.ref,
        )
        self.finish(
            op, messages.operation_succeeded(op.kind, cluster.name), buttons=cluster_buttons(cluster.name)
        )
        return None

    def _scale(self, op: Operation, cluster: Cluster) -> float | None:
        if cluster.provider_ref is None:
            raise PermanentProviderError("the cluster has no provider reference to scale")
        provider = self._profiles.provider(cluster.provider_profile)
        nodes = int(op.params["nodes"])
        handle = op.provider_state
        if not handle:
            handle = self.call(
                lambda: provider.start_scale(cluster.provider_ref, nodes, request_id=op.idempotency_key)
            )
            self.save(op, step=f"scaling to {nodes} nodes", progress=1, provider_state=handle)
        if not self._poll_once(op, provider, handle, cluster).done:
            return self._poll
        described = self.call(lambda: provider.describe(cluster.provider_ref))
        self._transition(cluster, ClusterState.READY, node_count=described.node_count)
        self.finish(
            op, messages.operation_succeeded(op.kind, cluster.name), buttons=cluster_buttons(cluster.name)
        )
        return None
