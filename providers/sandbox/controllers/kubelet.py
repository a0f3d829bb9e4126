"""Kubelet: starts bound pods on Ready nodes and runs run-to-completion pods to their end.

A pod bound to a Ready node becomes Running and Ready `pod_start_seconds` after it was bound, with container
statuses, a pod IP from the node's pod CIDR and the node's InternalIP as host IP. A pod whose restartPolicy is
Never or OnFailure (Job pods, helm test hooks) then runs for `pod_start_seconds` and Succeeds — or Fails when
it carries the annotation `sandbox.kaas.dev/fail: "true"` or a container's command fails. Pods on a node that
is Ready again get their Ready condition back.

Some pods fail the way they would on a real node, with the statuses a real kubelet writes (see "Simulated pod
failures" in docs/SANDBOX.md):

- an image whose registry host ends in `.invalid`, or whose tag is `does-not-exist`, never pulls: the
  container waits with ErrImagePull, then ImagePullBackOff, and the pod stays Pending;
- a container whose command fails (`false`, or a shell snippet with `exit N`, N ≠ 0) crash-loops when the
  pod's restartPolicy is Always (CrashLoopBackOff, restartCount growing), and fails the pod otherwise.

Both follow the kubelet's back-off (10 s doubling up to 300 s), with one 10 s step lasting
`max(pod_start_seconds, 1)` sandbox seconds, so tests see several restarts within seconds.
"""

from __future__ import annotations

import copy
import hashlib
import ipaddress
import re
from collections import defaultdict
from typing import TYPE_CHECKING

from providers.sandbox.controllers import common as c
from providers.sandbox.store import parse_time, rfc3339

if TYPE_CHECKING:
    from providers.sandbox.controllers import ControllerContext

NAME = "kubelet"
INPUTS = {c.POD.key, c.NODE.key}

FAIL_ANNOTATION = "sandbox.kaas.dev/fail"
MISSING_TAG = "does-not-exist"
"""An image tag that no registry has: pulling it fails with `not found`."""
UNRESOLVABLE_SUFFIX = ".invalid"
"""Hosts under this RFC 2606 reserved TLD never resolve: pulling from them fails with `no such host`."""

BACKOFF_STEP_SECONDS = 10
"""The kubelet's initial back-off for crash loops and image pulls; it doubles after each failure."""
BACKOFF_MAX_STEPS = 30
"""The back-off is capped at 300 s, 30 initial steps."""
MIN_STEP_SECONDS = 1.0
"""Shortest sandbox time one back-off step takes, even when pods start at once: restarts then do not spin,
and their whole-second timestamps still tell them apart."""

# `exit N` as a shell command: at the start of the snippet or after a separator, followed by one or the end.
_EXIT = re.compile(r"(?:^|[\s;&|(])exit\s+(\d+)(?=$|[\s;&|)])")


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
    """The `repo@sha256:…` image ID containerd reports for `image` (a digest derived from its name)."""
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


def pull_error(image: str) -> str | None:
    """The error containerd reports for pulling `image` when the sandbox makes that pull fail, else None.

    Worded as a real node words it: a host that does not resolve is an Unknown gRPC error, whose code the
    kubelet strips; a missing tag keeps its `NotFound` code.
    """
    if not image:
        return None
    ref = normalize_image(image)
    name, _, digest = ref.partition("@")
    host, _, path = name.partition("/")
    repo, tag = path, ""
    if ":" in path.rsplit("/", 1)[-1]:
        repo, tag = path.rsplit(":", 1)
    hostname = host.rsplit(":", 1)[0]
    prefix = f'failed to pull and unpack image "{ref}": failed to resolve reference "{ref}": '
    if hostname.endswith(UNRESOLVABLE_SUFFIX):
        url = f"https://{host}/v2/{repo}/manifests/{digest or tag}"
        return f'{prefix}failed to do request: Head "{url}": dial tcp: lookup {hostname}: no such host'
    if tag == MISSING_TAG and not digest:
        return f"rpc error: code = NotFound desc = {prefix}{ref}: not found"
    return None


def exit_code(container: dict) -> int:
    """The exit code of `container`'s process in the sandbox: non-zero when its command says it fails.

    That is when the command is `false` (any path), or when command and args, joined, contain a shell
    `exit N` with N ≠ 0 (the first such N, modulo 256 as a shell does). Anything else exits 0.
    """
    command = [x for x in container.get("command") or [] if isinstance(x, str)]
    args = [x for x in container.get("args") or [] if isinstance(x, str)]
    if command and command[0].rsplit("/", 1)[-1] == "false":
        return 1
    codes = (int(n) % 256 for n in _EXIT.findall(" ".join(command + args)))
    return next((code for code in codes if code), 0)


def _container_id(pod: dict, name: str, attempt: int = 0) -> str:
    key = f"{c.uid_of(pod)}/{name}" + (f"/{attempt}" if attempt else "")
    return "containerd://" + hashlib.sha256(key.encode()).hexdigest()


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
    """Start the pods that are due, bring failing pods up to date, finish run-to-completion pods and give
    pods back their Ready condition once their node recovers."""
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
    live = {c.uid_of(p) for p in todo}
    for key in [k for k in seen if k[0] not in live]:
        del seen[key]
    for pod in todo:
        node = nodes[c.spec_of(pod)["nodeName"]]
        if not c.node_ready(node):
            continue
        uid, phase = c.uid_of(pod), c.pod_phase(pod)
        used = used_ips[c.name_of(node)]
        failing = _keeps_failing(pod)
        # A pod whose image does not pull stays Pending after it was started (its startTime tells).
        if phase == "Pending" and not (failing and c.status_of(pod).get("startTime")):
            scheduled = c.condition(pod, "PodScheduled") or {}
            stamped = (
                parse_time(scheduled.get("lastTransitionTime") if scheduled.get("status") == "True" else None)
                or parse_time(c.meta(pod).get("creationTimestamp"))
                or now
            )
            bound_at = _first_seen(seen, (uid, "bound"), stamped, now)
            if bound_at + delay > now:
                ctx.wake(NAME, bound_at + delay)
                continue
            seen[(uid, "started")] = now
            _sync(ctx, pod, node, used, now, now)
        elif failing:
            started = parse_time(c.status_of(pod).get("startTime")) or now
            _sync(ctx, pod, node, used, _first_seen(seen, (uid, "started"), started, now), now)
        elif phase == "Running":
            if c.spec_of(pod).get("restartPolicy", "Always") != "Always":
                started = _first_seen(seen, (uid, "started"), _started_at(pod) or now, now)
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


def _restarts_in_place(pod: dict, container: dict) -> bool:
    """Whether a failed container is restarted: in pods that always restart, and sidecars everywhere.

    A real kubelet also restarts containers of OnFailure pods in place; the sandbox fails such pods
    instead, as it does with the fail annotation, so that the Job controller sees the failure.
    """
    return (
        c.spec_of(pod).get("restartPolicy", "Always") == "Always"
        or container.get("restartPolicy") == "Always"
    )


def _keeps_failing(pod: dict) -> bool:
    """Whether the pod has a container whose status changes over time: an image pull that fails and is
    retried, or a failing command that is restarted."""
    spec = c.spec_of(pod)
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        if not isinstance(container, dict):
            continue
        if pull_error(str(container.get("image", ""))) is not None:
            return True
        if exit_code(container) and _restarts_in_place(pod, container):
            return True
    return False


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


def _conditions(pod: dict, stamp: str, phase: str, incomplete: list[str], unready: list[str]) -> list[dict]:
    """The pod conditions a kubelet writes for `phase`, given the init containers that have not completed
    and the containers (and sidecars) that are not ready. A condition whose status does not change keeps
    its lastTransitionTime."""

    def cond(type_: str, status: bool, reason: str | None = None, message: str | None = None) -> dict:
        out: dict = {
            "type": type_,
            "status": "True" if status else "False",
            "lastProbeTime": None,
            "lastTransitionTime": stamp,
        }
        if reason:
            out["reason"] = reason
        if message:
            out["message"] = message
        return out

    # Go prints a []string as `[a b]`.
    terminal = {"Succeeded": "PodCompleted", "Failed": "PodFailed"}.get(phase)
    if incomplete:
        initialized = cond(
            "Initialized",
            False,
            "ContainersNotInitialized",
            f"containers with incomplete status: [{' '.join(incomplete)}]",
        )
    else:
        initialized = cond("Initialized", True, "PodCompleted" if phase == "Succeeded" else None)
    if terminal:
        ready: tuple = (False, terminal)
    elif unready:
        ready = (False, "ContainersNotReady", f"containers with unready status: [{' '.join(unready)}]")
    else:
        ready = (True,)
    scheduled = c.condition(pod, "PodScheduled")
    sched = dict(scheduled) if scheduled else cond("PodScheduled", True)
    sched.pop("reason", None)
    sched.pop("message", None)
    sched["status"] = "True"
    conds = [
        cond("PodReadyToStartContainers", terminal is None),
        initialized,
        cond("Ready", *ready),
        cond("ContainersReady", *ready),
        sched,
    ]
    before = {x.get("type"): x for x in c.status_of(pod).get("conditions") or [] if isinstance(x, dict)}
    for x in conds:
        old = before.get(x["type"])
        if old and old.get("status") == x["status"] and old.get("lastTransitionTime"):
            x["lastTransitionTime"] = old["lastTransitionTime"]
    return conds


def _sync(ctx: ControllerContext, pod: dict, node: dict, used: set[str], started: float, now: float) -> None:
    """Write the status of a pod whose containers were started at `started`, as it is at `now`."""
    new = copy.deepcopy(pod)
    status = new.setdefault("status", {})
    host, _ = _node_ips(node)
    ip = status.get("podIP") or _allocate_ip(pod, node, used)
    if host:
        status["hostIP"] = host
        status["hostIPs"] = [{"ip": host}]
    if ip:
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}]
    status["startTime"] = status.get("startTime") or rfc3339(now)
    wake = _containers(ctx, new, started, now)
    if wake is not None:
        ctx.wake(NAME, wake)
    c.write(ctx.store, c.POD, pod, new)


def _containers(ctx: ControllerContext, pod: dict, started: float, now: float) -> float | None:
    """Set the phase, conditions and container statuses of `pod` (in place) as they are at `now`.

    Init containers run in order, each at once; one that waits (for its image, or to be restarted) or
    fails holds back those after it and the regular containers, which wait with PodInitializing. Returns
    when a status next changes by itself (a pull attempt, a restart), or None.
    """
    spec, status = c.spec_of(pod), pod["status"]
    wakes: list[float] = []
    init_statuses: list[dict] = []
    incomplete: list[str] = []
    unready: list[str] = []
    held = failed = False
    for x in [x for x in spec.get("initContainers") or [] if isinstance(x, dict)]:
        name, sidecar = str(x.get("name", "")), x.get("restartPolicy") == "Always"
        if held or failed:
            cs = _waiting(x, {"reason": "PodInitializing"})
        else:
            cs, wake = _run_container(ctx, pod, x, started, now, completes=not sidecar)
            wakes += [wake] if wake is not None else []
            terminated = cs["state"].get("terminated")
            failed = terminated is not None and terminated["exitCode"] != 0
            held = "waiting" in cs["state"]
        if sidecar:
            if not cs["started"]:
                incomplete.append(name)
            if not cs["ready"]:
                unready.append(name)
        elif (cs["state"].get("terminated") or {}).get("exitCode") != 0:
            incomplete.append(name)
        init_statuses.append(cs)
    statuses = []
    for x in [x for x in spec.get("containers") or [] if isinstance(x, dict)]:
        if held or failed:
            cs = _waiting(x, {"reason": "PodInitializing"})
        else:
            cs, wake = _run_container(ctx, pod, x, started, now, completes=False)
            wakes += [wake] if wake is not None else []
        if not cs["ready"]:
            unready.append(cs["name"])
        statuses.append(cs)
    if failed:
        phase = "Failed"
    elif held or any("waiting" in cs["state"] and not cs["lastState"] for cs in statuses):
        phase = "Pending"  # a container that never ran keeps the pod Pending, as in a real kubelet
    else:
        phase = "Running"
    status["phase"] = phase
    status["conditions"] = _conditions(pod, rfc3339(now), phase, incomplete, unready)
    if init_statuses:
        status["initContainerStatuses"] = init_statuses
    status["containerStatuses"] = sorted(statuses, key=lambda s: s["name"])
    return min(wakes, default=None)


def _run_container(
    ctx: ControllerContext, pod: dict, container: dict, started: float, now: float, *, completes: bool
) -> tuple[dict, float | None]:
    """The status at `now` of a container started at `started`, and when it next changes by itself.

    `completes` is for regular init containers, which run to completion. A failing command fails a
    container that is not restarted in place only here, for init containers; a regular container of a
    run-to-completion pod runs until `_finish`, which applies its exit code.
    """
    image = str(container.get("image", ""))
    error = pull_error(image)
    unit = max(ctx.settings.pod_start_seconds, MIN_STEP_SECONDS)
    if error is not None:
        _, last, following = _schedule(started, now, unit, pause=1)
        if now < last + unit:
            return _waiting(container, {"reason": "ErrImagePull", "message": error}), last + unit
        message = f'Back-off pulling image "{image}"'
        if ctx.at_least(1, 32):
            message += f": ErrImagePull: {error}"  # since 1.32 the kubelet repeats the last pull error
        return _waiting(container, {"reason": "ImagePullBackOff", "message": message}), following
    code = exit_code(container)
    if code and _restarts_in_place(pod, container):
        return _crash_loop(pod, container, code, started, now, unit)
    out = _container_status(pod, container, rfc3339(started), terminated=completes)
    if code and completes:
        out["ready"] = False
        out["state"]["terminated"].update(exitCode=code, reason="Error")
    return out, None


def _schedule(start: float, now: float, unit: float, *, pause: int) -> tuple[int, float, float]:
    """Failures at `start` and then each `pause` + back-off steps of `unit` seconds after the previous one.

    Returns how many have happened by `now` (at least one), when the latest one did and when the next will.
    """
    count, at = 1, start
    while True:
        steps = _backoff_steps(count)
        gap = unit * (pause + steps)
        if at + gap > now:
            return count, at, at + gap
        # Once the back-off is capped every gap is the same: skip all the whole ones at once.
        skip = int((now - at) // gap) if steps == BACKOFF_MAX_STEPS else 1
        count, at = count + skip, at + skip * gap


def _backoff_steps(failures: int) -> int:
    """The back-off after `failures` failures, in initial steps: 1, 2, 4, … capped at BACKOFF_MAX_STEPS."""
    return min(1 << min(failures - 1, 8), BACKOFF_MAX_STEPS)


def _go_duration(seconds: int) -> str:
    """Whole seconds under an hour as Go prints a time.Duration: `10s`, `1m20s`, `5m0s`."""
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes}m{seconds}s" if minutes else f"{seconds}s"


def _waiting(container: dict, waiting: dict) -> dict:
    """The status of a container that has not been created: the spec's image, no image or container ID."""
    return {
        "name": str(container.get("name", "")),
        "image": str(container.get("image", "")),
        "imageID": "",
        "ready": False,
        "restartCount": 0,
        "started": False,
        "lastState": {},
        "state": {"waiting": waiting},
    }


def _crash_loop(
    pod: dict, container: dict, code: int, started: float, now: float, unit: float
) -> tuple[dict, float]:
    """A crash-looping container and when it is next restarted.

    Its first exit is restarted at once (a real kubelet's back-off starts with the second one); every
    run exits as soon as it starts, so it spends its time waiting in CrashLoopBackOff.
    """
    restarts, last, following = _schedule(started, now, unit, pause=0)
    name = str(container.get("name", ""))
    stamp = rfc3339(last)
    out = _container_status(pod, container, stamp)
    out["containerID"] = _container_id(pod, name, restarts)
    back_off = _go_duration(BACKOFF_STEP_SECONDS * _backoff_steps(restarts))
    out.update(
        ready=False,
        started=False,
        restartCount=restarts,
        lastState={
            "terminated": {
                "exitCode": code,
                "reason": "Error",
                "startedAt": stamp,
                "finishedAt": stamp,
                "containerID": out["containerID"],
            }
        },
        state={
            "waiting": {
                "reason": "CrashLoopBackOff",
                "message": f"back-off {back_off} restarting failed container={name} "
                f"pod={c.name_of(pod)}_{c.ns_of(pod)}({c.uid_of(pod)})",
            }
        },
    )
    return out, following


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
    annotated = (c.meta(pod).get("annotations") or {}).get(FAIL_ANNOTATION) == "true"
    specs = {x.get("name"): x for x in c.spec_of(pod).get("containers") or [] if isinstance(x, dict)}
    new = copy.deepcopy(pod)
    status = new["status"]
    finished = []
    for cs in status.get("containerStatuses") or []:
        cs = dict(cs)
        code = exit_code(specs.get(cs.get("name")) or {}) or (1 if annotated else 0)
        started = (((cs.get("state") or {}).get("running")) or {}).get("startedAt", stamp)
        cs["state"] = {
            "terminated": {
                "exitCode": code,
                "reason": "Error" if code else "Completed",
                "startedAt": started,
                "finishedAt": stamp,
                "containerID": cs.get("containerID", ""),
            }
        }
        cs["ready"] = False
        cs["started"] = False
        finished.append(cs)
    status["containerStatuses"] = finished
    failed = any(cs["state"]["terminated"]["exitCode"] for cs in finished)
    status["phase"] = "Failed" if failed else "Succeeded"
    status["conditions"] = _conditions(pod, stamp, status["phase"], [], [])
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
