"""StatefulSet controller: ordered pods `<name>-0 … <name>-N-1`, claims from volumeClaimTemplates, revisions.

With OrderedReady (the default) pod N is created only once pods 0…N-1 are Running and Ready and scale-down
removes the highest ordinal first, one at a time; Parallel creates and deletes all at once. A RollingUpdate
replaces pods at or above the partition whose revision is outdated, highest ordinal first, one at a time.
Each template revision is recorded as a ControllerRevision `<name>-<hash>`.
"""

from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING

from providers.sandbox import defaults
from providers.sandbox.controllers import common as c

if TYPE_CHECKING:
    from providers.sandbox.controllers import ControllerContext

NAME = "statefulset"
INPUTS = {c.STATEFULSET.key, c.POD.key, c.NAMESPACE.key, c.CONTROLLERREVISION.key}

REVISION_LABEL = "controller-revision-hash"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"


def run(ctx: ControllerContext) -> None:
    store = ctx.store
    owned_pods = c.by_controller(store.list(c.POD.key))
    owned_revisions = c.by_controller(store.list(c.CONTROLLERREVISION.key))
    for sts in store.list(c.STATEFULSET.key):
        if c.deleting(sts):
            continue
        _sync(ctx, sts, owned_pods.get(c.uid_of(sts), []), owned_revisions.get(c.uid_of(sts), []))


def _ordinal(sts: dict, pod: dict) -> int | None:
    match = re.fullmatch(re.escape(c.name_of(sts)) + r"-(\d+)", c.name_of(pod))
    return int(match.group(1)) if match else None


def ensure_revision(ctx: ControllerContext, owner: dict, revisions: list[dict], template: dict) -> str:
    """The ControllerRevision name of `template`, creating the revision object if needed."""
    hash_ = c.template_hash(template)
    name = f"{c.name_of(owner)}-{hash_}"
    existing = next((r for r in revisions if c.name_of(r) == name), None)
    top = max((c.int_field(r.get("revision")) for r in revisions), default=0)
    if existing is None:
        labels = dict(((template.get("metadata") or {}).get("labels")) or {})
        labels[REVISION_LABEL] = hash_
        created = c.create(
            ctx.store,
            c.CONTROLLERREVISION,
            {
                "apiVersion": "apps/v1",
                "kind": "ControllerRevision",
                "metadata": {
                    "name": name,
                    "namespace": c.ns_of(owner),
                    "labels": labels,
                    "ownerReferences": [c.owner_ref(owner)],
                },
                "data": {"spec": {"template": {**copy.deepcopy(template), "$patch": "replace"}}},
                "revision": top + 1,
            },
        )
        if created is not None:
            revisions.append(created)
    return name


def prune_revisions(ctx: ControllerContext, owner: dict, revisions: list[dict], keep: set[str]) -> None:
    limit = c.int_field(c.spec_of(owner).get("revisionHistoryLimit"), 10)
    old = sorted(
        (r for r in revisions if c.name_of(r) not in keep), key=lambda r: c.int_field(r.get("revision"))
    )
    for rev in old[: max(len(old) - limit, 0)]:
        c.remove_obj(ctx.store, c.CONTROLLERREVISION, rev)


def _pod_revision(pod: dict) -> str:
    return c.labels_of(pod).get(REVISION_LABEL, "")


def _new_pod(ctx: ControllerContext, sts: dict, ordinal: int, revision: str) -> dict:
    spec = c.spec_of(sts)
    name = f"{c.name_of(sts)}-{ordinal}"
    namespace = c.ns_of(sts)
    overrides: dict = {"hostname": name}
    if spec.get("serviceName"):
        overrides["subdomain"] = spec["serviceName"]
    template = copy.deepcopy(spec.get("template") or {})
    volumes = [v for v in (template.get("spec") or {}).get("volumes") or [] if isinstance(v, dict)]
    for claim in spec.get("volumeClaimTemplates") or []:
        if not isinstance(claim, dict):
            continue
        claim_name = (claim.get("metadata") or {}).get("name", "")
        pvc_name = f"{claim_name}-{name}"
        _ensure_claim(ctx, sts, claim, pvc_name)
        volumes = [v for v in volumes if v.get("name") != claim_name]
        volumes.append({"name": claim_name, "persistentVolumeClaim": {"claimName": pvc_name}})
    if volumes:
        overrides["volumes"] = volumes
    return c.pod_from_template(
        ctx,
        template,
        name=name,
        namespace=namespace,
        owner=sts,
        extra_labels={REVISION_LABEL: revision, POD_NAME_LABEL: name, POD_INDEX_LABEL: str(ordinal)},
        spec_overrides=overrides,
    )


def _ensure_claim(ctx: ControllerContext, sts: dict, claim: dict, pvc_name: str) -> None:
    store = ctx.store
    if store.get(c.PVC.key, c.ns_of(sts), pvc_name) is not None:
        return
    labels = dict(((c.spec_of(sts).get("selector") or {}).get("matchLabels")) or {})
    labels.update((claim.get("metadata") or {}).get("labels") or {})
    pvc = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": pvc_name, "namespace": c.ns_of(sts), "labels": labels},
        "spec": copy.deepcopy(claim.get("spec") or {}),
    }
    c.create(store, c.PVC, defaults.apply_defaults(c.PVC, pvc, store=store))


def _sync(ctx: ControllerContext, sts: dict, pods: list[dict], revisions: list[dict]) -> None:
    store = ctx.store
    spec = c.spec_of(sts)
    replicas = c.int_field(spec.get("replicas"), 1)
    parallel = spec.get("podManagementPolicy") == "Parallel"
    strategy = spec.get("updateStrategy") or {}
    template = spec.get("template") or {}
    update_revision = ensure_revision(ctx, sts, revisions, template)
    current_revision = c.status_of(sts).get("currentRevision") or update_revision
    prune_revisions(ctx, sts, revisions, {update_revision, current_revision})

    by_ordinal: dict[int, dict] = {}
    for pod in pods:
        ordinal = _ordinal(sts, pod)
        if ordinal is None:
            continue
        if c.pod_phase(pod) == "Failed" and not c.deleting(pod):
            c.remove_obj(store, c.POD, pod)  # a failed member is replaced under the same name
            continue
        by_ordinal[ordinal] = pod

    # Create missing members.
    for ordinal in range(replicas):
        if ordinal in by_ordinal:
            if not parallel and not c.pod_ready(by_ordinal[ordinal]):
                break
            continue
        revision = update_revision if _use_update_revision(strategy, ordinal) else current_revision
        created = c.create(store, c.POD, _new_pod(ctx, sts, ordinal, revision))
        if created is None:
            break
        by_ordinal[ordinal] = created
        if not parallel:
            break

    # Remove members beyond replicas: highest first, one at a time unless Parallel.
    condemned = sorted((o for o in by_ordinal if o >= replicas), reverse=True)
    healthy = all(c.pod_ready(p) for o, p in by_ordinal.items() if o < replicas)
    for ordinal in condemned:
        if not parallel and not healthy:
            break
        c.remove_obj(store, c.POD, by_ordinal.pop(ordinal))
        if not parallel:
            break

    # Rolling update: replace the highest outdated member at or above the partition.
    if strategy.get("type", "RollingUpdate") == "RollingUpdate":
        partition = c.int_field((strategy.get("rollingUpdate") or {}).get("partition"))
        members = [by_ordinal.get(o) for o in range(replicas)]
        if all(p is not None and c.pod_ready(p) for p in members):
            for ordinal in range(replicas - 1, partition - 1, -1):
                pod = by_ordinal[ordinal]
                if _pod_revision(pod) != update_revision:
                    c.remove_obj(store, c.POD, pod)
                    del by_ordinal[ordinal]
                    break

    _status(ctx, sts, list(by_ordinal.values()), current_revision, update_revision)


def _use_update_revision(strategy: dict, ordinal: int) -> bool:
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return True
    partition = c.int_field((strategy.get("rollingUpdate") or {}).get("partition"))
    return ordinal >= partition


def _status(
    ctx: ControllerContext, sts: dict, pods: list[dict], current_revision: str, update_revision: str
) -> None:
    now = ctx.now()
    spec = c.spec_of(sts)
    min_ready = c.int_field(spec.get("minReadySeconds"))
    active = [p for p in pods if c.pod_active(p)]
    ready = sum(1 for p in active if c.pod_ready(p))
    available = 0
    for p in active:
        ok, at = c.pod_available(p, min_ready, now)
        if ok:
            available += 1
        elif at is not None:
            ctx.wake(NAME, at)
    current = sum(1 for p in active if _pod_revision(p) == current_revision)
    updated = sum(1 for p in active if _pod_revision(p) == update_revision)
    strategy = spec.get("updateStrategy") or {}
    if (
        strategy.get("type", "RollingUpdate") == "RollingUpdate"
        and updated == len(active)
        and ready == len(active)
        and len(active) == c.int_field(spec.get("replicas"), 1)
    ):
        current_revision, current = update_revision, updated
    status: dict = {"observedGeneration": int(c.meta(sts).get("generation", 1)), "replicas": len(active)}
    for key, value in (("readyReplicas", ready), ("currentReplicas", current), ("updatedReplicas", updated)):
        if value:
            status[key] = value
    status.update(
        currentRevision=current_revision,
        updateRevision=update_revision,
        collisionCount=c.int_field(c.status_of(sts).get("collisionCount")),
        availableReplicas=available,
    )
    c.write_status(ctx.store, c.STATEFULSET, sts, status)
