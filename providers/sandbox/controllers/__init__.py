"""The controllers of a sandbox cluster: what turns stored objects into a cluster that seems to run.

`reconcile(ctx)` is called by the API layer (under `store.lock`) after every write and by the sandbox's
ticker. It runs the controllers in dependency order, round after round, until a round writes nothing. A
controller runs in a round when one of the resources it reads was written since it last looked
(`store.drain_dirty()`), or when the time it asked to be woken at (`ctx.wake`) has come: pod start delays,
eviction grace periods, progress deadlines. Every controller run looks at all of its objects and only writes
what differs, so repeated runs are no-ops and a reconcile always reaches a fixpoint.

All writes of one reconcile are committed to the state database as one transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType

from providers.sandbox.controllers import (
    crd,
    daemonset,
    deployment,
    endpoints,
    garbagecollector,
    job,
    kubelet,
    namespace,
    nodelifecycle,
    replicaset,
    scheduler,
    statefulset,
)
from providers.sandbox.controllers.common import minor_version
from providers.sandbox.store import ClusterStore

log = logging.getLogger(__name__)

MAX_ROUNDS = 50

ANY = frozenset({"*"})
"""Input set of a controller that must look whenever anything at all was written."""


@dataclass
class ControllerSettings:
    node_eviction_seconds: float = 40.0
    """How long a node may be NotReady before its pods are evicted (Kubernetes' default: 300 s)."""
    pod_start_seconds: float = 0.0
    """How long after it is bound a pod becomes Running/Ready; also how long a run-to-completion pod runs."""
    strict: bool = False
    """Re-raise a controller's exception after the reconcile instead of only logging it (tests)."""


@dataclass
class ControllerContext:
    store: ClusterStore
    settings: ControllerSettings
    kubernetes_version: str
    """The control plane's gitVersion, e.g. ``v1.32.5``."""
    ca_pem: str = ""
    """The cluster CA published in every namespace's `kube-root-ca.crt` ConfigMap."""
    wakeups: dict[str, float] = field(default_factory=dict, repr=False)
    primed: bool = field(default=False, repr=False)
    """False until the first reconcile, which runs every controller (e.g. after a restart)."""
    scratch: dict = field(default_factory=dict, repr=False)
    """In-memory state controllers keep between runs (lost on restart, so only ever a refinement)."""

    def now(self) -> float:
        return self.store.clock()

    def wake(self, controller: str, at: float) -> None:
        """Ask for `controller` to run again at time `at` even if none of its inputs change."""
        current = self.wakeups.get(controller)
        if current is None or at < current:
            self.wakeups[controller] = at

    def at_least(self, major: int, minor: int) -> bool:
        return minor_version(self.kubernetes_version) >= (major, minor)


@dataclass(frozen=True)
class Controller:
    name: str
    inputs: frozenset[str]
    run: Callable[[ControllerContext], None]


def _controller(module: ModuleType) -> Controller:
    return Controller(module.NAME, frozenset(module.INPUTS), module.run)


CONTROLLERS: tuple[Controller, ...] = tuple(
    _controller(m)
    for m in (
        crd,
        namespace,
        nodelifecycle,
        deployment,
        replicaset,
        statefulset,
        daemonset,
        job,
        scheduler,
        kubelet,
        endpoints,
        garbagecollector,
    )
)


def _wanted(c: Controller, dirty: set[str], due: set[str], everything: bool) -> bool:
    if everything or c.name in due:
        return True
    if not dirty:
        return False
    return c.inputs is ANY or "*" in c.inputs or not c.inputs.isdisjoint(dirty)


def reconcile(ctx: ControllerContext) -> None:
    """Run the controllers until nothing changes (at most MAX_ROUNDS rounds)."""
    store = ctx.store
    failures: list[BaseException] = []
    with store.lock, store.db.transaction():
        everything = not ctx.primed
        ctx.primed = True
        now = ctx.now()
        dirty = store.drain_dirty()
        for _ in range(MAX_ROUNDS):
            due = {name for name, at in ctx.wakeups.items() if at <= now}
            for c in CONTROLLERS:
                if not _wanted(c, dirty, due, everything):
                    continue
                ctx.wakeups.pop(c.name, None)
                try:
                    c.run(ctx)
                except Exception as e:  # one broken controller must not stop the others
                    log.exception("sandbox controller %s failed", c.name)
                    failures.append(e)
            everything = False
            dirty = store.drain_dirty()
            if not dirty and not any(at <= now for at in ctx.wakeups.values()):
                break
        else:
            # Not settled: leave the rest for the next call (the ticker comes back soon).
            store.dirty |= dirty
            log.warning("sandbox controllers did not settle in %d rounds", MAX_ROUNDS)
    if failures and ctx.settings.strict:
        raise failures[0]
