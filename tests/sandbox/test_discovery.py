"""Discovery documents: legacy APIVersions/APIGroupList/APIGroup/APIResourceList and aggregated v2."""

from __future__ import annotations

import base64

import pytest

from providers.sandbox import discovery
from providers.sandbox.resources import BUILTIN_REGISTRY, ResourceType

CRD = {
    "spec": {
        "group": "stable.example.com",
        "scope": "Namespaced",
        "names": {"plural": "crontabs", "kind": "CronTab", "shortNames": ["ct"], "categories": ["all"]},
        "versions": [
            {"name": "v1", "served": True, "storage": True, "subresources": {"status": {}, "scale": {}}},
            {"name": "v1beta1", "served": True, "storage": False},
            {"name": "v1alpha1", "served": False, "storage": False},
        ],
    }
}
REGISTRY = BUILTIN_REGISTRY.with_crds([CRD])


def _by_name(doc: dict) -> dict[str, dict]:
    return {r["name"]: r for r in doc["resources"]}


def test_core_versions() -> None:
    doc = discovery.core_versions("127.0.0.1:8443")
    assert doc == {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:8443"}],
    }


def test_group_list_has_no_core_group_and_preferred_versions() -> None:
    doc = discovery.api_group_list(REGISTRY)
    assert doc["kind"] == "APIGroupList"
    assert doc["apiVersion"] == "v1"
    groups = {g["name"]: g for g in doc["groups"]}
    assert "" not in groups
    assert {"apps", "batch", "autoscaling", "metrics.k8s.io", "stable.example.com"} <= set(groups)
    autoscaling = groups["autoscaling"]
    assert autoscaling["preferredVersion"] == {"groupVersion": "autoscaling/v2", "version": "v2"}
    assert [v["version"] for v in autoscaling["versions"]] == ["v2", "v1"]
    crd = groups["stable.example.com"]
    assert [v["groupVersion"] for v in crd["versions"]] == [
        "stable.example.com/v1",
        "stable.example.com/v1beta1",
    ]
    assert crd["preferredVersion"]["version"] == "v1"


@pytest.mark.parametrize(
    ("group", "expected"),
    [("apps", "apps/v1"), ("autoscaling", "autoscaling/v2"), ("stable.example.com", "stable.example.com/v1")],
)
def test_api_group(group: str, expected: str) -> None:
    doc = discovery.api_group(REGISTRY, group)
    assert doc is not None
    assert doc["kind"] == "APIGroup"
    assert doc["name"] == group
    assert doc["preferredVersion"]["groupVersion"] == expected


@pytest.mark.parametrize("group", ["", "nope.example.com", "v1", "../apps"])
def test_api_group_unknown(group: str) -> None:
    assert discovery.api_group(REGISTRY, group) is None


@pytest.mark.parametrize(
    ("group", "version"),
    [("apps", "v2"), ("", "v2"), ("nope", "v1"), ("stable.example.com", "v1alpha1"), ("apps", "")],
)
def test_resource_list_unknown(group: str, version: str) -> None:
    assert discovery.api_resource_list(REGISTRY, group, version) is None


def test_core_resource_list() -> None:
    doc = discovery.api_resource_list(REGISTRY, "", "v1")
    assert doc is not None
    assert doc["kind"] == "APIResourceList"
    assert doc["groupVersion"] == "v1"
    res = _by_name(doc)
    assert res["pods"]["singularName"] == "pod"
    assert res["pods"]["namespaced"] is True
    assert res["pods"]["shortNames"] == ["po"]
    assert res["pods"]["categories"] == ["all"]
    assert res["namespaces"]["namespaced"] is False
    assert "shortNames" not in res["secrets"]
    assert "categories" not in res["configmaps"]
    assert res["pods/status"]["verbs"] == ["get", "patch", "update"]
    assert res["pods/status"]["kind"] == "Pod"


def test_deployment_entries() -> None:
    res = _by_name(discovery.api_resource_list(REGISTRY, "apps", "v1") or {})
    deploy = res["deployments"]
    assert deploy["kind"] == "Deployment"
    assert deploy["shortNames"] == ["deploy"]
    assert set(deploy["verbs"]) == {
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    }
    base64.b64decode(deploy["storageVersionHash"], validate=True)
    status = res["deployments/status"]
    assert status == {
        "name": "deployments/status",
        "singularName": "",
        "namespaced": True,
        "kind": "Deployment",
        "verbs": ["get", "patch", "update"],
    }
    scale = res["deployments/scale"]
    assert (scale["group"], scale["version"], scale["kind"]) == ("autoscaling", "v1", "Scale")
    assert scale["verbs"] == ["get", "patch", "update"]


def test_subresources_never_carry_short_names_or_categories() -> None:
    for group, versions in REGISTRY.group_versions().items():
        for version in versions:
            for entry in discovery.api_resource_list(REGISTRY, group, version)["resources"]:  # type: ignore[index]
                if "/" in entry["name"]:
                    assert "shortNames" not in entry
                    assert "categories" not in entry


def test_metrics_are_read_only_without_storage_hash() -> None:
    res = _by_name(discovery.api_resource_list(REGISTRY, "metrics.k8s.io", "v1beta1") or {})
    assert res["nodes"]["kind"] == "NodeMetrics"
    assert res["pods"]["kind"] == "PodMetrics"
    assert res["pods"]["verbs"] == ["get", "list"]
    assert "storageVersionHash" not in res["pods"]


def test_crd_resources() -> None:
    res = _by_name(discovery.api_resource_list(REGISTRY, "stable.example.com", "v1") or {})
    assert set(res) == {"crontabs", "crontabs/scale", "crontabs/status"}
    assert res["crontabs"]["shortNames"] == ["ct"]
    assert res["crontabs"]["categories"] == ["all"]
    assert res["crontabs/status"]["kind"] == "CronTab"
    res_beta = _by_name(discovery.api_resource_list(REGISTRY, "stable.example.com", "v1beta1") or {})
    assert set(res_beta) == {"crontabs"}


def test_read_only_subresource_verbs() -> None:
    rt = ResourceType("x.io", "v1", "Thing", "things", True, verbs=("get", "list"), subresources=("status",))
    from providers.sandbox.resources import Registry

    res = _by_name(discovery.api_resource_list(Registry([rt]), "x.io", "v1") or {})
    assert res["things/status"]["verbs"] == ["get"]


# -- aggregated ---------------------------------------------------------------------------------------------

KUBECTL_ACCEPT = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
)


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (KUBECTL_ACCEPT, "v2"),
        (
            "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json",
            "v2beta1",
        ),
        ("application/json", "legacy"),
        ("application/json, */*", "legacy"),
        ("", "legacy"),
        ("*/*", "legacy"),
        ("text/html", "legacy"),
        ("application/json; g=apidiscovery.k8s.io; v=v2; as=APIGroupDiscoveryList", "v2"),
        (
            "application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json",
            "legacy",
        ),
        ("application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList,application/json", "legacy"),
        ("application/json;as=Table;v=v1;g=meta.k8s.io,application/json", "legacy"),
        ("application/json;q=0.5,application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList", "v2"),
        ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;q=0", "legacy"),
        (";;;,,,", "legacy"),
        ("application/json;q=abc", "legacy"),
    ],
)
def test_negotiate(accept: str, expected: str) -> None:
    assert discovery.negotiate_discovery(accept) == expected


def test_aggregated_content_type() -> None:
    assert discovery.aggregated_content_type() == (
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    )
    assert "v=v2beta1" in discovery.aggregated_content_type("v2beta1")


def test_aggregated_core() -> None:
    doc = discovery.aggregated_discovery(REGISTRY, core=True)
    assert doc["kind"] == "APIGroupDiscoveryList"
    assert doc["apiVersion"] == "apidiscovery.k8s.io/v2"
    assert len(doc["items"]) == 1
    item = doc["items"][0]
    assert "name" not in item["metadata"]
    (v1,) = item["versions"]
    assert v1["version"] == "v1"
    assert v1["freshness"] == "Current"
    pods = next(r for r in v1["resources"] if r["resource"] == "pods")
    assert pods["responseKind"] == {"group": "", "version": "v1", "kind": "Pod"}
    assert pods["scope"] == "Namespaced"
    assert pods["singularResource"] == "pod"
    assert pods["shortNames"] == ["po"]
    assert pods["subresources"][0]["subresource"] == "status"


def test_aggregated_groups() -> None:
    doc = discovery.aggregated_discovery(REGISTRY, core=False, version="v2beta1")
    assert doc["apiVersion"] == "apidiscovery.k8s.io/v2beta1"
    items = {i["metadata"]["name"]: i for i in doc["items"]}
    assert "" not in items
    assert [v["version"] for v in items["autoscaling"]["versions"]] == ["v2", "v1"]
    deploy = next(r for r in items["apps"]["versions"][0]["resources"] if r["resource"] == "deployments")
    subs = {s["subresource"]: s for s in deploy["subresources"]}
    assert subs["scale"]["responseKind"] == {"group": "autoscaling", "version": "v1", "kind": "Scale"}
    assert subs["status"]["responseKind"]["kind"] == "Deployment"
    assert subs["status"]["verbs"] == ["get", "patch", "update"]
    ns = next(
        r for r in items["stable.example.com"]["versions"][0]["resources"] if r["resource"] == "crontabs"
    )
    assert ns["scope"] == "Namespaced"
    nodes = next(r for r in items["metrics.k8s.io"]["versions"][0]["resources"] if r["resource"] == "nodes")
    assert nodes["scope"] == "Cluster"
    assert "subresources" not in nodes


def test_documents_are_fresh_copies() -> None:
    a = discovery.api_resource_list(REGISTRY, "apps", "v1")
    a["resources"].clear()  # type: ignore[index]
    assert discovery.api_resource_list(REGISTRY, "apps", "v1")["resources"]  # type: ignore[index]
