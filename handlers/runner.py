"""The operations runner: mechanism only. It claims operations, keeps their leases, dispatches their steps,
retries, gives up, cancels and reports; what an operation *does* is its kind's `Work`.

Guarantees (the database enforces them, see `storage.leases`):
- exactly one copy of a step runs: a keeper renews every held lease at a third of its length however long a
  step takes, a runner never claims what it already runs, and every write is fenced by the lease owner;
- a runner holds at most `capacity` operations; between polls an operation waits in a timer queue, not on a
  thread, so a few workers keep hundreds of slow cloud operations moving;
- an operation whose runner died `max_crashes` times is failed, not retried forever;
- one operation holds a cluster at a time; later ones wait their turn in the database.

The two background loops (dispatcher and keeper) only call `claim`, `due_steps`, `run_step` and `keep_leases`,
which tests call directly on a fake clock.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import heapq
import itertools
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Protocol

from sqlmodel import Session

from handlers import messages, observe
from handlers.actors import SLACK_AUDIENCE
from handlers.clock import SYSTEM_CLOCK, Clock
from handlers.observe import NullObserver, Observer
from handlers.replies import Button, OperationUpdate
from providers.errors import PermanentProviderError, ProviderError, TransientProviderError
from storage import leases, outbox, repo
from storage.errors import DecryptionError
from storage.models import Cluster, ClusterState, Operation, OperationStatus

log = logging.getLogger(__name__)

MAX_TRANSIENT_FAILURES = 20
"""Consecutive transient provider errors tolerated before an operation fails (with backoff between)."""
DEFAULT_MAX_CRASHES = 3
CANCEL_BATCH = 100


class Work(Protocol):
    """One operation kind: its steps and its own failure and cancellation policy.

    `step` advances the operation by one short, resumable step using the runner's `save`, `call`,
    `transition` and `finish`; it returns seconds until the next step, or None once finished.
    `failed` and `cancelled` run inside the transaction that ends the operation, and leave the kind's
    records (and the cluster) as the outcome warrants. `can_cancel` says whether a running operation may
    stop now; queued ones can always be cancelled, since nothing has been asked of anyone yet.
    """

    def step(self, runner: OperationRunner, op: Operation, cluster: Cluster) -> float | None: ...

    def failed(self, session: Session, op: Operation, cluster: Cluster, error: str) -> None: ...

    def cancelled(self, session: Session, op: Operation, cluster: Cluster) -> None: ...

    def can_cancel(self, op: Operation) -> bool: ...


class BaseWork:
    """Defaults for a `Work`: an ending changes nothing else, and a running operation is not interruptible."""

    def failed(self, session: Session, op: Operation, cluster: Cluster, error: str) -> None:
        """Nothing to tidy."""

    def cancelled(self, session: Session, op: Operation, cluster: Cluster) -> None:
        """Nothing to tidy."""

    def can_cancel(self, op: Operation) -> bool:
        return False


class LeaseLost(Exception):
    """Another runner owns the operation now (or it ended); this runner must stop touching it."""


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class OperationRunner:
    """Claims durable operations and drives them in short steps on a bounded thread pool."""

    def __init__(
        self,
        *,
        sessions: Callable[[], Session],
        works: Mapping[str, Work] | None = None,
        owner: str | None = None,
        workers: int = 8,
        capacity: int = 500,
        lease_seconds: float = 30.0,
        poll_seconds: float = 1.0,
        max_crashes: int = DEFAULT_MAX_CRASHES,
        clock: Clock = SYSTEM_CLOCK,
        observer: Observer | None = None,
    ):
        if lease_seconds <= 0 or capacity < 1 or workers < 1 or max_crashes < 1:
            raise ValueError("lease_seconds, capacity, workers and max_crashes must be positive")
        self._sessions = sessions
        self._works: dict[str, Work] = dict(works or {})
        self.on_outbox: Callable[[], None] = lambda: None
        """Called after every commit that wrote to the outbox (the composition root wakes the senders)."""
        self.owner = owner or default_owner()
        self._workers = workers
        self._capacity = capacity
        self._lease = lease_seconds
        self._poll = poll_seconds
        self._max_crashes = max_crashes
        self._clock = clock
        self._observer = observer or NullObserver()
        # op id -> when its next step is due (monotonic), or None while a step of it runs.
        self._held: dict[int, float | None] = {}
        self._due: list[tuple[float, int, int]] = []
        self._order = itertools.count()
        self._failures: dict[int, int] = {}
        self._kinds: dict[int, str] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._pool: ThreadPoolExecutor | None = None
        self._beats: dict[str, float] = {}

    # -- lifecycle -----------------------------------------------------------------------------------

    def add_work(self, kind: str, work: Work) -> None:
        """Teach the runner an operation kind (called while wiring the core, before `start`)."""
        self._works[kind] = work

    def start(self) -> OperationRunner:
        """Start the dispatcher and the lease keeper."""
        if self._threads:
            return self
        self._stop.clear()
        self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="kaas-op")
        for name, loop in (("dispatcher", self._dispatch_loop), ("keeper", self._keeper_loop)):
            thread = threading.Thread(target=loop, name=f"kaas-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop claiming, finish the steps under way, and release every lease so others resume at once."""
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads = []
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        with self._lock:
            held, self._held, self._due = list(self._held), {}, []
        try:
            with self._sessions() as session:
                leases.release_operations(session, owner=self.owner, op_ids=held)
        except Exception:  # best effort: an unreleased lease just lapses, and counts as a crash
            log.exception("releasing operations %s failed", held)

    def wake(self) -> None:
        """Look for new work now instead of at the next poll."""
        self._wake.set()

    def busy(self) -> bool:
        """Whether any operation is still queued or running anywhere (the shell waits on this at EOF)."""
        with self._sessions() as session:
            return repo.count_unfinished(session) > 0

    def can_cancel(self, op: Operation) -> bool:
        """Whether a running `op` stops at its next step when cancelled (its kind says)."""
        work = self._works.get(op.kind)
        return work is not None and work.can_cancel(op)

    def held(self) -> set[int]:
        """The operations this runner holds now."""
        with self._lock:
            return set(self._held)

    def heartbeats(self) -> dict[str, float]:
        """Seconds since each background loop last went round (for `/healthz`)."""
        now = self._clock.monotonic()
        with self._lock:
            return {name: now - beat for name, beat in self._beats.items()}

    # -- the ticks the loops run -----------------------------------------------------------------------

    def claim(self) -> list[int]:
        """End cancelled queued operations, then claim up to free capacity; claimed ones are due at once."""
        self.sweep_cancelled()
        with self._lock:
            free = self._capacity - len(self._held)
        if free <= 0:
            return []
        with self._sessions() as session:
            claimed = leases.claim_operations(
                session, owner=self.owner, lease_seconds=self._lease, now=self._clock.now(), limit=free
            )
        ids = [op.id for op in claimed if op.id is not None]
        for op_id in ids:
            self._schedule(op_id, 0.0)
        return ids

    def keep_leases(self) -> set[int]:
        """Renew the lease of every held operation; forget (and return) those this runner lost."""
        held = self.held()
        if not held:
            return set()
        with self._sessions() as session:
            kept = leases.renew_leases(
                session, owner=self.owner, op_ids=held, lease_seconds=self._lease, now=self._clock.now()
            )
        lost = held - kept
        for op_id in lost:
            log.warning("operation %s is no longer ours; dropping it", op_id)
            self._forget(op_id)
        return lost

    def due_steps(self) -> list[int]:
        """Operations whose next step is due now; each is marked as stepping until `run_step` returns."""
        now = self._clock.monotonic()
        ready = []
        with self._lock:
            while self._due and self._due[0][0] <= now:
                due, _, op_id = heapq.heappop(self._due)
                if self._held.get(op_id, -1.0) == due:
                    self._held[op_id] = None
                    ready.append(op_id)
        return ready

    def run_step(self, op_id: int) -> None:
        """Run one step of a held operation; every outcome is handled here, nothing propagates."""
        delay: float | None = None
        context = observe.operation_id.set(op_id)
        started = time.perf_counter()
        try:
            delay = self.step(op_id)
            self._failures.pop(op_id, None)
        except LeaseLost:
            log.info("operation %s is now run by another runner", op_id)
        except TransientProviderError as e:
            self._provider_error(op_id, "transient")
            delay = self._retry_later(op_id, e)
        except PermanentProviderError as e:
            self._provider_error(op_id, "permanent")
            self._fail_quietly(op_id, e.message)
        except DecryptionError as e:  # kaas's own key is wrong: say so, never "internal error"
            self._fail_quietly(op_id, str(e))
        except Exception:
            reference = uuid.uuid4().hex[:10]
            log.exception("operation %s crashed (reference %s)", op_id, reference)
            self._fail_quietly(op_id, messages.internal_error(reference))
        finally:
            observe.operation_id.reset(context)
            self._observer.step_finished(self._kind_of(op_id), time.perf_counter() - started)
        if delay is None or self._stop.is_set():
            self._forget(op_id)
        else:
            self._schedule(op_id, delay)

    def run_pending(self) -> int:
        """Claim, then run every due step once, in this thread; how many steps ran (for tests)."""
        self.claim()
        ready = self.due_steps()
        for op_id in ready:
            self.run_step(op_id)
        return len(ready)

    def sweep_cancelled(self) -> None:
        """Cancel queued operations someone cancelled, each with its kind's policy, and report them."""
        ended: list[Operation] = []
        with self._sessions() as session:
            if not leases.any_cancelled_waiting(session):
                return  # the common case, answered without taking a write lock
            try:
                for op in leases.lock_cancelled_waiting(session, limit=CANCEL_BATCH):
                    cluster = repo.get_cluster_by_id(session, cluster_id=op.cluster_id)
                    work = self._works.get(op.kind)
                    if work is not None and cluster is not None:
                        work.cancelled(session, op, cluster)
                    leases.mark_cancelled(session, op_id=op.id or 0, now=self._clock.now())
                    self._report_cancelled(session, op)
                    ended.append(op)
                session.commit()
            except BaseException:
                session.rollback()
                raise
        if ended:
            self.on_outbox()
        for op in ended:
            self._observer.operation_ended(op.kind, OperationStatus.CANCELLED)

    # -- one step ------------------------------------------------------------------------------------

    def step(self, op_id: int) -> float | None:
        """Advance one held operation by one step; seconds until its next step, or None when it ended."""
        with self._sessions() as session:
            op = repo.get_operation(session, op_id=op_id)
            cluster = repo.get_cluster_by_id(session, cluster_id=op.cluster_id) if op else None
        if op is None or cluster is None:
            return None
        if op.status != OperationStatus.RUNNING or op.lease_owner != self.owner:
            return None
        self._kinds[op_id] = op.kind
        work = self._works.get(op.kind)
        if work is None:
            raise PermanentProviderError(f"unknown operation kind {op.kind!r}")
        if op.crashes >= self._max_crashes:
            self.fail(op, messages.gave_up_after_crashes(op.crashes, op.kind, op.step))
            return None
        if op.cancel_requested and work.can_cancel(op):
            self._cancel_running(op, cluster, work)
            return None
        return work.step(self, op, cluster)

    # -- what works call -----------------------------------------------------------------------------

    @property
    def sessions(self) -> Callable[[], Session]:
        return self._sessions

    @property
    def poll_seconds(self) -> float:
        return self._poll

    def now(self) -> dt.datetime:
        return self._clock.now()

    def call(self, fn: Callable[[], object]):
        """Call the provider; anything but our own error types is an adapter bug, not a success."""
        try:
            return fn()
        except ProviderError:
            raise
        except Exception as e:
            raise PermanentProviderError(f"provider call failed unexpectedly: {type(e).__name__}") from e

    @contextmanager
    def transaction(self, op: Operation) -> Iterator[Session]:
        """A session whose writes commit only if this runner still runs `op`; LeaseLost otherwise."""
        with self._sessions() as session:
            try:
                if not leases.fence(session, op_id=op.id or 0, owner=self.owner, now=self._clock.now()):
                    raise LeaseLost()
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def save(
        self,
        op: Operation,
        *,
        step: str,
        progress: int,
        provider_state: dict | None = None,
        release_cluster: bool = False,
    ) -> None:
        """Persist progress (and the provider handle) if this runner still runs `op`; publish it.

        `release_cluster` lets the cluster's next operation start while `op` goes on (it will change
        nothing more: a deploy following its rollout).
        """
        if step == op.step and progress == op.progress and provider_state is None and not release_cluster:
            return
        with self._sessions() as session:
            try:
                if not leases.save_progress(
                    session,
                    op_id=op.id or 0,
                    owner=self.owner,
                    step=step,
                    progress=progress,
                    provider_state=provider_state,
                    release_cluster=release_cluster,
                    now=self._clock.now(),
                    commit=False,
                ):
                    raise LeaseLost()
                self._report(session, op, op.status, step, progress, self._accepted_text(session, op))
                session.commit()
            except BaseException:
                session.rollback()
                raise
        self.on_outbox()
        op.step, op.progress = step, progress
        if provider_state is not None:
            op.provider_state = provider_state

    def transition(
        self, op: Operation, cluster: Cluster, state: ClusterState, *, reason: str | None = None, **fields
    ) -> None:
        """Record provider-reported `fields` and move the cluster to `state`, fenced by `op`'s lease."""
        with self.transaction(op) as session:
            if fields:
                repo.update_cluster(
                    session, cluster_id=cluster.id, values=fields, now=self._clock.now(), commit=False
                )
            current = repo.get_cluster_by_id(session, cluster_id=cluster.id)
            if current is not None and current.state != state:
                repo.set_cluster_state(
                    session, current, state, reason=reason, now=self._clock.now(), commit=False
                )
        if current is not None:
            cluster.state = current.state
        for name, value in fields.items():
            setattr(cluster, name, value)

    def finish(self, op: Operation, text: str, *, buttons: tuple[Button, ...] = ()) -> None:
        """Mark the operation succeeded and report its final message, in one transaction."""
        self._end(op, OperationStatus.SUCCEEDED, step="done", text=lambda _: text, buttons=buttons)

    def fail(self, op: Operation, error: str) -> None:
        """End `op` failed with its kind's failure policy, in one fenced transaction; report the failure."""
        work = self._works.get(op.kind)
        self._end(
            op,
            OperationStatus.FAILED,
            step="failed",
            error=error,
            text=lambda name: messages.operation_failed(op.kind, name, error, self._subject(op)),
            policy=None
            if work is None
            else lambda session, cluster: work.failed(session, op, cluster, error),
        )

    # -- internals -----------------------------------------------------------------------------------

    def _cancel_running(self, op: Operation, cluster: Cluster, work: Work) -> None:
        self._end(
            op,
            OperationStatus.CANCELLED,
            step="cancelled",
            text=lambda name: messages.operation_cancelled(op.kind, name, self._subject(op)),
            policy=lambda session, current: work.cancelled(session, op, current),
        )

    def _end(
        self,
        op: Operation,
        status: OperationStatus,
        *,
        step: str,
        text: Callable[[str], str],
        error: str | None = None,
        buttons: tuple[Button, ...] = (),
        policy: Callable[[Session, Cluster], None] | None = None,
    ) -> None:
        """End `op` with `status`: the kind's `policy` for its records and cluster, and the final message
        (`text` of the cluster's name), all in one transaction fenced by the lease."""
        with self.transaction(op) as session:
            leases.finish_operation(
                session,
                op_id=op.id or 0,
                owner=self.owner,
                status=status,
                error=error,
                now=self._clock.now(),
                commit=False,
            )
            cluster = repo.get_cluster_by_id(session, cluster_id=op.cluster_id)
            if policy is not None and cluster is not None:
                policy(session, cluster)
            progress = 100 if status == OperationStatus.SUCCEEDED else op.progress
            name = cluster.name if cluster else "?"
            self._report(session, op, status, step, progress, text(name), final=True, buttons=buttons)
        self.on_outbox()
        self._observer.operation_ended(op.kind, status)

    def _report_cancelled(self, session: Session, op: Operation) -> None:
        text = messages.operation_cancelled(op.kind, self._name(session, op), self._subject(op))
        self._report(session, op, OperationStatus.CANCELLED, "cancelled", op.progress, text, final=True)

    def _fail_quietly(self, op_id: int, error: str) -> None:
        with self._sessions() as session:
            op = repo.get_operation(session, op_id=op_id)
        if op is None:
            return
        try:
            self.fail(op, error)
        except LeaseLost:
            log.info("operation %s ended elsewhere before it could be failed", op_id)

    def _retry_later(self, op_id: int, error: TransientProviderError) -> float | None:
        failures = self._failures.get(op_id, 0) + 1
        self._failures[op_id] = failures
        if failures >= MAX_TRANSIENT_FAILURES:
            self._fail_quietly(op_id, f"{error.message} (gave up after {failures} attempts)")
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

    def _schedule(self, op_id: int, delay: float) -> None:
        due = self._clock.monotonic() + max(delay, 0.0)
        with self._lock:
            self._held[op_id] = due
            heapq.heappush(self._due, (due, next(self._order), op_id))
        if delay <= 0:
            self._wake.set()

    def _forget(self, op_id: int) -> None:
        with self._lock:
            self._held.pop(op_id, None)
        self._failures.pop(op_id, None)
        self._kinds.pop(op_id, None)

    def _kind_of(self, op_id: int) -> str:
        return self._kinds.get(op_id, "unknown")

    def _provider_error(self, op_id: int, error_class: str) -> None:
        with self._sessions() as session:
            op = repo.get_operation(session, op_id=op_id)
            cluster = repo.get_cluster_by_id(session, cluster_id=op.cluster_id) if op else None
        self._observer.provider_error(cluster.provider_kind if cluster else "unknown", error_class)

    def _beat(self, name: str) -> None:
        with self._lock:
            self._beats[name] = self._clock.monotonic()

    def _dispatch_loop(self) -> None:
        while not self._stop.is_set():
            self._beat("dispatcher")
            try:
                self.claim()
            except Exception:  # the dispatcher must outlive a database hiccup
                log.exception("claiming operations failed")
            for op_id in self.due_steps():
                if self._pool is not None:
                    self._pool.submit(self.run_step, op_id)
            self._wake.wait(self._idle_seconds())
            self._wake.clear()

    def _idle_seconds(self) -> float:
        with self._lock:
            next_due = self._due[0][0] - self._clock.monotonic() if self._due else self._poll
        return max(0.0, min(next_due, self._poll))

    def _keeper_loop(self) -> None:
        while not self._stop.wait(self._lease / 3):
            self._beat("keeper")
            try:
                self.keep_leases()
            except Exception:  # a missed renewal is retried a third of a lease later
                log.exception("renewing leases failed")

    # -- what users see ------------------------------------------------------------------------------

    @staticmethod
    def _subject(op: Operation) -> str:
        return str((op.params or {}).get("subject", ""))

    def _accepted_text(self, session: Session, op: Operation) -> str:
        return messages.operation_accepted(op.kind, self._name(session, op), self._subject(op))

    @staticmethod
    def _name(session: Session, op: Operation) -> str:
        cluster = repo.get_cluster_by_id(session, cluster_id=op.cluster_id)
        return cluster.name if cluster else "?"

    def _report(
        self,
        session: Session,
        op: Operation,
        status: str,
        step: str,
        progress: int,
        text: str,
        *,
        final: bool = False,
        buttons: tuple[Button, ...] = (),
    ) -> None:
        """Write the operation's message, in the caller's transaction (see `storage.outbox`)."""
        update = OperationUpdate(
            operation_id=op.id or 0,
            cluster_name=self._name(session, op),
            kind=op.kind,
            status=status,
            step=step,
            progress=progress,
            text=text,
            final=final,
            channel_id=op.channel_id,
            thread_ts=op.thread_ts,
            requester_id=op.requester_id,
            buttons=buttons,
        )
        outbox.publish(
            session,
            key=operation_key(op.id or 0),
            audience=SLACK_AUDIENCE,
            team_id=op.team_id,
            cluster_id=op.cluster_id,
            operation_id=op.id,
            body=dataclasses.asdict(update),
            note=None if final else step,
            final=final,
            now=self._clock.now(),
        )


def operation_key(op_id: int) -> str:
    """The outbox key of an operation's message."""
    return f"op:{op_id}"
