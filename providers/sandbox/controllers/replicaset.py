"""ReplicaSet controller: keeps `spec.replicas` pods `<rs>-<5 chars>` alive and reports how many are ready."""

from __future__ import annotations

import copy
from collections import defaultdict
from typing import TYPE_CHECKING

from providers.sandbox.controllers import common as c
from providers.sandbox.store import parse_time

if TYPE_CHECKING:
    from providers.sandbox.controllers import ControllerContext

NAME = "replicaset"
INPUTS = {c.REPLICASET.key, c.POD.key, c.NAMESPACE.key}


def run(ctx: ControllerContext) -> None:
    store = ctx.store
    pods = store.list(c.POD.key)
    owned = c.by_controller(pods)
    orphans: dict[str, list[dict]] = defaultdict(list)
    for pod in pods:
        if c.controller_uid(pod) is None and c.pod_active(pod):
            orphans[c.ns_of(pod)].append(pod)
    for rs in store.list(c.REPLICASET.key):
        if c.deleting(rs):
            continue
        mine = owned.get(c.uid_of(rs), [])
        mine = mine + _adopt(ctx, rs, orphans.get(c.ns_of(rs), []))
        _sync(ctx, rs, mine)


def _adopt(ctx: ControllerContext, rs: dict, orphans: list[dict]) -> list[dict]:
    """Take over pods without a controller that match the selector, as the real controller does."""
    selector = c.spec_of(rs).get("selector")
    adopted = []
    for pod in list(orphans):
        if not c.selector_matches(selector, c.labels_of(pod)):
            continue
        new = copy.deepcopy(pod)
        refs = [r for r in new["metadata"].get("ownerReferences") or [] if isinstance(r, dict)]
        new["metadata"]["ownerReferences"] = [*refs, c.owner_ref(rs)]
        adopted.append(ctx.store.replace(c.POD, new))
        orphans.remove(pod)
    return adopted


def _deletion_rank(pod: dict) -> tuple:
    """Pods to remove first: unscheduled, then pending, then not ready, then the youngest."""
    phase = c.pod_phase(pod)
    created = parse_time(c.meta(pod).get("creationTimestamp")) or 0.0
    return (
        0 if not c.spec_of(pod).get("nodeName") else 1,
        0 if phase == "Pending" else 1 if phase == "Unknown" else 2,
        0 if not c.pod_ready(pod) else 1,
        -created,
        c.name_of(pod),
    )


def _sync(ctx: ControllerContext, rs: dict, pods: list[dict]) -> None:
    store = ctx.store
    spec = c.spec_of(rs)
    wanted = c.int_field(spec.get("replicas"), 1)
    active = [p for p in pods if c.pod_active(p)]
    if len(active) < wanted:
        template = spec.get("template") or {}
        base = f"{c.name_of(rs)}-"
        for _ in range(wanted - len(active)):
            name = c.generated_name(store, c.POD.key, c.ns_of(rs), base)
            pod = c.pod_from_template(
                ctx,
                template,
                name=name,
                namespace=c.ns_of(rs),
                owner=rs,
                generate_name=base[: c.MAX_GENERATED_BASE],
            )
            created = c.create(store, c.POD, pod)
            if created is None:
                break
            active.append(created)
    elif len(active) > wanted:
        doomed = sorted(active, key=_deletion_rank)[: len(active) - wanted]
        for pod in doomed:
            c.remove_obj(store, c.POD, pod)
        gone = {c.uid_of(p) for p in doomed}
        active = [p for p in active if c.uid_of(p) not in gone]
    _status(ctx, rs, active)


def _status(ctx: ControllerContext, rs: dict, active: list[dict]) -> None:
    now = ctx.now()
    spec = c.spec_of(rs)
    min_ready = c.int_field(spec.get("minReadySeconds"))
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    fully = ready = available = 0
    for pod in active:
        labels = c.labels_of(pod)
        if all(labels.get(k) == v for k, v in template_labels.items()):
            fully += 1
        if c.pod_ready(pod):
            ready += 1
        ok, at = c.pod_available(pod, min_ready, now)
        if ok:
            available += 1
        elif at is not None:
            ctx.wake(NAME, at)
    status: dict = {"replicas": len(active)}
    for key, value in (
        ("fullyLabeledReplicas", fully),
        ("readyReplicas", ready),
        ("availableReplicas", available),
    ):
        if value:
            status[key] = value
    status["observedGeneration"] = int(c.meta(rs).get("generation", 1))
    old = c.status_of(rs)
    if old.get("conditions"):
        status["conditions"] = old["conditions"]
    c.write_status(ctx.store, c.REPLICASET, rs, status)
