"""OpenAPI v3 (root and per group-version) and v2 documents built from the client models and CRD schemas."""

from __future__ import annotations

import copy
import json
import re

import pytest

from providers.sandbox import openapi
from providers.sandbox.resources import BUILTIN_REGISTRY, Registry, ResourceType

CRON_SCHEMA = {
    "type": "object",
    "description": "A cron tab.",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {
                "cronSpec": {"type": "string", "pattern": "^(\\S+ ){4}\\S+$"},
                "replicas": {"type": "integer", "minimum": 0},
            },
        },
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    },
}


def _crd(schema: dict | None = CRON_SCHEMA, group: str = "stable.example.com") -> dict:
    version: dict = {
        "name": "v1",
        "served": True,
        "storage": True,
        "subresources": {"status": {}, "scale": {}},
    }
    if schema is not None:
        version["schema"] = {"openAPIV3Schema": schema}
    return {
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "crontabs", "kind": "CronTab", "shortNames": ["ct"]},
            "versions": [version],
        }
    }


CRD_REGISTRY = BUILTIN_REGISTRY.with_crds([_crd()])


def _gv(key: str) -> tuple[str, str]:
    parts = key.split("/")
    return ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])


def _all_docs(registry: Registry) -> dict[str, dict]:
    out = {}
    for key in openapi.v3_root(registry)["paths"]:
        doc = openapi.v3_group_version(registry, *_gv(key))
        assert doc is not None, key
        out[key] = doc
    return out


def _refs(node: object) -> list[str]:
    found = []
    todo = [node]
    while todo:
        n = todo.pop()
        if isinstance(n, dict):
            if isinstance(n.get("$ref"), str):  # (JSONSchemaProps has a *property* named "$ref")
                found.append(n["$ref"])
            todo.extend(n.values())
        elif isinstance(n, list):
            todo.extend(n)
    return found


def _resolve(doc: dict, schema: dict) -> dict:
    while True:
        if "$ref" in schema:
            schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        elif len(schema.get("allOf", ())) == 1 and "properties" not in schema:
            schema = schema["allOf"][0]
        else:
            return schema


def _explain(doc: dict, kind_schema: str, path: str) -> dict:
    """What `kubectl explain kind.path` walks: properties, through refs and array items."""
    schema = doc["components"]["schemas"][kind_schema]
    for part in path.split("."):
        schema = _resolve(doc, schema)
        if schema.get("type") == "array":
            schema = _resolve(doc, schema["items"])
        schema = schema["properties"][part]
    return _resolve(doc, schema)


# -- root ------------------------------------------------------------------------------------------------


def test_root_lists_every_group_version() -> None:
    root = openapi.v3_root(BUILTIN_REGISTRY)
    keys = set(root["paths"])
    assert {
        "api/v1",
        "apis/apps/v1",
        "apis/autoscaling/v1",
        "apis/autoscaling/v2",
        "apis/metrics.k8s.io/v1beta1",
        "apis/apiextensions.k8s.io/v1",
    } <= keys
    for key, entry in root["paths"].items():
        assert re.fullmatch(rf"/openapi/v3/{re.escape(key)}\?hash=[0-9A-F]{{64}}", entry["serverRelativeURL"])


def test_crd_adds_group_version_and_leaves_others_alone() -> None:
    before = openapi.v3_root(BUILTIN_REGISTRY)["paths"]
    after = openapi.v3_root(CRD_REGISTRY)["paths"]
    assert "apis/stable.example.com/v1" not in before
    assert "apis/stable.example.com/v1" in after
    assert {k: v for k, v in after.items() if k in before} == before


def test_hash_tracks_schema_content() -> None:
    url = openapi.v3_root(CRD_REGISTRY)["paths"]["apis/stable.example.com/v1"]["serverRelativeURL"]
    same = BUILTIN_REGISTRY.with_crds([_crd(copy.deepcopy(CRON_SCHEMA))])
    assert openapi.v3_root(same)["paths"]["apis/stable.example.com/v1"]["serverRelativeURL"] == url
    changed_schema = copy.deepcopy(CRON_SCHEMA)
    changed_schema["properties"]["spec"]["properties"]["image"] = {"type": "string"}
    changed = BUILTIN_REGISTRY.with_crds([_crd(changed_schema)])
    assert openapi.v3_root(changed)["paths"]["apis/stable.example.com/v1"]["serverRelativeURL"] != url
    doc = openapi.v3_group_version(changed, "stable.example.com", "v1")
    assert (
        "image"
        in doc["components"]["schemas"]["com.example.stable.v1.CronTab"]["properties"]["spec"][  # type: ignore[index]
            "properties"
        ]
    )


def test_unknown_group_version() -> None:
    assert openapi.v3_group_version(BUILTIN_REGISTRY, "apps", "v2") is None
    assert openapi.v3_group_version(BUILTIN_REGISTRY, "stable.example.com", "v1") is None


def test_cached_documents_are_reused() -> None:
    a = openapi.v3_group_version(BUILTIN_REGISTRY, "apps", "v1")
    # A new registry object with the same contents hits the same cache entry.
    b = openapi.v3_group_version(Registry(list(BUILTIN_REGISTRY)), "apps", "v1")
    assert a is b


# -- per group-version ---------------------------------------------------------------------------------------


def test_deployment_patch_has_field_validation_and_gvk() -> None:
    doc = openapi.v3_group_version(BUILTIN_REGISTRY, "apps", "v1")
    assert doc is not None
    assert doc["openapi"] == "3.0.0"
    assert doc["info"] == {"title": "Kubernetes", "version": "v1.32.0"}
    item = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]
    patch = item["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {
        "group": "apps",
        "kind": "Deployment",
        "version": "v1",
    }
    names = {p["name"]: p for p in patch["parameters"]}
    assert names["fieldValidation"]["in"] == "query"
    assert {"fieldManager", "dryRun", "force"} <= set(names)
    assert set(patch["requestBody"]["content"]) == {
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
        "application/apply-patch+yaml",
    }
    assert {p["name"] for p in item["parameters"]} == {"name", "namespace", "pretty"}
    assert set(item) == {"get", "put", "patch", "delete", "parameters"}


def test_every_write_operation_has_validation_parameters() -> None:
    for key, doc in _all_docs(CRD_REGISTRY).items():
        for path, item in doc["paths"].items():
            for method in ("post", "put", "patch"):
                if method not in item:
                    continue
                op = item[method]
                params = {p["name"] for p in op.get("parameters", ())}
                assert {"fieldValidation", "fieldManager", "dryRun"} <= params, (key, path, method)
                assert "x-kubernetes-group-version-kind" in op, (key, path, method)


def test_all_refs_resolve_within_components() -> None:
    for key, doc in _all_docs(CRD_REGISTRY).items():
        schemas = doc["components"]["schemas"]
        for ref in _refs(doc):
            assert ref.startswith("#/components/schemas/"), (key, ref)
            assert ref.split("/")[-1] in schemas, (key, ref)


def test_every_kind_schema_carries_its_gvk() -> None:
    for key, doc in _all_docs(CRD_REGISTRY).items():
        group, version = _gv(key)
        gvks = [
            g
            for s in doc["components"]["schemas"].values()
            for g in s.get("x-kubernetes-group-version-kind", ())
        ]
        for rt in CRD_REGISTRY.in_group_version(group, version):
            assert {"group": group, "kind": rt.kind, "version": version} in gvks, (key, rt.kind)
            assert {"group": group, "kind": rt.list_kind, "version": version} in gvks, (key, rt.kind)


def test_docs_are_json_serialisable_and_deterministic() -> None:
    doc = openapi.v3_group_version(BUILTIN_REGISTRY, "", "v1")
    text = json.dumps(doc, sort_keys=True)
    openapi.clear_cache()
    assert json.dumps(openapi.v3_group_version(BUILTIN_REGISTRY, "", "v1"), sort_keys=True) == text


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("V1Deployment", "io.k8s.api.apps.v1.Deployment"),
        ("V1DeploymentSpec", "io.k8s.api.apps.v1.DeploymentSpec"),
        ("V1PodTemplateSpec", "io.k8s.api.core.v1.PodTemplateSpec"),
        ("V1Container", "io.k8s.api.core.v1.Container"),
        ("V1ObjectMeta", "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"),
        ("V1LabelSelector", "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector"),
        ("V1Scale", "io.k8s.api.autoscaling.v1.Scale"),
        ("V2HorizontalPodAutoscaler", "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler"),
        ("V2MetricSpec", "io.k8s.api.autoscaling.v2.MetricSpec"),
        ("CoreV1Event", "io.k8s.api.core.v1.Event"),
        ("RbacV1Subject", "io.k8s.api.rbac.v1.Subject"),
        ("V1RoleRef", "io.k8s.api.rbac.v1.RoleRef"),
        ("V1IngressRule", "io.k8s.api.networking.v1.IngressRule"),
        (
            "V1CustomResourceDefinition",
            "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition",
        ),
        ("V1JSONSchemaProps", "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps"),
        ("V1PodDisruptionBudget", "io.k8s.api.policy.v1.PodDisruptionBudget"),
    ],
)
def test_schema_names(model: str, expected: str) -> None:
    assert openapi.schema_name(model) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("str", openapi.TypeRef("prim", "string")),
        ("int", openapi.TypeRef("prim", "integer")),
        ("bool", openapi.TypeRef("prim", "boolean")),
        ("float", openapi.TypeRef("prim", "number")),
        ("object", openapi.TypeRef("prim", "any")),
        ("datetime", openapi.TypeRef("prim", "datetime")),
        ("V1Container", openapi.TypeRef("model", "V1Container")),
        ("List[V1Container]", openapi.TypeRef("list", inner=openapi.TypeRef("model", "V1Container"))),
        ("list[V1Container]", openapi.TypeRef("list", inner=openapi.TypeRef("model", "V1Container"))),
        ("Dict[str, str]", openapi.TypeRef("map", inner=openapi.TypeRef("prim", "string"))),
        ("dict(str, str)", openapi.TypeRef("map", inner=openapi.TypeRef("prim", "string"))),
        (
            "dict(str, list[str])",
            openapi.TypeRef("map", inner=openapi.TypeRef("list", inner=openapi.TypeRef("prim", "string"))),
        ),
        (
            "Dict[str, List[str]]",
            openapi.TypeRef("map", inner=openapi.TypeRef("list", inner=openapi.TypeRef("prim", "string"))),
        ),
    ],
)
def test_parse_type(text: str, expected: openapi.TypeRef) -> None:
    assert openapi.parse_type(text) == expected


@pytest.mark.parametrize(
    ("gv", "kind", "path", "expected"),
    [
        (("apps", "v1"), "io.k8s.api.apps.v1.Deployment", "spec.replicas", {"type": "integer"}),
        (
            ("apps", "v1"),
            "io.k8s.api.apps.v1.Deployment",
            "spec.strategy.rollingUpdate.maxSurge",
            {"x-kubernetes-int-or-string": True},
        ),
        (
            ("apps", "v1"),
            "io.k8s.api.apps.v1.Deployment",
            "spec.template.spec.containers.resources.limits",
            {"type": "object"},
        ),
        (
            ("apps", "v1"),
            "io.k8s.api.apps.v1.Deployment",
            "metadata.creationTimestamp",
            {"type": "string", "format": "date-time"},
        ),
        (
            ("", "v1"),
            "io.k8s.api.core.v1.Service",
            "spec.ports.targetPort",
            {"x-kubernetes-int-or-string": True},
        ),
        (
            ("", "v1"),
            "io.k8s.api.core.v1.Pod",
            "spec.containers.livenessProbe.httpGet.port",
            {"x-kubernetes-int-or-string": True},
        ),
        (
            ("policy", "v1"),
            "io.k8s.api.policy.v1.PodDisruptionBudget",
            "spec.minAvailable",
            {"x-kubernetes-int-or-string": True},
        ),
        (("", "v1"), "io.k8s.api.core.v1.Pod", "spec.volumes.emptyDir.sizeLimit", {"type": "string"}),
        (("", "v1"), "io.k8s.api.core.v1.Secret", "data", {"type": "object"}),
    ],
)
def test_explain_paths(gv: tuple[str, str], kind: str, path: str, expected: dict) -> None:
    doc = openapi.v3_group_version(BUILTIN_REGISTRY, *gv)
    schema = _explain(doc, kind, path)  # type: ignore[arg-type]
    assert expected.items() <= schema.items()


def test_quantity_maps_reference_quantity() -> None:
    doc = openapi.v3_group_version(BUILTIN_REGISTRY, "", "v1")
    reqs = doc["components"]["schemas"]["io.k8s.api.core.v1.ResourceRequirements"]  # type: ignore[index]
    assert reqs["properties"]["limits"]["additionalProperties"] == {
        "$ref": "#/components/schemas/io.k8s.apimachinery.pkg.api.resource.Quantity"
    }
    quantity = doc["components"]["schemas"]["io.k8s.apimachinery.pkg.api.resource.Quantity"]  # type: ignore[index]
    assert quantity["type"] == "string"


@pytest.mark.parametrize(
    ("schema", "field", "key", "strategy"),
    [
        ("io.k8s.api.core.v1.PodSpec", "containers", "name", "merge"),
        ("io.k8s.api.core.v1.PodSpec", "initContainers", "name", "merge"),
        ("io.k8s.api.core.v1.PodSpec", "volumes", "name", "merge,retainKeys"),
        ("io.k8s.api.core.v1.Container", "ports", "containerPort", "merge"),
        ("io.k8s.api.core.v1.Container", "env", "name", "merge"),
        ("io.k8s.api.core.v1.Container", "volumeMounts", "mountPath", "merge"),
        ("io.k8s.api.core.v1.ServiceSpec", "ports", "port", "merge"),
        ("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "ownerReferences", "uid", "merge"),
        ("io.k8s.api.core.v1.PodStatus", "conditions", "type", "merge"),
    ],
)
def test_patch_strategies(schema: str, field: str, key: str, strategy: str) -> None:
    doc = openapi.v3_group_version(BUILTIN_REGISTRY, "", "v1")
    prop = doc["components"]["schemas"][schema]["properties"][field]  # type: ignore[index]
    assert prop["x-kubernetes-patch-merge-key"] == key
    assert prop["x-kubernetes-patch-strategy"] == strategy


def test_required_and_descriptions() -> None:
    doc = openapi.v3_group_version(BUILTIN_REGISTRY, "apps", "v1")
    spec = doc["components"]["schemas"]["io.k8s.api.apps.v1.DeploymentSpec"]  # type: ignore[index]
    assert set(spec.get("required", ())) >= {"selector", "template"}
    assert spec["description"]
    assert (
        "replicas" in spec["properties"]["replicas"]["description"].lower()
        or spec["properties"]["replicas"]["description"]
    )
    container = doc["components"]["schemas"]["io.k8s.api.core.v1.Container"]  # type: ignore[index]
    assert "name" in container["required"]


def test_paths_by_verbs_and_scope() -> None:
    core = openapi.v3_group_version(BUILTIN_REGISTRY, "", "v1")
    paths = core["paths"]  # type: ignore[index]
    assert set(paths["/api/v1/namespaces/{namespace}/pods"]) == {"get", "post", "delete", "parameters"}
    assert paths["/api/v1/pods"]["get"]["operationId"] == "listCoreV1PodForAllNamespaces"
    assert "/api/v1/namespaces/{name}" in paths
    assert "/api/v1/namespaces/{name}/status" in paths
    assert "/api/v1/nodes" in paths and "/api/v1/namespaces/{namespace}/nodes" not in paths
    assert (
        paths["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"]["operationId"]
        == "patchCoreV1NamespacedPod"
    )

    apps = openapi.v3_group_version(BUILTIN_REGISTRY, "apps", "v1")["paths"]  # type: ignore[index]
    scale = apps["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]
    assert scale["patch"]["x-kubernetes-group-version-kind"] == {
        "group": "autoscaling",
        "kind": "Scale",
        "version": "v1",
    }
    assert scale["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "io.k8s.api.autoscaling.v1.Scale"
    )
    status = apps["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/status"]
    assert {p["name"] for p in status["put"]["parameters"]} >= {"fieldValidation", "fieldManager", "dryRun"}


def test_metrics_are_read_only() -> None:
    doc = openapi.v3_group_version(BUILTIN_REGISTRY, "metrics.k8s.io", "v1beta1")
    assert doc is not None
    methods = {m for item in doc["paths"].values() for m in item if m != "parameters"}
    assert methods == {"get"}
    schemas = doc["components"]["schemas"]
    assert schemas["io.k8s.metrics.pkg.apis.metrics.v1beta1.PodMetrics"][
        "x-kubernetes-group-version-kind"
    ] == [{"group": "metrics.k8s.io", "kind": "PodMetrics", "version": "v1beta1"}]


def test_crd_document() -> None:
    doc = openapi.v3_group_version(CRD_REGISTRY, "stable.example.com", "v1")
    assert doc is not None
    schemas = doc["components"]["schemas"]
    cron = schemas["com.example.stable.v1.CronTab"]
    assert cron["x-kubernetes-group-version-kind"] == [
        {"group": "stable.example.com", "kind": "CronTab", "version": "v1"}
    ]
    assert set(cron["properties"]) == {"apiVersion", "kind", "metadata", "spec", "status"}
    assert cron["properties"]["spec"]["properties"]["replicas"] == {"type": "integer", "minimum": 0}
    assert "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" in schemas
    assert "com.example.stable.v1.CronTabList" in schemas
    patch = doc["paths"]["/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"]["kind"] == "CronTab"
    assert "/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}/scale" in doc["paths"]
    # The CRD's own schema object is not modified.
    assert set(CRON_SCHEMA["properties"]) == {"spec", "status"}
    assert _explain(doc, "com.example.stable.v1.CronTab", "spec.cronSpec")["type"] == "string"


def test_crd_without_schema_preserves_unknown_fields() -> None:
    registry = BUILTIN_REGISTRY.with_crds([_crd(None, group="free.example.com")])
    doc = openapi.v3_group_version(registry, "free.example.com", "v1")
    cron = doc["components"]["schemas"]["com.example.free.v1.CronTab"]  # type: ignore[index]
    assert cron["x-kubernetes-preserve-unknown-fields"] is True


def test_cluster_scoped_custom_resource() -> None:
    rt = ResourceType("x.io", "v1", "Widget", "widgets", False, schema={"type": "object"})
    doc = openapi.v3_group_version(Registry([rt]), "x.io", "v1")
    assert "/apis/x.io/v1/widgets/{name}" in doc["paths"]  # type: ignore[index]
    assert "/apis/x.io/v1/namespaces/{namespace}/widgets" not in doc["paths"]  # type: ignore[index]


# -- v2 ------------------------------------------------------------------------------------------------------


def test_v2_document() -> None:
    doc = openapi.v2_document(CRD_REGISTRY)
    assert doc["swagger"] == "2.0"
    defs = doc["definitions"]
    assert defs["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"] == [
        {"group": "apps", "kind": "Deployment", "version": "v1"}
    ]
    assert "com.example.stable.v1.CronTab" in defs
    for ref in _refs(doc):
        assert ref.startswith("#/definitions/"), ref
        assert ref.split("/")[-1] in defs, ref
    assert not any("allOf" in d for s in defs.values() for d in s.get("properties", {}).values())
    assert openapi.v2_document(CRD_REGISTRY) is doc
