"""Kubelet: starts bound pods on Ready nodes and runs run-to-completion pods to their end.

A pod bound to a Ready node becomes Running and Ready `pod_start_seconds` after it was bound, with container
statuses, a pod IP from the node's pod CIDR and the node's InternalIP as host IP. A pod whose restartPolicy is
Never or OnFailure (Job pods, helm test hooks) then runs for `pod_start_seconds` and Succeeds — or Fails when
it carries the annotation `sandbox.kaas.dev/fail: "true"`. Pods on a node that is Ready again get their Ready
condition back.
"""

from __future__ import annotations

import copy
import hashlib
import ipaddress
from collections import defaultdict
from typing import TYPE_CHECKING

from providers.sandbox.controllers import common as c
from providers.sandbox.store import parse_time, rfc3339

if TYPE_CHECKING:
    from providers.sandbox.controllers import ControllerContext

NAME = "kubelet"
INPUTS = {c.POD.key, c.NODE.key}

FAIL_ANNOTATION = "sandbox.kaas.dev/fail"


def normalize_image(image: str) -> str:
    """`nginx` → `docker.io/library/nginx:latest`, as containerd reports images."""
    if "@" in image:
        name, digest = image.split("@", 1)
        return f"{_qualify(name)}@{digest}"
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        image = f"{image}:latest"
    return _qualify(image)


def _qualify(name: str) -> str:
    first, _, rest = name.partition("/")
    if not rest:
        return f"docker.io/library/{name}"
    if "." in first or ":" in first or first == "localhost":
        return name
    return f"docker.io/{name}"


def image_id(image: str) -> str:
    normalized = normalize_image(image)
    repo = normalized.split("@", 1)[0]
    last = repo.rsplit("/", 1)[-1]
    if ":" in last:
        repo = repo[: len(repo) - len(last)] + last.split(":", 1)[0]
    digest = (
        normalized.split("@", 1)[1]
        if "@" in normalized
        else ("sha256:" + hashlib.sha256(normalized.encode()).hexdigest())
    )
    return f"{repo}@{digest}"


def _container_id(pod: dict, name: str) -> str:
    return "containerd://" + hashlib.sha256(f"{c.uid_of(pod)}/{name}".encode()).hexdigest()


def _node_ips(node: dict) -> tuple[str | None, ipaddress.IPv4Network | None]:
    host = None
    for addr in c.status_of(node).get("addresses") or []:
        if isinstance(addr, dict) and addr.get("type") == "InternalIP":
            host = addr.get("address")
            break
    try:
        cidr = ipaddress.ip_network(c.spec_of(node).get("podCIDR") or "", strict=False)
    except ValueError:
        cidr = None
    return host, cidr if isinstance(cidr, ipaddress.IPv4Network) else None


def run(ctx: ControllerContext) -> None:
    store = ctx.store
    now = ctx.now()
    nodes = {c.name_of(n): n for n in store.list(c.NODE.key)}
    used_ips: dict[str, set[str]] = defaultdict(set)
    todo: list[dict] = []
    for pod in store.list(c.POD.key):
        node_name = c.spec_of(pod).get("nodeName")
        if not node_name or node_name not in nodes:
            continue
        ip = c.status_of(pod).get("podIP")
        if ip and c.pod_phase(pod) not in c.TERMINAL:
            used_ips[node_name].add(ip)
        if not c.deleting(pod) and c.pod_phase(pod) not in c.TERMINAL:
            todo.append(pod)
    delay = max(ctx.settings.pod_start_seconds, 0.0)
    # API timestamps have whole seconds; remember when this kubelet saw each pod bound or started, so that
    # sub-second delays are honoured too (after a restart the timestamps are all there is).
    seen: dict[tuple[str, str], float] = ctx.scratch.setdefault(NAME, {})
    live = {(c.uid_of(p), c.pod_phase(p)) for p in todo}
    for key in [k for k in seen if k not in live]:
        del seen[key]
    for pod in todo:
        node = nodes[c.spec_of(pod)["nodeName"]]
        if not c.node_ready(node):
            continue
        phase = c.pod_phase(pod)
        if phase == "Pending":
            scheduled = c.condition(pod, "PodScheduled") or {}
            stamped = (
                parse_time(scheduled.get("lastTransitionTime") if scheduled.get("status") == "True" else None)
                or parse_time(c.meta(pod).get("creationTimestamp"))
                or now
            )
            bound_at = _first_seen(seen, (c.uid_of(pod), phase), stamped, now)
            if bound_at + delay > now:
                ctx.wake(NAME, bound_at + delay)
                continue
            _start(ctx, pod, node, used_ips[c.name_of(node)], now)
            seen[(c.uid_of(pod), "Running")] = now
        elif phase == "Running":
            if c.spec_of(pod).get("restartPolicy", "Always") != "Always":
                started = _first_seen(seen, (c.uid_of(pod), phase), _started_at(pod) or now, now)
                if started + delay > now:
                    ctx.wake(NAME, started + delay)
                    continue
                _finish(ctx, pod, now)
            elif c.condition_status(pod, "Ready") != "True":
                _set_ready(ctx, pod, rfc3339(now))


def _first_seen(
    seen: dict[tuple[str, str], float], key: tuple[str, str], stamped: float, now: float
) -> float:
    if key not in seen:
        # A timestamp within the current second was written just now; an older one predates this process.
        seen[key] = now if now - stamped < 1 else stamped
    return seen[key]


def _started_at(pod: dict) -> float | None:
    for cs in c.status_of(pod).get("containerStatuses") or []:
        running = ((cs or {}).get("state") or {}).get("running") or {}
        if running.get("startedAt"):
            return parse_time(running["startedAt"])
    return parse_time(c.status_of(pod).get("startTime"))


def _allocate_ip(pod: dict, node: dict, used: set[str]) -> str | None:
    host, cidr = _node_ips(node)
    if c.spec_of(pod).get("hostNetwork"):
        return host
    if cidr is None:
        return None
    hosts = cidr.num_addresses - 2
    start = int(hashlib.sha256(c.uid_of(pod).encode()).hexdigest(), 16) % max(hosts - 1, 1)
    for step in range(max(hosts - 1, 1)):
        candidate = str(cidr.network_address + 2 + (start + step) % max(hosts - 1, 1))
        if candidate not in used:
            used.add(candidate)
            return candidate
    return None


def _conditions(stamp: str, ready: bool, scheduled: dict | None, *, completed: bool = False) -> list[dict]:
    def cond(type_: str, status: bool, reason: str | None = None) -> dict:
        out: dict = {
            "type": type_,
            "status": "True" if status else "False",
            "lastProbeTime": None,
            "lastTransitionTime": stamp,
        }
        if reason:
            out["reason"] = reason
        return out

    done = "PodCompleted" if completed else None
    conds = [
        cond("PodReadyToStartContainers", not completed),
        cond("Initialized", True, done),
        cond("Ready", ready, done),
        cond("ContainersReady", ready, done),
    ]
    sched = dict(scheduled) if scheduled else cond("PodScheduled", True)
    sched.pop("reason", None)
    sched.pop("message", None)
    sched["status"] = "True"
    conds.append(sched)
    return conds


def _start(ctx: ControllerContext, pod: dict, node: dict, used: set[str], now: float) -> None:
    stamp = rfc3339(now)
    new = copy.deepcopy(pod)
    spec = new.get("spec") or {}
    status = new.setdefault("status", {})
    host, _ = _node_ips(node)
    ip = status.get("podIP") or _allocate_ip(pod, node, used)
    status["phase"] = "Running"
    status["conditions"] = _conditions(stamp, True, c.condition(pod, "PodScheduled"))
    if host:
        status["hostIP"] = host
        status["hostIPs"] = [{"ip": host}]
    if ip:
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}]
    status["startTime"] = status.get("startTime") or stamp
    inits = [x for x in spec.get("initContainers") or [] if isinstance(x, dict)]
    if inits:
        status["initContainerStatuses"] = [
            _container_status(pod, x, stamp, terminated=x.get("restartPolicy") != "Always") for x in inits
        ]
    status["containerStatuses"] = sorted(
        (_container_status(pod, x, stamp) for x in spec.get("containers") or [] if isinstance(x, dict)),
        key=lambda s: s["name"],
    )
    ctx.store.replace(c.POD, new)


def _container_status(pod: dict, container: dict, stamp: str, *, terminated: bool = False) -> dict:
    name = str(container.get("name", ""))
    image = str(container.get("image", ""))
    out = {
        "name": name,
        "image": normalize_image(image) if image else image,
        "imageID": image_id(image) if image else "",
        "containerID": _container_id(pod, name),
        "ready": True,
        "restartCount": 0,
        "started": not terminated,
        "lastState": {},
    }
    if terminated:
        out["state"] = {
            "terminated": {
                "exitCode": 0,
                "reason": "Completed",
                "startedAt": stamp,
                "finishedAt": stamp,
                "containerID": out["containerID"],
            }
        }
    else:
        out["state"] = {"running": {"startedAt": stamp}}
    return out


def _finish(ctx: ControllerContext, pod: dict, now: float) -> None:
    stamp = rfc3339(now)
    failed = (c.meta(pod).get("annotations") or {}).get(FAIL_ANNOTATION) == "true"
    new = copy.deepcopy(pod)
    status = new["status"]
    status["phase"] = "Failed" if failed else "Succeeded"
    status["conditions"] = _conditions(stamp, False, c.condition(pod, "PodScheduled"), completed=True)
    finished = []
    for cs in status.get("containerStatuses") or []:
        cs = dict(cs)
        started = (((cs.get("state") or {}).get("running")) or {}).get("startedAt", stamp)
        cs["state"] = {
            "terminated": {
                "exitCode": 1 if failed else 0,
                "reason": "Error" if failed else "Completed",
                "startedAt": started,
                "finishedAt": stamp,
                "containerID": cs.get("containerID", ""),
            }
        }
        cs["ready"] = False
        cs["started"] = False
        finished.append(cs)
    status["containerStatuses"] = finished
    ctx.store.replace(c.POD, new)


def _set_ready(ctx: ControllerContext, pod: dict, stamp: str) -> None:
    new = copy.deepcopy(pod)
    for x in new["status"].get("conditions") or []:
        if (
            isinstance(x, dict)
            and x.get("type") in ("Ready", "ContainersReady")
            and x.get("status") != "True"
        ):
            x.update(status="True", lastTransitionTime=stamp)
            x.pop("reason", None)
    c.write(ctx.store, c.POD, pod, new)
