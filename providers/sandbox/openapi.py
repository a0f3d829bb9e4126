"""OpenAPI documents of a sandbox cluster, derived from the `kubernetes` client's model classes.

kubectl and helm read `/openapi/v3` (a root listing one document per group-version) and then the document of
each object's group-version. They only trust the server to validate fields when that document has a PATCH
operation for the kind carrying a `fieldValidation` parameter (see `query_param_verifier_v3.go`), and
`kubectl explain` walks the component schemas. This module builds those documents:

* built-in kinds from `kubernetes.client.models.<Model>.openapi_types` / `attribute_map` (plus the pydantic
  field descriptions of newer clients), with the apimachinery special types (Quantity, IntOrString, Time, …)
  recognised where the client flattens them to `str` / `object`;
* custom resources from their CRD's `openAPIV3Schema`, plus the standard apiVersion/kind/metadata;
* `metrics.k8s.io` from a small hand-written schema (the client has no models for it).

Building is memoised: per registry object the digest of every group-version's inputs is computed once, and
documents are cached by that digest, which is also the `hash` in each `serverRelativeURL` (so it changes
when, and only when, the content of that group-version changes). Returned documents are shared: callers must
not mutate them.

`model_fields` is also the field table server-side validation (`validation.py`) walks.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import threading
import typing
import weakref
from collections import OrderedDict
from dataclasses import dataclass

from providers.sandbox.resources import BUILTIN, METRICS_GROUP, Registry, ResourceType

OPENAPI_VERSION = "3.0.0"
KUBERNETES_VERSION = "v1.32.0"
DOC_REVISION = "1"
"""Bump when the generator's output changes, so cached hashes held by clients go stale."""

V3_PREFIX = "#/components/schemas/"
V2_PREFIX = "#/definitions/"

META = "io.k8s.apimachinery.pkg.apis.meta.v1"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
TIME = f"{META}.Time"
MICRO_TIME = f"{META}.MicroTime"
FIELDS_V1 = f"{META}.FieldsV1"
PATCH = f"{META}.Patch"
RAW_EXTENSION = "io.k8s.apimachinery.pkg.runtime.RawExtension"
APIEXT = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1"
JSON_ANY = f"{APIEXT}.JSON"
PROPS_OR_BOOL = f"{APIEXT}.JSONSchemaPropsOrBool"
PROPS_OR_ARRAY = f"{APIEXT}.JSONSchemaPropsOrArray"
PROPS_OR_STRINGS = f"{APIEXT}.JSONSchemaPropsOrStringArray"
METRICS = "io.k8s.metrics.pkg.apis.metrics.v1beta1"

SPECIAL_SCHEMAS: dict[str, dict] = {
    QUANTITY: {
        "description": "Quantity is a fixed-point representation of a number, written as a string such as "
        '"100m", "1.5Gi" or "2" (a plain JSON number is accepted too).',
        "type": "string",
    },
    INT_OR_STRING: {
        "description": "IntOrString is a type that can hold an int32 or a string.",
        "type": "string",
        "format": "int-or-string",
        "x-kubernetes-int-or-string": True,
    },
    TIME: {
        "description": "Time is an RFC 3339 timestamp with second precision, serialized as a string.",
        "type": "string",
        "format": "date-time",
    },
    MICRO_TIME: {
        "description": "MicroTime is an RFC 3339 timestamp with microsecond precision.",
        "type": "string",
        "format": "date-time",
    },
    FIELDS_V1: {
        "description": "FieldsV1 stores a set of fields in a data structure like a Trie, in JSON format.",
        "type": "object",
    },
    PATCH: {
        "description": "Patch gives a concrete name and type to the Kubernetes PATCH request body.",
        "type": "object",
    },
    RAW_EXTENSION: {
        "description": "RawExtension holds an arbitrary embedded object.",
        "type": "object",
    },
    JSON_ANY: {"description": "JSON represents any valid JSON value."},
    PROPS_OR_BOOL: {"description": "JSONSchemaPropsOrBool is a JSONSchemaProps or a boolean."},
    PROPS_OR_ARRAY: {"description": "JSONSchemaPropsOrArray is a JSONSchemaProps or an array of them."},
    PROPS_OR_STRINGS: {"description": "JSONSchemaPropsOrStringArray is a JSONSchemaProps or a string array."},
}
OPAQUE = frozenset({FIELDS_V1, RAW_EXTENSION, JSON_ANY, PROPS_OR_BOOL, PROPS_OR_ARRAY, PROPS_OR_STRINGS})
"""Special types whose content is arbitrary JSON (validation does not look inside)."""

# -- how the Python client flattens apimachinery types -----------------------------------------------------

INT_OR_STRING_FIELDS = frozenset(
    {
        ("V1ServicePort", "targetPort"),
        ("V1RollingUpdateDeployment", "maxSurge"),
        ("V1RollingUpdateDeployment", "maxUnavailable"),
        ("V1RollingUpdateDaemonSet", "maxSurge"),
        ("V1RollingUpdateDaemonSet", "maxUnavailable"),
        ("V1RollingUpdateStatefulSetStrategy", "maxUnavailable"),
        ("V1HTTPGetAction", "port"),
        ("V1TCPSocketAction", "port"),
        ("V1PodDisruptionBudgetSpec", "minAvailable"),
        ("V1PodDisruptionBudgetSpec", "maxUnavailable"),
        ("V1NetworkPolicyPort", "port"),
    }
)
"""Fields the client types `object` that are IntOrString (newer clients also say so in the annotation)."""

QUANTITY_FIELDS = frozenset(
    {
        ("V1ResourceRequirements", "limits"),
        ("V1ResourceRequirements", "requests"),
        ("V1VolumeResourceRequirements", "limits"),
        ("V1VolumeResourceRequirements", "requests"),
        ("V1ContainerStatus", "allocatedResources"),
        ("V1PodStatus", "allocatedResources"),
        ("V1PodSpec", "overhead"),
        ("V1Overhead", "podFixed"),
        ("V1LimitRangeItem", "default"),
        ("V1LimitRangeItem", "defaultRequest"),
        ("V1LimitRangeItem", "max"),
        ("V1LimitRangeItem", "min"),
        ("V1LimitRangeItem", "maxLimitRequestRatio"),
        ("V1NodeStatus", "allocatable"),
        ("V1NodeStatus", "capacity"),
        ("V1PersistentVolumeSpec", "capacity"),
        ("V1PersistentVolumeClaimStatus", "capacity"),
        ("V1PersistentVolumeClaimStatus", "allocatedResources"),
        ("V1ResourceQuotaSpec", "hard"),
        ("V1ResourceQuotaStatus", "hard"),
        ("V1ResourceQuotaStatus", "used"),
        ("V1EmptyDirVolumeSource", "sizeLimit"),
        ("V1ResourceFieldSelector", "divisor"),
        ("V2MetricTarget", "averageValue"),
        ("V2MetricTarget", "value"),
        ("V2MetricValueStatus", "averageValue"),
        ("V2MetricValueStatus", "value"),
        ("V1CSIStorageCapacity", "capacity"),
        ("V1CSIStorageCapacity", "maximumVolumeSize"),
        ("V1NodeAllocatableMappedResources", "quantity"),
        ("V1NodeAllocatableOverheadResources", "perContainer"),
        ("V1NodeAllocatableOverheadResources", "perPod"),
    }
)
"""Fields (or map values) the client types `str` that are resource.Quantity on the wire."""

BYTES_FIELDS = frozenset({("V1Secret", "data"), ("V1ConfigMap", "binaryData")})
"""Map values that are base64-encoded bytes (older clients type them plain `str`)."""

MICRO_TIME_FIELDS = frozenset(
    {
        ("CoreV1Event", "eventTime"),
        ("EventsV1Event", "eventTime"),
        ("CoreV1EventSeries", "lastObservedTime"),
        ("EventsV1EventSeries", "lastObservedTime"),
        ("V1LeaseSpec", "acquireTime"),
        ("V1LeaseSpec", "renewTime"),
    }
)

OBJECT_FIELDS = {
    ("V1ManagedFieldsEntry", "fieldsV1"): FIELDS_V1,
    ("V1ControllerRevision", "data"): RAW_EXTENSION,
    ("V1JSONSchemaProps", "default"): JSON_ANY,
    ("V1JSONSchemaProps", "example"): JSON_ANY,
    ("V1JSONSchemaProps", "additionalProperties"): PROPS_OR_BOOL,
    ("V1JSONSchemaProps", "additionalItems"): PROPS_OR_BOOL,
    ("V1JSONSchemaProps", "items"): PROPS_OR_ARRAY,
}
"""Other `object`-typed fields and the special type they stand for (the rest become free-form JSON)."""

_MAP_LIST = {"x-kubernetes-list-type": "map"}
PATCH_META: dict[tuple[str, str], dict] = {
    ("V1PodSpec", "containers"): {
        "x-kubernetes-patch-merge-key": "name",
        "x-kubernetes-patch-strategy": "merge",
        **_MAP_LIST,
        "x-kubernetes-list-map-keys": ["name"],
    },
    ("V1PodSpec", "initContainers"): {
        "x-kubernetes-patch-merge-key": "name",
        "x-kubernetes-patch-strategy": "merge",
        **_MAP_LIST,
        "x-kubernetes-list-map-keys": ["name"],
    },
    ("V1PodSpec", "ephemeralContainers"): {
        "x-kubernetes-patch-merge-key": "name",
        "x-kubernetes-patch-strategy": "merge",
        **_MAP_LIST,
        "x-kubernetes-list-map-keys": ["name"],
    },
    ("V1PodSpec", "volumes"): {
        "x-kubernetes-patch-merge-key": "name",
        "x-kubernetes-patch-strategy": "merge,retainKeys",
        **_MAP_LIST,
        "x-kubernetes-list-map-keys": ["name"],
    },
    ("V1PodSpec", "imagePullSecrets"): {
        "x-kubernetes-patch-merge-key": "name",
        "x-kubernetes-patch-strategy": "merge",
        **_MAP_LIST,
        "x-kubernetes-list-map-keys": ["name"],
    },
    ("V1PodSpec", "hostAliases"): {
        "x-kubernetes-patch-merge-key": "ip",
        "x-kubernetes-patch-strategy": "merge",
        **_MAP_LIST,
        "x-kubernetes-list-map-keys": ["ip"],
    },
    ("V1PodSpec", "topologySpreadConstraints"): {
        "x-kubernetes-patch-merge-key": "topologyKey",
        "x-kubernetes-patch-strategy": "merge",
        **_MAP_LIST,
        "x-kubernetes-list-map-keys": ["topologyKey", "whenUnsatisfiable"],
    },
    ("V1PodSpec", "resourceClaims"): {
        "x-kubernetes-patch-merge-key": "name",
        "x-kubernetes-patch-strategy": "merge,retainKeys",
        **_MAP_LIST,
        "x-kubernetes-list-map-keys": ["name"],
    },
    ("V1PodSpec", "schedulingGates"): {
        "x-kubernetes-patch-merge-key": "name",
        "x-kubernetes-patch-strategy": "merge",
        **_MAP_LIST,
        "x-kubernetes-list-map-keys": ["name"],
    },
    ("V1ServiceAccount", "secrets"): {
        "x-kubernetes-patch-merge-key": "name",
        "x-kubernetes-patch-strategy": "merge",
    },
    ("V1ServiceSpec", "ports"): {
        "x-kubernetes-patch-merge-key": "port",
        "x-kubernetes-patch-strategy": "merge",
        **_MAP_LIST,
        "x-kubernetes-list-map-keys": ["port", "protocol"],
    },
    ("V1ObjectMeta", "finalizers"): {"x-kubernetes-patch-strategy": "merge", "x-kubernetes-list-type": "set"},
    ("V1ObjectMeta", "ownerReferences"): {
        "x-kubernetes-patch-merge-key": "uid",
        "x-kubernetes-patch-strategy": "merge",
        **_MAP_LIST,
        "x-kubernetes-list-map-keys": ["uid"],
    },
    ("V1DeploymentSpec", "strategy"): {"x-kubernetes-patch-strategy": "retainKeys"},
    ("V1NodeStatus", "addresses"): {
        "x-kubernetes-patch-merge-key": "type",
        "x-kubernetes-patch-strategy": "merge",
        **_MAP_LIST,
        "x-kubernetes-list-map-keys": ["type"],
    },
    ("V1NodeSpec", "podCIDRs"): {"x-kubernetes-patch-strategy": "merge", "x-kubernetes-list-type": "set"},
    ("V1PodStatus", "podIPs"): {
        "x-kubernetes-patch-merge-key": "ip",
        "x-kubernetes-patch-strategy": "merge",
        **_MAP_LIST,
        "x-kubernetes-list-map-keys": ["ip"],
    },
    ("V1PodStatus", "hostIPs"): {
        "x-kubernetes-patch-merge-key": "ip",
        "x-kubernetes-patch-strategy": "merge",
        **_MAP_LIST,
        "x-kubernetes-list-map-keys": ["ip"],
    },
}
for _container in ("V1Container", "V1EphemeralContainer"):
    PATCH_META[(_container, "ports")] = {
        "x-kubernetes-patch-merge-key": "containerPort",
        "x-kubernetes-patch-strategy": "merge",
        **_MAP_LIST,
        "x-kubernetes-list-map-keys": ["containerPort", "protocol"],
    }
    PATCH_META[(_container, "env")] = {
        "x-kubernetes-patch-merge-key": "name",
        "x-kubernetes-patch-strategy": "merge",
        **_MAP_LIST,
        "x-kubernetes-list-map-keys": ["name"],
    }
    PATCH_META[(_container, "volumeMounts")] = {
        "x-kubernetes-patch-merge-key": "mountPath",
        "x-kubernetes-patch-strategy": "merge",
        **_MAP_LIST,
        "x-kubernetes-list-map-keys": ["mountPath"],
    }
    PATCH_META[(_container, "volumeDevices")] = {
        "x-kubernetes-patch-merge-key": "devicePath",
        "x-kubernetes-patch-strategy": "merge",
        **_MAP_LIST,
        "x-kubernetes-list-map-keys": ["devicePath"],
    }
for _status in (
    "V1PodStatus",
    "V1NodeStatus",
    "V1DeploymentStatus",
    "V1ReplicaSetStatus",
    "V1StatefulSetStatus",
    "V1DaemonSetStatus",
    "V1JobStatus",
    "V1NamespaceStatus",
    "V1PersistentVolumeClaimStatus",
    "V1PodDisruptionBudgetStatus",
    "V1ServiceStatus",
    "V2HorizontalPodAutoscalerStatus",
    "V1CustomResourceDefinitionStatus",
):
    PATCH_META[(_status, "conditions")] = {
        "x-kubernetes-patch-merge-key": "type",
        "x-kubernetes-patch-strategy": "merge",
        **_MAP_LIST,
        "x-kubernetes-list-map-keys": ["type"],
    }
del _container, _status
"""`x-kubernetes-patch-*` / `x-kubernetes-list-*` of well-known fields, keyed by (model, JSON field)."""

# -- model → canonical schema name -----------------------------------------------------------------------

_META_SEEDS = (
    "V1ObjectMeta",
    "V1ListMeta",
    "V1LabelSelector",
    "V1Status",
    "V1DeleteOptions",
    "V1Condition",
    "V1APIResourceList",
    "V1APIGroupList",
    "V1APIVersions",
    "V1WatchEvent",
)
_CORE_SEEDS = (
    "V1Binding",
    "V1ComponentStatus",
    "V1ConfigMap",
    "V1Endpoints",
    "CoreV1Event",
    "V1LimitRange",
    "V1Namespace",
    "V1Node",
    "V1PersistentVolume",
    "V1PersistentVolumeClaim",
    "V1Pod",
    "V1PodTemplate",
    "V1ReplicationController",
    "V1ResourceQuota",
    "V1Secret",
    "V1Service",
    "V1ServiceAccount",
)
_EXTRA_KINDS = (("autoscaling", "V1Scale", "Scale"),)
_PREFIXED_PACKAGES = {
    "Core": "core",
    "Events": "events",
    "Rbac": "rbac",
    "Storage": "storage",
    "Discovery": "discovery",
    "Authentication": "authentication",
    "Admissionregistration": "admissionregistration",
    "Apiextensions": "apiextensions",
    "Apiregistration": "apiregistration",
    "Flowcontrol": "flowcontrol",
    "Resource": "resource",
}
_CLASS_NAME = re.compile(r"^([A-Z][a-z]+)?(V\d+(?:alpha\d+|beta\d+)?)([A-Z]\w*)$")


def _package_prefix(package: str) -> str:
    if package == "meta":
        return META.rsplit(".", 1)[0]
    if package == "apiextensions":
        return "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions"
    if package == "apiregistration":
        return "io.k8s.kube-aggregator.pkg.apis.apiregistration"
    return f"io.k8s.api.{package}"


def _group_package(group: str) -> str:
    return group.split(".")[0] if group else "core"


@functools.cache
def _packages() -> dict[str, str]:
    """Model class name → API package (`core`, `apps`, `meta`, …) by reachability from known kinds.

    The client does not record which Go package a nested type lives in, so a type belongs to the first
    package (meta, then core, then the other groups' kinds) from whose kinds it is reachable.
    """
    owner: dict[str, str] = {}

    def claim(seeds: typing.Iterable[str], package: str) -> None:
        todo = [s for s in seeds if _model_class(s) is not None]
        while todo:
            name = todo.pop()
            if name in owner:
                continue
            owner[name] = package
            for f in model_fields(name):
                todo.extend(m for m in f.type.models() if m not in owner)

    claim(_META_SEEDS, "meta")
    claim(_CORE_SEEDS, "core")
    for group, model, _kind in _EXTRA_KINDS:
        claim((model,), _group_package(group))
    for rt in BUILTIN:
        if rt.model:
            claim((rt.model, _list_model(rt.model)), _group_package(rt.group))
    return owner


def schema_name(model: str) -> str:
    """Canonical OpenAPI name of a client model: ``V1Deployment`` → ``io.k8s.api.apps.v1.Deployment``."""
    m = _CLASS_NAME.match(model)
    if not m:
        return f"io.k8s.api.core.v1.{model}"
    prefix, version, kind = m.groups()
    if prefix and prefix in _PREFIXED_PACKAGES:
        package = _PREFIXED_PACKAGES[prefix]
    else:
        package = _packages().get(model, "core")
    return f"{_package_prefix(package)}.{version.lower()}.{kind}"


def _list_model(model: str) -> str:
    return f"{model}List"


def crd_schema_name(group: str, version: str, kind: str) -> str:
    """``stable.example.com/v1 CronTab`` → ``com.example.stable.v1.CronTab`` (as the API server names it)."""
    return ".".join([*reversed(group.split(".")), version, kind])


# -- client model introspection --------------------------------------------------------------------------


@dataclass(frozen=True)
class TypeRef:
    """A parsed field type: ``prim`` (name: string/integer/number/boolean/any/bytes), ``model`` (client class
    name), ``special`` (canonical name of an apimachinery type), ``list`` or ``map`` (of ``inner``)."""

    kind: str
    name: str = ""
    inner: TypeRef | None = None

    def models(self) -> list[str]:
        t: TypeRef | None = self
        while t is not None and t.kind in ("list", "map"):
            t = t.inner
        return [t.name] if t is not None and t.kind == "model" else []

    def leaf(self) -> TypeRef:
        t = self
        while t.inner is not None:
            t = t.inner
        return t

    def replace_leaf(self, leaf: TypeRef) -> TypeRef:
        if self.inner is None:
            return leaf
        return TypeRef(self.kind, self.name, self.inner.replace_leaf(leaf))


@dataclass(frozen=True)
class Field:
    json: str
    attr: str
    type: TypeRef
    description: str
    required: bool


_PRIMS = {
    "str": "string",
    "int": "integer",
    "bool": "boolean",
    "float": "number",
    "object": "any",
    "datetime": "datetime",
    "date": "date",
    "bytes": "bytes",
    "bytearray": "bytes",
    "file": "string",
}


@functools.cache
def parse_type(text: str) -> TypeRef:
    """Parse a client type string: ``List[V1Container]``, ``dict(str, list[str])``, ``Dict[str, str]``, …"""
    text = text.strip()
    for opener, closer in (("List[", "]"), ("list[", "]")):
        if text.startswith(opener) and text.endswith(closer):
            return TypeRef("list", inner=parse_type(text[len(opener) : -1]))
    for opener, closer in (("Dict[", "]"), ("dict(", ")")):
        if text.startswith(opener) and text.endswith(closer):
            _key, _, value = text[len(opener) : -1].partition(",")
            return TypeRef("map", inner=parse_type(value))
    if text in _PRIMS:
        return TypeRef("prim", _PRIMS[text])
    return TypeRef("model", text)


@functools.cache
def _model_class(name: str) -> type | None:
    from kubernetes.client import models

    cls = getattr(models, name, None)
    return cls if isinstance(cls, type) and hasattr(cls, "openapi_types") else None


def _clean(text: str | None) -> str:
    return re.sub(r"\s*# noqa: E501\s*", " ", text or "").strip()


def _class_description(cls: type) -> str:
    doc = cls.__doc__ or ""
    doc = doc.split("Attributes:", 1)[0]
    doc = " ".join(line.strip() for line in doc.strip().splitlines())
    if doc.startswith("NOTE: This class is auto generated"):
        return ""
    return _clean(doc)


def _legacy_description(cls: type, attr: str) -> str:
    """Field description of older (non-pydantic) clients: the middle paragraph of the property docstring."""
    doc = getattr(getattr(cls, attr, None), "__doc__", None) or ""
    paragraphs = [p.strip() for p in doc.split("\n\n")]
    body = [p for p in paragraphs[1:] if p and not p.startswith(":return:") and not p.startswith(":rtype:")]
    return _clean(" ".join(body))


def _is_int_or_string(annotation: typing.Any) -> bool:
    seen: set[type] = set()
    todo = [annotation]
    while todo:
        a = todo.pop()
        if isinstance(a, type):
            seen.add(a)
        todo.extend(typing.get_args(a))
    return int in seen and str in seen and dict not in seen


@functools.cache
def model_fields(model: str) -> tuple[Field, ...]:
    """The fields of a client model, with apimachinery special types restored. Empty for unknown names."""
    cls = _model_class(model)
    if cls is None:
        return ()
    pyd = getattr(cls, "model_fields", None) or {}
    by_json = {}
    for name, info in pyd.items():
        by_json[info.serialization_alias or info.alias or name] = info
    out = []
    for attr, text in cls.openapi_types.items():
        json_name = cls.attribute_map.get(attr, attr)
        t = parse_type(text)
        leaf = t.leaf()
        info = by_json.get(json_name) or pyd.get(attr)
        key = (model, json_name)
        if key in QUANTITY_FIELDS and leaf.kind == "prim":
            t = t.replace_leaf(TypeRef("special", QUANTITY))
        elif key in BYTES_FIELDS and leaf.kind == "prim":
            t = t.replace_leaf(TypeRef("prim", "bytes"))
        elif leaf == TypeRef("prim", "datetime") or leaf == TypeRef("prim", "date"):
            t = t.replace_leaf(TypeRef("special", MICRO_TIME if key in MICRO_TIME_FIELDS else TIME))
        elif leaf == TypeRef("prim", "any"):
            if key in INT_OR_STRING_FIELDS or (info is not None and _is_int_or_string(info.annotation)):
                t = t.replace_leaf(TypeRef("special", INT_OR_STRING))
            elif key in OBJECT_FIELDS:
                t = t.replace_leaf(TypeRef("special", OBJECT_FIELDS[key]))
            elif key == ("V1JSONSchemaProps", "enum"):
                t = t.replace_leaf(TypeRef("special", JSON_ANY))
            elif key == ("V1JSONSchemaProps", "dependencies"):
                t = t.replace_leaf(TypeRef("special", PROPS_OR_STRINGS))
        elif leaf.kind == "model" and _model_class(leaf.name) is None:
            t = t.replace_leaf(TypeRef("prim", "any"))
        if info is not None:
            description = _clean(info.description)
            required = bool(info.is_required())
        else:
            description = _legacy_description(cls, attr)
            required = False
        out.append(Field(json_name, attr, t, description, required))
    return tuple(out)


# -- schemas ------------------------------------------------------------------------------------------------


def _ref(name: str, description: str = "") -> dict:
    ref = {"$ref": V3_PREFIX + name}
    return {"allOf": [ref], "description": description} if description else ref


def _type_schema(t: TypeRef, description: str = "") -> dict:
    """The schema of a field type; model and special types become references (their names collected later)."""
    if t.kind == "list":
        out = {"type": "array", "items": _type_schema(t.inner)}  # type: ignore[arg-type]
    elif t.kind == "map":
        out = {"type": "object", "additionalProperties": _type_schema(t.inner)}  # type: ignore[arg-type]
    elif t.kind == "model":
        return _ref(schema_name(t.name), description)
    elif t.kind == "special":
        return _ref(t.name, description)
    elif t.name == "any":
        out = {}
    elif t.name == "bytes":
        out = {"type": "string", "format": "byte"}
    elif t.name == "number":
        out = {"type": "number", "format": "double"}
    else:
        out = {"type": t.name}
    if description:
        out = {"description": description, **out}
    return out


@functools.cache
def _kinds_table() -> dict[str, tuple[str, str, str]]:
    table = {}
    for rt in BUILTIN:
        if rt.model:
            table[rt.model] = (rt.group, rt.version, rt.kind)
            table[_list_model(rt.model)] = (rt.group, rt.version, rt.list_kind)
    for group, model, kind in _EXTRA_KINDS:
        m = _CLASS_NAME.match(model)
        table[model] = (group, m.group(2).lower() if m else "v1", kind)
    table["V1Status"] = ("", "v1", "Status")
    return table


def _gvk(group: str, version: str, kind: str) -> dict:
    return {"group": group, "kind": kind, "version": version}


@functools.cache
def model_schema(model: str) -> dict:
    """The component schema of one client model (references other components by canonical name)."""
    cls = _model_class(model)
    schema: dict = {}
    if cls is not None:
        description = _class_description(cls)
        if description:
            schema["description"] = description
    schema["type"] = "object"
    properties = {}
    required = []
    for f in model_fields(model):
        prop = _type_schema(f.type, f.description)
        extra = PATCH_META.get((model, f.json))
        if extra:
            prop = {**prop, **extra}
        properties[f.json] = prop
        if f.required:
            required.append(f.json)
    schema["properties"] = properties
    if required:
        schema["required"] = required
    gvk = _kinds_table().get(model)
    if gvk:
        schema["x-kubernetes-group-version-kind"] = [_gvk(*gvk)]
    return schema


def _refs(node: object) -> typing.Iterator[str]:
    """Names referenced (`$ref`) anywhere inside a schema."""
    todo = [node]
    while todo:
        n = todo.pop()
        if isinstance(n, dict):
            ref = n.get("$ref")
            if isinstance(ref, str) and ref.startswith(V3_PREFIX):
                yield ref[len(V3_PREFIX) :]
            todo.extend(n.values())
        elif isinstance(n, list):
            todo.extend(n)


@functools.cache
def _model_by_schema_name() -> dict[str, str]:
    """Canonical name → model for every model reachable from the built-in kinds (and a few extras)."""
    out: dict[str, str] = {}
    for model in _packages():
        out.setdefault(schema_name(model), model)
    return out


def _component(name: str) -> dict | None:
    if name in SPECIAL_SCHEMAS:
        return SPECIAL_SCHEMAS[name]
    if name in _METRICS_SCHEMAS:
        return _METRICS_SCHEMAS[name]
    model = _model_by_schema_name().get(name)
    return model_schema(model) if model else None


def _close_components(schemas: dict[str, dict]) -> None:
    """Add, in place, every component transitively referenced from `schemas`."""
    todo = [r for s in list(schemas.values()) for r in _refs(s)]
    while todo:
        name = todo.pop()
        if name in schemas:
            continue
        comp = _component(name)
        if comp is None:
            comp = {
                "description": "Arbitrary JSON.",
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": True,
            }
        schemas[name] = comp
        todo.extend(r for r in _refs(comp) if r not in schemas)


# -- metrics.k8s.io -----------------------------------------------------------------------------------------

_USAGE = {
    "type": "object",
    "additionalProperties": {"$ref": V3_PREFIX + QUANTITY},
    "description": "The memory and CPU usage, by resource name.",
}
_METRICS_SCHEMAS: dict[str, dict] = {
    f"{METRICS}.NodeMetrics": {
        "description": "NodeMetrics sets resource usage metrics of a node.",
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": _ref(f"{META}.ObjectMeta", "Standard object's metadata."),
            "timestamp": _ref(TIME, "The time the metrics were collected (the end of the window)."),
            "window": {"type": "string", "description": "The window over which the usage was averaged."},
            "usage": _USAGE,
        },
        "required": ["timestamp", "window", "usage"],
        "x-kubernetes-group-version-kind": [_gvk(METRICS_GROUP, "v1beta1", "NodeMetrics")],
    },
    f"{METRICS}.PodMetrics": {
        "description": "PodMetrics sets resource usage metrics of a pod.",
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": _ref(f"{META}.ObjectMeta", "Standard object's metadata."),
            "timestamp": _ref(TIME, "The time the metrics were collected (the end of the window)."),
            "window": {"type": "string", "description": "The window over which the usage was averaged."},
            "containers": {
                "type": "array",
                "items": {"$ref": V3_PREFIX + f"{METRICS}.ContainerMetrics"},
                "description": "Metrics for all containers, collected within the same window.",
            },
        },
        "required": ["timestamp", "window", "containers"],
        "x-kubernetes-group-version-kind": [_gvk(METRICS_GROUP, "v1beta1", "PodMetrics")],
    },
    f"{METRICS}.ContainerMetrics": {
        "description": "ContainerMetrics sets resource usage metrics of a container.",
        "type": "object",
        "properties": {"name": {"type": "string", "description": "Container name."}, "usage": _USAGE},
        "required": ["name", "usage"],
    },
}
for _kind in ("NodeMetrics", "PodMetrics"):
    _METRICS_SCHEMAS[f"{METRICS}.{_kind}List"] = {
        "description": f"{_kind}List is a list of {_kind}.",
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": _ref(f"{META}.ListMeta", "Standard list metadata."),
            "items": {"type": "array", "items": {"$ref": V3_PREFIX + f"{METRICS}.{_kind}"}},
        },
        "required": ["items"],
        "x-kubernetes-group-version-kind": [_gvk(METRICS_GROUP, "v1beta1", f"{_kind}List")],
    }
del _kind


# -- per-resource-type schemas ---------------------------------------------------------------------------

_TYPE_META = {
    "apiVersion": {
        "type": "string",
        "description": "APIVersion defines the versioned schema of this representation of an object.",
    },
    "kind": {
        "type": "string",
        "description": "Kind is a string value representing the REST resource this object represents.",
    },
}


def kind_schema_name(rt: ResourceType) -> str:
    """Component name of a resource type's kind."""
    if rt.model:
        return schema_name(rt.model)
    if rt.group == METRICS_GROUP:
        return f"{METRICS}.{rt.kind}"
    return crd_schema_name(rt.group, rt.version, rt.kind)


def list_schema_name(rt: ResourceType) -> str:
    if rt.model:
        return schema_name(_list_model(rt.model))
    return kind_schema_name(rt) + "List"


def _custom_schemas(rt: ResourceType) -> dict[str, dict]:
    """Kind and list schemas of a custom resource, from its CRD's openAPIV3Schema."""
    user = json.loads(json.dumps(rt.schema)) if isinstance(rt.schema, dict) else {}
    schema: dict = {k: v for k, v in user.items() if k not in ("properties", "type")}
    schema["type"] = "object"
    properties = dict(user.get("properties") or {}) if isinstance(user.get("properties"), dict) else {}
    properties.update(_TYPE_META)
    properties["metadata"] = _ref(f"{META}.ObjectMeta", "Standard object's metadata.")
    schema["properties"] = properties
    if not rt.schema:
        schema["x-kubernetes-preserve-unknown-fields"] = True
    schema["x-kubernetes-group-version-kind"] = [_gvk(rt.group, rt.version, rt.kind)]
    name = kind_schema_name(rt)
    listing = {
        "description": f"{rt.list_kind} is a list of {rt.kind}",
        "type": "object",
        "properties": {
            **_TYPE_META,
            "items": {
                "type": "array",
                "items": {"$ref": V3_PREFIX + name},
                "description": f"List of {rt.plural}.",
            },
            "metadata": _ref(f"{META}.ListMeta", "Standard list metadata."),
        },
        "required": ["items"],
        "x-kubernetes-group-version-kind": [_gvk(rt.group, rt.version, rt.list_kind)],
    }
    return {name: schema, name + "List": listing}


def _schemas_for(rt: ResourceType) -> dict[str, dict]:
    if rt.model:
        return {
            kind_schema_name(rt): model_schema(rt.model),
            list_schema_name(rt): model_schema(_list_model(rt.model)),
        }
    if rt.group == METRICS_GROUP:
        name = kind_schema_name(rt)
        return {name: _METRICS_SCHEMAS[name], name + "List": _METRICS_SCHEMAS[name + "List"]}
    return _custom_schemas(rt)


# -- paths ------------------------------------------------------------------------------------------------


def _query(name: str, description: str, type_: str = "string") -> dict:
    return {
        "name": name,
        "in": "query",
        "description": description,
        "schema": {"type": type_, "uniqueItems": True},
    }


_PRETTY = _query("pretty", "If 'true', then the output is pretty printed.")
_DRY_RUN = _query(
    "dryRun",
    "When present, indicates that modifications should not be persisted. Valid "
    "values are: - All: all dry run stages will be processed",
)
_FIELD_MANAGER = _query(
    "fieldManager", "fieldManager is a name associated with the actor or entity that is making these changes."
)
_FIELD_VALIDATION = _query(
    "fieldValidation",
    "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) "
    "containing unknown or duplicate fields. Valid values are: - Ignore - Warn (the default) - Strict",
)
_FORCE = _query(
    "force",
    'Force is going to "force" Apply requests. It must be unset for non-apply patch requests.',
    "boolean",
)
_LIST_PARAMS = [
    _query(
        "allowWatchBookmarks", 'allowWatchBookmarks requests watch events with type "BOOKMARK".', "boolean"
    ),
    _query("continue", "The continue option should be set when retrieving more results from the server."),
    _query("fieldSelector", "A selector to restrict the list of returned objects by their fields."),
    _query("labelSelector", "A selector to restrict the list of returned objects by their labels."),
    _query("limit", "limit is a maximum number of responses to return for a list call.", "integer"),
    _query(
        "resourceVersion",
        "resourceVersion sets a constraint on what resource versions a request may be served from.",
    ),
    _query(
        "resourceVersionMatch",
        "resourceVersionMatch determines how resourceVersion is applied to list calls.",
    ),
    _query("sendInitialEvents", "`sendInitialEvents=true` may be set together with `watch=true`.", "boolean"),
    _query("timeoutSeconds", "Timeout for the list/watch call.", "integer"),
    _query(
        "watch",
        "Watch for changes to the described resources and return them as a stream of add, update, "
        "and remove notifications.",
        "boolean",
    ),
]
_DELETE_PARAMS = [
    _DRY_RUN,
    _query("gracePeriodSeconds", "The duration in seconds before the object should be deleted.", "integer"),
    _query(
        "ignoreStoreReadErrorWithClusterBreakingPotential",
        "if set to true, it will trigger an unsafe "
        "deletion of the resource in case the normal deletion flow fails with a corrupt object error.",
        "boolean",
    ),
    _query("orphanDependents", "Deprecated: please use the PropagationPolicy.", "boolean"),
    _query("propagationPolicy", "Whether and how garbage collection will be performed."),
]
_OBJECT_MEDIA = ("application/json", "application/yaml", "application/vnd.kubernetes.protobuf")
_LIST_MEDIA = (
    *_OBJECT_MEDIA,
    "application/json;stream=watch",
    "application/vnd.kubernetes.protobuf;stream=watch",
)
_PATCH_MEDIA = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
)
_UNAUTHORIZED = {"description": "Unauthorized"}


def _content(schema_name_: str, media: tuple[str, ...] = _OBJECT_MEDIA) -> dict:
    return {m: {"schema": {"$ref": V3_PREFIX + schema_name_}} for m in media}


def _responses(schema_name_: str, codes: tuple[str, ...] = ("200",), media=_OBJECT_MEDIA) -> dict:
    names = {"200": "OK", "201": "Created", "202": "Accepted"}
    out: dict = {c: {"description": names[c], "content": _content(schema_name_, media)} for c in codes}
    out["401"] = _UNAUTHORIZED
    return out


def _body(schema_name_: str, media: tuple[str, ...] = _OBJECT_MEDIA) -> dict:
    return {"content": _content(schema_name_, media), "required": True}


def _camel_group(rt: ResourceType) -> str:
    group = rt.group.removesuffix(".k8s.io") if rt.group else "core"
    parts = re.split(r"[.\-]", group)
    return "".join(p[:1].upper() + p[1:] for p in parts if p) + rt.version[:1].upper() + rt.version[1:]


def _operation(
    action: str,
    op_id: str,
    description: str,
    rt: ResourceType,
    gvk: dict,
    *,
    params=(),
    responses: dict,
    body: dict | None = None,
) -> dict:
    op: dict = {
        "tags": [f"{_tag(rt)}"],
        "description": description,
        "operationId": op_id,
    }
    if params:
        op["parameters"] = list(params)
    if body is not None:
        op["requestBody"] = body
    op["responses"] = responses
    op["x-kubernetes-action"] = action
    op["x-kubernetes-group-version-kind"] = gvk
    return op


def _tag(rt: ResourceType) -> str:
    group = rt.group.removesuffix(".k8s.io").replace(".", "_") if rt.group else "core"
    return f"{group}_{rt.version}"


def _path_params(rt: ResourceType, *, name: bool, namespaced: bool) -> list[dict]:
    params = []
    if name:
        params.append(
            {
                "name": "name",
                "in": "path",
                "description": f"name of the {rt.kind}",
                "required": True,
                "schema": {"type": "string", "uniqueItems": True},
            }
        )
    if namespaced:
        params.append(
            {
                "name": "namespace",
                "in": "path",
                "description": "object name and auth scope, such as for teams and projects",
                "required": True,
                "schema": {"type": "string", "uniqueItems": True},
            }
        )
    params.append(_PRETTY)
    return params


def _resource_paths(rt: ResourceType) -> dict[str, dict]:
    """Collection, item and subresource paths of one resource type, with the operations its verbs allow."""
    verbs = set(rt.verbs)
    kind_ref = kind_schema_name(rt)
    list_ref = list_schema_name(rt)
    gvk = _gvk(rt.group, rt.version, rt.kind)
    cg = _camel_group(rt)
    ns = "Namespaced" if rt.namespaced else ""
    base = rt.api_prefix + ("/namespaces/{namespace}" if rt.namespaced else "")
    collection = f"{base}/{rt.plural}"
    item = f"{collection}/{{name}}"
    write = [_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION]
    status = f"{META}.Status"
    paths: dict[str, dict] = {}

    coll: dict = {}
    if "list" in verbs:
        coll["get"] = _operation(
            "list",
            f"list{cg}{ns}{rt.kind}",
            f"list or watch objects of kind {rt.kind}",
            rt,
            gvk,
            params=_LIST_PARAMS,
            responses=_responses(list_ref, media=_LIST_MEDIA),
        )
    if "create" in verbs:
        coll["post"] = _operation(
            "post",
            f"create{cg}{ns}{rt.kind}",
            f"create a {rt.kind}",
            rt,
            gvk,
            params=write,
            body=_body(kind_ref),
            responses=_responses(kind_ref, ("200", "201", "202")),
        )
    if "deletecollection" in verbs:
        coll["delete"] = _operation(
            "deletecollection",
            f"delete{cg}Collection{ns}{rt.kind}",
            f"delete collection of {rt.kind}",
            rt,
            gvk,
            params=[*_LIST_PARAMS, *_DELETE_PARAMS],
            body=_body(f"{META}.DeleteOptions", _OBJECT_MEDIA[:2]),
            responses=_responses(status),
        )
    if coll:
        coll["parameters"] = _path_params(rt, name=False, namespaced=rt.namespaced)
        paths[collection] = coll

    one: dict = {}
    if "get" in verbs:
        one["get"] = _operation(
            "get",
            f"read{cg}{ns}{rt.kind}",
            f"read the specified {rt.kind}",
            rt,
            gvk,
            responses=_responses(kind_ref),
        )
    if "update" in verbs:
        one["put"] = _operation(
            "put",
            f"replace{cg}{ns}{rt.kind}",
            f"replace the specified {rt.kind}",
            rt,
            gvk,
            params=write,
            body=_body(kind_ref),
            responses=_responses(kind_ref, ("200", "201")),
        )
    if "patch" in verbs:
        one["patch"] = _operation(
            "patch",
            f"patch{cg}{ns}{rt.kind}",
            f"partially update the specified {rt.kind}",
            rt,
            gvk,
            params=[*write, _FORCE],
            body=_body(PATCH, _PATCH_MEDIA),
            responses=_responses(kind_ref, ("200", "201")),
        )
    if "delete" in verbs:
        one["delete"] = _operation(
            "delete",
            f"delete{cg}{ns}{rt.kind}",
            f"delete a {rt.kind}",
            rt,
            gvk,
            params=_DELETE_PARAMS,
            body=_body(f"{META}.DeleteOptions", _OBJECT_MEDIA[:2]),
            responses=_responses(status, ("200", "202")),
        )
    if one:
        one["parameters"] = _path_params(rt, name=True, namespaced=rt.namespaced)
        paths[item] = one

    for sub in rt.subresources:
        if sub == "scale":
            sub_ref, sub_gvk = schema_name("V1Scale"), _gvk("autoscaling", "v1", "Scale")
        else:
            sub_ref, sub_gvk = kind_ref, gvk
        title = sub[:1].upper() + sub[1:]
        ops: dict = {
            "get": _operation(
                "get",
                f"read{cg}{ns}{rt.kind}{title}",
                f"read {sub} of the specified {rt.kind}",
                rt,
                sub_gvk,
                responses=_responses(sub_ref),
            )
        }
        if "update" in verbs:
            ops["put"] = _operation(
                "put",
                f"replace{cg}{ns}{rt.kind}{title}",
                f"replace {sub} of the specified {rt.kind}",
                rt,
                sub_gvk,
                params=write,
                body=_body(sub_ref),
                responses=_responses(sub_ref, ("200", "201")),
            )
        if "patch" in verbs:
            ops["patch"] = _operation(
                "patch",
                f"patch{cg}{ns}{rt.kind}{title}",
                f"partially update {sub} of the specified {rt.kind}",
                rt,
                sub_gvk,
                params=[*write, _FORCE],
                body=_body(PATCH, _PATCH_MEDIA),
                responses=_responses(sub_ref, ("200", "201")),
            )
        ops["parameters"] = _path_params(rt, name=True, namespaced=rt.namespaced)
        paths[f"{item}/{sub}"] = ops

    if rt.namespaced and "list" in verbs:
        paths[f"{rt.api_prefix}/{rt.plural}"] = {
            "get": _operation(
                "list",
                f"list{cg}{rt.kind}ForAllNamespaces",
                f"list or watch objects of kind {rt.kind}",
                rt,
                gvk,
                params=_LIST_PARAMS,
                responses=_responses(list_ref, media=_LIST_MEDIA),
            ),
            "parameters": [_PRETTY],
        }
    return paths


def _build_group_version(types: list[ResourceType]) -> dict:
    rt0 = types[0]
    paths: dict[str, dict] = {
        rt0.api_prefix + "/": {
            "get": {
                "tags": [_tag(rt0)],
                "description": "get available resources",
                "operationId": f"get{_camel_group(rt0)}APIResources",
                "responses": _responses(f"{META}.APIResourceList", media=_OBJECT_MEDIA),
            }
        }
    }
    schemas: dict[str, dict] = {}
    for rt in types:
        paths.update(_resource_paths(rt))
        schemas.update(_schemas_for(rt))
    for name in _refs(paths):
        schemas.setdefault(name, {})
    for name in list(schemas):
        if not schemas[name]:
            comp = _component(name)
            schemas[name] = comp if comp is not None else {"type": "object"}
    _close_components(schemas)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION},
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": dict(sorted(schemas.items()))},
    }


# -- memoisation ------------------------------------------------------------------------------------------

_LOCK = threading.Lock()
_DOCS: OrderedDict[str, dict] = OrderedDict()
_MAX_DOCS = 256
_PER_REGISTRY: weakref.WeakKeyDictionary[Registry, dict[tuple[str, str], str]] = weakref.WeakKeyDictionary()


def _client_version() -> str:
    try:
        import kubernetes

        return str(getattr(kubernetes, "__version__", ""))
    except ImportError:  # pragma: no cover
        return ""


def _digest(types: list[ResourceType]) -> str:
    h = hashlib.sha256()
    h.update(f"{DOC_REVISION}\0{_client_version()}\0{KUBERNETES_VERSION}\0".encode())
    for rt in types:
        fields = [
            rt.group,
            rt.version,
            rt.kind,
            rt.plural,
            rt.namespaced,
            rt.model,
            rt.short_names,
            rt.verbs,
            rt.subresources,
            rt.categories,
        ]
        h.update(json.dumps(fields).encode())
        h.update(json.dumps(rt.schema, sort_keys=True, default=str).encode())
        h.update(b"\0")
    return h.hexdigest().upper()


def _digests(registry: Registry) -> dict[tuple[str, str], str]:
    with _LOCK:
        cached = _PER_REGISTRY.get(registry)
    if cached is not None:
        return cached
    digests = {}
    for group, versions in registry.group_versions().items():
        for version in versions:
            digests[(group, version)] = _digest(registry.in_group_version(group, version))
    with _LOCK:
        _PER_REGISTRY[registry] = digests
    return digests


def _cached(key: str, build: typing.Callable[[], dict]) -> dict:
    with _LOCK:
        doc = _DOCS.get(key)
        if doc is not None:
            _DOCS.move_to_end(key)
            return doc
    doc = build()
    with _LOCK:
        _DOCS[key] = doc
        while len(_DOCS) > _MAX_DOCS:
            _DOCS.popitem(last=False)
    return doc


def clear_cache() -> None:
    """Forget every built document (tests)."""
    with _LOCK:
        _DOCS.clear()
        _PER_REGISTRY.clear()


# -- public documents -----------------------------------------------------------------------------------


def gv_path(group: str, version: str) -> str:
    """Key of a group-version in the v3 root: ``api/v1`` or ``apis/apps/v1``."""
    return f"apis/{group}/{version}" if group else f"api/{version}"


def v3_root(registry: Registry) -> dict:
    """`GET /openapi/v3`: one `serverRelativeURL` per group-version, whose hash tracks the content."""
    return {
        "paths": {
            gv_path(group, version): {
                "serverRelativeURL": f"/openapi/v3/{gv_path(group, version)}?hash={digest}"
            }
            for (group, version), digest in _digests(registry).items()
        }
    }


def v3_group_version(registry: Registry, group: str, version: str) -> dict | None:
    """`GET /openapi/v3/apis/<group>/<version>` (or `/api/v1`); None when the registry does not serve it."""
    digest = _digests(registry).get((group, version))
    if digest is None:
        return None
    return _cached(f"v3:{digest}", lambda: _build_group_version(registry.in_group_version(group, version)))


def _to_v2(node: object) -> object:
    if isinstance(node, dict):
        all_of = node.get("allOf")
        if (
            isinstance(all_of, list)
            and len(all_of) == 1
            and isinstance(all_of[0], dict)
            and "$ref" in all_of[0]
        ):
            node = {**{k: v for k, v in node.items() if k != "allOf"}, "$ref": all_of[0]["$ref"]}
        out = {}
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str) and v.startswith(V3_PREFIX):
                out[k] = V2_PREFIX + v[len(V3_PREFIX) :]
            else:
                out[k] = _to_v2(v)
        return out
    if isinstance(node, list):
        return [_to_v2(v) for v in node]
    return node


def v2_document(registry: Registry) -> dict:
    """`GET /openapi/v2` as JSON swagger 2.0: every schema of the registry's kinds under `definitions`
    (with `x-kubernetes-group-version-kind`); `paths` is left empty."""
    digests = _digests(registry)
    key = "v2:" + hashlib.sha256("".join(sorted(digests.values())).encode()).hexdigest()

    def build() -> dict:
        schemas: dict[str, dict] = {}
        for rt in registry:
            schemas.update(_schemas_for(rt))
        for name in (
            f"{META}.Status",
            f"{META}.DeleteOptions",
            f"{META}.APIResourceList",
            PATCH,
            schema_name("V1Scale"),
        ):
            schemas[name] = _component(name) or {"type": "object"}
        _close_components(schemas)
        return {
            "swagger": "2.0",
            "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION},
            "paths": {},
            "definitions": _to_v2(dict(sorted(schemas.items()))),
        }

    return _cached(key, build)
