"""DaemonSet controller: one pod per eligible node, pinned to it with `spec.nodeName`.

A node is eligible when it matches the template's nodeSelector/required node affinity and has no NoSchedule
or NoExecute taint the pod does not tolerate. DaemonSet pods get the tolerations the real controller adds
(not-ready, unreachable, pressure conditions, unschedulable), so they stay on NotReady nodes and run on
cordoned ones; a new NotReady node gets no new pod (its not-ready NoSchedule taint is not tolerated). A
RollingUpdate replaces outdated pods, at most maxUnavailable of them unavailable at a time.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from typing import TYPE_CHECKING

from providers.sandbox.controllers import common as c
from providers.sandbox.controllers.statefulset import ensure_revision, prune_revisions

if TYPE_CHECKING:
    from providers.sandbox.controllers import ControllerContext

NAME = "daemonset"
INPUTS = {c.DAEMONSET.key, c.POD.key, c.NODE.key, c.NAMESPACE.key, c.CONTROLLERREVISION.key}

REVISION_LABEL = "controller-revision-hash"
GENERATION_LABEL = "pod-template-generation"
DAEMON_TOLERATIONS = (
    ("node.kubernetes.io/not-ready", "NoExecute"),
    ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"),
    ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"),
    ("node.kubernetes.io/unschedulable", "NoSchedule"),
)


def daemon_tolerations(spec: dict) -> list[dict]:
    tolerations = [t for t in spec.get("tolerations") or [] if isinstance(t, dict)]
    present = {(t.get("key"), t.get("effect")) for t in tolerations}
    extra = list(DAEMON_TOLERATIONS)
    if spec.get("hostNetwork"):
        extra.append(("node.kubernetes.io/network-unavailable", "NoSchedule"))
    for key, effect in extra:
        if (key, effect) not in present:
            tolerations.append({"key": key, "operator": "Exists", "effect": effect})
    return tolerations


def run(ctx: ControllerContext) -> None:
    store = ctx.store
    nodes = store.list(c.NODE.key)
    owned_pods = c.by_controller(store.list(c.POD.key))
    owned_revisions = c.by_controller(store.list(c.CONTROLLERREVISION.key))
    for ds in store.list(c.DAEMONSET.key):
        if c.deleting(ds):
            continue
        _sync(ctx, ds, nodes, owned_pods.get(c.uid_of(ds), []), owned_revisions.get(c.uid_of(ds), []))


def _placement(spec: dict, node: dict) -> tuple[bool, bool]:
    """(should run a new pod here, may keep an existing pod here)."""
    if not c.node_affinity_matches(spec, node):
        return False, False
    tolerations = spec.get("tolerations")
    taints = c.node_taints(node)
    keep = c.untolerated_taint(tolerations, taints, ("NoExecute",)) is None
    run = keep and c.untolerated_taint(tolerations, taints, ("NoSchedule",)) is None
    return run, keep


def _sync(
    ctx: ControllerContext, ds: dict, nodes: list[dict], pods: list[dict], revisions: list[dict]
) -> None:
    store = ctx.store
    now = ctx.now()
    spec = c.spec_of(ds)
    template = copy.deepcopy(spec.get("template") or {})
    pod_spec = template.setdefault("spec", {})
    pod_spec["tolerations"] = daemon_tolerations(pod_spec)
    revision = ensure_revision(ctx, ds, revisions, spec.get("template") or {})
    hash_ = revision.rsplit("-", 1)[-1]
    prune_revisions(ctx, ds, revisions, {revision})
    generation = str(c.meta(ds).get("generation", 1))
    min_ready = c.int_field(spec.get("minReadySeconds"))

    by_node: dict[str, list[dict]] = defaultdict(list)
    for pod in pods:
        if c.pod_active(pod):
            by_node[c.spec_of(pod).get("nodeName") or ""].append(pod)
        elif c.pod_phase(pod) == "Failed" and not c.deleting(pod):
            c.remove_obj(store, c.POD, pod)  # replaced below like a missing pod

    desired = scheduled = misscheduled = 0
    serving: list[dict] = []
    """One pod per node that should run the daemon."""
    for node in sorted(nodes, key=c.name_of):
        node_name = c.name_of(node)
        should_run, may_keep = _placement(pod_spec, node)
        here = sorted(
            by_node.pop(node_name, []), key=lambda p: (c.meta(p).get("creationTimestamp", ""), c.name_of(p))
        )
        desired += should_run
        for extra in here[1:]:
            c.remove_obj(store, c.POD, extra)
        if here and should_run:
            scheduled += 1
            serving.append(here[0])
        elif here and may_keep:
            misscheduled += 1
        elif here:
            c.remove_obj(store, c.POD, here[0])
        elif should_run:
            base = f"{c.name_of(ds)}-"
            pod = c.pod_from_template(
                ctx,
                template,
                name=c.generated_name(store, c.POD.key, c.ns_of(ds), base),
                namespace=c.ns_of(ds),
                owner=ds,
                extra_labels={REVISION_LABEL: hash_, GENERATION_LABEL: generation},
                generate_name=base[: c.MAX_GENERATED_BASE],
                spec_overrides={"nodeName": node_name},
            )
            created = c.create(store, c.POD, pod)
            if created is not None:
                scheduled += 1
                serving.append(created)
    for leftovers in by_node.values():
        for pod in leftovers:  # bound to a node that is gone, or never bound
            c.remove_obj(store, c.POD, pod)

    ready = available = updated = 0
    for pod in serving:
        updated += c.labels_of(pod).get(REVISION_LABEL) == hash_
        ready += c.pod_ready(pod)
        ok, at = c.pod_available(pod, min_ready, now)
        available += ok
        if at is not None:
            ctx.wake(NAME, at)

    strategy = spec.get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") == "RollingUpdate" and updated < len(serving):
        max_unavailable = c.resolve_int_or_percent(
            (strategy.get("rollingUpdate") or {}).get("maxUnavailable"), desired, round_up=True, default="1"
        )
        budget = max(max_unavailable, 1) - (desired - available)
        outdated = sorted(
            (p for p in serving if c.labels_of(p).get(REVISION_LABEL) != hash_),
            key=lambda p: (c.pod_available(p, min_ready, now)[0], c.spec_of(p).get("nodeName", "")),
        )
        for pod in outdated:
            if c.pod_available(pod, min_ready, now)[0]:
                if budget <= 0:
                    break
                budget -= 1
            c.remove_obj(store, c.POD, pod)

    status: dict = {
        "currentNumberScheduled": scheduled,
        "numberMisscheduled": misscheduled,
        "desiredNumberScheduled": desired,
        "numberReady": ready,
        "observedGeneration": int(c.meta(ds).get("generation", 1)),
    }
    for key, value in (
        ("updatedNumberScheduled", updated),
        ("numberAvailable", available),
        ("numberUnavailable", max(desired - available, 0)),
    ):
        if value:
            status[key] = value
    c.write_status(store, c.DAEMONSET, ds, status)
