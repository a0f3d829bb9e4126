"""Server-side field validation: unknown fields, type errors, CRD constraints, modes and hostile input."""

from __future__ import annotations

import copy
import time

import pytest

from providers.sandbox import errors, validation
from providers.sandbox.resources import BUILTIN_REGISTRY, ResourceType

DEPLOYMENTS = BUILTIN_REGISTRY.by_kind("apps/v1", "Deployment")
SERVICES = BUILTIN_REGISTRY.by_kind("v1", "Service")
SECRETS = BUILTIN_REGISTRY.by_kind("v1", "Secret")
CONFIGMAPS = BUILTIN_REGISTRY.by_kind("v1", "ConfigMap")
REVISIONS = BUILTIN_REGISTRY.by_kind("apps/v1", "ControllerRevision")
PDBS = BUILTIN_REGISTRY.by_kind("policy/v1", "PodDisruptionBudget")
CRDS = BUILTIN_REGISTRY.by_kind("apiextensions.k8s.io/v1", "CustomResourceDefinition")
POD_METRICS = BUILTIN_REGISTRY.by_kind("metrics.k8s.io/v1beta1", "PodMetrics")
assert DEPLOYMENTS and SERVICES and SECRETS and CONFIGMAPS and REVISIONS and PDBS and CRDS and POD_METRICS

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "web",
        "namespace": "default",
        "labels": {"app": "web", "app.kubernetes.io/name": "web"},
        "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
        "creationTimestamp": None,
        "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {"f:replicas": {}}}}],
    },
    "spec": {
        "replicas": 3,
        "selector": {"matchLabels": {"app": "web"}},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [
                    {
                        "name": "web",
                        "image": "nginx",
                        "ports": [{"containerPort": 80, "protocol": "TCP"}],
                        "env": [{"name": "A", "value": "b"}],
                        "resources": {
                            "limits": {"cpu": "500m", "memory": "128Mi"},
                            "requests": {"cpu": 0.25},
                        },
                        "livenessProbe": {"httpGet": {"path": "/", "port": "http"}},
                    }
                ],
                "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}],
            },
        },
    },
    "status": {"replicas": 3, "conditions": [{"type": "Available", "status": "True"}]},
}


def _with(obj: dict, path: str, value: object) -> dict:
    """A copy of obj with the value at a dotted path (``spec.template.spec.containers.0.image``) set."""
    out = copy.deepcopy(obj)
    node = out
    parts = path.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return out


CRON_SCHEMA = {
    "type": "object",
    "required": ["spec"],
    "properties": {
        "spec": {
            "type": "object",
            "required": ["cronSpec"],
            "properties": {
                "cronSpec": {"type": "string", "pattern": "^(\\S+ ){4}\\S+$"},
                "replicas": {"type": "integer", "minimum": 0, "maximum": 10},
                "ratio": {"type": "number", "minimum": 0, "exclusiveMinimum": True, "multipleOf": 0.5},
                "color": {"type": "string", "enum": ["red", "green"]},
                "name": {"type": "string", "minLength": 2, "maxLength": 5},
                "port": {"x-kubernetes-int-or-string": True},
                "flag": {"type": "boolean"},
                "tags": {"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "string"}},
                "env": {"type": "object", "additionalProperties": {"type": "string"}},
                "anything": {"type": "object", "additionalProperties": True},
                "closed": {"type": "object"},
                "free": {
                    "type": "object",
                    "x-kubernetes-preserve-unknown-fields": True,
                    "properties": {"known": {"type": "integer"}},
                },
                "template": {
                    "type": "object",
                    "x-kubernetes-embedded-resource": True,
                    "properties": {"spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                },
                "items": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"id": {"type": "integer"}},
                        "required": ["id"],
                    },
                },
            },
        },
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    },
}
CRONTABS = ResourceType("stable.example.com", "v1", "CronTab", "crontabs", True, schema=CRON_SCHEMA)
CRON = {
    "apiVersion": "stable.example.com/v1",
    "kind": "CronTab",
    "metadata": {"name": "ct", "labels": {"a": "b"}},
    "spec": {"cronSpec": "* * * * *", "replicas": 1},
    "status": {"whatever": {"deep": [1, 2]}},
}
SCHEMALESS = ResourceType("free.example.com", "v1", "Blob", "blobs", True)


# -- unknown fields ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rt", "obj", "expected"),
    [
        (DEPLOYMENTS, DEPLOYMENT, []),
        (DEPLOYMENTS, _with(DEPLOYMENT, "spec.bogusField", 1), [".spec.bogusField"]),
        (DEPLOYMENTS, _with(DEPLOYMENT, "spec.bogusField", None), [".spec.bogusField"]),
        (
            DEPLOYMENTS,
            _with(DEPLOYMENT, "spec.template.spec.containers.0.imagee", "x"),
            [".spec.template.spec.containers[0].imagee"],
        ),
        (DEPLOYMENTS, _with(DEPLOYMENT, "spec.Replicas", 1), [".spec.Replicas"]),
        (DEPLOYMENTS, _with(DEPLOYMENT, "metadata.bogus", "x"), [".metadata.bogus"]),
        (DEPLOYMENTS, _with(DEPLOYMENT, "bogus", {"deep": {"er": 1}}), [".bogus"]),
        (DEPLOYMENTS, _with(DEPLOYMENT, "status.bogus", 1), [".status.bogus"]),
        (
            DEPLOYMENTS,
            _with(DEPLOYMENT, "spec.template.spec.volumes.0.emptyDir.sizeLimitt", 1),
            [".spec.template.spec.volumes[0].emptyDir.sizeLimitt"],
        ),
        (
            DEPLOYMENTS,
            _with(_with(DEPLOYMENT, "spec.zzz", 1), "spec.template.aaa", 2),
            [".spec.template.aaa", ".spec.zzz"],
        ),
        (DEPLOYMENTS, _with(DEPLOYMENT, "metadata.labels", {"any.key/at-all": "v", "": ""}), []),
        (
            DEPLOYMENTS,
            _with(DEPLOYMENT, "metadata.managedFields.0.fieldsV1", {"f:anything": {"k:{}": {}}}),
            [],
        ),
        (
            SECRETS,
            {"metadata": {"name": "s"}, "data": {"x.y": "YQ=="}, "stringData": {"z": "a"}, "type": "t"},
            [],
        ),
        (SECRETS, {"metadata": {"name": "s"}, "datta": {}}, [".datta"]),
        (CONFIGMAPS, {"metadata": {"name": "c"}, "data": {"a": "b"}, "binaryData": {"b": "YQ=="}}, []),
        (REVISIONS, {"metadata": {"name": "r"}, "revision": 1, "data": {"anything": {"goes": [1]}}}, []),
        (
            SERVICES,
            {"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80, "targetPort": "http", "nam": "x"}]}},
            [".spec.ports[0].nam"],
        ),
        (CRONTABS, CRON, []),
        (CRONTABS, _with(CRON, "spec.bogus", 1), [".spec.bogus"]),
        (CRONTABS, _with(CRON, "metadata.bogus", 1), [".metadata.bogus"]),
        (CRONTABS, _with(CRON, "bogus", 1), [".bogus"]),
        (CRONTABS, _with(CRON, "spec.env", {"ANY": "x", "keys": "y"}), []),
        (CRONTABS, _with(CRON, "spec.anything", {"a": {"b": [1]}}), []),
        (CRONTABS, _with(CRON, "spec.closed", {"a": 1, "b": 2}), [".spec.closed.a", ".spec.closed.b"]),
        (CRONTABS, _with(CRON, "spec.free", {"known": 1, "other": {"x": 1}}), []),
        (
            CRONTABS,
            _with(
                CRON,
                "spec.template",
                {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": {"x": 1}},
            ),
            [],
        ),
        (
            CRONTABS,
            _with(CRON, "spec.template", {"metadata": {"nam": "x"}, "extra": 1}),
            [".spec.template.metadata.nam", ".spec.template.extra"],
        ),
        (CRONTABS, _with(CRON, "spec.items", [{"id": 1}, {"id": 2, "idd": 3}]), [".spec.items[1].idd"]),
        (SCHEMALESS, {"metadata": {"name": "b"}, "spec": {"x": 1}, "y": [1]}, []),
        (SCHEMALESS, {"metadata": {"name": "b", "x": 1}}, [".metadata.x"]),
        (POD_METRICS, {"metadata": {"name": "p"}, "containers": []}, []),
        (
            CRDS,
            {
                "metadata": {"name": "x"},
                "spec": {
                    "versions": [
                        {
                            "name": "v1",
                            "schema": {
                                "openAPIV3Schema": {
                                    "type": "object",
                                    "x-kubernetes-preserve-unknown-fields": True,
                                    "properties": {
                                        "a": {"$ref": "#/x", "properties": {"b": {"type": "string"}}}
                                    },
                                }
                            },
                        }
                    ]
                },
            },
            [],
        ),
        (
            CRDS,
            {
                "metadata": {"name": "x"},
                "spec": {"versions": [{"name": "v1", "schema": {"openAPIV3Schema": {"typo": "object"}}}]},
            },
            [".spec.versions[0].schema.openAPIV3Schema.typo"],
        ),
    ],
)
def test_unknown_fields(rt: ResourceType, obj: dict, expected: list[str]) -> None:
    assert validation.unknown_fields(rt, obj) == expected


# -- type errors ---------------------------------------------------------------------------------------------


def _type_msg(path: str, expected: str, actual: str) -> tuple[str, str]:
    return path, f'Invalid value: "{actual}": {path} in body must be of type {expected}: "{actual}"'


QUANTITY_MSG = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"


@pytest.mark.parametrize(
    ("rt", "obj", "expected"),
    [
        (DEPLOYMENTS, DEPLOYMENT, []),
        (
            DEPLOYMENTS,
            _with(DEPLOYMENT, "spec.replicas", "string"),
            [
                (
                    "spec.replicas",
                    'Invalid value: "string": spec.replicas in body must be of type integer: "string"',
                )
            ],
        ),
        (DEPLOYMENTS, _with(DEPLOYMENT, "spec.replicas", 3.0), []),
        (
            DEPLOYMENTS,
            _with(DEPLOYMENT, "spec.replicas", 3.5),
            [_type_msg("spec.replicas", "integer", "number")],
        ),
        (
            DEPLOYMENTS,
            _with(DEPLOYMENT, "spec.replicas", True),
            [_type_msg("spec.replicas", "integer", "boolean")],
        ),
        (
            DEPLOYMENTS,
            _with(DEPLOYMENT, "spec.paused", "yes"),
            [_type_msg("spec.paused", "boolean", "string")],
        ),
        (DEPLOYMENTS, _with(DEPLOYMENT, "spec", "string"), [_type_msg("spec", "object", "string")]),
        (DEPLOYMENTS, _with(DEPLOYMENT, "spec", [1, 2]), [_type_msg("spec", "object", "array")]),
        (
            DEPLOYMENTS,
            _with(DEPLOYMENT, "metadata.labels", ["a"]),
            [_type_msg("metadata.labels", "object", "array")],
        ),
        (
            DEPLOYMENTS,
            _with(DEPLOYMENT, "metadata.labels", {"a": 1}),
            [_type_msg("metadata.labels.a", "string", "integer")],
        ),
        (
            DEPLOYMENTS,
            _with(DEPLOYMENT, "metadata.name", {"x": 1}),
            [_type_msg("metadata.name", "string", "object")],
        ),
        (
            DEPLOYMENTS,
            _with(DEPLOYMENT, "metadata.creationTimestamp", 5),
            [_type_msg("metadata.creationTimestamp", "string", "integer")],
        ),
        (
            DEPLOYMENTS,
            _with(DEPLOYMENT, "spec.template.spec.containers", {"name": "x"}),
            [_type_msg("spec.template.spec.containers", "array", "object")],
        ),
        (
            DEPLOYMENTS,
            _with(DEPLOYMENT, "spec.template.spec.containers", ["nginx"]),
            [_type_msg("spec.template.spec.containers[0]", "object", "string")],
        ),
        (
            DEPLOYMENTS,
            _with(DEPLOYMENT, "spec.template.spec.containers.0.ports.0.containerPort", "80"),
            [_type_msg("spec.template.spec.containers[0].ports[0].containerPort", "integer", "string")],
        ),
        (
            DEPLOYMENTS,
            _with(DEPLOYMENT, "spec.strategy.rollingUpdate.maxSurge", True),
            [_type_msg("spec.strategy.rollingUpdate.maxSurge", "integer,string", "boolean")],
        ),
        (
            DEPLOYMENTS,
            _with(DEPLOYMENT, "spec.strategy.rollingUpdate.maxSurge", 1.5),
            [_type_msg("spec.strategy.rollingUpdate.maxSurge", "integer,string", "number")],
        ),
        (
            DEPLOYMENTS,
            _with(DEPLOYMENT, "spec.strategy.rollingUpdate.maxSurge", {"a": 1}),
            [_type_msg("spec.strategy.rollingUpdate.maxSurge", "integer,string", "object")],
        ),
        (DEPLOYMENTS, _with(DEPLOYMENT, "spec.template.spec.containers.0.resources.limits.cpu", 2), []),
        (DEPLOYMENTS, _with(DEPLOYMENT, "spec.template.spec.containers.0.resources.limits.cpu", "1e3"), []),
        (
            DEPLOYMENTS,
            _with(DEPLOYMENT, "spec.template.spec.containers.0.resources.limits.cpu", "lots"),
            [
                (
                    "spec.template.spec.containers[0].resources.limits.cpu",
                    f'Invalid value: "lots": {QUANTITY_MSG}',
                )
            ],
        ),
        (
            DEPLOYMENTS,
            _with(DEPLOYMENT, "spec.template.spec.containers.0.resources.limits.cpu", False),
            [
                (
                    "spec.template.spec.containers[0].resources.limits.cpu",
                    f"Invalid value: false: {QUANTITY_MSG}",
                )
            ],
        ),
        (DEPLOYMENTS, _with(DEPLOYMENT, "spec.template.spec.volumes.0.emptyDir.sizeLimit", 1024), []),
        (
            DEPLOYMENTS,
            _with(DEPLOYMENT, "spec.template.spec.containers.0.livenessProbe.httpGet.port", 8080),
            [],
        ),
        (DEPLOYMENTS, _with(DEPLOYMENT, "spec.replicas", None), []),
        (
            DEPLOYMENTS,
            _with(_with(DEPLOYMENT, "spec.replicas", "x"), "spec.paused", 1),
            [_type_msg("spec.replicas", "integer", "string"), _type_msg("spec.paused", "boolean", "integer")],
        ),
        (DEPLOYMENTS, _with(DEPLOYMENT, "spec.bogus", {"replicas": "x"}), []),
        (SERVICES, {"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80, "targetPort": 8080}]}}, []),
        (
            SERVICES,
            {"metadata": {"name": "s"}, "spec": {"ports": [{"port": "80"}]}},
            [_type_msg("spec.ports[0].port", "integer", "string")],
        ),
        (PDBS, {"metadata": {"name": "p"}, "spec": {"minAvailable": "50%"}}, []),
        (PDBS, {"metadata": {"name": "p"}, "spec": {"maxUnavailable": 1}}, []),
        (SECRETS, {"metadata": {"name": "s"}, "data": {"a": "aGVsbG8="}}, []),
        (
            SECRETS,
            {"metadata": {"name": "s"}, "data": {"a": "not base64!"}},
            [("data.a", 'Invalid value: "not base64!": illegal base64 data')],
        ),
        (SECRETS, {"metadata": {"name": "s"}, "data": {"a": 5}}, [_type_msg("data.a", "string", "integer")]),
        (
            CONFIGMAPS,
            {"metadata": {"name": "c"}, "data": {"a": ["x"]}},
            [_type_msg("data.a", "string", "array")],
        ),
        (
            REVISIONS,
            {"metadata": {"name": "r"}, "revision": 1, "data": "text"},
            [_type_msg("data", "object", "string")],
        ),
        (SCHEMALESS, {"metadata": {"name": "b"}, "spec": "anything"}, []),
    ],
)
def test_type_errors(rt: ResourceType, obj: dict, expected: list[tuple[str, str]]) -> None:
    assert validation.type_errors(rt, obj) == expected


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"cronSpec": "* * * * *"}, []),
        ({}, [("spec.cronSpec", "Required value")]),
        ({"cronSpec": None}, [("spec.cronSpec", "Required value")]),
        (
            {"cronSpec": "bad"},
            [
                (
                    "spec.cronSpec",
                    "Invalid value: \"bad\": spec.cronSpec in body should match '^(\\S+ ){4}\\S+$'",
                )
            ],
        ),
        ({"cronSpec": 5}, [_type_msg("spec.cronSpec", "string", "integer")]),
        (
            {"cronSpec": "* * * * *", "replicas": -1},
            [
                (
                    "spec.replicas",
                    "Invalid value: -1: spec.replicas in body should be greater than or equal to 0",
                )
            ],
        ),
        (
            {"cronSpec": "* * * * *", "replicas": 11},
            [
                (
                    "spec.replicas",
                    "Invalid value: 11: spec.replicas in body should be less than or equal to 10",
                )
            ],
        ),
        ({"cronSpec": "* * * * *", "replicas": "1"}, [_type_msg("spec.replicas", "integer", "string")]),
        (
            {"cronSpec": "* * * * *", "ratio": 0},
            [("spec.ratio", "Invalid value: 0: spec.ratio in body should be greater than 0")],
        ),
        ({"cronSpec": "* * * * *", "ratio": 1.5}, []),
        (
            {"cronSpec": "* * * * *", "ratio": 0.7},
            [("spec.ratio", "Invalid value: 0.7: spec.ratio in body should be a multiple of 0.5")],
        ),
        ({"cronSpec": "* * * * *", "color": "red"}, []),
        (
            {"cronSpec": "* * * * *", "color": "blue"},
            [("spec.color", 'Unsupported value: "blue": supported values: "red", "green"')],
        ),
        (
            {"cronSpec": "* * * * *", "name": "a"},
            [("spec.name", 'Invalid value: "a": spec.name in body should be at least 2 chars long')],
        ),
        (
            {"cronSpec": "* * * * *", "name": "abcdef"},
            [("spec.name", 'Invalid value: "abcdef": spec.name in body should be at most 5 chars long')],
        ),
        ({"cronSpec": "* * * * *", "port": 80}, []),
        ({"cronSpec": "* * * * *", "port": "http"}, []),
        ({"cronSpec": "* * * * *", "port": [80]}, [_type_msg("spec.port", "integer,string", "array")]),
        ({"cronSpec": "* * * * *", "flag": 1}, [_type_msg("spec.flag", "boolean", "integer")]),
        (
            {"cronSpec": "* * * * *", "tags": []},
            [("spec.tags", "Invalid value: 0: spec.tags in body should have at least 1 items")],
        ),
        (
            {"cronSpec": "* * * * *", "tags": ["a", "b", "c"]},
            [("spec.tags", "Too many: 3: must have at most 2 items")],
        ),
        ({"cronSpec": "* * * * *", "tags": ["a", 2]}, [_type_msg("spec.tags[1]", "string", "integer")]),
        ({"cronSpec": "* * * * *", "tags": "a"}, [_type_msg("spec.tags", "array", "string")]),
        ({"cronSpec": "* * * * *", "env": {"A": 1}}, [_type_msg("spec.env.A", "string", "integer")]),
        (
            {"cronSpec": "* * * * *", "free": {"known": "x", "other": "y"}},
            [_type_msg("spec.free.known", "integer", "string")],
        ),
        ({"cronSpec": "* * * * *", "items": [{"id": 1}, {}]}, [("spec.items[1].id", "Required value")]),
        (
            {"cronSpec": "* * * * *", "template": {"apiVersion": 1}},
            [_type_msg("spec.template.apiVersion", "string", "integer")],
        ),
    ],
)
def test_crd_constraints(spec: dict, expected: list[tuple[str, str]]) -> None:
    obj = {**CRON, "spec": spec}
    assert validation.type_errors(CRONTABS, obj) == expected


def test_crd_required_at_root_and_bad_types_at_root() -> None:
    assert validation.type_errors(CRONTABS, {"metadata": {"name": "x"}}) == [("spec", "Required value")]
    assert validation.type_errors(CRONTABS, {"metadata": {"name": "x"}, "spec": "s"}) == [
        _type_msg("spec", "object", "string")
    ]


def test_enum_does_not_confuse_bools_and_numbers() -> None:
    rt = ResourceType(
        "x.io",
        "v1",
        "T",
        "ts",
        True,
        schema={
            "type": "object",
            "properties": {
                "n": {"type": "integer", "enum": [1, 2]},
                "b": {"type": "boolean", "enum": [True]},
            },
        },
    )
    assert validation.type_errors(rt, {"n": 1, "b": True}) == []
    assert [f for f, _m in validation.type_errors(rt, {"n": True, "b": 1})] == ["n", "b"]


def test_bad_pattern_in_crd_is_ignored() -> None:
    rt = ResourceType(
        "x.io",
        "v1",
        "T",
        "ts",
        True,
        schema={"type": "object", "properties": {"s": {"type": "string", "pattern": "([unclosed"}}},
    )
    assert validation.type_errors(rt, {"s": "anything"}) == []


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": "not a dict"},
        {"type": "object", "properties": {"a": "not a schema"}},
        {"type": "object", "additionalProperties": "x"},
        {"type": "array", "items": [1]},
        {"type": 5},
        {"type": "object", "required": "spec", "minimum": "x", "maxLength": -1, "enum": "x"},
    ],
)
def test_malformed_crd_schemas_do_not_crash(schema: dict) -> None:
    rt = ResourceType("x.io", "v1", "T", "ts", True, schema=schema)
    validation.unknown_fields(rt, {"metadata": {"name": "x"}, "a": {"b": 1}, "spec": [1]})
    validation.type_errors(rt, {"metadata": {"name": "x"}, "a": {"b": 1}, "spec": [1]})


# -- check() -------------------------------------------------------------------------------------------------


def test_strict_rejects_unknown_field() -> None:
    with pytest.raises(errors.BadRequest) as info:
        validation.check(DEPLOYMENTS, _with(DEPLOYMENT, "spec.bogusField", 1), "Strict")
    assert info.value.message == 'strict decoding error: unknown field "spec.bogusField"'
    assert info.value.code == 400


def test_strict_joins_several_unknown_fields() -> None:
    obj = _with(_with(DEPLOYMENT, "spec.bogusField", 1), "spec.template.spec.containers.0.imagee", "x")
    with pytest.raises(errors.BadRequest) as info:
        validation.check(DEPLOYMENTS, obj, "Strict")
    # In document order: `bogusField` was added to spec after `template`.
    assert info.value.message == (
        'strict decoding error: unknown field "spec.template.spec.containers[0].imagee", '
        'unknown field "spec.bogusField"'
    )


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("Warn", ['unknown field "spec.bogusField"']),
        ("", ['unknown field "spec.bogusField"']),
        ("Ignore", []),
    ],
)
def test_warn_and_ignore(mode: str, expected: list[str]) -> None:
    assert validation.check(DEPLOYMENTS, _with(DEPLOYMENT, "spec.bogusField", 1), mode) == expected


@pytest.mark.parametrize("mode", ["Strict", "Warn", "Ignore"])
def test_clean_object_passes_every_mode(mode: str) -> None:
    assert validation.check(DEPLOYMENTS, DEPLOYMENT, mode) == []
    assert validation.check(CRONTABS, CRON, mode) == []


@pytest.mark.parametrize("mode", ["strict", "STRICT", "Bogus", "All", " Warn"])
def test_unknown_mode(mode: str) -> None:
    with pytest.raises(errors.BadRequest) as info:
        validation.check(DEPLOYMENTS, DEPLOYMENT, mode)
    assert "fieldValidation" in info.value.message
    assert "supported values" in info.value.message


@pytest.mark.parametrize("mode", ["Strict", "Warn", "Ignore"])
def test_type_errors_are_invalid_in_every_mode(mode: str) -> None:
    with pytest.raises(errors.Invalid) as info:
        validation.check(DEPLOYMENTS, _with(DEPLOYMENT, "spec.replicas", "string"), mode)
    err = info.value
    assert err.code == 422
    assert err.message == (
        'Deployment "web" is invalid: spec.replicas: Invalid value: "string": '
        'spec.replicas in body must be of type integer: "string"'
    )
    assert err.details["group"] == "apps"
    assert err.details["causes"] == [
        {
            "reason": "FieldValueInvalid",
            "field": "spec.replicas",
            "message": 'Invalid value: "string": spec.replicas in body must be of type integer: "string"',
        }
    ]


def test_strict_reports_unknown_fields_before_type_errors() -> None:
    obj = _with(_with(DEPLOYMENT, "spec.replicas", "x"), "spec.bogus", 1)
    with pytest.raises(errors.BadRequest):
        validation.check(DEPLOYMENTS, obj, "Strict")
    with pytest.raises(errors.Invalid):
        validation.check(DEPLOYMENTS, obj, "Warn")


def test_crd_check_messages() -> None:
    with pytest.raises(errors.BadRequest) as bad:
        validation.check(CRONTABS, _with(CRON, "spec.bogus", 1), "Strict")
    assert bad.value.message == 'strict decoding error: unknown field "spec.bogus"'
    with pytest.raises(errors.Invalid) as invalid:
        validation.check(CRONTABS, _with(CRON, "spec.replicas", "many"), "Strict")
    assert invalid.value.message.startswith('CronTab "ct" is invalid: spec.replicas: Invalid value: "string"')


@pytest.mark.parametrize("body", [[], "text", 5, None, [DEPLOYMENT]])
def test_non_object_body(body: object) -> None:
    with pytest.raises(errors.BadRequest):
        validation.check(DEPLOYMENTS, body, "Strict")  # type: ignore[arg-type]


def test_invalid_name_falls_back_to_generate_name() -> None:
    obj = _with(_with(DEPLOYMENT, "metadata.name", None), "metadata.generateName", "web-")
    with pytest.raises(errors.Invalid) as info:
        validation.check(DEPLOYMENTS, _with(obj, "spec.replicas", "x"), "Warn")
    assert info.value.message.startswith('Deployment "web-" is invalid')


# -- hostile input ------------------------------------------------------------------------------------------


def _nested_dict(depth: int) -> dict:
    root: dict = {}
    node = root
    for _ in range(depth - 1):
        node["a"] = {}
        node = node["a"]
    return root


def _nested_list(depth: int) -> list:
    root: list = []
    node = root
    for _ in range(depth - 1):
        child: list = []
        node.append(child)
        node = child
    return root


@pytest.mark.parametrize(
    ("rt", "obj"),
    [
        (DEPLOYMENTS, {"metadata": {"name": "x", "annotations": _nested_dict(1000)}}),
        (DEPLOYMENTS, {"metadata": {"name": "x"}, "spec": {"bogus": _nested_dict(1000)}}),
        (
            DEPLOYMENTS,
            {"metadata": {"name": "x"}, "spec": {"template": {"spec": {"containers": _nested_list(1000)}}}},
        ),
        (REVISIONS, {"metadata": {"name": "x"}, "data": _nested_dict(1000)}),
        (
            CRONTABS,
            {"metadata": {"name": "x"}, "spec": {"cronSpec": "* * * * *"}, "status": _nested_dict(1000)},
        ),
        (
            CRONTABS,
            {"metadata": {"name": "x"}, "spec": {"cronSpec": "* * * * *", "anything": _nested_list(5000)}},
        ),
        (SCHEMALESS, _nested_dict(1000)),
        (
            CRDS,
            {
                "metadata": {"name": "x"},
                "spec": {"versions": [{"name": "v1", "schema": {"openAPIV3Schema": _nested_dict(1000)}}]},
            },
        ),
    ],
)
@pytest.mark.parametrize("mode", ["Strict", "Warn", "Ignore"])
def test_deep_nesting_is_bad_request(rt: ResourceType, obj: dict, mode: str) -> None:
    with pytest.raises(errors.BadRequest) as info:
        validation.check(rt, obj, mode)
    assert "nested too deeply" in info.value.message
    with pytest.raises(errors.BadRequest):
        validation.unknown_fields(rt, obj)
    with pytest.raises(errors.BadRequest):
        validation.type_errors(rt, obj)


def test_nesting_up_to_the_limit_is_fine() -> None:
    # The root object is level 1 and `data` level 2: a free-form value of MAX_DEPTH - 1 levels just fits.
    ok = {"metadata": {"name": "x"}, "data": _nested_dict(validation.MAX_DEPTH - 1)}
    assert validation.check(REVISIONS, ok, "Strict") == []
    too_deep = {"metadata": {"name": "x"}, "data": _nested_dict(validation.MAX_DEPTH)}
    with pytest.raises(errors.BadRequest):
        validation.check(REVISIONS, too_deep, "Strict")


def test_huge_arrays_are_fine_and_fast() -> None:
    env = [{"name": f"V{i}", "value": str(i)} for i in range(50_000)]
    obj = _with(DEPLOYMENT, "spec.template.spec.containers.0.env", env)
    start = time.perf_counter()
    assert validation.check(DEPLOYMENTS, obj, "Strict") == []
    assert time.perf_counter() - start < 5
    env[49_999]["valu"] = "x"
    assert validation.unknown_fields(DEPLOYMENTS, obj) == [
        ".spec.template.spec.containers[0].env[49999].valu"
    ]


def test_many_unknown_fields() -> None:
    obj = {"metadata": {"name": "x"}, "spec": {f"f{i}": i for i in range(10_000)}}
    assert len(validation.unknown_fields(DEPLOYMENTS, obj)) == 10_000


def test_non_string_keys_do_not_crash() -> None:
    obj = {"metadata": {"name": "x", "labels": {1: "a"}}, "spec": {2: "x"}}
    assert validation.unknown_fields(DEPLOYMENTS, obj) == [".spec.2"]


def test_odd_python_values_do_not_crash() -> None:
    obj = {
        "metadata": {"name": "x"},
        "spec": {"replicas": float("nan"), "paused": (1, 2), "selector": object()},
    }
    problems = validation.type_errors(DEPLOYMENTS, obj)
    assert [f for f, _m in problems] == ["spec.replicas", "spec.paused", "spec.selector"]


def test_validation_is_fast() -> None:
    validation.check(DEPLOYMENTS, DEPLOYMENT, "Strict")  # warm the caches
    start = time.perf_counter()
    for _ in range(200):
        validation.check(DEPLOYMENTS, DEPLOYMENT, "Strict")
    assert (time.perf_counter() - start) / 200 < 0.002


# -- prune ---------------------------------------------------------------------------------------------------


def test_prune_removes_unknown_fields_without_touching_input() -> None:
    obj = _with(_with(DEPLOYMENT, "spec.bogus", 1), "spec.template.spec.containers.0.imagee", "x")
    before = copy.deepcopy(obj)
    pruned = validation.prune(DEPLOYMENTS, obj)
    assert obj == before
    assert validation.unknown_fields(DEPLOYMENTS, pruned) == []
    assert "bogus" not in pruned["spec"]
    assert pruned["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx"
    assert pruned["metadata"] is obj["metadata"]  # untouched branches are shared
    assert validation.prune(DEPLOYMENTS, DEPLOYMENT) is DEPLOYMENT


def test_prune_nested_lists_and_odd_keys() -> None:
    obj = {
        "metadata": {"name": "x"},
        "spec": {
            3: "x",
            "template": {
                "spec": {
                    "containers": [
                        {"name": "a", "bad": 1},
                        {"name": "b"},
                        {"name": "c", "bad": 2, "worse": 3},
                    ]
                }
            },
        },
    }
    pruned = validation.prune(DEPLOYMENTS, obj)
    assert pruned["spec"] == {
        "template": {"spec": {"containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}}
    }
    assert obj["spec"]["template"]["spec"]["containers"][2] == {"name": "c", "bad": 2, "worse": 3}
    assert (
        pruned["spec"]["template"]["spec"]["containers"][1]
        is obj["spec"]["template"]["spec"]["containers"][1]
    )


def test_reported_counts_are_capped() -> None:
    obj = {"metadata": {"name": "x"}, "spec": {f"f{i}": i for i in range(500)}}
    warnings = validation.check(DEPLOYMENTS, obj, "Warn")
    assert len(warnings) == validation.MAX_REPORTED + 1
    assert warnings[-1] == "400 more unknown fields not shown"
    with pytest.raises(errors.BadRequest) as bad:
        validation.check(DEPLOYMENTS, obj, "Strict")
    assert bad.value.message.endswith("(and 400 more)")
    env = [{"name": 1} for _ in range(300)]
    with pytest.raises(errors.Invalid) as invalid:
        validation.check(DEPLOYMENTS, _with(DEPLOYMENT, "spec.template.spec.containers.0.env", env), "Warn")
    causes = invalid.value.details["causes"]
    assert len(causes) == validation.MAX_REPORTED + 1
    assert causes[-1]["message"] == "Too many errors: 200 more not shown"


def test_model_missing_from_the_client_is_not_checked() -> None:
    rt = ResourceType("x.io", "v1", "Gone", "gones", True, model="V1DoesNotExist")
    assert validation.check(rt, {"metadata": {"name": "x"}, "spec": {"a": 1}, "b": [2]}, "Strict") == []
    assert validation.unknown_fields(rt, {"metadata": {"bogus": 1}}) == [
        ".metadata.bogus"
    ]  # still ObjectMeta
