"""Helpers shared by the sandbox controllers: resource types, owner refs, pod state, conditions, writes."""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import random
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING

from providers.sandbox import defaults, errors
from providers.sandbox.machines import quantity_or_zero
from providers.sandbox.resources import BUILTIN_REGISTRY, ResourceType
from providers.sandbox.store import ClusterStore, meta, parse_time

if TYPE_CHECKING:
    from providers.sandbox.controllers import ControllerContext

log = logging.getLogger("providers.sandbox.controllers")


def _rt(api_version: str, kind: str) -> ResourceType:
    rt = BUILTIN_REGISTRY.by_kind(api_version, kind)
    assert rt is not None, kind
    return rt


POD = _rt("v1", "Pod")
NODE = _rt("v1", "Node")
SERVICE = _rt("v1", "Service")
ENDPOINTS = _rt("v1", "Endpoints")
NAMESPACE = _rt("v1", "Namespace")
CONFIGMAP = _rt("v1", "ConfigMap")
SERVICEACCOUNT = _rt("v1", "ServiceAccount")
PVC = _rt("v1", "PersistentVolumeClaim")
DEPLOYMENT = _rt("apps/v1", "Deployment")
REPLICASET = _rt("apps/v1", "ReplicaSet")
STATEFULSET = _rt("apps/v1", "StatefulSet")
DAEMONSET = _rt("apps/v1", "DaemonSet")
CONTROLLERREVISION = _rt("apps/v1", "ControllerRevision")
JOB = _rt("batch/v1", "Job")
CRD = _rt("apiextensions.k8s.io/v1", "CustomResourceDefinition")

NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
"""The alphabet of generated name suffixes and template hashes (no vowels, so no accidental words)."""
MAX_GENERATED_BASE = 58


# -- object access ----------------------------------------------------------------------------------


def name_of(obj: dict) -> str:
    return meta(obj).get("name", "")


def ns_of(obj: dict) -> str:
    return meta(obj).get("namespace", "") or ""


def uid_of(obj: dict) -> str:
    return meta(obj).get("uid", "")


def labels_of(obj: dict) -> dict:
    labels = meta(obj).get("labels")
    return labels if isinstance(labels, dict) else {}


def spec_of(obj: dict) -> dict:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def status_of(obj: dict) -> dict:
    status = obj.get("status")
    return status if isinstance(status, dict) else {}


def int_field(value: object, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def deleting(obj: dict) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


# -- owner references -------------------------------------------------------------------------------


def owner_ref(owner: dict, *, block: bool = True) -> dict:
    return {
        "apiVersion": owner.get("apiVersion", ""),
        "kind": owner.get("kind", ""),
        "name": name_of(owner),
        "uid": uid_of(owner),
        "controller": True,
        "blockOwnerDeletion": block,
    }


def controller_uid(obj: dict) -> str | None:
    for ref in meta(obj).get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller") is True:
            return ref.get("uid")
    return None


def by_controller(objs: Iterable[dict]) -> dict[str, list[dict]]:
    """Objects grouped by the uid of their controlling owner."""
    out: dict[str, list[dict]] = defaultdict(list)
    for obj in objs:
        uid = controller_uid(obj)
        if uid:
            out[uid].append(obj)
    return out


# -- selectors ----------------------------------------------------------------------------------------


def selector_matches(selector: object, labels: dict, *, empty_matches_all: bool = False) -> bool:
    """A metav1.LabelSelector (matchLabels + matchExpressions) against a label map.

    A nil or malformed selector matches nothing; an empty one matches everything only when asked to.
    """
    if not isinstance(selector, dict):
        return False
    match_labels = selector.get("matchLabels") or {}
    expressions = selector.get("matchExpressions") or []
    if not isinstance(match_labels, dict) or not isinstance(expressions, list):
        return False
    if not match_labels and not expressions:
        return empty_matches_all
    for key, value in match_labels.items():
        if labels.get(key) != value:
            return False
    for expr in expressions:
        if not isinstance(expr, dict) or not requirement_matches(expr, labels):
            return False
    return True


def requirement_matches(expr: dict, labels: dict) -> bool:
    key, op = expr.get("key"), expr.get("operator")
    values = expr.get("values") or []
    if op == "In":
        return key in labels and labels[key] in values
    if op == "NotIn":
        return key not in labels or labels[key] not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    if op in ("Gt", "Lt"):
        try:
            have, want = int(labels[key]), int(values[0])
        except (KeyError, IndexError, ValueError, TypeError):
            return False
        return have > want if op == "Gt" else have < want
    return False


def map_selector_matches(selector: object, labels: dict) -> bool:
    """A plain `key: value` selector (Service.spec.selector, nodeSelector); empty matches everything."""
    if not isinstance(selector, dict):
        return True
    return all(labels.get(k) == v for k, v in selector.items())


# -- taints and affinity ------------------------------------------------------------------------------


def toleration_matches(toleration: dict, taint: dict) -> bool:
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    operator = toleration.get("operator") or "Equal"
    key = toleration.get("key") or ""
    if not key:
        return operator == "Exists"
    if key != taint.get("key"):
        return False
    if operator == "Exists":
        return True
    return (toleration.get("value") or "") == (taint.get("value") or "")


def matching_toleration(tolerations: object, taint: dict) -> dict | None:
    for t in tolerations if isinstance(tolerations, list) else []:
        if isinstance(t, dict) and toleration_matches(t, taint):
            return t
    return None


def untolerated_taint(tolerations: object, taints: Iterable[dict], effects: tuple[str, ...]) -> dict | None:
    for taint in taints:
        if taint.get("effect") in effects and matching_toleration(tolerations, taint) is None:
            return taint
    return None


def node_affinity_matches(pod_spec: dict, node: dict) -> bool:
    """nodeSelector and required node affinity of a pod against a node's labels (and name)."""
    labels = labels_of(node)
    if not map_selector_matches(pod_spec.get("nodeSelector"), labels):
        return False
    affinity = (pod_spec.get("affinity") or {}).get("nodeAffinity") or {}
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    if not isinstance(required, dict):
        return True
    terms = [t for t in required.get("nodeSelectorTerms") or [] if isinstance(t, dict)]
    fields = {"metadata.name": name_of(node)}
    for term in terms:
        exprs = term.get("matchExpressions") or []
        field_exprs = term.get("matchFields") or []
        if not exprs and not field_exprs:
            continue
        if all(isinstance(e, dict) and requirement_matches(e, labels) for e in exprs) and all(
            isinstance(e, dict) and requirement_matches(e, fields) for e in field_exprs
        ):
            return True
    return False


def node_ready(node: dict) -> bool:
    return condition_status(node, "Ready") == "True"


def node_taints(node: dict) -> list[dict]:
    return [t for t in spec_of(node).get("taints") or [] if isinstance(t, dict)]


# -- conditions ---------------------------------------------------------------------------------------


def condition(obj: dict, type_: str) -> dict | None:
    for c in status_of(obj).get("conditions") or []:
        if isinstance(c, dict) and c.get("type") == type_:
            return c
    return None


def condition_status(obj: dict, type_: str) -> str | None:
    c = condition(obj, type_)
    return c.get("status") if c else None


def put_condition(
    conditions: list[dict], new: dict, *, timestamps: tuple[str, ...] = ("lastTransitionTime",)
) -> list[dict]:
    """`conditions` with `new` replacing the condition of its type (appended when missing).

    When status is unchanged the previous timestamps are kept, so repeating a write is a no-op.
    """
    out = []
    found = False
    for c in conditions:
        if c.get("type") != new["type"]:
            out.append(c)
            continue
        found = True
        merged = dict(new)
        if c.get("status") == new.get("status"):
            for ts in timestamps:
                if ts in c:
                    merged[ts] = c[ts]
        out.append(merged)
    if not found:
        out.append(new)
    return out


# -- pods ---------------------------------------------------------------------------------------------

TERMINAL = ("Succeeded", "Failed")


def pod_phase(pod: dict) -> str:
    return status_of(pod).get("phase") or "Pending"


def pod_active(pod: dict) -> bool:
    """Counts toward a controller's replicas: not finished and not being deleted."""
    return pod_phase(pod) not in TERMINAL and not deleting(pod)


def pod_ready(pod: dict) -> bool:
    return pod_phase(pod) == "Running" and condition_status(pod, "Ready") == "True"


def pod_available(pod: dict, min_ready_seconds: int, now: float) -> tuple[bool, float | None]:
    """Whether the pod has been ready for `min_ready_seconds`; else when it will be (or None)."""
    if not pod_ready(pod):
        return False, None
    if min_ready_seconds <= 0:
        return True, None
    since = parse_time((condition(pod, "Ready") or {}).get("lastTransitionTime")) or now
    at = since + min_ready_seconds
    return (True, None) if at <= now else (False, at)


def container_requests(c: dict) -> dict[str, Decimal]:
    resources = c.get("resources") if isinstance(c.get("resources"), dict) else {}
    requests = resources.get("requests") if isinstance(resources.get("requests"), dict) else {}
    limits = resources.get("limits") if isinstance(resources.get("limits"), dict) else {}
    out = {k: quantity_or_zero(v) for k, v in limits.items()}
    out.update({k: quantity_or_zero(v) for k, v in requests.items()})
    return out


def pod_requests(spec: dict) -> dict[str, Decimal]:
    """Effective requests of a pod: containers and sidecars summed, regular init containers as a maximum."""
    total: dict[str, Decimal] = defaultdict(Decimal)
    sidecars: dict[str, Decimal] = defaultdict(Decimal)
    init_peak: dict[str, Decimal] = defaultdict(Decimal)
    for c in spec.get("containers") or []:
        if isinstance(c, dict):
            for k, v in container_requests(c).items():
                total[k] += v
    for c in spec.get("initContainers") or []:
        if not isinstance(c, dict):
            continue
        requests = container_requests(c)
        if c.get("restartPolicy") == "Always":
            for k, v in requests.items():
                sidecars[k] += v
        else:
            for k, v in requests.items():
                init_peak[k] = max(init_peak[k], v + sidecars[k])
    out: dict[str, Decimal] = {}
    for k in set(total) | set(sidecars) | set(init_peak):
        out[k] = max(total[k] + sidecars[k], init_peak[k])
    overhead = spec.get("overhead") if isinstance(spec.get("overhead"), dict) else {}
    for k, v in overhead.items():
        out[k] = out.get(k, Decimal(0)) + quantity_or_zero(v)
    return out


def pod_from_template(
    ctx: ControllerContext,
    template: dict,
    *,
    name: str,
    namespace: str,
    owner: dict,
    extra_labels: dict[str, str] | None = None,
    extra_annotations: dict[str, str] | None = None,
    generate_name: str | None = None,
    spec_overrides: dict | None = None,
) -> dict:
    """A defaulted Pod built from a pod template, controlled by `owner`."""
    tmeta = template.get("metadata") if isinstance(template.get("metadata"), dict) else {}
    labels = dict(tmeta.get("labels") or {})
    labels.update(extra_labels or {})
    annotations = dict(tmeta.get("annotations") or {})
    annotations.update(extra_annotations or {})
    pod_meta: dict = {
        "name": name,
        "namespace": namespace,
        "labels": labels,
        "ownerReferences": [owner_ref(owner)],
    }
    if annotations:
        pod_meta["annotations"] = annotations
    if generate_name:
        pod_meta["generateName"] = generate_name
    for key in ("finalizers",):
        if tmeta.get(key):
            pod_meta[key] = copy.deepcopy(tmeta[key])
    spec = copy.deepcopy(template.get("spec") or {})
    spec.update(spec_overrides or {})
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": pod_meta,
        "spec": spec,
        "status": {"phase": "Pending"},
    }
    return defaults.apply_defaults(POD, pod, store=ctx.store)


# -- names and hashes ---------------------------------------------------------------------------------


def random_suffix(length: int = 5) -> str:
    return "".join(random.choice(NAME_ALPHABET) for _ in range(length))


def generated_name(store: ClusterStore, rkey: str, namespace: str, base: str) -> str:
    """`base` + 5 random characters, as `metadata.generateName` produces, avoiding names in use."""
    base = base[:MAX_GENERATED_BASE]
    while True:
        candidate = base + random_suffix()
        if store.get(rkey, namespace, candidate) is None:
            return candidate


def template_hash(template: object, collision: int = 0) -> str:
    """A stable 10-character hash of a pod template, spelled like Kubernetes' pod-template-hash."""
    text = json.dumps(template, sort_keys=True, separators=(",", ":"), default=str) + f"#{collision}"
    number = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") % 10**10
    return "".join(NAME_ALPHABET[(48 + int(d)) % len(NAME_ALPHABET)] for d in f"{number:010d}")


def resolve_int_or_percent(value: object, total: int, *, round_up: bool, default: str = "25%") -> int:
    if value is None:
        value = default
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(value, 0)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("%"):
            try:
                percent = int(text[:-1])
            except ValueError:
                return 0
            scaled = Decimal(percent * total) / 100
            result = scaled.to_integral_value(rounding="ROUND_CEILING" if round_up else "ROUND_FLOOR")
            return max(int(result), 0)
        try:
            return max(int(text), 0)
        except ValueError:
            return 0
    return 0


# -- writes ---------------------------------------------------------------------------------------------


def write(store: ClusterStore, rt: ResourceType, old: dict, new: dict) -> dict:
    """Replace `old` by `new` unless they are equal (controllers must reach a fixpoint)."""
    if new == old:
        return old
    return store.replace(rt, new)


def write_status(store: ClusterStore, rt: ResourceType, obj: dict, status: dict) -> dict:
    if obj.get("status") == status:
        return obj
    new = dict(obj)
    new["status"] = status
    return store.replace(rt, new)


def namespace_open(store: ClusterStore, namespace: str) -> bool:
    """Whether objects may be created in `namespace` (it exists and is not terminating)."""
    ns = store.get(NAMESPACE.key, "", namespace)
    return ns is not None and not deleting(ns)


def create(store: ClusterStore, rt: ResourceType, obj: dict) -> dict | None:
    """Create `obj`, or do nothing when its namespace is gone/terminating or the name is taken."""
    if rt.namespaced and not namespace_open(store, meta(obj).get("namespace", "")):
        return None
    try:
        return store.create(rt, obj)
    except errors.AlreadyExists:
        return None


def remove(store: ClusterStore, rt: ResourceType, namespace: str, name: str) -> bool:
    try:
        store.remove(rt, namespace if rt.namespaced else "", name)
    except errors.NotFound:
        return False
    return True


def remove_obj(store: ClusterStore, rt: ResourceType, obj: dict) -> bool:
    return remove(store, rt, ns_of(obj), name_of(obj))


def minor_version(version: str) -> tuple[int, int]:
    parts = version.lstrip("v").split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return (1, 32)
