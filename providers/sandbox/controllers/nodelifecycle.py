"""Node lifecycle: taints for NotReady and cordoned nodes, pod eviction after a grace period, orphan pod GC.

A node whose Ready condition is False or Unknown gets `node.kubernetes.io/not-ready` with effects NoSchedule
and NoExecute. (A real cluster uses `node.kubernetes.io/unreachable` for Unknown; the sandbox's control API
reports a stopped kubelet as Unknown but callers expect the not-ready key, so both states use it.) Its pods
are marked not Ready at once, and once `node_eviction_seconds` have passed since the condition's
lastTransitionTime the pods that do not tolerate the taint for longer are deleted, for their controllers to
recreate elsewhere. A toleration without `tolerationSeconds` keeps a pod forever (DaemonSet pods); an explicit
`tolerationSeconds` other than the API's default 300 replaces the grace period.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from typing import TYPE_CHECKING

from providers.sandbox import defaults
from providers.sandbox.controllers import common as c
from providers.sandbox.machines import node_conditions
from providers.sandbox.store import parse_time, rfc3339

if TYPE_CHECKING:
    from providers.sandbox.controllers import ControllerContext

NAME = "nodelifecycle"
INPUTS = {c.NODE.key, c.POD.key}

NOT_READY = "node.kubernetes.io/not-ready"
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
_MANAGED = (NOT_READY, UNSCHEDULABLE)


def run(ctx: ControllerContext) -> None:
    store = ctx.store
    now = ctx.now()
    stamp = rfc3339(now)
    nodes = {c.name_of(n): n for n in store.list(c.NODE.key)}
    troubled: dict[str, float] = {}
    for name, node in list(nodes.items()):
        node = _fill_conditions(ctx, node, stamp)
        node = _sync_taints(ctx, node, stamp)
        nodes[name] = node
        if not c.node_ready(node):
            ready = c.condition(node, "Ready") or {}
            troubled[name] = parse_time(ready.get("lastTransitionTime")) or now
    by_node: dict[str, list[dict]] = defaultdict(list)
    for pod in store.list(c.POD.key):
        node_name = c.spec_of(pod).get("nodeName")
        if node_name:
            by_node[node_name].append(pod)
    for node_name, pods in by_node.items():
        if node_name not in nodes:
            # The pod GC: pods bound to a node that no longer exists are deleted.
            for pod in pods:
                c.remove_obj(store, c.POD, pod)
        elif node_name in troubled:
            _evict(ctx, nodes[node_name], pods, troubled[node_name], now, stamp)


def _fill_conditions(ctx: ControllerContext, node: dict, stamp: str) -> dict:
    """Nodes registered without conditions or timestamps get them (as a kubelet's first status post)."""
    conditions = c.status_of(node).get("conditions")
    if (
        isinstance(conditions, list)
        and conditions
        and all(isinstance(x, dict) and x.get("lastTransitionTime") for x in conditions)
    ):
        return node
    new = copy.deepcopy(node)
    status = new.setdefault("status", {})
    if not isinstance(status.get("conditions"), list) or not status["conditions"]:
        status["conditions"] = node_conditions(stamp, ready=True)
    for x in status["conditions"]:
        if isinstance(x, dict):
            x.setdefault("lastTransitionTime", stamp)
            x.setdefault("lastHeartbeatTime", stamp)
    return c.write(ctx.store, c.NODE, node, new)


def _sync_taints(ctx: ControllerContext, node: dict, stamp: str) -> dict:
    taints = c.node_taints(node)
    wanted: list[tuple[str, str]] = []
    if not c.node_ready(node):
        wanted += [(NOT_READY, "NoSchedule"), (NOT_READY, "NoExecute")]
    if c.spec_of(node).get("unschedulable"):
        wanted.append((UNSCHEDULABLE, "NoSchedule"))
    kept = [t for t in taints if t.get("key") not in _MANAGED or (t.get("key"), t.get("effect")) in wanted]
    have = {(t.get("key"), t.get("effect")) for t in kept}
    added = [{"key": k, "effect": e, "timeAdded": stamp} for k, e in wanted if (k, e) not in have]
    result = kept + added
    if result == taints:
        return node
    new = copy.deepcopy(node)
    if result:
        new.setdefault("spec", {})["taints"] = result
    else:
        new.setdefault("spec", {}).pop("taints", None)
    return ctx.store.replace(c.NODE, new)


def _grace(ctx: ControllerContext, pod: dict) -> float | None:
    """Seconds a pod may stay on a NotReady node; None when it tolerates the taint forever."""
    toleration = c.matching_toleration(
        c.spec_of(pod).get("tolerations"), {"key": NOT_READY, "effect": "NoExecute"}
    )
    default = ctx.settings.node_eviction_seconds
    if toleration is None:
        return default
    seconds = toleration.get("tolerationSeconds")
    if seconds is None:
        return None
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        return default
    return default if seconds == defaults.DEFAULT_TOLERATION_SECONDS else max(float(seconds), 0.0)


def _evict(
    ctx: ControllerContext, node: dict, pods: list[dict], since: float, now: float, stamp: str
) -> None:
    store = ctx.store
    for pod in pods:
        if c.deleting(pod):
            continue
        grace = _grace(ctx, pod) if c.pod_phase(pod) not in c.TERMINAL else None
        if grace is not None:
            if since + grace <= now:
                c.remove_obj(store, c.POD, pod)
                continue
            ctx.wake(NAME, since + grace)
        _mark_not_ready(ctx, pod, stamp)


def _mark_not_ready(ctx: ControllerContext, pod: dict, stamp: str) -> None:
    if c.pod_phase(pod) in c.TERMINAL or c.condition_status(pod, "Ready") != "True":
        return
    new = copy.deepcopy(pod)
    conditions = [x for x in new.get("status", {}).get("conditions") or [] if isinstance(x, dict)]
    for x in conditions:
        if x.get("type") == "Ready":
            x.update(status="False", lastTransitionTime=stamp)
    new["status"]["conditions"] = conditions
    ctx.store.replace(c.POD, new)
