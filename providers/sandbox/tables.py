"""`meta.k8s.io` Table responses: what `kubectl get` prints, rendered the way kube-apiserver renders it.

kubectl lists, gets and watches with the header
``Accept: application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,
application/json``. `negotiate` reads that header and says which Table version (if any) to answer with;
`table` renders objects of one resource type as that Table:

* built-in kinds get the columns of the real server's printers (``pkg/printers/internalversion``);
* custom resources get their CRD version's ``additionalPrinterColumns`` (a single ``Age`` column when the
  CRD declares none), as the apiextensions server does;
* any other built-in kind (roles, CRDs, limit ranges, ...) gets the server's generic ``Name``/``Created At``.

Like the real server, every column is always rendered, including the priority-1 ones that kubectl only shows
with ``-o wide``. Everything here is a pure function of its arguments; the current time comes in as ``now``.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from providers.sandbox.errors import BadRequest
from providers.sandbox.resources import ResourceType

TABLE_VERSIONS = ("v1", "v1beta1")
"""`meta.k8s.io` versions a Table can be served in."""

INCLUDE_OBJECT = ("None", "Object", "Metadata")
"""Values of the ``includeObject`` query parameter."""

# --------------------------------------------------------------------------------------------------
# Content negotiation


_TABLE_MEDIA_TYPES = frozenset({"application/json", "application/*", "*/*"})


def negotiate(accept: str | None) -> str | None:
    """The Table version ("v1" or "v1beta1") an Accept header asks for, or None if no Table is acceptable.

    Media ranges are tried in header order and the first acceptable one wins (quality values are ignored).
    A range asks for a Table when it is JSON (or a wildcard) with ``as=Table``, ``g=meta.k8s.io`` and a
    known ``v``. Parameter names and values are matched case-insensitively; anything malformed is skipped.
    """
    if not isinstance(accept, str):
        return None
    for media_range in accept.split(","):
        parts = media_range.split(";")
        if parts[0].strip().lower() not in _TABLE_MEDIA_TYPES:
            continue
        params: dict[str, str] = {}
        for part in parts[1:]:
            key, sep, value = part.partition("=")
            if not sep:
                continue
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1].strip()
            params[key.strip().lower()] = value.lower()
        if params.get("as") != "table" or params.get("g") != "meta.k8s.io":
            continue
        version = params.get("v")
        if version in TABLE_VERSIONS:
            return version
    return None


# --------------------------------------------------------------------------------------------------
# Times


_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):?(\d{2}))"
)


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp (``metav1.Time`` / ``MicroTime``) as an aware datetime.

    None when missing, malformed, or Go's zero time (which the server treats as unset).
    """
    if not isinstance(value, str):
        return None
    m = _RFC3339.fullmatch(value.strip())
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    micros = int((m.group(7) or "0")[:6].ljust(6, "0"))
    try:
        tz = UTC
        if m.group(9):
            offset = timedelta(hours=int(m.group(10)), minutes=int(m.group(11)))
            tz = timezone(-offset if m.group(9) == "-" else offset)
        t = datetime(year, month, day, hour, minute, second, micros, tzinfo=tz).astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    if t == datetime(1, 1, 1, tzinfo=UTC):
        return None
    return t


def human_duration(d: timedelta) -> str:
    """A duration the way kubectl shows ages (apimachinery ``duration.HumanDuration``).

    Seconds below 2 minutes, ``XmYs`` below 10 minutes, minutes below 3 hours, ``XhYm`` below 8 hours, hours
    below 2 days, ``XdYh`` below 8 days, days below 2 years, ``XyYd`` below 8 years, then years. Up to a
    second in the future counts as ``0s`` (clock skew); further in the future is ``<invalid>``.
    """
    micros = d // timedelta(microseconds=1)
    seconds = micros // 1_000_000 if micros >= 0 else -(-micros // 1_000_000)  # truncate toward zero
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        s = seconds % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"


def since(timestamp: Any, now: datetime) -> str:
    """Human age of an RFC 3339 timestamp relative to ``now``; ``<unknown>`` when it is missing."""
    t = timestamp if isinstance(timestamp, datetime) else parse_time(timestamp)
    if t is None:
        return "<unknown>"
    return human_duration(_utc(now) - _utc(t))


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t


# --------------------------------------------------------------------------------------------------
# Defensive accessors: stored objects are client-written JSON and may have any shape.


def _get(obj: Any, *path: str | int) -> Any:
    cur = obj
    for p in path:
        if isinstance(p, int):
            if not isinstance(cur, list) or not -len(cur) <= p < len(cur):
                return None
            cur = cur[p]
        elif isinstance(cur, dict):
            cur = cur.get(p)
        else:
            return None
    return cur


def _d(v: Any) -> dict:
    return v if isinstance(v, dict) else {}


def _l(v: Any) -> list:
    return v if isinstance(v, list) else []


def _dicts(v: Any) -> list[dict]:
    return [x for x in _l(v) if isinstance(x, dict)]


def _s(v: Any, default: str = "") -> str:
    return v if isinstance(v, str) else default


def _i(v: Any, default: int = 0) -> int:
    if isinstance(v, bool):
        return default
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v == v and abs(v) < 2**63:
        return int(v)
    if isinstance(v, str):
        try:
            return int(v.strip())
        except ValueError:
            return default
    return default


def _quantity(v: Any) -> str:
    """A resource.Quantity as text (missing quantities print as ``0``)."""
    if isinstance(v, str) and v:
        return v
    if isinstance(v, bool) or v is None:
        return "0"
    if isinstance(v, int | float):
        return _go_text(v)
    return "0"


def _int_or_string(v: Any) -> str | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int | float):
        return str(_i(v))
    return v if isinstance(v, str) else None


def _name(obj: dict) -> str:
    return _s(_get(obj, "metadata", "name"))


def _created(obj: dict) -> Any:
    return _get(obj, "metadata", "creationTimestamp")


def _deleting(obj: dict) -> bool:
    return bool(_get(obj, "metadata", "deletionTimestamp"))


def _go_text(v: Any) -> str:
    """How Go's ``fmt.Print`` shows a decoded JSON value (what kubectl's jsonpath printing produces)."""
    if v is None:
        return "<nil>"
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if v == v and v not in (float("inf"), float("-inf")) and v.is_integer() and abs(v) < 1e21:
            return str(int(v))
        return repr(v)
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{_go_text(v[k])}" for k in sorted(v, key=str)) + "]"
    if isinstance(v, list):
        return "[" + " ".join(_go_text(x) for x in v) + "]"
    return str(v)


# --------------------------------------------------------------------------------------------------
# Labels and selectors


def _format_labels(labels: Any) -> str:
    """``labels.FormatLabels``: sorted ``k=v`` pairs, or ``<none>``."""
    pairs = sorted(f"{k}={_go_text(v)}" for k, v in _d(labels).items())
    return ",".join(pairs) if pairs else "<none>"


def _selector_text(selector: Any) -> str | None:
    """A LabelSelector as selector text (``LabelSelectorAsSelector(...).String()``); None if invalid."""
    if selector is None:
        return ""
    if not isinstance(selector, dict):
        return None
    reqs: list[tuple[str, str]] = []
    for k, v in _d(selector.get("matchLabels")).items():
        reqs.append((str(k), f"{k}={_go_text(v)}"))
    for expr in _l(selector.get("matchExpressions")):
        if not isinstance(expr, dict):
            return None
        key, op = _s(expr.get("key")), _s(expr.get("operator"))
        values = sorted(_go_text(x) for x in _l(expr.get("values")))
        if op == "In":
            reqs.append((key, f"{key} in ({','.join(values)})"))
        elif op == "NotIn":
            reqs.append((key, f"{key} notin ({','.join(values)})"))
        elif op == "Exists":
            reqs.append((key, key))
        elif op == "DoesNotExist":
            reqs.append((key, f"!{key}"))
        else:
            return None
    reqs.sort(key=lambda r: r[0])
    return ",".join(text for _, text in reqs)


def _format_selector(selector: Any) -> str:
    """``metav1.FormatLabelSelector``: the selector, ``<none>`` when empty, ``<error>`` when invalid."""
    text = _selector_text(selector)
    if text is None:
        return "<error>"
    return text or "<none>"


def _containers(pod_spec: Any) -> tuple[str, str]:
    containers = _dicts(_get(pod_spec, "containers"))
    return (",".join(_s(c.get("name")) for c in containers), ",".join(_s(c.get("image")) for c in containers))


def _join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _lb_ingress(status: Any) -> str:
    found = set()
    for ing in _dicts(_get(status, "loadBalancer", "ingress")):
        value = _s(ing.get("ip")) or _s(ing.get("hostname"))
        if value:
            found.add(value)
    return ",".join(sorted(found))


def _condition_true(conditions: Any, kind: str) -> bool:
    for c in _dicts(conditions):
        if c.get("type") == kind:
            return c.get("status") == "True"
    return False


# --------------------------------------------------------------------------------------------------
# Column definitions

_NAME_DESC = (
    "Name must be unique within a namespace. Is required when creating resources, although some resources "
    "may allow a client to request the generation of an appropriate name automatically. Name is primarily "
    "intended for creation idempotence and configuration definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
)
_CREATED_DESC = (
    "CreationTimestamp is a timestamp representing the server time when this object was created. It is not "
    "guaranteed to be set in happens-before order across separate operations. "
    "Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\n"
    "Populated by the system. Read-only. Null for lists. "
    "More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
)


def _col(name: str, type_: str = "string", description: str = "", priority: int = 0, fmt: str = "") -> dict:
    return {"name": name, "type": type_, "format": fmt, "description": description, "priority": priority}


NAME = _col("Name", description=_NAME_DESC, fmt="name")
AGE = _col("Age", description=_CREATED_DESC)
_CONTAINERS = _col("Containers", description="Names of each container in the template.", priority=1)
_IMAGES = _col("Images", description="Images referenced by each container in the template.", priority=1)
_SELECTOR = _col("Selector", description="A label query over the objects this one manages.", priority=1)


@dataclass(frozen=True)
class _Printer:
    columns: tuple[dict, ...]
    cells: Callable[[dict, datetime], list]


# --------------------------------------------------------------------------------------------------
# Row printers of built-in kinds (cells in column order, wide columns included)


def _pod_cells(pod: dict, now: datetime) -> list:
    spec, status = _d(pod.get("spec")), _d(pod.get("status"))
    init_specs = _dicts(spec.get("initContainers"))
    sidecars = {_s(c.get("name")) for c in init_specs if c.get("restartPolicy") == "Always"}
    total = len(_l(spec.get("containers"))) + len(sidecars)
    ready = restarts = sidecar_restarts = 0
    last_restart: datetime | None = None
    last_sidecar_restart: datetime | None = None

    phase = _s(status.get("phase"))
    reason = _s(status.get("reason")) or phase
    for cond in _dicts(status.get("conditions")):
        if cond.get("type") == "PodScheduled" and cond.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    def later(a: datetime | None, cs: dict) -> datetime | None:
        b = parse_time(_get(cs, "lastState", "terminated", "finishedAt"))
        return b if b is not None and (a is None or b > a) else a

    initializing = False
    for i, cs in enumerate(_dicts(status.get("initContainerStatuses"))):
        restarts += _i(cs.get("restartCount"))
        last_restart = later(last_restart, cs)
        sidecar = _s(cs.get("name")) in sidecars
        if sidecar:
            sidecar_restarts += _i(cs.get("restartCount"))
            last_sidecar_restart = later(last_sidecar_restart, cs)
        state = _d(cs.get("state"))
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if isinstance(terminated, dict) and _i(terminated.get("exitCode")) == 0:
            continue
        if sidecar and cs.get("started") is True:
            if cs.get("ready") is True:
                ready += 1
            continue
        if isinstance(terminated, dict):
            why = _s(terminated.get("reason"))
            if why:
                reason = "Init:" + why
            elif _i(terminated.get("signal")):
                reason = f"Init:Signal:{_i(terminated.get('signal'))}"
            else:
                reason = f"Init:ExitCode:{_i(terminated.get('exitCode'))}"
        elif isinstance(waiting, dict) and _s(waiting.get("reason")) not in ("", "PodInitializing"):
            reason = "Init:" + _s(waiting.get("reason"))
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or _condition_true(status.get("conditions"), "Initialized"):
        restarts, last_restart = sidecar_restarts, last_sidecar_restart
        has_running = False
        for cs in reversed(_dicts(status.get("containerStatuses"))):
            restarts += _i(cs.get("restartCount"))
            last_restart = later(last_restart, cs)
            state = _d(cs.get("state"))
            terminated, waiting = state.get("terminated"), state.get("waiting")
            if isinstance(waiting, dict) and _s(waiting.get("reason")):
                reason = _s(waiting.get("reason"))
            elif isinstance(terminated, dict) and _s(terminated.get("reason")):
                reason = _s(terminated.get("reason"))
            elif isinstance(terminated, dict):
                signal = _i(terminated.get("signal"))
                reason = f"Signal:{signal}" if signal else f"ExitCode:{_i(terminated.get('exitCode'))}"
            elif cs.get("ready") is True and isinstance(state.get("running"), dict):
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(status.get("conditions"), "Ready") else "NotReady"

    if _deleting(pod) and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif _deleting(pod) and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"

    restarts_text = str(restarts)
    if restarts and last_restart is not None:
        restarts_text = f"{restarts} ({since(last_restart, now)} ago)"

    pod_ip = _s(_get(status, "podIPs", 0, "ip")) or _s(status.get("podIP")) or "<none>"
    gates = _dicts(spec.get("readinessGates"))
    readiness = "<none>"
    if gates:
        conditions = {c.get("type"): c for c in _dicts(status.get("conditions"))}
        true = sum(1 for g in gates if _get(conditions.get(g.get("conditionType")), "status") == "True")
        readiness = f"{true}/{len(gates)}"
    return [
        _name(pod),
        f"{ready}/{total}",
        reason,
        restarts_text,
        since(_created(pod), now),
        pod_ip,
        _s(spec.get("nodeName")) or "<none>",
        _s(status.get("nominatedNodeName")) or "<none>",
        readiness,
    ]


def _pod_conditions(pod: dict) -> list[dict] | None:
    phase = _get(pod, "status", "phase")
    if phase == "Succeeded":
        message = "The pod has completed successfully."
    elif phase == "Failed":
        message = "The pod failed."
    else:
        return None
    return [{"type": "Completed", "status": "True", "reason": phase, "message": message}]


def _node_roles(labels: Any) -> str:
    roles = set()
    for k, v in _d(labels).items():
        if k.startswith("node-role.kubernetes.io/") and k != "node-role.kubernetes.io/":
            roles.add(k.removeprefix("node-role.kubernetes.io/"))
        elif k == "kubernetes.io/role" and isinstance(v, str) and v:
            roles.add(v)
    return ",".join(sorted(roles)) or "<none>"


def _node_address(status: dict, kind: str) -> str:
    for a in _dicts(status.get("addresses")):
        if a.get("type") == kind:
            return _s(a.get("address"))
    return "<none>"


def _node_cells(node: dict, now: datetime) -> list:
    spec, status = _d(node.get("spec")), _d(node.get("status"))
    conditions = {c.get("type"): c for c in _dicts(status.get("conditions"))}
    states = []
    if "Ready" in conditions:
        states.append("Ready" if conditions["Ready"].get("status") == "True" else "NotReady")
    if not states:
        states.append("Unknown")
    if spec.get("unschedulable") is True:
        states.append("SchedulingDisabled")
    info = _d(status.get("nodeInfo"))
    return [
        _name(node),
        ",".join(states),
        _node_roles(_get(node, "metadata", "labels")),
        since(_created(node), now),
        _s(info.get("kubeletVersion")),
        _node_address(status, "InternalIP"),
        _node_address(status, "ExternalIP"),
        _s(info.get("osImage")) or "<unknown>",
        _s(info.get("kernelVersion")) or "<unknown>",
        _s(info.get("containerRuntimeVersion")) or "<unknown>",
    ]


def _namespace_cells(ns: dict, now: datetime) -> list:
    phase = _s(_get(ns, "status", "phase")) or ("Terminating" if _deleting(ns) else "Active")
    return [_name(ns), phase, since(_created(ns), now)]


def _replicas(obj: dict) -> int:
    return _i(_get(obj, "spec", "replicas"), 1)


def _deployment_cells(obj: dict, now: datetime) -> list:
    spec, status = _d(obj.get("spec")), _d(obj.get("status"))
    names, images = _containers(_get(spec, "template", "spec"))
    selector = _selector_text(spec.get("selector"))
    return [
        _name(obj),
        f"{_i(status.get('readyReplicas'))}/{_replicas(obj)}",
        _i(status.get("updatedReplicas")),
        _i(status.get("availableReplicas")),
        since(_created(obj), now),
        names,
        images,
        "<invalid>" if selector is None else selector,
    ]


def _replicaset_cells(obj: dict, now: datetime) -> list:
    spec, status = _d(obj.get("spec")), _d(obj.get("status"))
    names, images = _containers(_get(spec, "template", "spec"))
    return [
        _name(obj),
        _replicas(obj),
        _i(status.get("replicas")),
        _i(status.get("readyReplicas")),
        since(_created(obj), now),
        names,
        images,
        _format_selector(spec.get("selector")),
    ]


def _statefulset_cells(obj: dict, now: datetime) -> list:
    names, images = _containers(_get(obj, "spec", "template", "spec"))
    ready = _i(_get(obj, "status", "readyReplicas"))
    return [_name(obj), f"{ready}/{_replicas(obj)}", since(_created(obj), now), names, images]


def _daemonset_cells(obj: dict, now: datetime) -> list:
    spec, status = _d(obj.get("spec")), _d(obj.get("status"))
    pod_spec = _get(spec, "template", "spec")
    names, images = _containers(pod_spec)
    return [
        _name(obj),
        _i(status.get("desiredNumberScheduled")),
        _i(status.get("currentNumberScheduled")),
        _i(status.get("numberReady")),
        _i(status.get("updatedNumberScheduled")),
        _i(status.get("numberAvailable")),
        _format_labels(_get(pod_spec, "nodeSelector")),
        since(_created(obj), now),
        names,
        images,
        _format_selector(spec.get("selector")),
    ]


def _job_cells(obj: dict, now: datetime) -> list:
    spec, status = _d(obj.get("spec")), _d(obj.get("status"))
    succeeded = _i(status.get("succeeded"))
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{_i(spec.get('completions'))}"
    elif _i(spec.get("parallelism")) > 1:
        completions = f"{succeeded}/1 of {_i(spec.get('parallelism'))}"
    else:
        completions = f"{succeeded}/1"
    start, end = parse_time(status.get("startTime")), parse_time(status.get("completionTime"))
    if start is None:
        duration = ""
    elif end is None:
        duration = human_duration(_utc(now) - start)
    else:
        duration = human_duration(end - start)
    conditions = status.get("conditions")
    if _condition_true(conditions, "Complete"):
        state = "Complete"
    elif _condition_true(conditions, "Failed"):
        state = "Failed"
    elif _deleting(obj):
        state = "Terminating"
    elif _condition_true(conditions, "Suspended"):
        state = "Suspended"
    elif _condition_true(conditions, "FailureTarget"):
        state = "FailureTarget"
    else:
        state = "Running"
    names, images = _containers(_get(spec, "template", "spec"))
    return [
        _name(obj),
        state,
        completions,
        duration,
        since(_created(obj), now),
        names,
        images,
        _format_selector(spec.get("selector")),
    ]


def _bool_text(v: Any) -> str:
    if not isinstance(v, bool):
        return "<unset>"
    return "True" if v else "False"


def _cronjob_cells(obj: dict, now: datetime) -> list:
    spec, status = _d(obj.get("spec")), _d(obj.get("status"))
    last = status.get("lastScheduleTime")
    job_spec = _get(spec, "jobTemplate", "spec")
    names, images = _containers(_get(job_spec, "template", "spec"))
    suspend = spec.get("suspend", False)  # defaulted to false by the API server
    return [
        _name(obj),
        _s(spec.get("schedule")),
        _s(spec.get("timeZone")) or "<none>",
        _bool_text(suspend),
        len(_l(status.get("active"))),
        "<none>" if last is None else since(last, now),
        since(_created(obj), now),
        names,
        images,
        _format_selector(_get(job_spec, "selector")),
    ]


def _service_external_ip(spec: dict, status: dict) -> str:
    external = [_go_text(x) for x in _l(spec.get("externalIPs"))]
    kind = _s(spec.get("type"), "ClusterIP")
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) if external else "<none>"
    if kind == "LoadBalancer":
        lb = _lb_ingress(status)
        if external:
            return ",".join([*(lb.split(",") if lb else []), *external])
        return lb or "<pending>"
    if kind == "ExternalName":
        return _s(spec.get("externalName"))
    return "<unknown>"


def _service_ports(ports: Any) -> str:
    pieces = []
    for p in _dicts(ports):
        protocol = _s(p.get("protocol")) or "TCP"
        node_port = _i(p.get("nodePort"))
        if node_port > 0:
            pieces.append(f"{_i(p.get('port'))}:{node_port}/{protocol}")
        else:
            pieces.append(f"{_i(p.get('port'))}/{protocol}")
    return ",".join(pieces) or "<none>"


def _service_cells(obj: dict, now: datetime) -> list:
    spec, status = _d(obj.get("spec")), _d(obj.get("status"))
    cluster_ip = _s(_get(spec, "clusterIPs", 0)) or _s(spec.get("clusterIP")) or "<none>"
    return [
        _name(obj),
        _s(spec.get("type"), "ClusterIP"),
        cluster_ip,
        _service_external_ip(spec, status),
        _service_ports(spec.get("ports")),
        since(_created(obj), now),
        _format_labels(spec.get("selector")),
    ]


def format_endpoints(endpoints: dict) -> str:
    """The ``Endpoints`` cell: up to three ``ip:port`` entries, then ``+ N more...``; ``<none>`` if empty."""
    subsets = _dicts(endpoints.get("subsets"))
    if not subsets:
        return "<none>"
    shown: list[str] = []
    limit, more, count = 3, False, 0
    for ss in subsets:
        ips = [_s(a.get("ip")) for a in _dicts(ss.get("addresses"))]
        ports = [_i(p.get("port")) for p in _dicts(ss.get("ports"))]
        # Headless services may have no ports: then only the addresses are listed.
        groups = [[_join_host_port(ip, port) for ip in ips] for port in ports] if ports else [ips]
        for entries in groups:
            count += len(entries)
            for entry in entries:
                if len(shown) == limit:
                    more = True
                    break
                shown.append(entry)
    text = ",".join(shown)
    return f"{text} + {count - limit} more..." if more else text


def _endpoints_cells(obj: dict, now: datetime) -> list:
    return [_name(obj), format_endpoints(obj), since(_created(obj), now)]


def _configmap_cells(obj: dict, now: datetime) -> list:
    return [_name(obj), len(_d(obj.get("data"))) + len(_d(obj.get("binaryData"))), since(_created(obj), now)]


def _secret_cells(obj: dict, now: datetime) -> list:
    return [_name(obj), _s(obj.get("type")) or "Opaque", len(_d(obj.get("data"))), since(_created(obj), now)]


def _serviceaccount_cells(obj: dict, now: datetime) -> list:
    return [_name(obj), len(_l(obj.get("secrets"))), since(_created(obj), now)]


def _event_cells(obj: dict, now: datetime) -> list:
    first = since(obj.get("firstTimestamp"), now)
    if parse_time(obj.get("firstTimestamp")) is None:
        first = since(obj.get("eventTime"), now)
    last = since(obj.get("lastTimestamp"), now) if parse_time(obj.get("lastTimestamp")) else first
    count = _i(obj.get("count"))
    series = obj.get("series")
    if isinstance(series, dict):
        last = since(series.get("lastObservedTime"), now)
        count = _i(series.get("count"))
    elif count == 0:
        count = 1  # singleton events of the events.k8s.io API carry no count
    involved = _d(obj.get("involvedObject"))
    kind = _s(involved.get("kind")).lower()
    target = f"{kind}/{_s(involved.get('name'))}" if _s(involved.get("name")) else kind
    component = _s(_get(obj, "source", "component")) or _s(obj.get("reportingComponent"))
    host = _s(_get(obj, "source", "host")) or _s(obj.get("reportingInstance"))
    source = f"{component}, {host}" if host else component
    return [
        last,
        _s(obj.get("type")),
        _s(obj.get("reason")),
        target,
        _s(involved.get("fieldPath")),
        source,
        _s(obj.get("message")).strip(),
        first,
        count,
        _name(obj),
    ]


def _ingress_hosts(rules: Any) -> str:
    rules = _l(rules)
    shown: list[str] = []
    more = False
    for rule in rules:
        if len(shown) == 3:
            more = True
        host = _s(_get(rule, "host"))
        if not more and host:
            shown.append(host)
    if not shown:
        return "*"
    text = ",".join(shown)
    return f"{text} + {len(rules) - 3} more..." if more else text


def _ingress_cells(obj: dict, now: datetime) -> list:
    spec = _d(obj.get("spec"))
    return [
        _name(obj),
        _s(spec.get("ingressClassName")) or "<none>",
        _ingress_hosts(spec.get("rules")),
        _lb_ingress(_get(obj, "status")),
        "80, 443" if _l(spec.get("tls")) else "80",
        since(_created(obj), now),
    ]


def _ingressclass_cells(obj: dict, now: datetime) -> list:
    spec = _d(obj.get("spec"))
    params = spec.get("parameters")
    text = "<none>"
    if isinstance(params, dict):
        text = _s(params.get("kind"))
        if isinstance(params.get("apiGroup"), str):
            text += "." + params["apiGroup"]
        text += "/" + _s(params.get("name"))
    return [_name(obj), _s(spec.get("controller")), text, since(_created(obj), now)]


def _networkpolicy_cells(obj: dict, now: datetime) -> list:
    return [_name(obj), _format_selector(_d(_get(obj, "spec", "podSelector"))), since(_created(obj), now)]


_ACCESS_MODES = (
    ("ReadWriteOnce", "RWO"),
    ("ReadOnlyMany", "ROX"),
    ("ReadWriteMany", "RWX"),
    ("ReadWriteOncePod", "RWOP"),
)


def _access_modes(modes: Any) -> str:
    modes = _l(modes)
    return ",".join(short for mode, short in _ACCESS_MODES if mode in modes)


def _storage_class(obj: dict) -> str:
    name = _get(obj, "spec", "storageClassName")
    if isinstance(name, str):
        return name
    return _s(_get(obj, "metadata", "annotations", "volume.beta.kubernetes.io/storage-class"))


def _pv_cells(obj: dict, now: datetime) -> list:
    spec, status = _d(obj.get("spec")), _d(obj.get("status"))
    claim = spec.get("claimRef")
    claim_text = f"{_s(claim.get('namespace'))}/{_s(claim.get('name'))}" if isinstance(claim, dict) else ""
    phase = "Terminating" if _deleting(obj) else _s(status.get("phase"))
    return [
        _name(obj),
        _quantity(_get(spec, "capacity", "storage")),
        _access_modes(spec.get("accessModes")),
        _s(spec.get("persistentVolumeReclaimPolicy")),
        phase,
        claim_text,
        _storage_class(obj),
        _s(spec.get("volumeAttributesClassName")) or "<unset>",
        _s(status.get("reason")),
        since(_created(obj), now),
        _s(spec.get("volumeMode")) or "<unset>",
    ]


def _pvc_cells(obj: dict, now: datetime) -> list:
    spec, status = _d(obj.get("spec")), _d(obj.get("status"))
    phase = "Terminating" if _deleting(obj) else _s(status.get("phase"))
    capacity = modes = ""
    if _s(spec.get("volumeName")):
        modes = _access_modes(status.get("accessModes"))
        capacity = _quantity(_get(status, "capacity", "storage"))
    return [
        _name(obj),
        phase,
        _s(spec.get("volumeName")),
        capacity,
        modes,
        _storage_class(obj),
        _s(spec.get("volumeAttributesClassName")) or "<unset>",
        since(_created(obj), now),
        _s(spec.get("volumeMode")) or "<unset>",
    ]


def _quota_cells(obj: dict, now: datetime) -> list:
    status = _d(obj.get("status"))
    hard, used = _d(status.get("hard")), _d(status.get("used"))
    requests, limits = [], []
    for resource in sorted(hard):
        target = limits if str(resource).startswith("limits.") else requests
        target.append(f"{resource}: {_quantity(used.get(resource))}/{_quantity(hard[resource])}")
    return [_name(obj), ", ".join(requests), ", ".join(limits), since(_created(obj), now)]


def _controllerrevision_cells(obj: dict, now: datetime) -> list:
    controller = "<none>"
    for ref in _dicts(_get(obj, "metadata", "ownerReferences")):
        if ref.get("controller") is True:
            group = _s(ref.get("apiVersion")).rpartition("/")[0]
            kind = _s(ref.get("kind"))
            group_kind = f"{kind}.{group}" if group else kind
            controller = f"{group_kind.lower()}/{_s(ref.get('name'))}" if group_kind else _s(ref.get("name"))
            break
    return [_name(obj), controller, _i(obj.get("revision")), since(_created(obj), now)]


def _rolebinding_cells(obj: dict, now: datetime) -> list:
    ref = _d(obj.get("roleRef"))
    users, groups, sas = [], [], []
    for subject in _dicts(obj.get("subjects")):
        kind, name, ns = subject.get("kind"), _s(subject.get("name")), _s(subject.get("namespace"))
        if kind == "User":
            users.append(name)
        elif kind == "Group":
            groups.append(name)
        elif kind == "ServiceAccount":
            sas.append(f"{ns}/{name}" if ns else name)
    return [
        _name(obj),
        f"{_s(ref.get('kind'))}/{_s(ref.get('name'))}",
        since(_created(obj), now),
        ", ".join(users),
        ", ".join(groups),
        ", ".join(sas),
    ]


def _pdb_cells(obj: dict, now: datetime) -> list:
    spec = _d(obj.get("spec"))
    min_available = _int_or_string(spec.get("minAvailable"))
    max_unavailable = _int_or_string(spec.get("maxUnavailable"))
    return [
        _name(obj),
        "N/A" if min_available is None else min_available,
        "N/A" if max_unavailable is None else max_unavailable,
        _i(_get(obj, "status", "disruptionsAllowed")),
        since(_created(obj), now),
    ]


def _storageclass_cells(obj: dict, now: datetime) -> list:
    annotations = _d(_get(obj, "metadata", "annotations"))
    name = _name(obj)
    if "true" in (
        annotations.get("storageclass.kubernetes.io/is-default-class"),
        annotations.get("storageclass.beta.kubernetes.io/is-default-class"),
    ):
        name += " (default)"
    expansion = obj.get("allowVolumeExpansion")
    return [
        name,
        _s(obj.get("provisioner")),
        _s(obj.get("reclaimPolicy")) or "Delete",
        _s(obj.get("volumeBindingMode")) or "Immediate",
        expansion if isinstance(expansion, bool) else False,
        since(_created(obj), now),
    ]


def _lease_cells(obj: dict, now: datetime) -> list:
    return [_name(obj), _s(_get(obj, "spec", "holderIdentity")), since(_created(obj), now)]


def _percent(v: Any) -> str | None:
    return None if v is None or isinstance(v, bool) else f"{_i(v)}%"


def _hpa_metric(spec: dict, status: dict | None) -> str:
    """One entry of the HPA ``Targets`` cell: ``current/target`` of a metric."""
    kind = spec.get("type")
    key = {
        "External": "external",
        "Object": "object",
        "Pods": "pods",
        "Resource": "resource",
        "ContainerResource": "containerResource",
    }.get(kind if isinstance(kind, str) else "")
    if key is None:
        return "<unknown type>"
    source = _d(spec.get(key))
    target = _d(source.get("target"))
    current = _get(status, key, "current")
    current = current if isinstance(current, dict) else None

    def now_value(field: str) -> str:
        return "<unknown>" if current is None or current.get(field) is None else _quantity(current.get(field))

    if kind in ("Resource", "ContainerResource"):
        prefix = f"{_s(source.get('name'))}: "
        if target.get("averageValue") is not None:
            return f"{prefix}{now_value('averageValue')}/{_quantity(target.get('averageValue'))}"
        used = (_percent(current.get("averageUtilization")) if current else None) or "<unknown>"
        return f"{prefix}{used}/{_percent(target.get('averageUtilization')) or '<auto>'}"
    if kind == "Pods":
        return f"{now_value('averageValue')}/{_quantity(target.get('averageValue'))}"
    if target.get("averageValue") is not None:
        return f"{now_value('averageValue')}/{_quantity(target.get('averageValue'))} (avg)"
    return f"{now_value('value')}/{_quantity(target.get('value'))}"


def _hpa_targets(obj: dict) -> str:
    spec, status = _d(obj.get("spec")), _d(obj.get("status"))
    metrics, current = _dicts(spec.get("metrics")), _l(status.get("currentMetrics"))
    if not metrics and spec.get("targetCPUUtilizationPercentage") is not None:  # autoscaling/v1
        metrics = [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {
                        "type": "Utilization",
                        "averageUtilization": spec["targetCPUUtilizationPercentage"],
                    },
                },
            }
        ]
        if status.get("currentCPUUtilizationPercentage") is not None:
            current = [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "current": {"averageUtilization": status["currentCPUUtilizationPercentage"]},
                    },
                }
            ]
    if not metrics:
        return "<none>"
    shown = [
        _hpa_metric(m, current[i] if i < len(current) and isinstance(current[i], dict) else None)
        for i, m in enumerate(metrics)
    ]
    if len(shown) > 2:
        return f"{', '.join(shown[:2])} + {len(shown) - 2} more..."
    return ", ".join(shown)


def _hpa_cells(obj: dict, now: datetime) -> list:
    spec, status = _d(obj.get("spec")), _d(obj.get("status"))
    ref = _d(spec.get("scaleTargetRef"))
    min_pods = spec.get("minReplicas")
    return [
        _name(obj),
        f"{_s(ref.get('kind'))}/{_s(ref.get('name'))}",
        _hpa_targets(obj),
        "<unset>" if min_pods is None else str(_i(min_pods)),
        _i(spec.get("maxReplicas")),
        _i(status.get("currentReplicas")),
        since(_created(obj), now),
    ]


def _c(*cols: dict | tuple) -> tuple[dict, ...]:
    """Columns from ready dicts or ``(name, type, description[, priority])`` tuples."""
    return tuple(c if isinstance(c, dict) else _col(c[0], c[1], c[2], *c[3:]) for c in cols)


_S, _INT, _BOOL = "string", "integer", "boolean"

PRINTERS: dict[str, _Printer] = {
    "pods": _Printer(
        _c(
            NAME,
            ("Ready", _S, "The aggregate readiness state of this pod for accepting traffic."),
            ("Status", _S, "The aggregate status of the containers in this pod."),
            (
                "Restarts",
                _S,
                "The number of times the containers in this pod have been restarted and when the "
                "last container in this pod has restarted.",
            ),
            AGE,
            ("IP", _S, "IP address allocated to the pod.", 1),
            ("Node", _S, "NodeName is the name of the node the pod is scheduled onto.", 1),
            (
                "Nominated Node",
                _S,
                "The node the scheduler nominated for the pod while it preempts others.",
                1,
            ),
            ("Readiness Gates", _S, "Pod readiness gates that are true, out of all of them.", 1),
        ),
        _pod_cells,
    ),
    "nodes": _Printer(
        _c(
            NAME,
            ("Status", _S, "The status of the node"),
            ("Roles", _S, "The roles of the node"),
            AGE,
            ("Version", _S, "Kubelet Version reported by the node."),
            ("Internal-IP", _S, "The node's internal IP address.", 1),
            ("External-IP", _S, "The node's external IP address.", 1),
            ("OS-Image", _S, "OS Image reported by the node from /etc/os-release.", 1),
            ("Kernel-Version", _S, "Kernel Version reported by the node from 'uname -r'.", 1),
            ("Container-Runtime", _S, "ContainerRuntime Version reported by the node.", 1),
        ),
        _node_cells,
    ),
    "namespaces": _Printer(_c(NAME, ("Status", _S, "The status of the namespace"), AGE), _namespace_cells),
    "services": _Printer(
        _c(
            NAME,
            ("Type", _S, "How the Service is exposed."),
            ("Cluster-IP", _S, "The IP address of the service within the cluster."),
            ("External-IP", _S, "IP addresses at which the service is reachable from outside the cluster."),
            ("Port(s)", _S, "The list of ports that are exposed by this service."),
            AGE,
            (
                "Selector",
                _S,
                "Route service traffic to pods with label keys and values matching this selector.",
                1,
            ),
        ),
        _service_cells,
    ),
    "endpoints": _Printer(
        _c(
            NAME,
            ("Endpoints", _S, "The set of all endpoints is the union of all subsets."),
            AGE,
        ),
        _endpoints_cells,
    ),
    "configmaps": _Printer(_c(NAME, ("Data", _S, "Number of data entries."), AGE), _configmap_cells),
    "secrets": _Printer(
        _c(
            NAME,
            ("Type", _S, "Used to facilitate programmatic handling of secret data."),
            ("Data", _S, "Number of data entries."),
            AGE,
        ),
        _secret_cells,
    ),
    "serviceaccounts": _Printer(
        _c(
            NAME,
            ("Secrets", _S, "Number of secrets this service account may use."),
            AGE,
        ),
        _serviceaccount_cells,
    ),
    "events": _Printer(
        _c(
            ("Last Seen", _S, "The time at which the most recent occurrence of this event was recorded."),
            ("Type", _S, "Type of this event (Normal, Warning)."),
            (
                "Reason",
                _S,
                "A short, machine understandable string that gives the reason for the transition.",
            ),
            ("Object", _S, "The object that this event is about."),
            ("Subobject", _S, "The part of the object this event is about.", 1),
            ("Source", _S, "The component reporting this event.", 1),
            ("Message", _S, "A human-readable description of the status of this operation."),
            ("First Seen", _S, "The time at which the event was first recorded.", 1),
            ("Count", _S, "The number of times this event has occurred.", 1),
            _col("Name", description=_NAME_DESC, priority=1, fmt="name"),
        ),
        _event_cells,
    ),
    "persistentvolumes": _Printer(
        _c(
            NAME,
            ("Capacity", _S, "The capacity of the volume."),
            ("Access Modes", _S, "The ways the volume can be mounted."),
            ("Reclaim Policy", _S, "What happens to the volume when released from its claim."),
            ("Status", _S, "The phase of the volume."),
            ("Claim", _S, "The claim bound to this volume."),
            ("StorageClass", _S, "StorageClass of the pv"),
            ("VolumeAttributesClass", _S, "VolumeAttributesClass of the pv"),
            ("Reason", _S, "A brief CamelCase string that describes any failure."),
            AGE,
            ("VolumeMode", _S, "Whether the volume is a formatted filesystem or a raw block device.", 1),
        ),
        _pv_cells,
    ),
    "persistentvolumeclaims": _Printer(
        _c(
            NAME,
            ("Status", _S, "The phase of the claim."),
            ("Volume", _S, "The volume bound to this claim."),
            ("Capacity", _S, "The capacity of the bound volume."),
            ("Access Modes", _S, "The access modes of the bound volume."),
            ("StorageClass", _S, "StorageClass of the pvc"),
            ("VolumeAttributesClass", _S, "VolumeAttributesClass of the pvc"),
            AGE,
            ("VolumeMode", _S, "Whether the volume is a formatted filesystem or a raw block device.", 1),
        ),
        _pvc_cells,
    ),
    "resourcequotas": _Printer(
        _c(
            NAME,
            (
                "Request",
                _S,
                "Request represents a minimum amount of cpu/memory that a container may consume.",
            ),
            (
                "Limit",
                _S,
                "Limits control the maximum amount of cpu/memory that a container may use independent "
                "of contention on the node.",
            ),
            AGE,
        ),
        _quota_cells,
    ),
    "deployments.apps": _Printer(
        _c(
            NAME,
            ("Ready", _S, "Number of the pod with ready state"),
            (
                "Up-to-date",
                _S,
                "Total number of non-terminated pods targeted by this deployment that have the "
                "desired template spec.",
            ),
            ("Available", _S, "Total number of available pods targeted by this deployment."),
            AGE,
            _CONTAINERS,
            _IMAGES,
            _SELECTOR,
        ),
        _deployment_cells,
    ),
    "replicasets.apps": _Printer(
        _c(
            NAME,
            ("Desired", _INT, "Replicas is the number of desired replicas."),
            ("Current", _INT, "Replicas is the most recently observed number of replicas."),
            ("Ready", _INT, "The number of ready replicas for this replica set."),
            AGE,
            _CONTAINERS,
            _IMAGES,
            _SELECTOR,
        ),
        _replicaset_cells,
    ),
    "statefulsets.apps": _Printer(
        _c(
            NAME,
            ("Ready", _S, "Number of the pod with ready state"),
            AGE,
            _CONTAINERS,
            _IMAGES,
        ),
        _statefulset_cells,
    ),
    "daemonsets.apps": _Printer(
        _c(
            NAME,
            ("Desired", _INT, "The total number of nodes that should be running the daemon pod."),
            ("Current", _INT, "The number of nodes that are running at least 1 daemon pod."),
            (
                "Ready",
                _INT,
                "The number of nodes that should be running the daemon pod and have one or more of "
                "the daemon pod running and ready.",
            ),
            ("Up-to-date", _INT, "The total number of nodes that are running updated daemon pod."),
            (
                "Available",
                _INT,
                "The number of nodes that should be running the daemon pod and have one or more "
                "of the daemon pod running and available.",
            ),
            (
                "Node Selector",
                _S,
                "NodeSelector is a selector which must be true for the pod to fit on a node.",
            ),
            AGE,
            _CONTAINERS,
            _IMAGES,
            _SELECTOR,
        ),
        _daemonset_cells,
    ),
    "controllerrevisions.apps": _Printer(
        _c(
            NAME,
            ("Controller", _S, "Controller of the object"),
            ("Revision", _S, "Revision of the state."),
            AGE,
        ),
        _controllerrevision_cells,
    ),
    "jobs.batch": _Printer(
        _c(
            NAME,
            ("Status", _S, "Status of the job."),
            ("Completions", _S, "The number of pods which reached phase Succeeded."),
            ("Duration", _S, "Time required to complete the job."),
            AGE,
            _CONTAINERS,
            _IMAGES,
            _SELECTOR,
        ),
        _job_cells,
    ),
    "cronjobs.batch": _Printer(
        _c(
            NAME,
            ("Schedule", _S, "The schedule in Cron format."),
            ("Timezone", _S, "The time zone name for the given schedule."),
            ("Suspend", _BOOL, "Whether subsequent executions are suspended."),
            ("Active", _INT, "A list of pointers to currently running jobs."),
            ("Last Schedule", _S, "Information when was the last time the job was successfully scheduled."),
            AGE,
            _CONTAINERS,
            _IMAGES,
            _SELECTOR,
        ),
        _cronjob_cells,
    ),
    "ingresses.networking.k8s.io": _Printer(
        _c(
            NAME,
            (
                "Class",
                _S,
                "The name of the IngressClass resource that should be used for additional configuration",
            ),
            ("Hosts", _S, "Hosts that incoming requests are matched against before the ingress rule"),
            ("Address", _S, "Address is a list containing ingress points for the load-balancer"),
            ("Ports", _S, "Ports of TLS configurations that open"),
            AGE,
        ),
        _ingress_cells,
    ),
    "ingressclasses.networking.k8s.io": _Printer(
        _c(
            NAME,
            ("Controller", _S, "Controller that is responsible for handling this class"),
            ("Parameters", _S, "A reference to a resource with additional parameters"),
            AGE,
        ),
        _ingressclass_cells,
    ),
    "networkpolicies.networking.k8s.io": _Printer(
        _c(
            NAME,
            ("Pod-Selector", _S, "Selects the pods to which this NetworkPolicy object applies."),
            AGE,
        ),
        _networkpolicy_cells,
    ),
    "rolebindings.rbac.authorization.k8s.io": _Printer(
        _c(
            NAME,
            ("Role", _S, "RoleRef can reference a Role in the current namespace or a ClusterRole."),
            AGE,
            ("Users", _S, "Users in the roleBinding", 1),
            ("Groups", _S, "Groups in the roleBinding", 1),
            ("ServiceAccounts", _S, "ServiceAccounts in the roleBinding", 1),
        ),
        _rolebinding_cells,
    ),
    "clusterrolebindings.rbac.authorization.k8s.io": _Printer(
        _c(
            NAME,
            ("Role", _S, "RoleRef can only reference a ClusterRole in the global namespace."),
            AGE,
            ("Users", _S, "Users in the clusterRoleBinding", 1),
            ("Groups", _S, "Groups in the clusterRoleBinding", 1),
            ("ServiceAccounts", _S, "ServiceAccounts in the clusterRoleBinding", 1),
        ),
        _rolebinding_cells,
    ),
    "poddisruptionbudgets.policy": _Printer(
        _c(
            NAME,
            ("Min Available", _S, "The minimum number of pods that must be available."),
            ("Max Unavailable", _S, "The maximum number of pods that may be unavailable."),
            ("Allowed Disruptions", _INT, "Calculated number of pods that may be disrupted at this time."),
            AGE,
        ),
        _pdb_cells,
    ),
    "storageclasses.storage.k8s.io": _Printer(
        _c(
            NAME,
            ("Provisioner", _S, "Provisioner indicates the type of the provisioner."),
            ("ReclaimPolicy", _S, "Reclaim policy of dynamically provisioned volumes."),
            ("VolumeBindingMode", _S, "How PersistentVolumeClaims should be provisioned and bound."),
            ("AllowVolumeExpansion", _S, "Whether the storage class allows volume expand."),
            AGE,
        ),
        _storageclass_cells,
    ),
    "horizontalpodautoscalers.autoscaling": _Printer(
        _c(
            NAME,
            ("Reference", _S, "The target resource to scale."),
            ("Targets", _S, "The specifications used to calculate the desired replica count."),
            ("MinPods", _S, "The lower limit for the number of replicas."),
            ("MaxPods", _S, "The upper limit for the number of replicas."),
            ("Replicas", _S, "Current number of replicas of pods managed by this autoscaler."),
            AGE,
        ),
        _hpa_cells,
    ),
    "leases.coordination.k8s.io": _Printer(
        _c(
            NAME,
            ("Holder", _S, "The identity of the holder of the current lease."),
            AGE,
        ),
        _lease_cells,
    ),
}
"""Printers of built-in kinds by `ResourceType.key`. Other built-ins get `DEFAULT_COLUMNS`."""

DEFAULT_COLUMNS = (NAME, _col("Created At", "date", _CREATED_DESC))
"""The generic server-side columns of kinds without a printer (roles, cluster roles, CRDs, ...)."""


def _default_cells(obj: dict, now: datetime) -> list:
    t = parse_time(_created(obj)) or datetime(1, 1, 1, tzinfo=UTC)  # Go's zero time when unset
    return [_name(obj), f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}Z"]


# --------------------------------------------------------------------------------------------------
# Custom resources: additionalPrinterColumns with (simple) JSONPath


class _PathError(ValueError):
    pass


_FILTER = re.compile(r"\?\(\s*@((?:\.[^.=!\s()]+)*)\s*(==|!=)\s*(.+?)\s*\)")


def _parse_path(path: str) -> list[tuple[str, Any]]:
    """Tokens of a simple JSONPath: ``.key``, ``['key']``, ``[n]``, ``[*]``, ``[?(@.a=="b")]``."""
    p = path.strip()
    if p.startswith("{") and p.endswith("}"):
        p = p[1:-1].strip()
    if p.startswith("$"):
        p = p[1:]
    if not p:
        raise _PathError(path)
    tokens: list[tuple[str, Any]] = []
    i = 0
    while i < len(p):
        c = p[i]
        if c == ".":
            i += 1
            key = []
            while i < len(p) and p[i] not in ".[":
                if p[i] == "\\" and i + 1 < len(p):
                    i += 1
                key.append(p[i])
                i += 1
            if not key:
                raise _PathError(path)
            tokens.append(("key", "".join(key)))
        elif c == "[":
            j, quote = i + 1, ""
            while j < len(p) and (quote or p[j] != "]"):
                if p[j] in "'\"":
                    quote = "" if quote == p[j] else (quote or p[j])
                j += 1
            if j >= len(p):
                raise _PathError(path)
            inner = p[i + 1 : j].strip()
            i = j + 1
            if len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "'\"":
                tokens.append(("key", inner[1:-1]))
            elif inner == "*":
                tokens.append(("all", None))
            elif re.fullmatch(r"-?\d+", inner):
                tokens.append(("index", int(inner)))
            elif m := _FILTER.fullmatch(inner):
                sub = _parse_path(m.group(1)) if m.group(1) else []
                tokens.append(("filter", (sub, m.group(2), _literal(m.group(3)))))
            else:
                raise _PathError(path)
        else:
            raise _PathError(path)
    return tokens


def _literal(text: str) -> Any:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    try:
        return json.loads(text)
    except ValueError as e:
        raise _PathError(text) from e


def _eval_path(tokens: list[tuple[str, Any]], root: Any) -> list[Any]:
    values = [root]
    for kind, arg in tokens:
        out: list[Any] = []
        for v in values:
            has_key = kind == "key" and isinstance(v, dict) and arg in v
            has_index = kind == "index" and isinstance(v, list) and -len(v) <= arg < len(v)
            if has_key or has_index:
                out.append(v[arg])
            elif kind == "all" and isinstance(v, list):
                out.extend(v)
            elif kind == "all" and isinstance(v, dict):
                out.extend(v[k] for k in sorted(v, key=str))
            elif kind == "filter" and isinstance(v, list):
                sub, op, expected = arg
                for item in v:
                    found = _eval_path(sub, item)
                    if found and _json_equal(found[0], expected) == (op == "=="):
                        out.append(item)
        values = out
    return values


def _json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a == b


def _crd_cell(column_type: str, value: Any, now: datetime) -> Any:
    """``cellForJSONValue`` of the apiextensions table convertor (strings print like kubectl's jsonpath)."""
    if value is None:
        return None
    if column_type == "string":
        return _go_text(value)
    if column_type == "integer":
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value
        return int(value) if isinstance(value, float) and value == value and abs(value) < 2**63 else None
    if column_type == "number":
        return value if isinstance(value, int | float) and not isinstance(value, bool) else None
    if column_type == "boolean":
        return value if isinstance(value, bool) else None
    if column_type == "date":
        if not isinstance(value, str):
            return None
        if _RFC3339.fullmatch(value.strip()) is None:
            return "<invalid>"
        return since(value, now)
    return None


def _crd_printer(crd_columns: list[dict] | None) -> _Printer:
    columns = [c for c in (crd_columns or []) if isinstance(c, dict)]
    if not columns:  # what the apiextensions server serves for a version without printer columns
        columns = [
            {
                "name": "Age",
                "type": "date",
                "jsonPath": ".metadata.creationTimestamp",
                "description": _CREATED_DESC,
            }
        ]
    defs, paths = [NAME], []
    for c in columns:
        path = _s(c.get("jsonPath"))
        try:
            paths.append(_parse_path(path))
        except _PathError:
            paths.append(None)
        defs.append(
            _col(
                _s(c.get("name")),
                _s(c.get("type")) or "string",
                _s(c.get("description")) or f"Custom resource definition column (in JSONPath format): {path}",
                _i(c.get("priority")),
                _s(c.get("format")),
            )
        )

    def cells(obj: dict, now: datetime) -> list:
        row: list = [_name(obj)]
        for col, tokens in zip(defs[1:], paths, strict=True):
            found = _eval_path(tokens, obj) if tokens is not None else []
            row.append(_crd_cell(col["type"], found[0], now) if found else None)
        return row

    return _Printer(tuple(defs), cells)


# --------------------------------------------------------------------------------------------------
# The Table


def printer_for(rt: ResourceType, crd_columns: list[dict] | None = None) -> tuple[tuple[dict, ...], Callable]:
    """Column definitions and the row function ``(obj, now) -> cells`` used for a resource type."""
    if crd_columns is not None:
        p = _crd_printer(crd_columns)
    elif rt.key in PRINTERS:
        p = PRINTERS[rt.key]
    elif rt.model is None:
        p = _crd_printer(None)
    else:
        p = _Printer(DEFAULT_COLUMNS, _default_cells)
    return p.columns, p.cells


def table(
    rt: ResourceType,
    objects: list[dict],
    *,
    now: datetime,
    include_object: str = "Metadata",
    version: str = "v1",
    list_meta: dict | None = None,
    crd_columns: list[dict] | None = None,
) -> dict:
    """Render ``objects`` (all of type ``rt``) as a ``meta.k8s.io`` Table.

    ``include_object`` is the ``includeObject`` query parameter: ``Metadata`` (default, also for "") embeds a
    PartialObjectMetadata per row, ``Object`` the whole object, ``None`` nothing; any other value is a
    BadRequest, as on a real server. ``list_meta`` (resourceVersion, continue, remainingItemCount) becomes
    the Table's metadata; without it a single object's resourceVersion is used (watch events).
    ``crd_columns`` are the served CRD version's additionalPrinterColumns.
    """
    if version not in TABLE_VERSIONS:
        raise ValueError(f"unknown Table version {version!r}")
    include = include_object or "Metadata"
    if include not in INCLUDE_OBJECT:
        raise BadRequest(f"unrecognized includeObject value: {json.dumps(include)}")
    api_version = f"meta.k8s.io/{version}"
    columns, cells = printer_for(rt, crd_columns)
    now = _utc(now)

    rows = []
    for obj in objects:
        row: dict = {"cells": cells(obj, now)}
        if rt.key == "pods" and crd_columns is None and (conditions := _pod_conditions(obj)):
            row["conditions"] = conditions
        if include == "Metadata":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": api_version,
                "metadata": copy.deepcopy(_d(obj.get("metadata"))),
            }
        elif include == "Object":
            full = copy.deepcopy(obj)
            full.setdefault("kind", rt.kind)
            full.setdefault("apiVersion", rt.group_version)
            row["object"] = full
        rows.append(row)

    metadata: dict = {}
    source = (
        _d(list_meta)
        if list_meta is not None
        else (_d(objects[0].get("metadata")) if len(objects) == 1 else {})
    )
    if _s(source.get("resourceVersion")):
        metadata["resourceVersion"] = source["resourceVersion"]
    if list_meta is not None:
        if _s(source.get("continue")):
            metadata["continue"] = source["continue"]
        if isinstance(source.get("remainingItemCount"), int):
            metadata["remainingItemCount"] = source["remainingItemCount"]

    return {
        "kind": "Table",
        "apiVersion": api_version,
        "metadata": metadata,
        "columnDefinitions": [dict(c) for c in columns],
        "rows": rows,
    }
