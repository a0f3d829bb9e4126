"""The `/kaas check` report: a pure function of a cluster's state.

`assess` reads a `ClusterSnapshot` (Kubernetes objects as the API returns them, camelCase JSON) and returns a
`CheckReport`: per-node capacity and use, cluster totals, workload status, pods in trouble and plain-language
warnings. Nothing here talks to a cluster, so the same report can feed `/kaas check`, scheduled usage digests
and alerts, and is tested with synthetic objects.

The objects come from a cluster kaas doesn't control: every field is read defensively (missing, wrong type,
negative, huge) and nothing here raises on bad data. Quantities are clamped to Kubernetes' int64 range.
Everything is ordered deterministically (by name, or namespace then name), so two reports of the same state
are equal and a digest can tell what changed.

Warning sentences show names in backticks, like handlers/messages.py; the faces escape them for their medium.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal, localcontext

# --- quantities -------------------------------------------------------------------------------------------

MAX_QUANTITY = 2**63 - 1
"""Kubernetes keeps quantities in an int64; larger values are clamped, so one hostile object can't skew
sums."""

_MAX_QUANTITY_CHARS = 64
"""Real quantities are a few characters; longer strings are garbage and are not worth parsing."""

_QUANTITY = re.compile(
    r"([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(?:([KMGTPE]i|[numkMGTPE])|[eE]([+-]?[0-9]+))?"
)
_DECIMAL_SUFFIX = {"n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_SUFFIX = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_LOG10_2 = math.log10(2)


@functools.lru_cache(maxsize=4096)
def _scaled(text: str, power10: int) -> int:
    """ceil(quantity * 10**power10) clamped to [0, MAX_QUANTITY]; 0 when `text` isn't a quantity.

    Cached: a cluster repeats the same few request strings ("100m", "128Mi") thousands of times.
    """
    match = _QUANTITY.fullmatch(text.strip())
    if match is None:
        return 0
    number, suffix, exponent = match.groups()
    mantissa = Decimal(number)
    if mantissa <= 0:
        return 0  # requests and capacities are never negative; a negative one must not shrink a sum
    power10 += int(exponent) if exponent else _DECIMAL_SUFFIX.get(suffix or "", 0)
    bits = _BINARY_SUFFIX.get(suffix or "", 0)
    # Bound the magnitude before any arithmetic: "1e999999999" must not build a billion-digit number.
    magnitude = mantissa.adjusted() + power10 + bits * _LOG10_2
    if magnitude > 19:
        return MAX_QUANTITY
    if magnitude < -40:
        return 1  # any positive amount rounds up to one unit, as Kubernetes' MilliValue() and Value() do
    with localcontext() as context:
        context.prec = 120  # exact for every value that passed the bounds above
        value = mantissa.scaleb(power10) * (2**bits)
        return min(int(value.to_integral_value(rounding=ROUND_CEILING)), MAX_QUANTITY)


def _parse_quantity(value: object, power10: int) -> int:
    if isinstance(value, str):  # nearly always: the API sends quantities as strings
        return _scaled(value, power10) if len(value) <= _MAX_QUANTITY_CHARS else 0
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return min(max(value, 0) * 10**power10, MAX_QUANTITY)
    if isinstance(value, float):
        if not math.isfinite(value):
            return 0
        return _scaled(repr(value), power10)
    return 0


def parse_cpu(value: object) -> int:
    """A CPU quantity in millicores ("250m" → 250, "2" → 2000, "0.5" → 500, "100u" → 1).

    Rounded up, as Kubernetes does; every suffix (n u m k M G T P E, Ki … Ei) and exponent form ("1e3") is
    understood. Anything that isn't a quantity (garbage, negative, wrong type) is 0; this never raises.
    """
    return _parse_quantity(value, 3)


def parse_memory(value: object) -> int:
    """A memory (or any plain) quantity in bytes ("128Mi" → 134217728, "1G" → 10**9, "1e3" → 1000).

    Rounded up, as Kubernetes does; garbage, negative values and wrong types are 0; this never raises.
    """
    return _parse_quantity(value, 0)


def format_cpu(millicores: int) -> str:
    """Millicores as people write them: "250m", "2", "3.5", "0"."""
    if 0 < millicores < 1000:
        return f"{millicores}m"
    return f"{millicores / 1000:.2f}".rstrip("0").rstrip(".")


def format_memory(size: int) -> str:
    """Bytes in the largest binary unit that keeps a whole part: "512Mi", "15.6Gi", "0"."""
    for unit, bits in reversed(_BINARY_SUFFIX.items()):
        if size >= 1 << bits:
            return f"{size / (1 << bits):.1f}".removesuffix(".0") + unit
    return str(size)


def format_percent(percent: float | None) -> str:
    """A percentage as "45%", or "-" when there is nothing to compare with."""
    return "-" if percent is None else f"{percent:.0f}%"


# --- the snapshot and the report --------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ClusterSnapshot:
    """A cluster's state at one moment, as plain Kubernetes JSON objects (collected elsewhere).

    Keyword-only: the fields are many and alike (tuples of dicts), so a positional mix-up can't happen.
    """

    nodes: tuple[dict, ...]
    pods: tuple[dict, ...]
    deployments: tuple[dict, ...]
    statefulsets: tuple[dict, ...] = ()
    daemonsets: tuple[dict, ...] = ()
    node_metrics: dict[str, dict] | None = None
    """NodeMetrics (metrics.k8s.io) keyed by node name; None when the cluster doesn't serve that API."""
    taken_at: dt.datetime


@dataclass(frozen=True)
class ResourceUse:
    """One resource (CPU in millicores, memory in bytes) of a node or of the whole cluster."""

    allocatable: int
    requested: int
    usage: int | None = None
    """None without node metrics."""
    metered_allocatable: int | None = None
    """The allocatable that `usage` was measured on, when only some nodes have metrics; None: all of it."""

    @property
    def requested_percent(self) -> float | None:
        """Requests as a percentage of allocatable; None when nothing is allocatable."""
        return self.requested * 100 / self.allocatable if self.allocatable else None

    @property
    def usage_percent(self) -> float | None:
        """Usage as a percentage of the allocatable it was measured on; None without metrics."""
        base = self.allocatable if self.metered_allocatable is None else self.metered_allocatable
        return self.usage * 100 / base if self.usage is not None and base else None


@dataclass(frozen=True)
class NodeInsight:
    """One node: its condition, what is requested of it and, with metrics, what it uses."""

    name: str
    ready: bool
    """The Ready condition is True (Unknown, False or missing all mean not ready)."""
    ready_reason: str
    ready_message: str
    ready_since: dt.datetime | None
    """When the Ready condition last changed (how long the node has been ready, or not)."""
    unschedulable: bool
    """Cordoned (spec.unschedulable)."""
    pressures: tuple[str, ...]
    """Node conditions that are True among MemoryPressure, DiskPressure and PIDPressure."""
    cpu: ResourceUse
    memory: ResourceUse
    pods: int
    """Non-terminated pods bound to the node."""
    pods_allocatable: int

    @property
    def status(self) -> str:
        """As kubectl shows it: "Ready", "NotReady,SchedulingDisabled", with pressures appended."""
        parts = ["Ready" if self.ready else "NotReady"]
        if self.unschedulable:
            parts.append("SchedulingDisabled")
        return ",".join([*parts, *self.pressures])

    @property
    def troubled(self) -> bool:
        """Not ready, cordoned or under pressure."""
        return not self.ready or self.unschedulable or bool(self.pressures)


@dataclass(frozen=True)
class ClusterTotals:
    """The nodes added up; usage only over the nodes metrics-server reported."""

    nodes_ready: int
    nodes_total: int
    cpu: ResourceUse
    memory: ResourceUse
    pods: int
    """Non-terminated pods bound to a known node."""
    pods_allocatable: int
    metrics_available: bool
    """The cluster serves metrics.k8s.io (usage figures exist for the nodes it reported)."""
    nodes_metered: int


@dataclass(frozen=True)
class WorkloadStatus:
    """A Deployment, StatefulSet or DaemonSet: how many pods it wants and how many are ready."""

    kind: str
    namespace: str
    name: str
    desired: int
    ready: int
    updated: int
    available: int

    @property
    def key(self) -> str:
        """The workload as "namespace/name"."""
        return f"{self.namespace}/{self.name}"

    @property
    def fully_ready(self) -> bool:
        """As many ready pods as wanted (a workload scaled to 0 is fully ready)."""
        return self.ready >= self.desired


@dataclass(frozen=True)
class PodCounts:
    """Pods by phase."""

    pending: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    unknown: int = 0
    """Phase Unknown, missing or not one Kubernetes defines."""

    @property
    def total(self) -> int:
        """Every pod, whatever its phase."""
        return self.pending + self.running + self.succeeded + self.failed + self.unknown


@dataclass(frozen=True)
class PodProblem:
    """A pod worth a look: pending, running but not ready, or restarting a lot."""

    namespace: str
    name: str
    phase: str
    node: str
    """spec.nodeName; "" when not scheduled."""
    reason: str
    """E.g. "Unschedulable", "ImagePullBackOff", "CrashLoopBackOff", "ContainersNotReady"; "" if unknown."""
    message: str
    container: str
    """The container the reason is about; "" when it is about the pod."""
    restarts: int
    last_termination_reason: str
    """Why the most-restarted container last stopped ("OOMKilled", "Error (exit 1)"); "" if unknown."""

    @property
    def key(self) -> str:
        """The pod as "namespace/name"."""
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Workload:
    """Controllers, pods by phase, and the pods worth a look; every list sorted by namespace and name."""

    deployments: tuple[WorkloadStatus, ...]
    statefulsets: tuple[WorkloadStatus, ...]
    daemonsets: tuple[WorkloadStatus, ...]
    pods: PodCounts
    pending: tuple[PodProblem, ...]
    not_ready: tuple[PodProblem, ...]
    """Running pods that are not ready (CrashLoopBackOff pods are phase Running)."""
    restarting: tuple[PodProblem, ...]
    """Live pods whose containers restarted at least `restart_threshold` times in all."""

    @property
    def not_fully_ready(self) -> tuple[WorkloadStatus, ...]:
        """Every workload with fewer ready pods than it wants, deployments first."""
        return tuple(
            w for w in (*self.deployments, *self.statefulsets, *self.daemonsets) if not w.fully_ready
        )


CRITICAL = "critical"
WARNING = "warning"


@dataclass(frozen=True)
class CheckWarning:
    """Something to look at, in plain language."""

    severity: str
    """CRITICAL or WARNING."""
    code: str
    """Stable and machine-readable (NodeNotReady, PodsUnschedulable, …): for alerts to group and dedupe."""
    text: str
    subjects: tuple[str, ...]
    """What it is about: node names or namespace/name of pods or workloads, sorted."""


@dataclass(frozen=True)
class CheckReport:
    """What `assess` found; equal snapshots give equal reports."""

    taken_at: dt.datetime
    nodes: tuple[NodeInsight, ...]
    totals: ClusterTotals
    workload: Workload
    warnings: tuple[CheckWarning, ...]
    """Critical first, then by kind and subject."""

    @property
    def healthy(self) -> bool:
        """Nothing to warn about."""
        return not self.warnings

    @property
    def critical(self) -> int:
        """How many warnings are critical."""
        return sum(1 for w in self.warnings if w.severity == CRITICAL)


# --- thresholds and sentences -----------------------------------------------------------------------------

HIGH_USAGE_PERCENT = 90
"""A node using more than this share of a resource (per metrics-server) is warned about."""

PRESSURES = {
    "MemoryPressure": "memory pressure",
    "DiskPressure": "disk pressure",
    "PIDPressure": "PID pressure",
}
IMAGE_PULL_REASONS = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull")
CONFIG_REASONS = ("CreateContainerConfigError", "CreateContainerError", "RunContainerError")
CRASH_LOOP = "CrashLoopBackOff"
_BAD_WAITING = (*IMAGE_PULL_REASONS, *CONFIG_REASONS, CRASH_LOOP)
"""Waiting reasons that won't clear on their own, worst first; others (ContainerCreating) are transient."""

_CODES = (
    "NodeNotReady",
    "WorkloadUnavailable",
    "NodePressure",
    "NodeOvercommitted",
    "NodeHighUsage",
    "PodsUnschedulable",
    "ImagePullFailure",
    "ContainerConfigError",
    "CrashLoop",
    "WorkloadNotReady",
    "NodeCordoned",
)
"""The order warnings of one severity are listed in: what takes workloads down first."""
_CODE_RANK = {code: rank for rank, code in enumerate(_CODES)}
_SEVERITY_RANK = {CRITICAL: 0, WARNING: 1}
_EXAMPLES = 3


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def _ago(since: dt.datetime, now: dt.datetime) -> str:
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)  # a snapshot's time without a zone is UTC, like the API's
    seconds = max(0, int((now - since).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _pods_phrase(keys: list[str], verb_singular: str, verb_plural: str) -> str:
    """Pod `a/b` VERB, or 5 pods (`a/b`, `a/c`, `a/d` and 2 more) VERB: a few named, the rest counted."""
    if len(keys) == 1:
        return f"Pod `{keys[0]}` {verb_singular}"
    shown = ", ".join(f"`{k}`" for k in keys[:_EXAMPLES])
    more = f" and {len(keys) - _EXAMPLES} more" if len(keys) > _EXAMPLES else ""
    return f"{len(keys)} pods ({shown}{more}) {verb_plural}"


def _with_message(text: str, message: str) -> str:
    return f"{text}: {_sentence(message)}" if message else _sentence(text)


def _node_not_ready(node: NodeInsight, now: dt.datetime) -> str:
    since = ""
    if node.ready_since is not None:
        since = f" since {node.ready_since:%Y-%m-%d %H:%M} UTC ({_ago(node.ready_since, now)} ago)"
    return _with_message(f"Node `{node.name}` is not ready{since}", node.ready_message or node.ready_reason)


def _node_pressure(name: str, condition: str) -> str:
    return f"Node `{name}` is under {PRESSURES[condition]} ({condition}): the kubelet may evict pods."


def _node_overcommitted(name: str, resource: str, use: ResourceUse, overcommit_percent: int) -> str:
    show = format_cpu if resource == "cpu" else format_memory
    limit = "allocatable" if overcommit_percent == 100 else f"{overcommit_percent}% of allocatable"
    return (
        f"Node `{name}` has more {resource} requested than {limit}: {show(use.requested)} of "
        f"{show(use.allocatable)} ({format_percent(use.requested_percent)})."
    )


def _node_high_usage(name: str, resource: str, use: ResourceUse, usage: int) -> str:
    show = format_cpu if resource == "cpu" else format_memory
    return (
        f"Node `{name}` is using {format_percent(use.usage_percent)} of its {resource} "
        f"({show(usage)} of {show(use.allocatable)})."
    )


def _node_cordoned(name: str) -> str:
    return f"Node `{name}` is cordoned: no new pods are scheduled on it."


def _pods_unschedulable(keys: list[str], message: str) -> str:
    return _with_message(_pods_phrase(keys, "can't be scheduled", "can't be scheduled"), message)


def _image_pull_failed(keys: list[str], message: str) -> str:
    return _with_message(_pods_phrase(keys, "can't pull its image", "can't pull their image"), message)


def _container_config_failed(keys: list[str], message: str) -> str:
    return _with_message(_pods_phrase(keys, "can't start a container", "can't start a container"), message)


def _crash_loop(key: str, container: str, restarts: int, last_stop: str) -> str:
    last = f", last stopped: {last_stop}" if last_stop else ""
    times = "once" if restarts == 1 else f"{restarts} times"
    return f"Pod `{key}` is crash-looping: container `{container}` restarted {times}{last}."


def _workload_unavailable(status: WorkloadStatus) -> str:
    return f"{status.kind} `{status.key}` has no ready pods (0/{status.desired})."


def _workload_not_ready(status: WorkloadStatus) -> str:
    return f"{status.kind} `{status.key}` has {status.ready}/{status.desired} pods ready."


# --- reading objects defensively --------------------------------------------------------------------------


def _obj(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _items(value: object) -> list[dict]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list | tuple) else []


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _count(value: object, default: int = 0) -> int:
    """A non-negative whole number from JSON; `default` when it isn't one."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    if isinstance(value, float) and not math.isfinite(value):
        return default
    return min(max(int(value), 0), MAX_QUANTITY)


def _time(value: object) -> dt.datetime | None:
    text = _text(value)
    if not text or len(text) > _MAX_QUANTITY_CHARS:
        return None
    try:
        parsed = dt.datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=dt.UTC)
        return parsed.astimezone(dt.UTC)
    except (ValueError, OverflowError):  # not a time, or one that leaves the calendar in UTC
        return None


def _conditions(status: dict) -> dict[str, dict]:
    return {_text(c.get("type")): c for c in _items(status.get("conditions"))}


def _requests(container: dict) -> tuple[int, int]:
    requests = _obj(_obj(container.get("resources")).get("requests"))
    return parse_cpu(requests.get("cpu")), parse_memory(requests.get("memory"))


def pod_requests(spec: dict) -> tuple[int, int]:
    """(CPU millicores, memory bytes) the scheduler reserves for a pod with this spec.

    kube-scheduler's rule (k8s.io/component-helpers resource.PodRequests): the larger of the containers' sum
    and the peak init container; restartable (sidecar) init containers keep running, so they add to the sum
    and to every later init container's peak; pod-level requests, when set, replace the containers'; the
    RuntimeClass overhead comes on top.
    """
    cpu = memory = 0
    for container in _items(spec.get("containers")):
        c_cpu, c_memory = _requests(container)
        cpu, memory = cpu + c_cpu, memory + c_memory
    init_cpu = init_memory = sidecar_cpu = sidecar_memory = 0
    for container in _items(spec.get("initContainers")):
        c_cpu, c_memory = _requests(container)
        if container.get("restartPolicy") == "Always":
            cpu, memory = cpu + c_cpu, memory + c_memory
            sidecar_cpu, sidecar_memory = sidecar_cpu + c_cpu, sidecar_memory + c_memory
            peak_cpu, peak_memory = sidecar_cpu, sidecar_memory
        else:
            peak_cpu, peak_memory = c_cpu + sidecar_cpu, c_memory + sidecar_memory
        init_cpu, init_memory = max(init_cpu, peak_cpu), max(init_memory, peak_memory)
    cpu, memory = max(cpu, init_cpu), max(memory, init_memory)
    pod_level = _obj(_obj(spec.get("resources")).get("requests"))
    if "cpu" in pod_level:
        cpu = parse_cpu(pod_level["cpu"])
    if "memory" in pod_level:
        memory = parse_memory(pod_level["memory"])
    overhead = _obj(spec.get("overhead"))
    return cpu + parse_cpu(overhead.get("cpu")), memory + parse_memory(overhead.get("memory"))


# --- assessing --------------------------------------------------------------------------------------------


@dataclass
class _NodeTally:
    cpu: int = 0
    memory: int = 0
    pods: int = 0


@dataclass
class _PodFindings:
    """Per-pod observations gathered in the single pass over pods, turned into warnings afterwards."""

    unschedulable: dict[str, set[str]]
    """Scheduler message → pods it was given for."""
    image_pull: dict[str, set[str]]
    config: dict[str, set[str]]
    crash_loops: dict[str, str]
    """Pod → warning sentence, about its first crash-looping container."""


_PHASES = ("Pending", "Running", "Succeeded", "Failed")


def _workloads(objects: tuple[dict, ...], kind: str) -> tuple[WorkloadStatus, ...]:
    found = []
    for obj in objects:
        if not isinstance(obj, dict):
            continue
        meta, spec, status = _obj(obj.get("metadata")), _obj(obj.get("spec")), _obj(obj.get("status"))
        name = _text(meta.get("name"))
        if not name:
            continue
        if kind == "DaemonSet":
            desired = _count(status.get("desiredNumberScheduled"))
            ready = _count(status.get("numberReady"))
            updated = _count(status.get("updatedNumberScheduled"))
            available = _count(status.get("numberAvailable"))
        else:
            # The API defaults spec.replicas to 1; a missing one means the same.
            desired = _count(spec.get("replicas"), default=1)
            ready = _count(status.get("readyReplicas"))
            updated = _count(status.get("updatedReplicas"))
            # StatefulSets before Kubernetes 1.22 have no availableReplicas; ready is the closest figure.
            available = _count(status.get("availableReplicas"), default=ready)
        found.append(
            WorkloadStatus(kind, _text(meta.get("namespace")), name, desired, ready, updated, available)
        )
    return tuple(sorted(found, key=lambda w: (w.namespace, w.name)))


def _last_stop(container_status: dict) -> str:
    """Why a container last terminated: "OOMKilled", "Error (exit 1)"; "" if it never did."""
    terminated = _obj(_obj(container_status.get("lastState")).get("terminated"))
    reason = _text(terminated.get("reason"))
    code = terminated.get("exitCode")
    if isinstance(code, int) and not isinstance(code, bool) and code and reason != "OOMKilled":
        return f"{reason or 'exited'} (exit {code})"
    return reason


_WAITING_RANK = {reason: rank for rank, reason in enumerate(_BAD_WAITING)}


def _assess_pod(
    pod: dict,
    phase: str,
    restart_threshold: int,
    findings: _PodFindings,
    pending: list[PodProblem],
    not_ready: list[PodProblem],
    restarting: list[PodProblem],
) -> None:
    """Look at one live (not Succeeded or Failed) pod for trouble, in one pass over its containers."""
    meta, spec, status = _obj(pod.get("metadata")), _obj(pod.get("spec")), _obj(pod.get("status"))
    namespace, name = _text(meta.get("namespace")), _text(meta.get("name"))
    key = f"{namespace}/{name}"
    statuses = _items(status.get("initContainerStatuses")) + _items(status.get("containerStatuses"))
    restarts = most = 0
    most_restarted: dict = {}
    all_ready = True
    # The waiting container most worth showing: a reason that won't clear on its own beats a transient one.
    worst: tuple[int, str, str, str] | None = None
    for cs in statuses:
        count = _count(cs.get("restartCount"))
        restarts += count
        if count > most or not most_restarted:
            most, most_restarted = count, cs
        all_ready = all_ready and cs.get("ready") is True
        waiting = _obj(_obj(cs.get("state")).get("waiting"))
        reason = _text(waiting.get("reason"))
        if not reason:
            continue
        message = _text(waiting.get("message"))
        rank = _WAITING_RANK.get(reason, len(_BAD_WAITING))
        if worst is None or rank < worst[0]:
            worst = (rank, _text(cs.get("name")), reason, message)
        if reason in IMAGE_PULL_REASONS:
            findings.image_pull[message or reason].add(key)
        elif reason in CONFIG_REASONS:
            findings.config[message or reason].add(key)
        elif reason == CRASH_LOOP and key not in findings.crash_loops:
            findings.crash_loops[key] = _crash_loop(key, _text(cs.get("name")), count, _last_stop(cs))
    last_reason = _last_stop(most_restarted) if restarts else ""

    def problem(reason: str, message: str, container: str) -> PodProblem:
        node = _text(spec.get("nodeName"))
        return PodProblem(namespace, name, phase, node, reason, message, container, restarts, last_reason)

    waiting_problem = (worst[2], worst[3], worst[1]) if worst else ("", "", "")
    if phase == "Pending":
        scheduled = _conditions(status).get("PodScheduled", {})
        if _text(scheduled.get("status")) == "False":
            reason, message = _text(scheduled.get("reason")), _text(scheduled.get("message"))
            pending.append(problem(reason, message, ""))
            # SchedulingGated pods wait on purpose; only the scheduler's refusal is a warning.
            if reason == "Unschedulable":
                findings.unschedulable[message].add(key)
        else:
            pending.append(problem(*waiting_problem))
    elif phase == "Running" and not meta.get("deletionTimestamp"):
        # A terminating pod goes unready on its way out: expected, so it is skipped above. Without a Ready
        # condition the containers tell; with neither there is no evidence of a problem.
        ready = _conditions(status).get("Ready")
        is_ready = _text(ready.get("status")) == "True" if ready is not None else all_ready
        if not is_ready:
            if worst is not None:
                not_ready.append(problem(*waiting_problem))
            else:
                ready = ready or {}
                not_ready.append(problem(_text(ready.get("reason")), _text(ready.get("message")), ""))
    if restarts >= restart_threshold:
        restarting.append(problem(last_reason, "", _text(most_restarted.get("name"))))


def _node(node: dict, tally: _NodeTally, metrics: dict | None) -> NodeInsight:
    meta, spec, status = _obj(node.get("metadata")), _obj(node.get("spec")), _obj(node.get("status"))
    allocatable, capacity = _obj(status.get("allocatable")), _obj(status.get("capacity"))

    def amount(resource: str) -> object:
        # Allocatable is what the scheduler fills; capacity is the best guess when a node doesn't report it.
        return allocatable[resource] if resource in allocatable else capacity.get(resource)

    conditions = _conditions(status)
    ready = conditions.get("Ready", {})
    usage = _obj_or_none(metrics.get("usage")) if metrics is not None else None
    return NodeInsight(
        name=_text(meta.get("name")),
        ready=_text(ready.get("status")) == "True",
        ready_reason=_text(ready.get("reason")),
        ready_message=_text(ready.get("message")),
        ready_since=_time(ready.get("lastTransitionTime")),
        unschedulable=spec.get("unschedulable") is True,
        pressures=tuple(p for p in PRESSURES if _text(conditions.get(p, {}).get("status")) == "True"),
        cpu=ResourceUse(
            parse_cpu(amount("cpu")), tally.cpu, None if usage is None else parse_cpu(usage.get("cpu"))
        ),
        memory=ResourceUse(
            parse_memory(amount("memory")),
            tally.memory,
            None if usage is None else parse_memory(usage.get("memory")),
        ),
        pods=tally.pods,
        pods_allocatable=parse_memory(amount("pods")),
    )


def _node_warnings(
    node: NodeInsight, now: dt.datetime, overcommit_percent: int, warnings: list[CheckWarning]
) -> None:
    subjects = (node.name,)
    if not node.ready:
        warnings.append(CheckWarning(CRITICAL, "NodeNotReady", _node_not_ready(node, now), subjects))
    for condition in node.pressures:
        warnings.append(CheckWarning(WARNING, "NodePressure", _node_pressure(node.name, condition), subjects))
    for resource, use in (("cpu", node.cpu), ("memory", node.memory)):
        # A node that reports nothing allocatable can't be judged; it is not called over-committed.
        if use.allocatable and use.requested * 100 > use.allocatable * overcommit_percent:
            text = _node_overcommitted(node.name, resource, use, overcommit_percent)
            warnings.append(CheckWarning(WARNING, "NodeOvercommitted", text, subjects))
        percent = use.usage_percent
        if use.usage is not None and percent is not None and percent > HIGH_USAGE_PERCENT:
            text = _node_high_usage(node.name, resource, use, use.usage)
            warnings.append(CheckWarning(WARNING, "NodeHighUsage", text, subjects))
    if node.unschedulable:
        warnings.append(CheckWarning(WARNING, "NodeCordoned", _node_cordoned(node.name), subjects))


def _grouped(
    groups: dict[str, set[str]], code: str, sentence: Callable[[list[str], str], str]
) -> list[CheckWarning]:
    """One warning per distinct message, naming every pod that got it."""
    warnings = []
    for message, keys in groups.items():
        ordered = sorted(keys)
        warnings.append(CheckWarning(WARNING, code, sentence(ordered, message), tuple(ordered)))
    return sorted(warnings, key=lambda w: (w.subjects, w.text))


def _totals(nodes: tuple[NodeInsight, ...], metrics_available: bool) -> ClusterTotals:
    def total(resource: str) -> ResourceUse:
        uses = [getattr(n, resource) for n in nodes]
        metered = [u for u in uses if u.usage is not None]
        allocatable = sum(u.allocatable for u in uses)
        metered_allocatable = sum(u.allocatable for u in metered)
        return ResourceUse(
            allocatable=allocatable,
            requested=sum(u.requested for u in uses),
            usage=sum(u.usage or 0 for u in metered) if metered else None,
            metered_allocatable=metered_allocatable if metered_allocatable != allocatable else None,
        )

    cpu = total("cpu")
    return ClusterTotals(
        nodes_ready=sum(1 for n in nodes if n.ready),
        nodes_total=len(nodes),
        cpu=cpu,
        memory=total("memory"),
        pods=sum(n.pods for n in nodes),
        pods_allocatable=sum(n.pods_allocatable for n in nodes),
        metrics_available=metrics_available,
        nodes_metered=sum(1 for n in nodes if n.cpu.usage is not None),
    )


def assess(
    snapshot: ClusterSnapshot, *, restart_threshold: int = 5, overcommit_percent: int = 100
) -> CheckReport:
    """The check report of a cluster snapshot; pure, deterministic, linear in the number of objects.

    `restart_threshold`: a live pod whose containers restarted at least this often in all is listed as
    restarting (values below 1 count as 1: a pod that never restarted isn't). `overcommit_percent`: a node
    whose CPU or memory requests exceed this share of its allocatable is warned about (100: more requested
    than the node has).
    """
    restart_threshold = max(1, restart_threshold)
    raw_nodes: dict[str, dict] = {}
    for node in snapshot.nodes:
        name = _text(_obj(_obj(node).get("metadata")).get("name"))
        # A nameless node can't have pods bound to it; a repeated name is counted once.
        if name and name not in raw_nodes:
            raw_nodes[name] = node
    tallies = {name: _NodeTally() for name in raw_nodes}

    phases = dict.fromkeys(_PHASES, 0)
    unknown_phase = 0
    findings = _PodFindings(defaultdict(set), defaultdict(set), defaultdict(set), {})
    pending: list[PodProblem] = []
    not_ready: list[PodProblem] = []
    restarting: list[PodProblem] = []
    for pod in snapshot.pods:
        if not isinstance(pod, dict):
            continue
        phase = _text(_obj(pod.get("status")).get("phase"))
        if phase in phases:
            phases[phase] += 1
        else:
            unknown_phase += 1
        if phase in ("Succeeded", "Failed"):
            continue  # finished pods hold no resources and have nothing left to fix
        spec = _obj(pod.get("spec"))
        tally = tallies.get(_text(spec.get("nodeName")))
        if tally is not None:
            cpu, memory = pod_requests(spec)
            tally.cpu += cpu
            tally.memory += memory
            tally.pods += 1
        _assess_pod(pod, phase, restart_threshold, findings, pending, not_ready, restarting)

    metrics = snapshot.node_metrics if isinstance(snapshot.node_metrics, dict) else None
    nodes = tuple(
        _node(raw_nodes[name], tallies[name], None if metrics is None else _obj_or_none(metrics.get(name)))
        for name in sorted(raw_nodes)
    )

    warnings: list[CheckWarning] = []
    for node in nodes:
        _node_warnings(node, snapshot.taken_at, overcommit_percent, warnings)
    warnings += _grouped(findings.unschedulable, "PodsUnschedulable", _pods_unschedulable)
    warnings += _grouped(findings.image_pull, "ImagePullFailure", _image_pull_failed)
    warnings += _grouped(findings.config, "ContainerConfigError", _container_config_failed)
    warnings += [
        CheckWarning(WARNING, "CrashLoop", text, (key,)) for key, text in findings.crash_loops.items()
    ]

    workload = Workload(
        deployments=_workloads(snapshot.deployments, "Deployment"),
        statefulsets=_workloads(snapshot.statefulsets, "StatefulSet"),
        daemonsets=_workloads(snapshot.daemonsets, "DaemonSet"),
        pods=PodCounts(
            pending=phases["Pending"],
            running=phases["Running"],
            succeeded=phases["Succeeded"],
            failed=phases["Failed"],
            unknown=unknown_phase,
        ),
        pending=_by_pod(pending),
        not_ready=_by_pod(not_ready),
        restarting=_by_pod(restarting),
    )
    for status in workload.not_fully_ready:
        if status.ready == 0:
            text = _workload_unavailable(status)
            warnings.append(CheckWarning(CRITICAL, "WorkloadUnavailable", text, (status.key,)))
        else:
            warnings.append(
                CheckWarning(WARNING, "WorkloadNotReady", _workload_not_ready(status), (status.key,))
            )

    # Stable: one node's warnings keep their natural order (cpu before memory, pressures as listed).
    warnings.sort(key=lambda w: (_SEVERITY_RANK[w.severity], _CODE_RANK[w.code], w.subjects))
    return CheckReport(
        taken_at=snapshot.taken_at,
        nodes=nodes,
        totals=_totals(nodes, metrics is not None),
        workload=workload,
        warnings=tuple(warnings),
    )


def _obj_or_none(value: object) -> dict | None:
    return value if isinstance(value, dict) else None


def _by_pod(problems: list[PodProblem]) -> tuple[PodProblem, ...]:
    return tuple(sorted(problems, key=lambda p: (p.namespace, p.name)))


def summary_line(report: CheckReport) -> str:
    """One line for a message preview or a digest.

    E.g. "3/3 nodes ready · cpu 45% requested · memory 30% requested · 42 pods running, 3 pending ·
    2 warnings"; usage follows the requests when the cluster serves metrics.
    """
    totals = report.totals
    parts = [f"{totals.nodes_ready}/{totals.nodes_total} nodes ready"]
    for label, use in (("cpu", totals.cpu), ("memory", totals.memory)):
        if use.requested_percent is None:
            continue
        part = f"{label} {format_percent(use.requested_percent)} requested"
        if use.usage_percent is not None:
            part += f", {format_percent(use.usage_percent)} used"
        parts.append(part)
    pods = report.workload.pods
    part = f"{pods.running} pod{'' if pods.running == 1 else 's'} running"
    for count, label in ((pods.pending, "pending"), (pods.failed, "failed")):
        if count:
            part += f", {count} {label}"
    parts.append(part)
    count = len(report.warnings)
    if not count:
        parts.append("no warnings")
    else:
        critical = f" ({report.critical} critical)" if report.critical else ""
        parts.append(f"{count} warning{'' if count == 1 else 's'}{critical}")
    return " · ".join(parts)
