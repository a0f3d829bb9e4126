"""The official `kubernetes` Python client (typed APIs, watch and DynamicClient) against a sandbox cluster."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client as k8s
from kubernetes import config, dynamic, watch
from kubernetes.client.rest import ApiException

from providers.sandbox.sandbox import Sandbox

pytestmark = pytest.mark.e2e


@pytest.fixture
def api(sandbox: Sandbox, tmp_path: Path) -> k8s.ApiClient:
    info = sandbox.create_cluster("py" + tmp_path.name[-8:].replace("_", "").lower()[:8], nodes=2)
    path = tmp_path / "kubeconfig"
    path.write_text(sandbox.kubeconfig(info.id))
    with config.new_client_from_config(config_file=str(path)) as api_client:
        yield api_client


def _deployment(name: str, replicas: int) -> k8s.V1Deployment:
    labels = {"app": name}
    return k8s.V1Deployment(
        metadata=k8s.V1ObjectMeta(name=name),
        spec=k8s.V1DeploymentSpec(
            replicas=replicas,
            selector=k8s.V1LabelSelector(match_labels=labels),
            template=k8s.V1PodTemplateSpec(
                metadata=k8s.V1ObjectMeta(labels=labels),
                spec=k8s.V1PodSpec(containers=[k8s.V1Container(name="app", image="nginx")]),
            ),
        ),
    )


def test_typed_apis(api: k8s.ApiClient) -> None:
    core, apps = k8s.CoreV1Api(api), k8s.AppsV1Api(api)
    nodes = core.list_node().items
    assert len(nodes) == 2
    assert all(any(c.type == "Ready" and c.status == "True" for c in n.status.conditions) for n in nodes)
    apps.create_namespaced_deployment("default", _deployment("api", 2))
    dep = apps.read_namespaced_deployment("api", "default")
    assert dep.status.ready_replicas == 2 and dep.status.observed_generation == dep.metadata.generation
    pods = core.list_namespaced_pod("default", label_selector="app=api").items
    assert len(pods) == 2 and all(p.status.phase == "Running" and p.status.pod_ip for p in pods)
    apps.patch_namespaced_deployment_scale("api", "default", {"spec": {"replicas": 4}})
    assert len(core.list_namespaced_pod("default", label_selector="app=api").items) == 4
    with pytest.raises(ApiException) as e:
        core.read_namespaced_config_map("missing", "default")
    assert e.value.status == 404


def test_watch_sees_changes_in_order(api: k8s.ApiClient) -> None:
    core = k8s.CoreV1Api(api)
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map(
        "default", k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="w1"), data={"a": "1"})
    )
    core.patch_namespaced_config_map("w1", "default", {"data": {"a": "2"}})
    core.delete_namespaced_config_map("w1", "default")
    seen = []
    for event in watch.Watch().stream(
        core.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=2
    ):
        seen.append((event["type"], event["object"].metadata.name, (event["object"].data or {}).get("a")))
        if len(seen) == 3:
            break
    assert seen == [("ADDED", "w1", "1"), ("MODIFIED", "w1", "2"), ("DELETED", "w1", "2")]


def test_dynamic_client_with_a_custom_resource(api: k8s.ApiClient) -> None:
    dyn = dynamic.DynamicClient(api)
    crds = dyn.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
    crds.create(
        body={
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "gadgets.example.com"},
            "spec": {
                "group": "example.com",
                "scope": "Namespaced",
                "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "schema": {
                            "openAPIV3Schema": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            }
                        },
                    }
                ],
            },
        }
    )
    dyn.resources.invalidate_cache()
    gadgets = dyn.resources.get(api_version="example.com/v1", kind="Gadget")
    gadgets.create(
        namespace="default",
        body={
            "apiVersion": "example.com/v1",
            "kind": "Gadget",
            "metadata": {"name": "g1"},
            "spec": {"power": 9000},
        },
    )
    got = gadgets.get(namespace="default", name="g1")
    assert got.spec.power == 9000
    assert [i.metadata.name for i in gadgets.get(namespace="default").items] == ["g1"]
