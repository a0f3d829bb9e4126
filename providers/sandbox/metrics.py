"""metrics.k8s.io/v1beta1: what metrics-server would report for the sandbox's nodes and pods.

Usage is deterministic. A container uses what it requests (1m CPU and 4Mi memory when it requests nothing);
the annotation `sandbox.kaas.dev/usage: '{"cpu": "900m", "memory": "1Gi"}'` sets a pod's total instead, split
evenly over its containers. A node uses the sum of its running pods plus a fixed system overhead. Only
running pods and Ready nodes have metrics, as metrics-server only scrapes live kubelets.
"""

from __future__ import annotations

import json
from decimal import ROUND_CEILING, Decimal

from providers.sandbox import errors
from providers.sandbox.machines import parse_quantity, quantity_or_zero
from providers.sandbox.store import ClusterStore, meta, rfc3339

API_VERSION = "metrics.k8s.io/v1beta1"
USAGE_ANNOTATION = "sandbox.kaas.dev/usage"
WINDOW = "10s"
IDLE_CPU = Decimal("0.001")
IDLE_MEMORY = Decimal(4 * 2**20)
SYSTEM_CPU = Decimal("0.1")
SYSTEM_MEMORY = Decimal(500 * 2**20)


def _cpu(cores: Decimal) -> str:
    return f"{int((cores * 10**9).to_integral_value(rounding=ROUND_CEILING))}n"


def _memory(size: Decimal) -> str:
    return f"{int((size / 1024).to_integral_value(rounding=ROUND_CEILING))}Ki"


def _requests(container: dict) -> tuple[Decimal, Decimal]:
    resources = container.get("resources") if isinstance(container.get("resources"), dict) else {}
    requests = resources.get("requests") if isinstance(resources.get("requests"), dict) else {}
    limits = resources.get("limits") if isinstance(resources.get("limits"), dict) else {}
    cpu = quantity_or_zero(requests.get("cpu", limits.get("cpu")))
    memory = quantity_or_zero(requests.get("memory", limits.get("memory")))
    return (cpu if cpu > 0 else IDLE_CPU), (memory if memory > 0 else IDLE_MEMORY)


def _override(pod: dict) -> tuple[Decimal | None, Decimal | None]:
    text = (meta(pod).get("annotations") or {}).get(USAGE_ANNOTATION)
    if not isinstance(text, str):
        return None, None
    try:
        doc = json.loads(text)
    except ValueError:
        return None, None
    if not isinstance(doc, dict):
        return None, None
    out: list[Decimal | None] = []
    for key in ("cpu", "memory"):
        try:
            value = parse_quantity(doc[key]) if key in doc else None
        except ValueError:
            value = None
        out.append(value if value is None or value >= 0 else None)
    return out[0], out[1]


def container_usage(pod: dict) -> list[tuple[str, Decimal, Decimal]]:
    """(name, cpu cores, memory bytes) for each container of a pod."""
    containers = [c for c in (pod.get("spec") or {}).get("containers") or [] if isinstance(c, dict)]
    if not containers:
        return []
    usage = [(str(c.get("name", "")), *_requests(c)) for c in containers]
    cpu_total, memory_total = _override(pod)
    count = len(usage)
    return [
        (
            name,
            cpu if cpu_total is None else cpu_total / count,
            mem if memory_total is None else memory_total / count,
        )
        for name, cpu, mem in usage
    ]


def _running(pod: dict) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and not meta(pod).get("deletionTimestamp")


def _node_ready(node: dict) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (node.get("status") or {}).get("conditions") or []
        if isinstance(c, dict)
    )


def _stamp(now: float) -> str:
    return rfc3339(now)


def _pod_doc(pod: dict, now: float) -> dict:
    m = meta(pod)
    return {
        "kind": "PodMetrics",
        "apiVersion": API_VERSION,
        "metadata": {
            "name": m["name"],
            "namespace": m.get("namespace", ""),
            "creationTimestamp": _stamp(now),
            "labels": dict(m.get("labels") or {}),
        },
        "timestamp": _stamp(now),
        "window": WINDOW,
        "containers": [
            {"name": name, "usage": {"cpu": _cpu(cpu), "memory": _memory(mem)}}
            for name, cpu, mem in container_usage(pod)
        ],
    }


def _usage_by_node(pods: list[dict]) -> dict[str, tuple[Decimal, Decimal]]:
    totals: dict[str, tuple[Decimal, Decimal]] = {}
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        if not node or not _running(pod):
            continue
        cpu, memory = totals.get(node, (SYSTEM_CPU, SYSTEM_MEMORY))
        for _, c_cpu, c_mem in container_usage(pod):
            cpu += c_cpu
            memory += c_mem
        totals[node] = (cpu, memory)
    return totals


def _node_doc(node: dict, now: float, usage: dict[str, tuple[Decimal, Decimal]]) -> dict:
    name = meta(node)["name"]
    cpu, memory = usage.get(name, (SYSTEM_CPU, SYSTEM_MEMORY))
    return {
        "kind": "NodeMetrics",
        "apiVersion": API_VERSION,
        "metadata": {
            "name": name,
            "creationTimestamp": _stamp(now),
            "labels": dict(meta(node).get("labels") or {}),
        },
        "timestamp": _stamp(now),
        "window": WINDOW,
        "usage": {"cpu": _cpu(cpu), "memory": _memory(memory)},
    }


def node_metrics(store: ClusterStore, node_name: str, now: float) -> dict:
    node = store.get("nodes", "", node_name)
    if node is None or not _node_ready(node):
        raise errors.not_found("metrics.k8s.io", "nodes", node_name)
    pods = [p for p in store.list("pods") if (p.get("spec") or {}).get("nodeName") == node_name]
    return _node_doc(node, now, _usage_by_node(pods))


def list_node_metrics(store: ClusterStore, now: float) -> list[dict]:
    usage = _usage_by_node(store.list("pods"))
    return [_node_doc(n, now, usage) for n in store.list("nodes") if _node_ready(n)]


def pod_metrics(store: ClusterStore, namespace: str, name: str, now: float) -> dict:
    pod = store.get("pods", namespace, name)
    if pod is None or not _running(pod):
        raise errors.not_found("metrics.k8s.io", "pods", name)
    return _pod_doc(pod, now)


def list_pod_metrics(store: ClusterStore, namespace: str | None, now: float) -> list[dict]:
    return [_pod_doc(p, now) for p in store.list("pods", namespace) if _running(p)]
