"""The resource types a sandbox cluster serves: built-in kinds plus custom resources from CRDs.

A `ResourceType` is pure data: everything discovery, OpenAPI, validation, tables and the REST handlers need to
know about one kind. The built-in table names the `kubernetes` client model class of each kind so that its
schema can be derived from `openapi_types` / `attribute_map` instead of being written by hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
READ_VERBS = ("get", "list")


@dataclass(frozen=True)
class ResourceType:
    """One REST resource (e.g. ``apps/v1 deployments``)."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    model: str | None = None
    """Name of the `kubernetes.client` model class describing the kind; None for custom resources."""
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    schema: dict | None = field(default=None, compare=False, hash=False)
    """OpenAPI v3 schema of a custom resource, taken from its CRD."""

    @property
    def group_version(self) -> str:
        """``v1`` for the core group, ``group/version`` otherwise: the value of apiVersion."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def key(self) -> str:
        """Storage key of the resource, independent of version: ``deployments.apps`` or ``pods``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def api_prefix(self) -> str:
        """URL path of the group-version, without the cluster prefix: ``/api/v1`` or ``/apis/apps/v1``."""
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"


def _r(gv: str, kind: str, plural: str, namespaced: bool, model: str | None, **kw) -> ResourceType:
    group, _, version = gv.rpartition("/")
    return ResourceType(
        group=group, version=version, kind=kind, plural=plural, namespaced=namespaced, model=model, **kw
    )


_STATUS = ("status",)
_ALL = ("all",)

BUILTIN: tuple[ResourceType, ...] = (
    _r("v1", "Namespace", "namespaces", False, "V1Namespace", short_names=("ns",), subresources=_STATUS),
    _r("v1", "Node", "nodes", False, "V1Node", short_names=("no",), subresources=_STATUS),
    _r("v1", "Pod", "pods", True, "V1Pod", short_names=("po",), subresources=_STATUS, categories=_ALL),
    _r(
        "v1",
        "Service",
        "services",
        True,
        "V1Service",
        short_names=("svc",),
        subresources=_STATUS,
        categories=_ALL,
    ),
    _r("v1", "Endpoints", "endpoints", True, "V1Endpoints", short_names=("ep",)),
    _r("v1", "ConfigMap", "configmaps", True, "V1ConfigMap", short_names=("cm",)),
    _r("v1", "Secret", "secrets", True, "V1Secret"),
    _r("v1", "ServiceAccount", "serviceaccounts", True, "V1ServiceAccount", short_names=("sa",)),
    _r("v1", "Event", "events", True, "CoreV1Event", short_names=("ev",)),
    _r(
        "v1",
        "PersistentVolume",
        "persistentvolumes",
        False,
        "V1PersistentVolume",
        short_names=("pv",),
        subresources=_STATUS,
    ),
    _r(
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        True,
        "V1PersistentVolumeClaim",
        short_names=("pvc",),
        subresources=_STATUS,
    ),
    _r(
        "v1",
        "ResourceQuota",
        "resourcequotas",
        True,
        "V1ResourceQuota",
        short_names=("quota",),
        subresources=_STATUS,
    ),
    _r("v1", "LimitRange", "limitranges", True, "V1LimitRange", short_names=("limits",)),
    _r(
        "apps/v1",
        "Deployment",
        "deployments",
        True,
        "V1Deployment",
        short_names=("deploy",),
        subresources=("status", "scale"),
        categories=_ALL,
    ),
    _r(
        "apps/v1",
        "ReplicaSet",
        "replicasets",
        True,
        "V1ReplicaSet",
        short_names=("rs",),
        subresources=("status", "scale"),
        categories=_ALL,
    ),
    _r(
        "apps/v1",
        "StatefulSet",
        "statefulsets",
        True,
        "V1StatefulSet",
        short_names=("sts",),
        subresources=("status", "scale"),
        categories=_ALL,
    ),
    _r(
        "apps/v1",
        "DaemonSet",
        "daemonsets",
        True,
        "V1DaemonSet",
        short_names=("ds",),
        subresources=_STATUS,
        categories=_ALL,
    ),
    _r("apps/v1", "ControllerRevision", "controllerrevisions", True, "V1ControllerRevision"),
    _r("batch/v1", "Job", "jobs", True, "V1Job", subresources=_STATUS, categories=_ALL),
    _r(
        "batch/v1",
        "CronJob",
        "cronjobs",
        True,
        "V1CronJob",
        short_names=("cj",),
        subresources=_STATUS,
        categories=_ALL,
    ),
    _r(
        "networking.k8s.io/v1",
        "Ingress",
        "ingresses",
        True,
        "V1Ingress",
        short_names=("ing",),
        subresources=_STATUS,
    ),
    _r("networking.k8s.io/v1", "IngressClass", "ingressclasses", False, "V1IngressClass"),
    _r(
        "networking.k8s.io/v1",
        "NetworkPolicy",
        "networkpolicies",
        True,
        "V1NetworkPolicy",
        short_names=("netpol",),
    ),
    _r("rbac.authorization.k8s.io/v1", "Role", "roles", True, "V1Role"),
    _r("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", True, "V1RoleBinding"),
    _r("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", False, "V1ClusterRole"),
    _r(
        "rbac.authorization.k8s.io/v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        False,
        "V1ClusterRoleBinding",
    ),
    _r(
        "policy/v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        True,
        "V1PodDisruptionBudget",
        short_names=("pdb",),
        subresources=_STATUS,
    ),
    _r("storage.k8s.io/v1", "StorageClass", "storageclasses", False, "V1StorageClass", short_names=("sc",)),
    _r(
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        True,
        "V2HorizontalPodAutoscaler",
        short_names=("hpa",),
        subresources=_STATUS,
        categories=_ALL,
    ),
    _r(
        "autoscaling/v1",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        True,
        "V1HorizontalPodAutoscaler",
        short_names=("hpa",),
        subresources=_STATUS,
        categories=_ALL,
    ),
    _r(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        False,
        "V1CustomResourceDefinition",
        short_names=("crd", "crds"),
        subresources=_STATUS,
    ),
    _r("coordination.k8s.io/v1", "Lease", "leases", True, "V1Lease"),
    _r("metrics.k8s.io/v1beta1", "NodeMetrics", "nodes", False, None, verbs=READ_VERBS),
    _r("metrics.k8s.io/v1beta1", "PodMetrics", "pods", True, None, verbs=READ_VERBS),
)

PREFERRED_VERSIONS = {"autoscaling": "v2"}
"""Groups served at several versions, and the version discovery marks preferred."""

METRICS_GROUP = "metrics.k8s.io"


def crd_resource_types(crd: dict) -> list[ResourceType]:
    """The resource types an established CustomResourceDefinition object serves (one per served version)."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    namespaced = spec.get("scope", "Namespaced") == "Namespaced"
    out = []
    for v in spec.get("versions") or []:
        if not v.get("served", True):
            continue
        subresources = tuple(sorted((v.get("subresources") or {}).keys()))
        out.append(
            ResourceType(
                group=spec.get("group", ""),
                version=v["name"],
                kind=names.get("kind", ""),
                plural=names.get("plural", ""),
                namespaced=namespaced,
                short_names=tuple(names.get("shortNames") or ()),
                subresources=subresources,
                categories=tuple(names.get("categories") or ()),
                schema=(v.get("schema") or {}).get("openAPIV3Schema"),
            )
        )
    return out


class Registry:
    """Lookup of resource types by URL coordinates or by apiVersion/kind."""

    def __init__(self, types: Iterable[ResourceType]):
        self._types = list(types)
        self._by_path = {(t.group, t.version, t.plural): t for t in self._types}
        self._by_kind = {(t.group_version, t.kind): t for t in self._types}

    def __iter__(self) -> Iterator[ResourceType]:
        return iter(self._types)

    def by_path(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_path.get((group, version, plural))

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        return self._by_kind.get((api_version, kind))

    def group_versions(self) -> dict[str, list[str]]:
        """Group name → served versions, preferred first, in a stable order."""
        groups: dict[str, list[str]] = {}
        for t in self._types:
            versions = groups.setdefault(t.group, [])
            if t.version not in versions:
                versions.append(t.version)
        for group, versions in groups.items():
            preferred = PREFERRED_VERSIONS.get(group)
            if preferred in versions:
                versions.sort(key=lambda v: v != preferred)
        return groups

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [t for t in self._types if t.group == group and t.version == version]

    def with_crds(self, crds: Iterable[dict]) -> Registry:
        """A registry that also serves the given CRDs' resources (built-ins win on a clash)."""
        extra = [t for crd in crds for t in crd_resource_types(crd)]
        known = {(t.group, t.version, t.plural) for t in self._types}
        return Registry([*self._types, *(t for t in extra if (t.group, t.version, t.plural) not in known)])


BUILTIN_REGISTRY = Registry(BUILTIN)
