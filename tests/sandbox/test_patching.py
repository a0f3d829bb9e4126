"""JSON patch, merge patch, strategic merge patch and server-side apply, including hostile patches."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from providers.sandbox.errors import ApiError, BadRequest, Conflict, Invalid
from providers.sandbox.patching import (
    json_patch,
    merge_patch,
    record_update_manager,
    server_side_apply,
    strategic_merge_patch,
)


def _unchanged(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call `fn`, asserting it mutated none of its arguments and that its result shares nothing with them."""
    before = copy.deepcopy(args)
    result = fn(*args, **kwargs)
    assert args == before, "inputs were mutated"
    if isinstance(result, dict):
        pristine = copy.deepcopy(result)
        scribble(result)
        assert args == before, "the result aliases an input"
        return pristine
    return result


def scribble(value: Any) -> None:
    """Mutate every container in `value` (to detect sharing with the inputs)."""
    if isinstance(value, dict):
        for child in value.values():
            scribble(child)
        value["__scribbled__"] = True
    elif isinstance(value, list):
        for child in value:
            scribble(child)
        value.append("__scribbled__")


def nested(depth: int, leaf: Any = 1) -> Any:
    for _ in range(depth):
        leaf = {"a": leaf}
    return leaf


# --------------------------------------------------------------------------------------------------------
# JSON patch (RFC 6902)

DOC = {"a": {"b": [1, 2, 3], "c": "x"}, "k~/y": 5}


@pytest.mark.parametrize(
    ("ops", "expected"),
    [
        ([], DOC),
        ([{"op": "add", "path": "/a/d", "value": {"e": None}}], {**DOC, "a": {**DOC["a"], "d": {"e": None}}}),
        ([{"op": "add", "path": "/a/b/0", "value": 0}], {**DOC, "a": {"b": [0, 1, 2, 3], "c": "x"}}),
        ([{"op": "add", "path": "/a/b/3", "value": 4}], {**DOC, "a": {"b": [1, 2, 3, 4], "c": "x"}}),
        ([{"op": "add", "path": "/a/b/-", "value": 4}], {**DOC, "a": {"b": [1, 2, 3, 4], "c": "x"}}),
        (
            [{"op": "add", "path": "/a/c", "value": "replaced"}],
            {**DOC, "a": {"b": [1, 2, 3], "c": "replaced"}},
        ),
        ([{"op": "remove", "path": "/a/b/1"}], {**DOC, "a": {"b": [1, 3], "c": "x"}}),
        ([{"op": "remove", "path": "/k~0~1y"}], {"a": DOC["a"]}),
        ([{"op": "replace", "path": "/k~0~1y", "value": [6]}], {**DOC, "k~/y": [6]}),
        ([{"op": "replace", "path": "", "value": {"new": 1}}], {"new": 1}),
        ([{"op": "move", "from": "/a/c", "path": "/c"}], {"a": {"b": [1, 2, 3]}, "k~/y": 5, "c": "x"}),
        ([{"op": "move", "from": "/a/b/0", "path": "/a/b/-"}], {**DOC, "a": {"b": [2, 3, 1], "c": "x"}}),
        ([{"op": "move", "from": "/a", "path": "/a"}], DOC),
        ([{"op": "copy", "from": "/a/b", "path": "/z"}], {**DOC, "z": [1, 2, 3]}),
        ([{"op": "test", "path": "/a/b", "value": [1, 2, 3]}], DOC),
        ([{"op": "test", "path": "/k~0~1y", "value": 5.0}], DOC),  # 5 and 5.0 are the same JSON number
        (
            [
                {"op": "test", "path": "/a/c", "value": "x"},
                {"op": "replace", "path": "/a/c", "value": "y"},
                {"op": "add", "path": "/a/b/1", "value": 9},
                {"op": "remove", "path": "/k~0~1y"},
            ],
            {"a": {"b": [1, 9, 2, 3], "c": "y"}},
        ),
    ],
)
def test_json_patch(ops: list, expected: dict) -> None:
    assert _unchanged(json_patch, DOC, ops) == expected


def test_json_patch_copy_is_independent() -> None:
    result = json_patch(DOC, [{"op": "copy", "from": "/a", "path": "/twin"}])
    result["twin"]["b"].append(99)
    assert result["a"]["b"] == [1, 2, 3]


@pytest.mark.parametrize(
    ("ops", "error", "message"),
    [
        ({"op": "add"}, BadRequest, "must be an array of operations, not an object"),
        ("[]", BadRequest, "must be an array of operations, not a string"),
        (None, BadRequest, "not null"),
        ([["add", "/a", 1]], BadRequest, "operation 0: each JSON patch operation must be an object"),
        ([{"op": "append", "path": "/a", "value": 1}], BadRequest, 'unknown JSON patch op "append"'),
        ([{"path": "/a"}], BadRequest, "unknown JSON patch op null"),
        ([{"op": "add", "value": 1}], BadRequest, 'requires a "path"'),
        ([{"op": "add", "path": "/a"}], BadRequest, 'requires a "value"'),
        ([{"op": "move", "path": "/a"}], BadRequest, 'requires a "from"'),
        ([{"op": "remove", "path": 3}], BadRequest, "a JSON pointer must be a string"),
        ([{"op": "remove", "path": "a/b"}], BadRequest, 'must be empty or start with "/"'),
        ([{"op": "remove", "path": "/a~2"}], BadRequest, '"~" must be followed by 0 or 1'),
        ([{"op": "remove", "path": "/a~"}], BadRequest, '"~" must be followed by 0 or 1'),
        # A malformed later operation is reported even though an earlier one would fail to apply.
        ([{"op": "remove", "path": "/nope"}, {"op": "bogus", "path": ""}], BadRequest, "operation 1"),
        ([{"op": "remove", "path": "/nope"}], Invalid, 'doc is missing path: "/nope"'),
        ([{"op": "replace", "path": "/a/nope", "value": 1}], Invalid, 'doc is missing path: "/a/nope"'),
        ([{"op": "add", "path": "/x/y", "value": 1}], Invalid, 'doc is missing path: "/x/y"'),
        ([{"op": "add", "path": "/a/c/d", "value": 1}], Invalid, "doc is missing path"),  # "c" is a string
        ([{"op": "add", "path": "/a/b/5", "value": 1}], Invalid, "index 5 is out of range"),
        ([{"op": "add", "path": "/a/b/-1", "value": 1}], Invalid, 'invalid array index "-1"'),
        ([{"op": "add", "path": "/a/b/01", "value": 1}], Invalid, 'invalid array index "01"'),
        ([{"op": "add", "path": "/a/b/\uff11", "value": 1}], Invalid, "invalid array index"),  # fullwidth 1
        ([{"op": "replace", "path": "/a/b/-", "value": 1}], Invalid, 'invalid array index "-"'),
        ([{"op": "remove", "path": "/a/b/3"}], Invalid, "index 3 is out of range"),
        ([{"op": "remove", "path": ""}], Invalid, "the whole document cannot be removed"),
        (
            [{"op": "test", "path": "/a/c", "value": "y"}],
            Invalid,
            'test operation failed: the value at "/a/c"',
        ),
        ([{"op": "test", "path": "/k~0~1y", "value": True}], Invalid, "test operation failed"),
        ([{"op": "test", "path": "/missing", "value": None}], Invalid, "doc is missing path"),
        ([{"op": "move", "from": "/a", "path": "/a/b/0"}], Invalid, "cannot be moved into its own child"),
        ([{"op": "move", "from": "/nope", "path": "/x"}], Invalid, 'doc is missing path: "/nope"'),
        ([{"op": "copy", "from": "/a/b/7", "path": "/x"}], Invalid, "out of range"),
        ([{"op": "replace", "path": "", "value": [1]}], Invalid, "must be a JSON object, not an array"),
    ],
)
def test_json_patch_errors(ops: Any, error: type[ApiError], message: str) -> None:
    before = copy.deepcopy(DOC)
    with pytest.raises(error) as caught:
        json_patch(DOC, ops)
    assert type(caught.value) is error
    assert message in caught.value.message
    assert before == DOC


@pytest.mark.parametrize(
    ("have", "want", "equal"),
    [
        (1, True, False),  # Python says 1 == True; JSON does not
        (0, False, False),
        (1, 1.0, True),
        ({"a": [1, {"b": None}]}, {"a": [1, {"b": None}]}, True),
        ({"a": [1]}, {"a": [True]}, False),
        ({"a": 1}, {"a": 1, "b": 2}, False),
        ("1", 1, False),
        (None, False, False),
    ],
)
def test_json_patch_test_op_uses_json_equality(have: Any, want: Any, equal: bool) -> None:
    ops = [{"op": "test", "path": "/v", "value": want}]
    if equal:
        assert json_patch({"v": have}, ops) == {"v": have}
    else:
        with pytest.raises(Invalid, match="test operation failed"):
            json_patch({"v": have}, ops)


def test_json_patch_many_operations() -> None:
    ops = [{"op": "add", "path": "/items/-", "value": i} for i in range(10_000)]
    assert json_patch({"items": []}, ops)["items"] == list(range(10_000))


# --------------------------------------------------------------------------------------------------------
# JSON merge patch (RFC 7386)


@pytest.mark.parametrize(
    ("doc", "patch", "expected"),
    [
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
        ({"a": 1}, {"a": {"b": None, "c": 2}}, {"a": {"c": 2}}),
        (
            {"metadata": {"labels": {"a": "1", "b": "2"}}},
            {"metadata": {"labels": {"a": None}}},
            {"metadata": {"labels": {"b": "2"}}},
        ),
        ({"a": 1}, {}, {"a": 1}),
    ],
)
def test_merge_patch(doc: dict, patch: dict, expected: dict) -> None:
    assert _unchanged(merge_patch, doc, patch) == expected


@pytest.mark.parametrize("patch", [["a"], "a", None, 3, True])
def test_merge_patch_rejects_non_objects(patch: Any) -> None:
    with pytest.raises(BadRequest, match="the merge patch must be a JSON object"):
        merge_patch({"a": 1}, patch)


# --------------------------------------------------------------------------------------------------------
# Strategic merge patch


def _pod(*containers: dict, **spec: Any) -> dict:
    return {"spec": {"containers": list(containers), **spec}}


def _c(name: str, **fields: Any) -> dict:
    return {"name": name, **fields}


@pytest.mark.parametrize(
    ("doc", "patch", "expected"),
    [
        pytest.param(
            _pod(_c("a", image="x"), _c("b", image="y")),
            {"spec": {"containers": [_c("b", image="y2"), _c("c", image="z")]}},
            _pod(_c("a", image="x"), _c("b", image="y2"), _c("c", image="z")),
            id="containers merge by name, new ones appended",
        ),
        pytest.param(
            _pod(_c("a", env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])),
            {
                "spec": {
                    "containers": [
                        _c("a", env=[{"name": "B", "$patch": "delete"}, {"name": "C", "value": "3"}])
                    ]
                }
            },
            _pod(_c("a", env=[{"name": "A", "value": "1"}, {"name": "C", "value": "3"}])),
            id="env item deleted by $patch",
        ),
        pytest.param(
            _pod(_c("a"), _c("b")),
            {"spec": {"containers": [{"name": "b", "$patch": "delete"}, {"name": "zz", "$patch": "delete"}]}},
            _pod(_c("a")),
            id="deleting a missing item is a no-op",
        ),
        pytest.param(
            _pod(_c("a"), _c("b")),
            {"spec": {"containers": [{"$patch": "replace"}, _c("n", image="i")]}},
            _pod(_c("n", image="i")),
            id="$patch replace on a list",
        ),
        pytest.param(
            _pod(_c("a", image="x", args=["1"])),
            {"spec": {"containers": [{"name": "a", "image": "y", "$patch": "replace"}]}},
            _pod(_c("a", image="y")),
            id="$patch replace on a list item",
        ),
        pytest.param(
            {"spec": {"selector": {"matchLabels": {"a": "1"}}, "x": 1}},
            {"spec": {"selector": {"$patch": "replace", "matchLabels": {"b": "2"}}}},
            {"spec": {"selector": {"matchLabels": {"b": "2"}}, "x": 1}},
            id="$patch replace on a map",
        ),
        pytest.param(
            {"spec": {"template": {"a": 1}, "x": 1}},
            {"spec": {"template": {"$patch": "delete"}}},
            {"spec": {"x": 1}},
            id="$patch delete on a map",
        ),
        pytest.param(
            {"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"x": 1}},
            {"metadata": {"labels": {"a": None, "c": "3"}}, "spec": None},
            {"metadata": {"labels": {"b": "2", "c": "3"}}},
            id="null deletes",
        ),
        pytest.param(
            {"spec": {"tolerations": [{"key": "a"}, {"key": "b"}]}},
            {"spec": {"tolerations": [{"key": "c"}]}},
            {"spec": {"tolerations": [{"key": "c"}]}},
            id="tolerations have no merge key and are replaced",
        ),
        pytest.param(
            _pod(_c("a", envFrom=[{"configMapRef": {"name": "x"}}], args=["a", "b"])),
            {"spec": {"containers": [_c("a", envFrom=[{"secretRef": {"name": "y"}}], args=["c"])]}},
            _pod(_c("a", envFrom=[{"secretRef": {"name": "y"}}], args=["c"])),
            id="envFrom and args are replaced",
        ),
        pytest.param(
            {"metadata": {"finalizers": ["a", "b"]}},
            {"metadata": {"finalizers": ["b", "c", "c"]}},
            {"metadata": {"finalizers": ["a", "b", "c"]}},
            id="finalizers merge as a set",
        ),
        pytest.param(
            {"metadata": {"finalizers": ["a", "b", "c"]}},
            {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b", "zz"]}},
            {"metadata": {"finalizers": ["a", "c"]}},
            id="$deleteFromPrimitiveList",
        ),
        pytest.param(
            {"metadata": {"finalizers": ["a", "b"]}},
            {"metadata": {"finalizers": [{"$patch": "replace"}, "z"]}},
            {"metadata": {"finalizers": ["z"]}},
            id="$patch replace on a primitive list",
        ),
        pytest.param(
            _pod(_c("a", ports=[{"containerPort": 80, "name": "http"}, {"containerPort": 443}])),
            {"spec": {"containers": [_c("a", ports=[{"containerPort": 80, "name": "web"}])]}},
            _pod(_c("a", ports=[{"containerPort": 80, "name": "web"}, {"containerPort": 443}])),
            id="container ports merge by containerPort",
        ),
        pytest.param(
            {"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}},
            {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}},
            {"spec": {"ports": [{"port": 80, "targetPort": 9090}, {"port": 443}]}},
            id="service ports merge by port",
        ),
        pytest.param(
            {"spec": {"ingress": [{"ports": [{"port": 80}, {"port": 443}]}]}},
            {"spec": {"ingress": [{"ports": [{"port": 8080}]}]}},
            {"spec": {"ingress": [{"ports": [{"port": 8080}]}]}},
            id="networkpolicy ports are atomic",
        ),
        pytest.param(
            {"metadata": {"ownerReferences": [{"uid": "1", "name": "a"}], "labels": {"x": "y"}}},
            {"metadata": {"ownerReferences": [{"uid": "2", "name": "b"}]}},
            {
                "metadata": {
                    "ownerReferences": [{"uid": "1", "name": "a"}, {"uid": "2", "name": "b"}],
                    "labels": {"x": "y"},
                }
            },
            id="ownerReferences merge by uid",
        ),
        pytest.param(
            {
                "status": {
                    "conditions": [
                        {"type": "Ready", "status": "False"},
                        {"type": "Scheduled", "status": "True"},
                    ]
                }
            },
            {"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
            {
                "status": {
                    "conditions": [
                        {"type": "Ready", "status": "True"},
                        {"type": "Scheduled", "status": "True"},
                    ]
                }
            },
            id="conditions merge by type",
        ),
        pytest.param(
            {"spec": {"volumes": [{"name": "v", "emptyDir": {}}]}},
            {"spec": {"volumes": [{"name": "v", "emptyDir": None, "configMap": {"name": "c"}}]}},
            {"spec": {"volumes": [{"name": "v", "configMap": {"name": "c"}}]}},
            id="volumes merge by name, null inside an item",
        ),
        pytest.param(
            {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}}}},
            {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": None}}},
            {"spec": {"strategy": {"type": "Recreate"}}},
            id="$retainKeys: Recreate drops rollingUpdate",
        ),
        pytest.param(
            {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}}}},
            {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}},
            {"spec": {"strategy": {"type": "Recreate"}}},
            id="$retainKeys removes keys even without an explicit null",
        ),
        pytest.param(
            {"spec": {}},
            {
                "spec": {
                    "template": {"spec": {"containers": [_c("a", env=[{"name": "X", "$patch": "delete"}])]}}
                }
            },
            {"spec": {"template": {"spec": {"containers": [_c("a", env=[])]}}}},
            id="directives in brand-new subtrees are processed, not stored",
        ),
        pytest.param(
            {"spec": {"validation": {"openAPIV3Schema": {"$ref": "#/a"}}}},
            {"spec": {"validation": {"openAPIV3Schema": {"$schema": "x"}}}},
            {"spec": {"validation": {"openAPIV3Schema": {"$ref": "#/a", "$schema": "x"}}}},
            id="$ref and $schema are data",
        ),
        pytest.param({"a": 1}, {"$patch": "delete"}, {}, id="$patch delete at the top"),
        pytest.param({"a": [1]}, {"a": {"b": 1}}, {"a": {"b": 1}}, id="type change replaces"),
    ],
)
def test_strategic_merge_patch(doc: dict, patch: dict, expected: dict) -> None:
    assert _unchanged(strategic_merge_patch, doc, patch) == expected


@pytest.mark.parametrize(
    ("live", "order", "patch_items", "expected"),
    [
        (["a", "b", "c"], ["c", "b", "a"], [], ["c", "b", "a"]),
        (["a", "b"], ["b", "a", "n"], [_c("n", image="new")], ["b", "a", "n"]),
        # "injected" is known only to the server: it keeps its place relative to its original neighbours.
        (["injected", "app"], ["app", "log"], [_c("log")], ["injected", "app", "log"]),
        (["a", "injected", "b"], ["a", "b"], [], ["a", "injected", "b"]),
        (["a", "b", "c"], ["a", "c"], [{"name": "b", "$patch": "delete"}], ["a", "c"]),
    ],
)
def test_set_element_order(live: list[str], order: list[str], patch_items: list, expected: list[str]) -> None:
    doc = _pod(*(_c(n, image="i") for n in live))
    patch = {"spec": {"$setElementOrder/containers": [{"name": n} for n in order], "containers": patch_items}}
    result = _unchanged(strategic_merge_patch, doc, patch)
    assert [c["name"] for c in result["spec"]["containers"]] == expected
    assert "$setElementOrder/containers" not in result["spec"]


def test_set_element_order_on_primitive_list() -> None:
    doc = {"metadata": {"finalizers": ["a", "b", "c"]}}
    patch = {"metadata": {"$setElementOrder/finalizers": ["c", "a", "b"]}}
    assert strategic_merge_patch(doc, patch) == {"metadata": {"finalizers": ["c", "a", "b"]}}


def test_kubectl_three_way_patch() -> None:
    """The shape `kubectl apply` sends after editing a Deployment manifest: one container's image and env
    changed, a sidecar removed, and an admission-injected container that must survive."""
    live = {
        "metadata": {
            "name": "web",
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
        },
        "spec": {
            "replicas": 3,
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
            "template": {
                "spec": {
                    "containers": [
                        _c("istio-proxy", image="proxy:1"),
                        _c("app", image="nginx:1.26", env=[{"name": "A", "value": "1"}]),
                        _c("sidecar", image="busybox"),
                    ]
                }
            },
        },
    }
    patch = {
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": '{"new":1}'}},
        "spec": {
            "strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": None},
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "app"}],
                    "containers": [
                        {
                            "$setElementOrder/env": [{"name": "A"}, {"name": "B"}],
                            "env": [{"name": "B", "value": "2"}],
                            "image": "nginx:1.27",
                            "name": "app",
                        },
                        {"$patch": "delete", "name": "sidecar"},
                    ],
                }
            },
        },
    }
    result = _unchanged(strategic_merge_patch, live, patch)
    assert result["spec"]["strategy"] == {"type": "Recreate"}
    assert result["spec"]["replicas"] == 3
    assert result["spec"]["template"]["spec"]["containers"] == [
        _c("istio-proxy", image="proxy:1"),
        _c("app", image="nginx:1.27", env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]),
    ]
    assert (
        result["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] == '{"new":1}'
    )
    assert "$setElementOrder" not in json.dumps(result)


@pytest.mark.parametrize(
    ("doc", "patch", "error", "message"),
    [
        ({}, {"$patch": "merge-ish"}, BadRequest, 'unknown "$patch" directive "merge-ish"'),
        ({}, {"spec": {"$unknown": 1}}, BadRequest, 'unknown directive "$unknown"'),
        ({}, {"$setElementOrder": []}, BadRequest, 'unknown directive "$setElementOrder"'),
        ({}, {"spec": {"$setElementOrder/containers": {"name": "a"}}}, BadRequest, "must be a list"),
        ({}, {"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}, BadRequest, "must be a list"),
        ({}, {"spec": {"$retainKeys": "type"}}, BadRequest, '"$retainKeys" must be a list of field names'),
        ({}, {"spec": {"$retainKeys": ["type"], "other": 1}}, Invalid, '"other" is set but not listed'),
        (
            _pod(),
            {"spec": {"containers": [{"image": "x"}]}},
            BadRequest,
            "does not contain declared merge key: name",
        ),
        (_pod(), {"spec": {"containers": ["a"]}}, BadRequest, "its items must be objects"),
        (
            _pod(),
            {"spec": {"containers": [{"$patch": "delete"}]}},
            BadRequest,
            'must also set the merge key "name"',
        ),
        ({}, {"metadata": {"finalizers": [{"a": 1}]}}, BadRequest, "is a list of values"),
        (
            _pod(_c("a"), _c("b")),
            {"spec": {"$setElementOrder/containers": [{"name": "a"}], "containers": [_c("b", image="x")]}},
            BadRequest,
            "does not list",
        ),
        (
            _pod(_c("a"), _c("b")),
            {
                "spec": {
                    "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
                    "containers": [_c("b"), _c("a")],
                }
            },
            BadRequest,
            "not in the order",
        ),
    ],
)
def test_strategic_merge_patch_errors(doc: dict, patch: dict, error: type[ApiError], message: str) -> None:
    with pytest.raises(error) as caught:
        strategic_merge_patch(doc, patch)
    assert type(caught.value) is error
    assert message in caught.value.message


@pytest.mark.parametrize("patch", [[{"op": "add"}], "spec", None, 1])
def test_strategic_merge_patch_rejects_non_objects(patch: Any) -> None:
    with pytest.raises(BadRequest, match="the strategic merge patch must be a JSON object"):
        strategic_merge_patch({"a": 1}, patch)


def test_large_finalizer_union_is_fast() -> None:
    doc = {"metadata": {"finalizers": [f"f{i}" for i in range(10_000)]}}
    patch = {"metadata": {"finalizers": [f"f{i}" for i in range(5_000, 15_000)]}}
    assert strategic_merge_patch(doc, patch)["metadata"]["finalizers"] == [f"f{i}" for i in range(15_000)]


# --------------------------------------------------------------------------------------------------------
# Hostile nesting and wrong types, for every entry point

DEEP = nested(1_000)


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(
            lambda: json_patch({}, [{"op": "add", "path": "/x", "value": DEEP}]), id="json-patch value"
        ),
        pytest.param(lambda: json_patch(DEEP, []), id="json-patch doc"),
        pytest.param(lambda: merge_patch({}, DEEP), id="merge patch"),
        pytest.param(lambda: merge_patch(DEEP, {}), id="merge doc"),
        pytest.param(lambda: strategic_merge_patch({}, DEEP), id="smp patch"),
        pytest.param(
            lambda: strategic_merge_patch({}, {"spec": {"containers": [_c("a", x=DEEP)]}}), id="smp list"
        ),
        pytest.param(
            lambda: server_side_apply(
                None, {"apiVersion": "v1", "kind": "X", "spec": DEEP}, manager="m", force=False, now="t"
            ),
            id="apply",
        ),
        pytest.param(
            lambda: record_update_manager(None, {"spec": DEEP}, manager="m", api_version="v1", now="t"),
            id="update",
        ),
    ],
)
def test_deep_nesting_is_a_bad_request(call: Callable[[], Any]) -> None:
    with pytest.raises(BadRequest, match="nested"):
        call()


def test_deep_json_patch_result_is_rejected() -> None:
    # Each operation is shallow, but together they build a document deeper than any stored object may be.
    ops = [{"op": "add", "path": "/a" * i, "value": {}} for i in range(1, 300)]
    with pytest.raises((Invalid, BadRequest), match="nested"):
        json_patch({}, ops)


def test_moderate_nesting_still_works() -> None:
    doc = {"spec": nested(100, "old")}
    patch = {"spec": nested(100, "new")}
    assert strategic_merge_patch(doc, patch) == patch
    assert merge_patch(doc, patch) == patch


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: merge_patch([], {}), id="merge doc list"),
        pytest.param(lambda: strategic_merge_patch("x", {}), id="smp doc string"),
        pytest.param(lambda: json_patch(None, []), id="json doc none"),
        pytest.param(lambda: server_side_apply(None, [], manager="m", force=False, now="t"), id="apply list"),
        pytest.param(
            lambda: server_side_apply([], {"apiVersion": "v1"}, manager="m", force=False, now="t"), id="live"
        ),
        pytest.param(
            lambda: record_update_manager(None, "x", manager="m", api_version="v1", now="t"), id="update"
        ),
    ],
)
def test_wrong_types_are_bad_requests(call: Callable[[], Any]) -> None:
    with pytest.raises(BadRequest, match="must be a JSON object"):
        call()


# --------------------------------------------------------------------------------------------------------
# Server-side apply

NOW = "2024-05-01T10:00:00Z"
LATER = "2024-05-01T11:00:00Z"


def _deployment(replicas: int | None = 2, image: str = "nginx:1.27", **labels: str) -> dict:
    spec: dict = {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": image, "ports": [{"containerPort": 80}]}]},
        },
    }
    if replicas is not None:
        spec["replicas"] = replicas
    metadata: dict = {"name": "web", "namespace": "default"}
    if labels:
        metadata["labels"] = labels
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata, "spec": spec}


def _apply(
    live: dict | None, applied: dict, manager: str = "kubectl", force: bool = False, now: str = NOW
) -> dict:
    return _unchanged(server_side_apply, live, applied, manager=manager, force=force, now=now)


def _fields(obj: dict, manager: str, operation: str = "Apply") -> dict:
    for entry in obj["metadata"]["managedFields"]:
        if entry["manager"] == manager and entry["operation"] == operation:
            return entry["fieldsV1"]
    raise AssertionError(f"no {operation} entry for {manager}")


def _managers(obj: dict) -> list[tuple[str, str]]:
    return [(e["manager"], e["operation"]) for e in obj["metadata"].get("managedFields", [])]


def test_apply_creates_from_nothing() -> None:
    obj = _apply(None, _deployment(tier="fe"))
    assert obj["spec"] == _deployment()["spec"]
    assert obj["metadata"]["labels"] == {"tier": "fe"}
    assert obj["metadata"]["managedFields"] == [
        {
            "manager": "kubectl",
            "operation": "Apply",
            "apiVersion": "apps/v1",
            "time": NOW,
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {"f:labels": {"f:tier": {}}},
                "f:spec": {
                    "f:replicas": {},
                    "f:selector": {"f:matchLabels": {"f:app": {}}},
                    "f:template": {
                        "f:metadata": {"f:labels": {"f:app": {}}},
                        "f:spec": {
                            "f:containers": {
                                'k:{"name":"web"}': {
                                    ".": {},
                                    "f:image": {},
                                    "f:name": {},
                                    "f:ports": {'k:{"containerPort":80}': {".": {}, "f:containerPort": {}}},
                                }
                            }
                        },
                    },
                },
            },
        }
    ]


def test_apply_ignores_server_fields_and_status() -> None:
    applied = _deployment()
    applied["metadata"].update(uid="u", resourceVersion="7", generation=3, creationTimestamp=None)
    applied["status"] = {"replicas": 99}
    live = _apply(None, _deployment())
    live["metadata"].update(uid="real-uid", resourceVersion="5")
    live["status"] = {"replicas": 2}
    obj = _apply(live, applied)
    assert obj["metadata"]["uid"] == "real-uid"
    assert obj["metadata"]["resourceVersion"] == "5"
    assert obj["status"] == {"replicas": 2}
    assert "f:status" not in _fields(obj, "kubectl")
    assert "f:metadata" not in _fields(obj, "kubectl")  # name and namespace are nobody's fields


def test_reapply_is_idempotent_apart_from_time() -> None:
    first = _apply(None, _deployment())
    second = _apply(first, _deployment(), now=LATER)
    assert second["spec"] == first["spec"]
    assert _fields(second, "kubectl") == _fields(first, "kubectl")
    assert second["metadata"]["managedFields"][0]["time"] == LATER


def test_apply_conflict_with_update_manager() -> None:
    live = _apply(None, _deployment(replicas=2))
    scaled = record_update_manager(
        live,
        {**live, "spec": {**live["spec"], "replicas": 5}},
        manager="kubectl-scale",
        api_version="apps/v1",
        now=LATER,
    )
    with pytest.raises(Conflict) as caught:
        server_side_apply(scaled, _deployment(replicas=3), manager="kubectl", force=False, now=NOW)
    err = caught.value
    assert (err.code, err.reason) == (409, "Conflict")
    assert err.message == (
        "Apply failed with 1 conflict: "
        f'conflict with "kubectl-scale" using apps/v1 at {LATER}: .spec.replicas'
    )
    assert err.details == {
        "causes": [
            {
                "type": "FieldManagerConflict",
                "message": f'conflict with "kubectl-scale" using apps/v1 at {LATER}',
                "field": ".spec.replicas",
            }
        ]
    }


def test_conflict_message_without_time_and_with_apply_manager() -> None:
    live = _apply(None, _deployment(replicas=2), manager="helm")
    live["metadata"]["managedFields"].append(
        {
            "manager": "hpa",
            "operation": "Update",
            "apiVersion": "apps/v1",
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:spec": {"f:template": {"f:spec": {"f:containers": {'k:{"name":"web"}': {"f:image": {}}}}}}
            },
        }
    )
    with pytest.raises(Conflict) as caught:
        server_side_apply(
            live, _deployment(replicas=4, image="nginx:2"), manager="argo", force=False, now=NOW
        )
    assert caught.value.message == (
        "Apply failed with 3 conflicts: "
        'conflicts with "helm":\n- .spec.replicas\n- .spec.template.spec.containers[name="web"].image\n'
        'conflicts with "hpa" using apps/v1:\n- .spec.template.spec.containers[name="web"].image'
    )
    assert len(caught.value.details["causes"]) == 3


def test_same_value_is_shared_without_conflict() -> None:
    live = _apply(None, _deployment(replicas=2), manager="helm")
    obj = _apply(live, _deployment(replicas=2), manager="argo")
    assert _managers(obj) == [("helm", "Apply"), ("argo", "Apply")]
    assert "f:replicas" in _fields(obj, "helm")["f:spec"]
    assert "f:replicas" in _fields(obj, "argo")["f:spec"]


def test_force_transfers_ownership() -> None:
    live = _apply(None, _deployment(replicas=2), manager="helm")
    obj = _apply(
        live,
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 7}},
        manager="ops",
        force=True,
    )
    assert obj["spec"]["replicas"] == 7
    assert "f:replicas" not in _fields(obj, "helm")["f:spec"]
    assert _fields(obj, "ops") == {"f:spec": {"f:replicas": {}}}
    # The old owner now conflicts in turn.
    with pytest.raises(Conflict, match=r'conflict with "ops": \.spec\.replicas'):
        server_side_apply(obj, _deployment(replicas=2), manager="helm", force=False, now=NOW)


def test_force_can_leave_a_manager_with_nothing() -> None:
    small = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "1"}}
    live = _apply(None, small, manager="a")
    obj = _apply(live, {**small, "data": {"k": "2"}}, manager="b", force=True)
    assert _managers(obj) == [("b", "Apply")]


def test_fields_no_longer_applied_are_removed() -> None:
    live = _apply(None, _deployment(tier="fe", team="x"))
    live["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "busybox"})
    live = _apply(live, _with_sidecar(_deployment(tier="fe", team="x")))
    obj = _apply(live, _deployment(replicas=None, tier="fe"))
    assert obj["metadata"]["labels"] == {"tier": "fe"}
    assert "replicas" not in obj["spec"]
    assert [c["name"] for c in obj["spec"]["template"]["spec"]["containers"]] == ["web"]
    assert "f:replicas" not in _fields(obj, "kubectl")["f:spec"]


def _with_sidecar(obj: dict) -> dict:
    obj["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "busybox"})
    return obj


def test_emptied_maps_are_pruned() -> None:
    live = _apply(None, _deployment(team="x"))
    obj = _apply(live, _deployment())
    assert "labels" not in obj["metadata"]
    assert obj["metadata"]["name"] == "web"


def test_fields_owned_by_others_survive_removal() -> None:
    live = _apply(None, _deployment(team="x"), manager="helm")
    live = _apply(live, _deployment(team="x"), manager="argo")
    obj = _apply(live, _deployment(), manager="helm")
    assert obj["metadata"]["labels"] == {"team": "x"}  # argo still applies it
    assert "f:labels" not in _fields(obj, "helm").get("f:metadata", {})


def test_fields_set_by_updates_are_not_removed_by_apply() -> None:
    live = _apply(None, _deployment())
    labelled = copy.deepcopy(live)
    labelled["metadata"]["labels"] = {"added-by": "kubectl-label"}
    labelled = record_update_manager(
        live, labelled, manager="kubectl-label", api_version="apps/v1", now=LATER
    )
    obj = _apply(labelled, _deployment())
    assert obj["metadata"]["labels"] == {"added-by": "kubectl-label"}


def test_null_in_apply_means_no_opinion() -> None:
    live = _apply(None, _deployment(replicas=2))
    live = record_update_manager(
        live,
        {**live, "metadata": {**live["metadata"], "labels": {"x": "1"}}},
        manager="other",
        api_version="apps/v1",
        now=LATER,
    )
    applied = _deployment(replicas=None)
    applied["spec"]["replicas"] = None
    applied["metadata"]["labels"] = {"x": None}
    obj = _apply(live, applied)
    assert "replicas" not in obj["spec"]  # previously applied by kubectl, now dropped
    assert obj["metadata"]["labels"] == {"x": "1"}  # owned by someone else: untouched


def test_status_subresource_apply() -> None:
    live = _apply(None, _deployment())
    obj = server_side_apply(
        live,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {"replicas": 100},
            "status": {"readyReplicas": 2},
        },
        manager="controller",
        force=False,
        now=NOW,
        subresource="status",
    )
    assert obj["status"] == {"readyReplicas": 2}
    assert obj["spec"]["replicas"] == 2
    entry = obj["metadata"]["managedFields"][-1]
    assert entry["subresource"] == "status"
    assert entry["fieldsV1"] == {"f:status": {"f:readyReplicas": {}}}


@pytest.mark.parametrize(
    ("applied", "message"),
    [
        (
            {**_deployment(), "metadata": {"name": "web", "managedFields": [{"manager": "x"}]}},
            "managedFields must be nil",
        ),
        ({"kind": "Deployment", "metadata": {"name": "web"}}, "apiVersion must be set"),
        ({**_deployment(), "metadata": "web"}, "metadata must be an object"),
        (
            {**_deployment(), "spec": {"template": {"spec": {"containers": [_c("a"), _c("a", image="b")]}}}},
            'duplicate entries for key [name="a"]',
        ),
    ],
)
def test_apply_rejects_bad_configurations(applied: dict, message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        server_side_apply(None, applied, manager="kubectl", force=False, now=NOW)
    assert message in caught.value.message


def test_apply_requires_a_manager() -> None:
    with pytest.raises(BadRequest, match="fieldManager"):
        server_side_apply(None, _deployment(), manager="", force=False, now=NOW)


def test_apply_custom_resource_lists_without_keys_are_atomic() -> None:
    cr = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"containers": [{"image": "a"}], "conditions": ["x"], "finalizers": [{"n": 1}]},
    }
    obj = _apply(None, cr)
    assert obj["spec"] == cr["spec"]
    assert _fields(obj, "kubectl")["f:spec"] == {"f:conditions": {}, "f:containers": {}, "f:finalizers": {}}
    updated = _apply(obj, {**cr, "spec": {"containers": [{"image": "b"}]}})
    assert updated["spec"] == {"containers": [{"image": "b"}]}


def test_apply_dollar_keys_are_data() -> None:
    cr = {
        "apiVersion": "example.com/v1",
        "kind": "Schema",
        "metadata": {"name": "s"},
        "spec": {"$patch": "delete", "$ref": "#/x"},
    }
    assert _apply(None, cr)["spec"] == {"$patch": "delete", "$ref": "#/x"}


def test_finalizers_are_owned_as_set_members() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "finalizers": ["a/b"]}}
    obj = _apply(None, cm)
    assert _fields(obj, "kubectl") == {"f:metadata": {"f:finalizers": {'v:"a/b"': {}}}}
    live = copy.deepcopy(obj)
    live["metadata"]["finalizers"].append("other/x")
    gone = _apply(live, {**cm, "metadata": {"name": "c"}})
    assert gone["metadata"]["finalizers"] == ["other/x"]


# --------------------------------------------------------------------------------------------------------
# Update managers


def _update(
    old: dict | None, new: dict, manager: str = "kubectl-edit", now: str = LATER, api_version: str = "apps/v1"
) -> dict:
    return _unchanged(record_update_manager, old, new, manager=manager, api_version=api_version, now=now)


def test_update_manager_on_create() -> None:
    obj = _update(
        None,
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}},
        manager="kubectl-create",
        api_version="v1",
    )
    assert obj["metadata"]["managedFields"] == [
        {
            "manager": "kubectl-create",
            "operation": "Update",
            "apiVersion": "v1",
            "time": LATER,
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:data": {"f:a": {}}},
        }
    ]


def test_update_takes_changed_fields_from_other_managers() -> None:
    live = _apply(None, _deployment(replicas=2))
    new = copy.deepcopy(live)
    new["spec"]["replicas"] = 4
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.27"  # unchanged value
    obj = _update(live, new)
    assert _fields(obj, "kubectl-edit", "Update") == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" not in _fields(obj, "kubectl")["f:spec"]
    assert "f:template" in _fields(obj, "kubectl")["f:spec"]


def test_update_removing_fields_drops_ownership() -> None:
    live = _apply(None, _deployment(team="x"))
    new = copy.deepcopy(live)
    del new["metadata"]["labels"]
    obj = _update(live, new)
    assert "f:metadata" not in _fields(obj, "kubectl")
    assert ("kubectl-edit", "Update") not in _managers(obj)  # it changed nothing it could own


def test_noop_update_keeps_timestamp() -> None:
    live = _update(None, _deployment(), now=NOW)
    again = _update(live, copy.deepcopy(live), now=LATER)
    assert again["metadata"]["managedFields"] == live["metadata"]["managedFields"]


def test_update_entries_are_per_api_version() -> None:
    live = _update(
        None, {"metadata": {"name": "h"}, "spec": {"a": 1}}, manager="m", api_version="autoscaling/v1"
    )
    obj = _update(
        live, {"metadata": {"name": "h"}, "spec": {"a": 1, "b": 2}}, manager="m", api_version="autoscaling/v2"
    )
    assert [(e["manager"], e["apiVersion"]) for e in obj["metadata"]["managedFields"]] == [
        ("m", "autoscaling/v1"),
        ("m", "autoscaling/v2"),
    ]


def test_update_without_managed_fields_keeps_the_old_ones() -> None:
    live = _apply(None, _deployment())
    replacement = _deployment(replicas=9)  # e.g. `kubectl replace`: a manifest without managedFields
    obj = _update(live, replacement, manager="kubectl-replace")
    assert _managers(obj) == [("kubectl", "Apply"), ("kubectl-replace", "Update")]


def test_update_with_explicit_managed_fields_uses_them() -> None:
    live = _apply(None, _deployment())
    replacement = _deployment(replicas=9)
    replacement["metadata"]["managedFields"] = []
    obj = _update(live, replacement, manager="kubectl-replace")
    assert _managers(obj) == [("kubectl-replace", "Update")]


def test_client_side_then_server_side_apply() -> None:
    """The migration path: kubectl's client-side apply owned everything as an Update manager; a server-side
    apply of the same manifest shares ownership, a changed value conflicts."""
    live = _update(None, _deployment(replicas=2), manager="kubectl-client-side-apply", now=NOW)
    shared = _apply(live, _deployment(replicas=2))
    assert _managers(shared) == [("kubectl-client-side-apply", "Update"), ("kubectl", "Apply")]
    with pytest.raises(Conflict, match=r'"kubectl-client-side-apply" using apps/v1 at .*\.spec\.replicas'):
        server_side_apply(live, _deployment(replicas=3), manager="kubectl", force=False, now=NOW)
