"""Scheduler: binds pending pods to nodes, honouring cordons, taints, node selectors/affinity and resources.

Filters run in the default scheduler's order (NodeUnschedulable, TaintToleration, NodeAffinity,
NodeResourcesFit) and a node fails on the first filter that rejects it. A pod no node accepts gets
`PodScheduled=False/Unschedulable` with the scheduler's own message, e.g.::

    0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 2 Insufficient cpu.
    preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling,
    2 No preemption victims found for incoming pod.

(one line). Among the nodes that fit, the least allocated one (by requests, counting 100m/200Mi for
containers without requests, as the real scorer does) wins; ties go to the node with fewer pods, then
the name.
"""

from __future__ import annotations

import copy
from collections import Counter, defaultdict
from decimal import Decimal
from typing import TYPE_CHECKING

from providers.sandbox.controllers import common as c
from providers.sandbox.machines import quantity_or_zero
from providers.sandbox.store import parse_time, rfc3339

if TYPE_CHECKING:
    from providers.sandbox.controllers import ControllerContext

NAME = "scheduler"
INPUTS = {c.POD.key, c.NODE.key}

SCHEDULER_NAME = "default-scheduler"
NON_ZERO_CPU = Decimal("0.1")
NON_ZERO_MEMORY = Decimal(200 * 2**20)
_FIXED = ("cpu", "memory", "ephemeral-storage")

UNSCHEDULABLE_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
NO_NODES = "no nodes available to schedule pods"
NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"


class _Node:
    """A node and what is already placed on it."""

    def __init__(self, node: dict):
        self.node = node
        self.name = c.name_of(node)
        alloc = c.status_of(node).get("allocatable") or c.status_of(node).get("capacity") or {}
        self.allocatable = {k: quantity_or_zero(v) for k, v in alloc.items()}
        self.max_pods = int(self.allocatable.get("pods", Decimal(110)))
        self.requested: dict[str, Decimal] = defaultdict(Decimal)
        self.non_zero = {"cpu": Decimal(0), "memory": Decimal(0)}
        self.pods = 0

    def add(self, requests: dict[str, Decimal]) -> None:
        self.pods += 1
        for k, v in requests.items():
            self.requested[k] += v
        self.non_zero["cpu"] += requests.get("cpu") or NON_ZERO_CPU
        self.non_zero["memory"] += requests.get("memory") or NON_ZERO_MEMORY

    def score(self, requests: dict[str, Decimal]) -> tuple:
        fractions = []
        for k, default in (("cpu", NON_ZERO_CPU), ("memory", NON_ZERO_MEMORY)):
            total = self.allocatable.get(k) or Decimal(0)
            used = self.non_zero[k] + (requests.get(k) or default)
            fractions.append(used / total if total else Decimal(1))
        return (sum(fractions) / 2, self.pods, self.name)


def _effective_taints(node: dict) -> list[dict]:
    """The node's taints, plus the not-ready taint a NotReady node is about to get (so no pod slips in)."""
    taints = c.node_taints(node)
    if not c.node_ready(node) and not any(t.get("key") == "node.kubernetes.io/not-ready" for t in taints):
        taints = [*taints, {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]
    return taints


def _filter(spec: dict, requests: dict[str, Decimal], n: _Node) -> tuple[list[str], bool]:
    """Why `n` rejects the pod (empty when it fits), and whether preemption could help."""
    node = n.node
    tolerations = spec.get("tolerations")
    if (
        c.spec_of(node).get("unschedulable")
        and c.matching_toleration(tolerations, UNSCHEDULABLE_TAINT) is None
    ):
        return ["node(s) were unschedulable"], False
    taint = c.untolerated_taint(tolerations, _effective_taints(node), ("NoSchedule", "NoExecute"))
    if taint is not None:
        return [f"node(s) had untolerated taint {{{taint.get('key', '')}: {taint.get('value', '')}}}"], False
    if not c.node_affinity_matches(spec, node):
        return ["node(s) didn't match Pod's node affinity/selector"], False
    reasons = []
    if n.pods + 1 > n.max_pods:
        reasons.append("Too many pods")
    for name, value in sorted(requests.items()):
        if value <= 0 or name == "pods":
            continue
        if (
            name not in _FIXED
            and name not in n.allocatable
            and "/" not in name
            and not name.startswith("hugepages-")
        ):
            continue  # not a resource the scheduler accounts for
        free = n.allocatable.get(name, Decimal(0)) - n.requested.get(name, Decimal(0))
        if value > free:
            reasons.append(f"Insufficient {name}")
    return reasons, True


def _histogram(reasons: Counter[str]) -> str:
    return ", ".join(sorted(f"{count} {reason}" for reason, count in reasons.items()))


def unschedulable_message(
    spec: dict, node_count: int, filter_reasons: Counter[str], preemption: Counter[str]
) -> str:
    if node_count == 0:
        return NO_NODES
    message = f"0/{node_count} nodes are available: {_histogram(filter_reasons)}."
    if spec.get("preemptionPolicy") == "Never":
        return f"{message} preemption: not eligible due to preemptionPolicy=Never."
    return f"{message} preemption: 0/{node_count} nodes are available: {_histogram(preemption)}."


def _pending(pod: dict) -> bool:
    spec = c.spec_of(pod)
    return (
        not spec.get("nodeName")
        and c.pod_active(pod)
        and (spec.get("schedulerName") or SCHEDULER_NAME) == SCHEDULER_NAME
        and not spec.get("schedulingGates")
    )


def _queue_key(pod: dict) -> tuple:
    return (
        -c.int_field(c.spec_of(pod).get("priority")),
        parse_time(c.meta(pod).get("creationTimestamp")) or 0.0,
        c.ns_of(pod),
        c.name_of(pod),
    )


def run(ctx: ControllerContext) -> None:
    store = ctx.store
    pods = store.list(c.POD.key)
    pending = sorted((p for p in pods if _pending(p)), key=_queue_key)
    if not pending:
        return
    nodes = {c.name_of(n): _Node(n) for n in store.list(c.NODE.key)}
    for pod in pods:
        node_name = c.spec_of(pod).get("nodeName")
        if node_name in nodes and c.pod_phase(pod) not in c.TERMINAL:
            nodes[node_name].add(c.pod_requests(c.spec_of(pod)))
    stamp = rfc3339(ctx.now())
    ordered = sorted(nodes.values(), key=lambda n: n.name)
    for pod in pending:
        spec = c.spec_of(pod)
        requests = c.pod_requests(spec)
        feasible = []
        reasons: Counter[str] = Counter()
        preemption: Counter[str] = Counter()
        for n in ordered:
            why, resolvable = _filter(spec, requests, n)
            if not why:
                feasible.append(n)
                continue
            reasons.update(why)
            preemption[NO_VICTIMS if resolvable else NOT_HELPFUL] += 1
        if feasible:
            best = min(feasible, key=lambda n: n.score(requests))
            _bind(ctx, pod, best.name, stamp)
            best.add(requests)
        else:
            _unschedulable(ctx, pod, unschedulable_message(spec, len(ordered), reasons, preemption), stamp)


def _bind(ctx: ControllerContext, pod: dict, node: str, stamp: str) -> None:
    new = copy.deepcopy(pod)
    new["spec"]["nodeName"] = node
    status = new.setdefault("status", {})
    status.setdefault("phase", "Pending")
    cond = {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": stamp}
    status["conditions"] = c.put_condition(
        [x for x in status.get("conditions") or [] if isinstance(x, dict)], cond
    )
    # A fresh binding always stamps the transition (the pod may have been Unschedulable before).
    for x in status["conditions"]:
        if x.get("type") == "PodScheduled":
            x["lastTransitionTime"] = stamp
    ctx.store.replace(c.POD, new)


def _unschedulable(ctx: ControllerContext, pod: dict, message: str, stamp: str) -> None:
    current = c.condition(pod, "PodScheduled")
    if current and current.get("status") == "False" and current.get("message") == message:
        return
    new = copy.deepcopy(pod)
    status = new.setdefault("status", {})
    status["phase"] = "Pending"
    cond = {
        "type": "PodScheduled",
        "status": "False",
        "lastProbeTime": None,
        "lastTransitionTime": stamp,
        "reason": "Unschedulable",
        "message": message,
    }
    status["conditions"] = c.put_condition(
        [x for x in status.get("conditions") or [] if isinstance(x, dict)], cond
    )
    ctx.store.replace(c.POD, new)
