"""Is a deployed set of objects ready yet, and if not, why: the workloads' status and their pods' reasons.

Readiness follows what `kubectl rollout status` checks for each workload kind. Pod reasons are those a
person acts on: Unschedulable with the scheduler's message, image pull failures and crash loops. Some
reasons cannot fix themselves and end the wait early (`fatal`); the rest are reported when time runs out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from providers.kube.apply import ObjectRef
from providers.kube.client import KubeClient

WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "Pod"})
FATAL_REASONS = frozenset(
    {
        "ImagePullBackOff",
        "CrashLoopBackOff",
        "InvalidImageName",
        "ErrImageNeverPull",
        "CreateContainerConfigError",
    }
)
REPORTED_REASONS = FATAL_REASONS | {"ErrImagePull", "CreateContainerError", "RunContainerError"}
MAX_REASONS = 20


@dataclass(frozen=True)
class RolloutState:
    """Where a rollout stands: `waiting` names unready workloads, `problems` the pod reasons seen."""

    ready: bool
    waiting: tuple[str, ...]
    problems: tuple[str, ...]
    fatal: bool

    def describe(self) -> str:
        parts = list(self.waiting) + list(self.problems)
        return "; ".join(parts) if parts else "all objects are ready"


def _int(value: object, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def workload_progress(obj: dict) -> str | None:
    """None when the workload is rolled out; otherwise what it is waiting for, in kubectl's words."""
    kind = obj.get("kind")
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    name = f"{kind} {meta.get('name')}"
    if _int(status.get("observedGeneration"), -1) < _int(meta.get("generation"), 0) and kind != "Pod":
        return f"{name}: waiting for the controller to see the new spec"
    if kind in ("Deployment", "ReplicaSet", "StatefulSet"):
        want = _int(spec.get("replicas"), 1)
        ready = _int(status.get("readyReplicas"))
        updated = _int(status.get("updatedReplicas"), want if kind == "ReplicaSet" else 0)
        available = _int(status.get("availableReplicas"), ready)
        total = _int(status.get("replicas"))
        if updated < want:
            return f"{name}: {updated} of {want} replicas updated"
        if kind == "Deployment" and total > updated:
            return f"{name}: {total - updated} old replicas are pending termination"
        if min(ready, available) < want:
            return f"{name}: {min(ready, available)} of {want} replicas ready"
        return None
    if kind == "DaemonSet":
        want = _int(status.get("desiredNumberScheduled"))
        updated = _int(status.get("updatedNumberScheduled"))
        ready = _int(status.get("numberReady"))
        if updated < want:
            return f"{name}: {updated} of {want} pods updated"
        if ready < want:
            return f"{name}: {ready} of {want} pods ready"
        return None
    if kind == "Job":
        conditions = {c.get("type"): c for c in status.get("conditions") or []}
        if (conditions.get("Failed") or {}).get("status") == "True":
            return (
                f"{name}: failed: {conditions['Failed'].get('message') or conditions['Failed'].get('reason')}"
            )
        if (conditions.get("Complete") or {}).get("status") == "True":
            return None
        want = _int(spec.get("completions"), 1)
        return f"{name}: {_int(status.get('succeeded'))} of {want} completions"
    if kind == "Pod":
        conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        if status.get("phase") == "Succeeded" or conditions.get("Ready") == "True":
            return None
        return f"{name}: not ready ({status.get('phase', 'Pending')})"
    return None


def job_failed(obj: dict) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return obj.get("kind") == "Job" and any(
        c.get("type") == "Failed" and c.get("status") == "True" for c in conditions
    )


def pod_problems(pod: dict) -> list[tuple[str, bool]]:
    """(text, fatal) for each reason this pod is not running as it should."""
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    name = meta.get("name", "?")
    found: list[tuple[str, bool]] = []
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            reason = condition.get("reason") or "Unschedulable"
            found.append((f"pod {name}: {reason}: {condition.get('message', '')}".rstrip(": "), False))
    statuses = (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or [])
    for container in statuses:
        waiting = (container.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        if reason in REPORTED_REASONS:
            message = waiting.get("message") or ""
            if reason == "CrashLoopBackOff":
                last = ((container.get("lastState") or {}).get("terminated")) or {}
                restarts = _int(container.get("restartCount"))
                message = f"exit code {last.get('exitCode', '?')}, restarted {restarts} times"
            text = f"pod {name} container {container.get('name')}: {reason}"
            found.append((f"{text}: {message}" if message else text, reason in FATAL_REASONS))
    return found


def _selector(obj: dict) -> str | None:
    if obj.get("kind") == "Pod":
        return None
    labels = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    if obj.get("kind") == "Job" and not labels:
        uid = (obj.get("metadata") or {}).get("uid")
        return f"controller-uid={uid}" if uid else None
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or None


def check_rollout(client: KubeClient, refs: Iterable[ObjectRef]) -> RolloutState:
    """Read each workload among `refs` and, for those not ready, the reasons their pods give."""
    waiting: list[str] = []
    problems: list[str] = []
    fatal = False
    pod_resource = client.resource_for("v1", "Pod")
    for ref in refs:
        if ref.kind not in WORKLOAD_KINDS:
            continue
        obj = client.get(client.resource_for(ref.api_version, ref.kind), ref.name, ref.namespace)
        if obj is None:
            waiting.append(f"{ref}: not found")
            continue
        progress = workload_progress(obj)
        if progress is None:
            continue
        waiting.append(progress)
        fatal = fatal or job_failed(obj)
        if ref.kind == "Pod":
            pods = [obj]
        else:
            selector = _selector(obj)
            pods = list(client.list(pod_resource, ref.namespace, label_selector=selector)) if selector else []
        for pod in pods:
            for text, is_fatal in pod_problems(pod):
                if text not in problems and len(problems) < MAX_REASONS:
                    problems.append(text)
                fatal = fatal or is_fatal
    return RolloutState(ready=not waiting, waiting=tuple(waiting), problems=tuple(problems), fatal=fatal)
