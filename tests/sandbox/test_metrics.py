"""metrics.k8s.io documents of the sandbox: deterministic usage from requests, overrides and node sums."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from providers.sandbox import controllers, defaults, errors, machines, metrics
from providers.sandbox.resources import BUILTIN_REGISTRY, ResourceType
from providers.sandbox.state import StateDB
from providers.sandbox.store import ClusterStore

NOW = 1_750_000_000.0


def _rt(api_version: str, kind: str) -> ResourceType:
    rt = BUILTIN_REGISTRY.by_kind(api_version, kind)
    assert rt is not None
    return rt


NS, NODE, POD = _rt("v1", "Namespace"), _rt("v1", "Node"), _rt("v1", "Pod")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ClusterStore]:
    db = StateDB(tmp_path / "state.db")
    s = ClusterStore("test", db, clock=lambda: NOW)
    ctx = controllers.ControllerContext(
        store=s, settings=controllers.ControllerSettings(strict=True), kubernetes_version="v1.32.5"
    )
    with s.lock:
        for name in ("default", "other"):
            s.create(NS, defaults.apply_defaults(NS, {"metadata": {"name": name}}, store=s))
        for i in range(2):
            s.create(NODE, machines.node_object("m", i, "e2-standard-4", "v1.32.5", now=NOW))
        s.reconcile = lambda: controllers.reconcile(ctx)  # type: ignore[attr-defined]
        s.reconcile()  # type: ignore[attr-defined]
    yield s
    db.close()


def add_pod(
    store: ClusterStore,
    name: str,
    containers: list[dict],
    *,
    namespace: str = "default",
    node: str | None = None,
    annotations: dict | None = None,
) -> dict:
    body: dict = {
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {"containers": containers},
    }
    if annotations:
        body["metadata"]["annotations"] = annotations
    if node:
        body["spec"]["nodeName"] = node
    with store.lock:
        store.create(POD, defaults.apply_defaults(POD, body, store=store))
        store.reconcile()  # type: ignore[attr-defined]
    return store.get("pods", namespace, name)


def usage(doc: dict) -> list[tuple[str, str, str]]:
    return [(c["name"], c["usage"]["cpu"], c["usage"]["memory"]) for c in doc["containers"]]


def test_pod_usage_is_what_its_containers_request(store: ClusterStore) -> None:
    add_pod(
        store,
        "web",
        [
            {"name": "app", "image": "x", "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}}},
            {"name": "idle", "image": "y"},
        ],
    )
    doc = metrics.pod_metrics(store, "default", "web", NOW)
    assert doc["kind"] == "PodMetrics" and doc["apiVersion"] == "metrics.k8s.io/v1beta1"
    assert doc["metadata"]["name"] == "web" and doc["metadata"]["namespace"] == "default"
    assert doc["metadata"]["labels"] == {"app": "web"}
    assert doc["window"] == "10s" and doc["timestamp"] == "2025-06-15T15:06:40Z"
    assert usage(doc) == [("app", "250000000n", "65536Ki"), ("idle", "1000000n", "4096Ki")]


def test_limits_count_as_requests_when_only_limits_are_set(store: ClusterStore) -> None:
    add_pod(
        store, "capped", [{"name": "c", "image": "x", "resources": {"limits": {"cpu": "2", "memory": "1Gi"}}}]
    )
    assert usage(metrics.pod_metrics(store, "default", "capped", NOW)) == [("c", "2000000000n", "1048576Ki")]


def test_usage_annotation_overrides_the_pod_total(store: ClusterStore) -> None:
    add_pod(
        store,
        "hot",
        [{"name": "a", "image": "x"}, {"name": "b", "image": "x"}],
        annotations={"sandbox.kaas.dev/usage": json.dumps({"cpu": "900m", "memory": "1Gi"})},
    )
    assert usage(metrics.pod_metrics(store, "default", "hot", NOW)) == [
        ("a", "450000000n", "524288Ki"),
        ("b", "450000000n", "524288Ki"),
    ]


@pytest.mark.parametrize(
    "annotation",
    [
        "not json",
        "[]",
        '"900m"',
        '{"cpu": "lots"}',
        '{"cpu": -1}',
        '{"memory": "1Qi"}',
        '{"cpu": null}',
        "",
    ],
)
def test_a_bad_usage_annotation_is_ignored(store: ClusterStore, annotation: str) -> None:
    add_pod(
        store,
        "odd",
        [{"name": "a", "image": "x", "resources": {"requests": {"cpu": "100m"}}}],
        annotations={"sandbox.kaas.dev/usage": annotation},
    )
    assert usage(metrics.pod_metrics(store, "default", "odd", NOW)) == [("a", "100000000n", "4096Ki")]


def test_only_running_pods_have_metrics(store: ClusterStore) -> None:
    add_pod(store, "huge", [{"name": "a", "image": "x", "resources": {"requests": {"cpu": "64"}}}])
    assert store.get("pods", "default", "huge")["status"]["phase"] == "Pending"
    with pytest.raises(errors.NotFound, match=r'pods\.metrics\.k8s\.io "huge" not found'):
        metrics.pod_metrics(store, "default", "huge", NOW)
    with pytest.raises(errors.NotFound):
        metrics.pod_metrics(store, "default", "missing", NOW)
    assert metrics.list_pod_metrics(store, "default", NOW) == []


def test_pod_metrics_lists_filter_by_namespace(store: ClusterStore) -> None:
    add_pod(store, "a", [{"name": "c", "image": "x"}])
    add_pod(store, "b", [{"name": "c", "image": "x"}], namespace="other")
    assert [m["metadata"]["name"] for m in metrics.list_pod_metrics(store, "default", NOW)] == ["a"]
    assert [m["metadata"]["name"] for m in metrics.list_pod_metrics(store, None, NOW)] == ["a", "b"]


def test_node_usage_is_its_pods_plus_system_overhead(store: ClusterStore) -> None:
    add_pod(
        store,
        "p1",
        [{"name": "c", "image": "x", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}],
        node="m-pool-0",
    )
    add_pod(
        store,
        "p2",
        [{"name": "c", "image": "x", "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}}}],
        node="m-pool-0",
    )
    doc = metrics.node_metrics(store, "m-pool-0", NOW)
    assert doc["kind"] == "NodeMetrics" and doc["metadata"]["name"] == "m-pool-0"
    assert doc["usage"] == {"cpu": "1600000000n", "memory": f"{(1024 + 512 + 500) * 1024}Ki"}
    idle = metrics.node_metrics(store, "m-pool-1", NOW)
    assert idle["usage"] == {"cpu": "100000000n", "memory": f"{500 * 1024}Ki"}
    assert [m["metadata"]["name"] for m in metrics.list_node_metrics(store, NOW)] == ["m-pool-0", "m-pool-1"]


def test_not_ready_and_unknown_nodes_have_no_metrics(store: ClusterStore) -> None:
    node = store.get("nodes", "", "m-pool-1")
    sick = json.loads(json.dumps(node))
    next(c for c in sick["status"]["conditions"] if c["type"] == "Ready")["status"] = "Unknown"
    with store.lock:
        store.replace(NODE, sick)
    with pytest.raises(errors.NotFound, match=r'nodes\.metrics\.k8s\.io "m-pool-1" not found'):
        metrics.node_metrics(store, "m-pool-1", NOW)
    with pytest.raises(errors.NotFound):
        metrics.node_metrics(store, "nope", NOW)
    assert [m["metadata"]["name"] for m in metrics.list_node_metrics(store, NOW)] == ["m-pool-0"]
