"""Backups and restores against sandbox clusters driven by real kubectl, and a hostile table for archives."""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import io
import json
import random
import socket
import tarfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from providers.kube import backup
from providers.kube import client as client_module
from providers.kube.backup import BackupArchive, BackupSummary, PvcInfo, RestoreResult
from providers.kube.client import KubeClient
from providers.kube.errors import ClusterUnreachable, InvalidManifest, KubeError
from providers.sandbox.sandbox import Sandbox
from tests.sandbox.clients import Client, make_client

T0 = dt.datetime(2025, 1, 1, 12, 0, tzinfo=dt.UTC)

CRDS = textwrap.dedent("""\
    apiVersion: apiextensions.k8s.io/v1
    kind: CustomResourceDefinition
    metadata:
      name: widgets.example.com
    spec:
      group: example.com
      scope: Namespaced
      names: {plural: widgets, singular: widget, kind: Widget}
      versions:
      - name: v1
        served: true
        storage: true
        schema:
          openAPIV3Schema:
            type: object
            properties:
              spec:
                type: object
                properties:
                  size: {type: integer}
    ---
    apiVersion: apiextensions.k8s.io/v1
    kind: CustomResourceDefinition
    metadata:
      name: gadgets.example.com
    spec:
      group: example.com
      scope: Namespaced
      names: {plural: gadgets, singular: gadget, kind: Gadget}
      versions:
      - name: v1
        served: true
        storage: true
        schema:
          openAPIV3Schema:
            type: object
            x-kubernetes-preserve-unknown-fields: true
""")

APP = textwrap.dedent("""\
    apiVersion: v1
    kind: Namespace
    metadata:
      name: shop
      labels: {team: shop}
    ---
    apiVersion: storage.k8s.io/v1
    kind: StorageClass
    metadata:
      name: standard
    provisioner: example.com/fake
    ---
    apiVersion: networking.k8s.io/v1
    kind: IngressClass
    metadata:
      name: nginx
    spec:
      controller: k8s.io/ingress-nginx
    ---
    apiVersion: v1
    kind: PersistentVolume
    metadata:
      name: pv-static
    spec:
      capacity: {storage: 1Gi}
      accessModes: [ReadWriteOnce]
      storageClassName: standard
      hostPath: {path: /data/static}
      claimRef: {kind: PersistentVolumeClaim, namespace: shop, name: static, uid: 0b5e1a2c-old-uid}
    ---
    apiVersion: v1
    kind: PersistentVolume
    metadata:
      name: pvc-5f1d7c2e
      annotations: {pv.kubernetes.io/provisioned-by: example.com/fake}
    spec:
      capacity: {storage: 1Gi}
      accessModes: [ReadWriteOnce]
      storageClassName: standard
      hostPath: {path: /data/dynamic}
    ---
    apiVersion: rbac.authorization.k8s.io/v1
    kind: ClusterRole
    metadata:
      name: widget-reader
    rules:
    - apiGroups: [example.com]
      resources: [widgets]
      verbs: [get, list]
    ---
    apiVersion: rbac.authorization.k8s.io/v1
    kind: ClusterRole
    metadata:
      name: system:kaas-test
    rules: []
    ---
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: settings
      namespace: shop
    data:
      color: blue
    ---
    apiVersion: v1
    kind: Secret
    metadata:
      name: creds
      namespace: shop
    type: Opaque
    stringData:
      password: hunter2
    ---
    apiVersion: v1
    kind: Secret
    metadata:
      name: sh.helm.release.v1.web.v1
      namespace: shop
      labels: {owner: helm, name: web, status: deployed}
    type: helm.sh/release.v1
    data:
      release: SDRzSUFBQUFBQUFBLw==
    ---
    apiVersion: v1
    kind: Secret
    metadata:
      name: app-token
      namespace: shop
      annotations: {kubernetes.io/service-account.name: app}
    type: kubernetes.io/service-account-token
    ---
    apiVersion: v1
    kind: ServiceAccount
    metadata:
      name: app
      namespace: shop
    ---
    apiVersion: rbac.authorization.k8s.io/v1
    kind: Role
    metadata:
      name: config-reader
      namespace: shop
    rules:
    - apiGroups: [""]
      resources: [configmaps]
      verbs: [get]
    ---
    apiVersion: rbac.authorization.k8s.io/v1
    kind: RoleBinding
    metadata:
      name: app-reads-config
      namespace: shop
    subjects:
    - {kind: ServiceAccount, name: app, namespace: shop}
    roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: config-reader}
    ---
    apiVersion: v1
    kind: PersistentVolumeClaim
    metadata:
      name: data
      namespace: shop
    spec:
      accessModes: [ReadWriteOnce]
      storageClassName: standard
      resources:
        requests: {storage: 5Gi}
    ---
    apiVersion: v1
    kind: PersistentVolumeClaim
    metadata:
      name: static
      namespace: shop
    spec:
      accessModes: [ReadWriteOnce]
      storageClassName: standard
      volumeName: pv-static
      resources:
        requests: {storage: 1Gi}
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
      namespace: shop
    spec:
      replicas: 2
      selector:
        matchLabels: {app: web}
      template:
        metadata:
          labels: {app: web}
        spec:
          serviceAccountName: app
          containers:
          - name: web
            image: nginx:1.27
            ports: [{containerPort: 80}]
    ---
    apiVersion: v1
    kind: Service
    metadata:
      name: web
      namespace: shop
    spec:
      selector: {app: web}
      ports: [{port: 80, targetPort: 80}]
    ---
    apiVersion: v1
    kind: Service
    metadata:
      name: web-headless
      namespace: shop
    spec:
      clusterIP: None
      selector: {app: web}
      ports: [{port: 80}]
    ---
    apiVersion: networking.k8s.io/v1
    kind: Ingress
    metadata:
      name: web
      namespace: shop
    spec:
      ingressClassName: nginx
      rules:
      - host: shop.example.com
        http:
          paths:
          - path: /
            pathType: Prefix
            backend:
              service: {name: web, port: {number: 80}}
    ---
    apiVersion: example.com/v1
    kind: Widget
    metadata:
      name: blue-widget
      namespace: shop
    spec:
      size: 3
    ---
    apiVersion: v1
    kind: Event
    metadata:
      name: web.17f0
      namespace: shop
    involvedObject: {kind: Deployment, name: web, namespace: shop}
    reason: ScalingReplicaSet
    message: Scaled up replica set
    type: Normal
    ---
    apiVersion: coordination.k8s.io/v1
    kind: Lease
    metadata:
      name: web-leader
      namespace: shop
    spec:
      holderIdentity: web-1
    ---
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: cluster-settings
      namespace: kube-system
    data:
      a: b
    ---
    apiVersion: v1
    kind: Namespace
    metadata:
      name: other
    ---
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: other-settings
      namespace: other
    data:
      x: "y"
    ---
    apiVersion: example.com/v1
    kind: Gadget
    metadata:
      name: spare-gadget
      namespace: other
    spec:
      parts: 4
""")

SHOP_OBJECTS = {
    "resources/_cluster/core/Namespace/shop.yaml",
    "resources/shop/core/ConfigMap/settings.yaml",
    "resources/shop/core/Secret/creds.yaml",
    "resources/shop/core/Secret/sh.helm.release.v1.web.v1.yaml",
    "resources/shop/core/ServiceAccount/app.yaml",
    "resources/shop/rbac.authorization.k8s.io/Role/config-reader.yaml",
    "resources/shop/rbac.authorization.k8s.io/RoleBinding/app-reads-config.yaml",
    "resources/shop/core/PersistentVolumeClaim/data.yaml",
    "resources/shop/core/PersistentVolumeClaim/static.yaml",
    "resources/shop/apps/Deployment/web.yaml",
    "resources/shop/core/Service/web.yaml",
    "resources/shop/core/Service/web-headless.yaml",
    "resources/shop/networking.k8s.io/Ingress/web.yaml",
    "resources/shop/example.com/Widget/blue-widget.yaml",
    "resources/_cluster/apiextensions.k8s.io/CustomResourceDefinition/widgets.example.com.yaml",
}
OTHER_OBJECTS = {
    "resources/_cluster/core/Namespace/other.yaml",
    "resources/other/core/ConfigMap/other-settings.yaml",
    "resources/other/example.com/Gadget/spare-gadget.yaml",
    "resources/_cluster/apiextensions.k8s.io/CustomResourceDefinition/gadgets.example.com.yaml",
}
CLUSTER_OBJECTS = {
    "resources/_cluster/core/Namespace/default.yaml",
    "resources/_cluster/storage.k8s.io/StorageClass/standard.yaml",
    "resources/_cluster/networking.k8s.io/IngressClass/nginx.yaml",
    "resources/_cluster/core/PersistentVolume/pv-static.yaml",
    "resources/_cluster/rbac.authorization.k8s.io/ClusterRole/widget-reader.yaml",
}


# -- helpers ----------------------------------------------------------------------------------------------


def _eventually(check: Callable[[], object], what: str, timeout: float = 60.0) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.1)


def _deploy_app(cluster: Client, tmp_path: Path) -> None:
    crds = tmp_path / "crds.yaml"
    crds.write_text(CRDS)
    cluster.kubectl("apply", "-f", str(crds))
    cluster.kubectl("wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=60s")
    cluster.kubectl("wait", "--for=condition=Established", "crd/gadgets.example.com", "--timeout=60s")
    app = tmp_path / "app.yaml"
    app.write_text(APP)
    cluster.kubectl("apply", "-f", str(app))
    _wait_for_web_pods(cluster)


def _web_pods(cluster: Client) -> list[str]:
    out = cluster.kubectl(
        "get", "pods", "-n", "shop", "-l", "app=web", "-o", "jsonpath={.items[*].status.phase}", check=False
    )
    return out.stdout.split() if out.returncode == 0 else []


def _wait_for_web_pods(cluster: Client) -> None:
    _eventually(lambda: _web_pods(cluster) == ["Running", "Running"], "two running web pods")


def _client(cluster: Client) -> KubeClient:
    return KubeClient.from_kubeconfig(cluster.kubeconfig.read_text())


def _export(cluster: Client, namespace: str | None = None, progress: list | None = None) -> bytes:
    out = io.BytesIO()
    with _client(cluster) as client:
        backup.export(
            client,
            cluster="prod",
            namespace=namespace,
            out=out,
            created_at=T0,
            on_progress=None if progress is None else lambda step, pct: progress.append((step, pct)),
        )
    return out.getvalue()


def _members(archive: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def _restore(cluster: Client, archive: bytes, **kwargs) -> RestoreResult:
    with _client(cluster) as client:
        return backup.restore(client, backup.read_archive(io.BytesIO(archive)), **kwargs)


def _gone(cluster: Client, *args: str) -> bool:
    return cluster.kubectl("get", *args, check=False).returncode != 0


def _delete_namespace(cluster: Client, namespace: str) -> None:
    cluster.kubectl("delete", "namespace", namespace, "--wait=true", "--timeout=60s")
    _eventually(lambda: _gone(cluster, "namespace", namespace), f"namespace {namespace} to be gone")


# -- clean --------------------------------------------------------------------------------------------------


def _obj(api_version: str, kind: str, name: str, namespace: str | None = None, **extra) -> dict:
    meta = {"name": name, **({"namespace": namespace} if namespace else {}), **extra.pop("metadata", {})}
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, **extra}


OWNER = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-5d4f", "uid": "u1", "controller": True}]


@pytest.mark.parametrize(
    "obj",
    [
        _obj("apps/v1", "ReplicaSet", "web-5d4f", "shop", metadata={"ownerReferences": OWNER}),
        _obj("v1", "Pod", "web-5d4f-abcde", "shop", metadata={"ownerReferences": OWNER}),
        _obj("batch/v1", "Job", "nightly-29000000", "shop", metadata={"ownerReferences": OWNER}),
        _obj("v1", "Event", "web.17f0", "shop"),
        _obj("events.k8s.io/v1", "Event", "web.17f0", "shop"),
        _obj("v1", "Node", "node-1"),
        _obj("coordination.k8s.io/v1", "Lease", "leader", "shop"),
        _obj("v1", "Endpoints", "web", "shop"),
        _obj("discovery.k8s.io/v1", "EndpointSlice", "web-x7k2p", "shop"),
        _obj("apps/v1", "ControllerRevision", "db-6b8d", "shop"),
        _obj("metrics.k8s.io/v1beta1", "PodMetrics", "web", "shop"),
        _obj("v1", "ConfigMap", "kube-root-ca.crt", "shop"),
        _obj("v1", "ServiceAccount", "default", "shop"),
        _obj("v1", "Secret", "app-token", "shop", type="kubernetes.io/service-account-token"),
        _obj("v1", "ConfigMap", "coredns", "kube-system"),
        _obj("v1", "ConfigMap", "cluster-info", "kube-public"),
        _obj("v1", "Namespace", "kube-system"),
        _obj("v1", "Namespace", "kube-node-lease"),
        _obj("v1", "Service", "kubernetes", "default"),
        _obj("rbac.authorization.k8s.io/v1", "ClusterRole", "system:controller:job-controller"),
        _obj("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "system:basic-user"),
        _obj(
            "rbac.authorization.k8s.io/v1",
            "ClusterRole",
            "admin",
            metadata={"labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
        ),
        _obj("scheduling.k8s.io/v1", "PriorityClass", "system-cluster-critical"),
        _obj(
            "v1",
            "PersistentVolume",
            "pvc-5f1d7c2e",
            metadata={"annotations": {"pv.kubernetes.io/provisioned-by": "ebs.csi.aws.com"}},
        ),
    ],
    ids=lambda o: f"{o['kind']}/{o['metadata'].get('namespace', '-')}/{o['metadata']['name']}",
)
def test_clean_leaves_out_what_the_cluster_makes(obj: dict) -> None:
    assert backup.clean(obj) is None


@pytest.mark.parametrize(
    "obj",
    [
        _obj("v1", "Secret", "sh.helm.release.v1.web.v1", "shop", type="helm.sh/release.v1"),
        _obj("v1", "Service", "kubernetes", "shop"),
        _obj("v1", "ServiceAccount", "app", "shop"),
        _obj("v1", "Namespace", "default"),
        _obj("rbac.authorization.k8s.io/v1", "ClusterRole", "cert-manager:controller"),
        _obj("scheduling.k8s.io/v1", "PriorityClass", "business-critical"),
        _obj("example.com/v1", "Widget", "w", "shop"),
    ],
    ids=lambda o: f"{o['kind']}/{o['metadata']['name']}",
)
def test_clean_keeps_what_users_made(obj: dict) -> None:
    assert backup.clean(obj) == obj


def test_clean_removes_status_and_server_metadata_without_touching_the_input() -> None:
    live = _obj(
        "apps/v1",
        "Deployment",
        "web",
        "shop",
        metadata={
            "uid": "u1",
            "resourceVersion": "42",
            "generation": 3,
            "creationTimestamp": "2025-01-01T00:00:00Z",
            "managedFields": [{"manager": "kubectl"}],
            "selfLink": "/apis/apps/v1/namespaces/shop/deployments/web",
            "labels": {"app": "web"},
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": "{}",
                "deployment.kubernetes.io/revision": "3",
            },
        },
        spec={
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web", "pod-template-hash": "5d4f"}}},
        },
        status={"replicas": 2},
    )
    before = json.dumps(live, sort_keys=True)
    assert backup.clean(live) == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}},
        },
    }
    assert json.dumps(live, sort_keys=True) == before


def test_clean_keeps_the_users_annotations() -> None:
    live = _obj(
        "v1", "ConfigMap", "c", "shop", metadata={"annotations": {"team": "a", "deletionGracePeriod": "x"}}
    )
    assert backup.clean(live)["metadata"]["annotations"] == {"team": "a", "deletionGracePeriod": "x"}


def test_clean_service_drops_allocated_ips_but_keeps_headless_and_node_ports() -> None:
    ports = [{"port": 80, "nodePort": 30080}]
    live = _obj(
        "v1",
        "Service",
        "web",
        "shop",
        spec={
            "type": "LoadBalancer",
            "clusterIP": "10.96.4.7",
            "clusterIPs": ["10.96.4.7"],
            "healthCheckNodePort": 31000,
            "ports": ports,
        },
    )
    assert backup.clean(live)["spec"] == {"type": "LoadBalancer", "ports": ports}
    headless = _obj("v1", "Service", "db", "shop", spec={"clusterIP": "None", "clusterIPs": ["None"]})
    assert backup.clean(headless)["spec"] == {"clusterIP": "None", "clusterIPs": ["None"]}


def test_clean_pvc_binds_afresh() -> None:
    live = _obj(
        "v1",
        "PersistentVolumeClaim",
        "data",
        "shop",
        metadata={
            "annotations": {
                "pv.kubernetes.io/bind-completed": "yes",
                "pv.kubernetes.io/bound-by-controller": "yes",
                "volume.kubernetes.io/selected-node": "node-3",
                "volume.kubernetes.io/storage-provisioner": "ebs.csi.aws.com",
                "volume.beta.kubernetes.io/storage-provisioner": "ebs.csi.aws.com",
                "volume.beta.kubernetes.io/storage-class": "gp3",
                "backup.example.com/keep": "yes",
            },
            "finalizers": ["kubernetes.io/pvc-protection"],
        },
        spec={
            "volumeName": "pvc-5f1d7c2e",
            "storageClassName": "gp3",
            "resources": {"requests": {"storage": "5Gi"}},
        },
        status={"phase": "Bound"},
    )
    cleaned = backup.clean(live)
    assert cleaned["spec"] == {"storageClassName": "gp3", "resources": {"requests": {"storage": "5Gi"}}}
    assert cleaned["metadata"]["annotations"] == {
        "volume.beta.kubernetes.io/storage-class": "gp3",
        "backup.example.com/keep": "yes",
    }


def test_clean_static_pv_keeps_its_claim_by_name_only() -> None:
    live = _obj(
        "v1",
        "PersistentVolume",
        "nfs-1",
        metadata={"annotations": {"pv.kubernetes.io/bound-by-controller": "yes"}},
        spec={
            "nfs": {"server": "10.0.0.5", "path": "/exports"},
            "claimRef": {"kind": "PersistentVolumeClaim", "namespace": "shop", "name": "data", "uid": "u9"},
        },
    )
    cleaned = backup.clean(live)
    assert cleaned["spec"]["claimRef"] == {
        "kind": "PersistentVolumeClaim",
        "namespace": "shop",
        "name": "data",
    }
    assert "annotations" not in cleaned["metadata"]


def test_clean_job_drops_its_generated_selector_unless_manual() -> None:
    generated = {"batch.kubernetes.io/controller-uid": "u1", "controller-uid": "u1"}
    job_labels = {"batch.kubernetes.io/job-name": "migrate", "job-name": "migrate"}
    live = _obj(
        "batch/v1",
        "Job",
        "migrate",
        "shop",
        spec={
            "selector": {"matchLabels": generated},
            "template": {"metadata": {"labels": {**generated, **job_labels, "app": "db"}}},
        },
    )
    assert backup.clean(live)["spec"] == {"template": {"metadata": {"labels": {"app": "db"}}}}
    manual = _obj(
        "batch/v1",
        "Job",
        "migrate",
        "shop",
        spec={
            "manualSelector": True,
            "selector": {"matchLabels": {"run": "x"}},
            "template": {"metadata": {"labels": {"run": "x"}}},
        },
    )
    assert backup.clean(manual) == manual


def test_clean_orphaned_replica_set_loses_its_template_hash() -> None:
    live = _obj(
        "apps/v1",
        "ReplicaSet",
        "web-5d4f",
        "shop",
        metadata={"labels": {"app": "web", "pod-template-hash": "5d4f"}},
        spec={
            "selector": {"matchLabels": {"app": "web", "pod-template-hash": "5d4f"}},
            "template": {"metadata": {"labels": {"app": "web", "pod-template-hash": "5d4f"}}},
        },
    )
    cleaned = backup.clean(live)
    assert cleaned["metadata"]["labels"] == {"app": "web"}
    assert cleaned["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    assert cleaned["spec"]["template"]["metadata"]["labels"] == {"app": "web"}


def test_clean_pod_and_aggregated_cluster_role() -> None:
    pod = _obj("v1", "Pod", "debug", "shop", spec={"nodeName": "node-2", "containers": [{"name": "c"}]})
    assert backup.clean(pod)["spec"] == {"containers": [{"name": "c"}]}
    role = _obj(
        "rbac.authorization.k8s.io/v1",
        "ClusterRole",
        "monitoring",
        aggregationRule={"clusterRoleSelectors": [{"matchLabels": {"aggregate-to-monitoring": "true"}}]},
        rules=[{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
    )
    assert "rules" not in backup.clean(role)


# -- summary and guidance -----------------------------------------------------------------------------------

SUMMARY = BackupSummary(
    format=1,
    cluster="prod",
    created_at=T0.isoformat(),
    namespace=None,
    object_count=3,
    kinds=(("ConfigMap", 2), ("PersistentVolumeClaim", 1)),
    namespaces=("shop",),
    pvcs=(PvcInfo("shop", "data", "standard", "5Gi", "pvc-5f1d7c2e"),),
)


def test_summary_round_trips_through_json() -> None:
    assert BackupSummary.from_dict(json.loads(json.dumps(SUMMARY.to_dict()))) == SUMMARY


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(format="1"), "`format` must be a number"),
        (lambda d: d.update(format=True), "`format` must be a number"),
        (lambda d: d.update(format=2), "format version 2"),
        (lambda d: d.pop("cluster"), "`cluster` must be a str"),
        (lambda d: d.update(created_at="yesterday"), "not an ISO 8601 time"),
        (lambda d: d.update(namespace=5), "`namespace` must be a str or null"),
        (lambda d: d.update(object_count=-1), "negative"),
        (lambda d: d.update(object_count=1.5), "`object_count` must be a int"),
        (lambda d: d.update(kinds=[["ConfigMap", "2"]]), "`kinds` must be a list"),
        (lambda d: d.update(kinds={"ConfigMap": 2}), "`kinds` must be a list"),
        (lambda d: d.update(namespaces=[1]), "`namespaces` must be a list of names"),
        (lambda d: d.update(pvcs=["data"]), "each of `pvcs` must be an object"),
        (lambda d: d["pvcs"][0].update(size=5), "`size` must be a str or null"),
    ],
)
def test_summary_from_garbage_is_refused(change: Callable[[dict], object], message: str) -> None:
    data = SUMMARY.to_dict()
    change(data)
    with pytest.raises(InvalidManifest, match=message):
        BackupSummary.from_dict(data)


@pytest.mark.parametrize("garbage", [None, [], "kaas", 1])
def test_summary_that_is_not_an_object_is_refused(garbage: object) -> None:
    with pytest.raises(InvalidManifest, match="not a JSON object"):
        BackupSummary.from_dict(garbage)


def test_volume_guidance_names_claims_and_what_protects_their_data() -> None:
    text = backup.volume_guidance(SUMMARY)
    assert "shop/data" in text and "standard" in text and "5Gi" in text
    assert "NOT" in text
    assert "VolumeSnapshot" in text and "Velero" in text and "file-system backup" in text


def test_volume_guidance_without_claims() -> None:
    text = backup.volume_guidance(dataclasses.replace(SUMMARY, pvcs=()))
    assert "no PersistentVolumeClaims" in text
    assert "Velero" not in text


# -- export -------------------------------------------------------------------------------------------------

GENERATED = ("uid", "resourceVersion", "managedFields", "creationTimestamp", "generation", "selfLink")


def test_export_layout_and_clean_objects(cluster: Client, tmp_path: Path) -> None:
    _deploy_app(cluster, tmp_path)
    # The controllers' own objects exist, so leaving them out below is the backup's doing.
    assert cluster.kubectl("get", "rs,endpoints", "-n", "shop", "-o", "name").stdout.count("/") >= 2
    progress: list[tuple[str, int]] = []
    archive = _export(cluster, progress=progress)

    members = _members(archive)
    assert list(members)[-1] == "kaas-backup.json"
    # Exactly these: no ReplicaSets, Pods, Endpoints, Events, Leases, token Secrets, kube-root-ca.crt, default
    # ServiceAccounts, kube-system objects, system: ClusterRoles or dynamically provisioned volumes.
    assert set(members) - {"kaas-backup.json"} == SHOP_OBJECTS | OTHER_OBJECTS | CLUSTER_OBJECTS
    for path, data in members.items():
        if path == "kaas-backup.json":
            continue
        obj = yaml.safe_load(data)
        assert "status" not in obj, path
        assert not set(GENERATED) & set(obj["metadata"]), path
        assert "kubectl.kubernetes.io/last-applied-configuration" not in obj["metadata"].get(
            "annotations", {}
        )
    service = yaml.safe_load(members["resources/shop/core/Service/web.yaml"])
    assert "clusterIP" not in service["spec"] and "clusterIPs" not in service["spec"]
    headless = yaml.safe_load(members["resources/shop/core/Service/web-headless.yaml"])
    assert headless["spec"]["clusterIP"] == "None"
    static = yaml.safe_load(members["resources/shop/core/PersistentVolumeClaim/static.yaml"])
    assert "volumeName" not in static["spec"]
    pv = yaml.safe_load(members["resources/_cluster/core/PersistentVolume/pv-static.yaml"])
    assert pv["spec"]["claimRef"] == {"kind": "PersistentVolumeClaim", "namespace": "shop", "name": "static"}
    # Each file is the YAML of one object, apiVersion, kind and metadata first as people write them.
    assert members["resources/shop/core/ConfigMap/settings.yaml"].startswith(
        b"apiVersion: v1\nkind: ConfigMap\n"
    )

    summary = json.loads(members["kaas-backup.json"])
    assert summary["format"] == 1 and summary["cluster"] == "prod" and summary["namespace"] is None
    assert summary["created_at"] == "2025-01-01T12:00:00+00:00"
    assert summary["object_count"] == len(members) - 1
    kinds = dict(summary["kinds"])
    assert [k for k, _ in summary["kinds"]] == sorted(kinds)
    assert kinds["Secret"] == 2 and kinds["PersistentVolumeClaim"] == 2 and kinds["Namespace"] == 3
    assert "ReplicaSet" not in kinds and "Pod" not in kinds and "Endpoints" not in kinds
    assert summary["namespaces"] == ["default", "other", "shop"]
    assert summary["pvcs"] == [
        {
            "namespace": "shop",
            "name": "data",
            "storage_class": "standard",
            "size": "5Gi",
            "volume_name": None,
        },
        {
            "namespace": "shop",
            "name": "static",
            "storage_class": "standard",
            "size": "1Gi",
            "volume_name": "pv-static",
        },
    ]

    read = backup.read_archive(io.BytesIO(archive))
    assert read.summary.to_dict() == summary
    kinds_in_order = [o["kind"] for o in read.objects]
    assert kinds_in_order[0] == "CustomResourceDefinition"
    assert (
        kinds_in_order.index("Namespace")
        < kinds_in_order.index("ConfigMap")
        < kinds_in_order.index("Deployment")
    )
    assert kinds_in_order[-2:] in (["Widget", "Gadget"], ["Gadget", "Widget"])
    guidance = backup.volume_guidance(read.summary)
    assert "shop/data: standard, 5Gi" in guidance and "shop/static" in guidance

    percents = [pct for _, pct in progress]
    assert percents == sorted(percents) and percents[0] == 0 and percents[-1] == 100


def test_export_streams_objects_read_page_by_page(
    cluster: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small pages stand in for a big cluster: the sandbox is too slow to fill with thousands of objects.
    monkeypatch.setattr(client_module, "LIST_PAGE", 20)
    rng = random.Random(7)
    items = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"cm-{i:03d}", "namespace": "bulk"},
            "data": {"blob": rng.randbytes(300).hex()},  # random, so the archive can't compress it away
        }
        for i in range(100)
    ]
    path = tmp_path / "bulk.yaml"
    path.write_text(yaml.safe_dump_all(items))
    cluster.kubectl("create", "namespace", "bulk")
    cluster.kubectl("create", "-f", str(path), timeout=180)

    class Recorder(io.BytesIO):
        """Remembers how much had been written when each step was reported."""

        def __init__(self) -> None:
            super().__init__()
            self.written_at: dict[str, int] = {}

    out = Recorder()
    with _client(cluster) as client:
        request = client.request
        queries: list[list] = []

        def spy(*args, **kwargs):
            queries.append(kwargs.get("query") or [])
            return request(*args, **kwargs)

        client.request = spy
        summary = backup.export(
            client,
            cluster="bulk",
            namespace="bulk",
            out=out,
            created_at=T0,
            on_progress=lambda step, pct: out.written_at.setdefault(step, out.tell()),
        )
    assert summary.object_count == 101 and dict(summary.kinds) == {"ConfigMap": 100, "Namespace": 1}
    assert sum(1 for q in queries if any(key == "continue" for key, _ in q)) >= 100 // 20
    # Part of the archive was out before the last step began: it is written as it is read.
    late_step = "reading the namespace and its CustomResourceDefinitions"
    assert 0 < out.written_at[late_step] < len(out.getvalue())
    read = backup.read_archive(io.BytesIO(out.getvalue()))
    assert [o["metadata"]["name"] for o in read.objects] == ["bulk"] + [f"cm-{i:03d}" for i in range(100)]


def test_export_of_one_namespace(cluster: Client, tmp_path: Path) -> None:
    _deploy_app(cluster, tmp_path)
    members = _members(_export(cluster, namespace="shop"))
    assert set(members) - {"kaas-backup.json"} == SHOP_OBJECTS
    summary = json.loads(members["kaas-backup.json"])
    assert summary["namespace"] == "shop" and summary["namespaces"] == ["shop"]
    assert summary["object_count"] == len(SHOP_OBJECTS)


@pytest.mark.parametrize(
    ("namespace", "message"), [("nope", "does not exist"), ("kube-system", "not backed up")]
)
def test_export_of_a_namespace_that_cannot_be_backed_up(
    cluster: Client, namespace: str, message: str
) -> None:
    with pytest.raises(KubeError, match=message):
        _export(cluster, namespace=namespace)


# -- restore ------------------------------------------------------------------------------------------------


SHOP_REFS = (
    "configmap/settings",
    "secret/creds",
    "secret/sh.helm.release.v1.web.v1",
    "serviceaccount/app",
    "role/config-reader",
    "rolebinding/app-reads-config",
    "pvc/data",
    "pvc/static",
    "deployment/web",
    "service/web",
    "service/web-headless",
    "ingress/web",
    "widget/blue-widget",
)


def _shop_state(cluster: Client) -> list[str]:
    """The names kubectl prints for the shop objects; it fails if any is missing."""
    return cluster.kubectl("get", "-n", "shop", *SHOP_REFS, "-o", "name").stdout.split()


def test_restore_after_the_namespace_was_deleted(cluster: Client, tmp_path: Path) -> None:
    _deploy_app(cluster, tmp_path)
    archive = _export(cluster)
    _delete_namespace(cluster, "shop")

    result = _restore(cluster, archive)
    assert result.failed == []
    assert set(result.created) == {
        "Namespace shop",
        "ConfigMap shop/settings",
        "Secret shop/creds",
        "Secret shop/sh.helm.release.v1.web.v1",
        "ServiceAccount shop/app",
        "Role shop/config-reader",
        "RoleBinding shop/app-reads-config",
        "PersistentVolumeClaim shop/data",
        "PersistentVolumeClaim shop/static",
        "Deployment shop/web",
        "Service shop/web",
        "Service shop/web-headless",
        "Ingress shop/web",
        "Widget shop/blue-widget",
    }
    assert "CustomResourceDefinition widgets.example.com" in result.skipped
    assert len(_shop_state(cluster)) == len(SHOP_REFS)
    assert (
        cluster.kubectl("get", "cm", "settings", "-n", "shop", "-o", "jsonpath={.data.color}").stdout
        == "blue"
    )
    assert (
        cluster.kubectl("get", "widget", "blue-widget", "-n", "shop", "-o", "jsonpath={.spec.size}").stdout
        == "3"
    )
    secret = cluster.kubectl("get", "secret", "creds", "-n", "shop", "-o", "jsonpath={.data.password}").stdout
    assert secret == "aHVudGVyMg=="
    _wait_for_web_pods(cluster)

    again = _restore(cluster, archive)
    assert again.created == [] and again.updated == [] and again.failed == []
    assert len(again.skipped) == len(backup.read_archive(io.BytesIO(archive)).objects)

    cluster.kubectl(
        "patch", "configmap", "settings", "-n", "shop", "--type=merge", "-p", '{"data":{"color":"red"}}'
    )
    overwritten = _restore(cluster, archive, overwrite=True)
    assert overwritten.failed == [] and overwritten.created == []
    assert "ConfigMap shop/settings" in overwritten.updated
    assert (
        cluster.kubectl("get", "cm", "settings", "-n", "shop", "-o", "jsonpath={.data.color}").stdout
        == "blue"
    )


def test_restore_into_a_fresh_cluster(cluster: Client, sandbox: Sandbox, tmp_path: Path) -> None:
    _deploy_app(cluster, tmp_path)
    archive = _export(cluster)
    target = make_client(sandbox, tmp_path, f"{cluster.info.name}-copy", nodes=2)
    steps: list[tuple[str, int]] = []

    result = _restore(target, archive, on_progress=lambda step, pct: steps.append((step, pct)))
    assert result.failed == [] and result.skipped == ["Namespace default"]
    assert "CustomResourceDefinition widgets.example.com" in result.created
    assert "Widget shop/blue-widget" in result.created and "Gadget other/spare-gadget" in result.created
    assert len(_shop_state(target)) == len(SHOP_REFS)
    assert (
        target.kubectl("get", "gadget", "spare-gadget", "-n", "other", "-o", "jsonpath={.spec.parts}").stdout
        == "4"
    )
    assert target.kubectl("get", "storageclass,ingressclass,pv,clusterrole", "-o", "name").stdout.split() == [
        "storageclass.storage.k8s.io/standard",
        "ingressclass.networking.k8s.io/nginx",
        "persistentvolume/pv-static",
        "clusterrole.rbac.authorization.k8s.io/widget-reader",
    ]
    assert _gone(target, "configmap", "cluster-settings", "-n", "kube-system")
    _wait_for_web_pods(target)
    assert steps[-1] == ("restore complete", 100)
    assert any("waiting" in step and "CustomResourceDefinition" in step for step, _ in steps)


def test_restore_of_one_namespace(cluster: Client, sandbox: Sandbox, tmp_path: Path) -> None:
    _deploy_app(cluster, tmp_path)
    archive = _export(cluster)
    target = make_client(sandbox, tmp_path, f"{cluster.info.name}-ns", nodes=1)

    result = _restore(target, archive, namespace="other")
    assert result.failed == [] and result.skipped == []
    assert set(result.created) == {
        "CustomResourceDefinition gadgets.example.com",
        "Namespace other",
        "ConfigMap other/other-settings",
        "Gadget other/spare-gadget",
    }
    assert _gone(target, "namespace", "shop")
    assert _gone(target, "crd", "widgets.example.com")
    assert target.kubectl("get", "gadget", "-n", "other", "-o", "name").stdout.split() == [
        "gadget.example.com/spare-gadget"
    ]


def test_restore_of_a_namespace_the_backup_does_not_have(cluster: Client) -> None:
    archive = BackupArchive(summary=SUMMARY, objects=[_obj("v1", "ConfigMap", "c", "shop")])
    with _client(cluster) as client, pytest.raises(InvalidManifest, match="nothing in namespace 'web'") as e:
        backup.restore(client, archive, namespace="web")
    assert e.value.hint == "Namespaces in it: shop."


def test_restore_records_refusals_and_goes_on(cluster: Client, tmp_path: Path) -> None:
    settings = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": "shop"},
        "data": {"a": "b"},
    }
    archive = BackupArchive(
        summary=SUMMARY,
        objects=[
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}},
            {
                "apiVersion": "example.com/v1",
                "kind": "Unknown",
                "metadata": {"name": "u", "namespace": "shop"},
            },
            settings,
        ],
    )
    with _client(cluster) as client:
        result = backup.restore(client, archive)
    assert result.created == ["Namespace shop", "ConfigMap shop/settings"]
    assert [ref for ref, _ in result.failed] == ["Unknown shop/u"]
    assert "does not serve Unknown" in result.failed[0][1]


# -- unreachable clusters -----------------------------------------------------------------------------------


def _unreachable(cluster: Client) -> KubeClient:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # Nothing listens on the port any more: connections are refused.
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    for entry in config["clusters"]:
        entry["cluster"]["server"] = f"https://127.0.0.1:{port}"
    return KubeClient.from_kubeconfig(yaml.safe_dump(config), timeout=5)


def test_unreachable_cluster(cluster: Client) -> None:
    out = io.BytesIO()
    with _unreachable(cluster) as client:
        with pytest.raises(ClusterUnreachable):
            backup.export(client, cluster="gone", namespace=None, out=out, created_at=T0)
        archive = BackupArchive(summary=SUMMARY, objects=[_obj("v1", "Namespace", "shop")])
        with pytest.raises(ClusterUnreachable):
            backup.restore(client, archive)


# -- hostile archives ---------------------------------------------------------------------------------------

CONFIGMAP = (
    b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: shop\ndata:\n  a: b\n"
)
CONFIGMAP_PATH = "resources/shop/core/ConfigMap/settings.yaml"
BOMB = (
    textwrap.dedent("""\
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: settings, namespace: shop}
    a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
    b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
    c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
    d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
    e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
    f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]
    """)
).encode()


def _summary(object_count: int = 1, **changes) -> bytes:
    return json.dumps({**SUMMARY.to_dict(), "object_count": object_count, **changes}).encode()


def _info(name: str, kind: bytes = tarfile.REGTYPE, **attrs) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    for key, value in attrs.items():
        setattr(info, key, value)
    return info


def _tar_gz(*members: tuple[str, bytes] | tarfile.TarInfo) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tar.addfile(member)
            else:
                name, data = member
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


VALID = _tar_gz((CONFIGMAP_PATH, CONFIGMAP), ("kaas-backup.json", _summary()))


def test_a_minimal_archive_is_read() -> None:
    read = backup.read_archive(io.BytesIO(VALID))
    assert read.summary == dataclasses.replace(SUMMARY, object_count=1)
    assert read.objects == [yaml.safe_load(CONFIGMAP)]


def _with_summary(*members: tuple[str, bytes]) -> bytes:
    return _tar_gz(*members, ("kaas-backup.json", _summary(len(members))))


HOSTILE: dict[str, tuple[bytes, dict, str]] = {
    "random bytes": (random.Random(1).randbytes(4096), {}, "not gzip-compressed"),
    "empty": (b"", {}, "the backup file is empty"),
    "one byte": (b"\x1f", {}, "not gzip-compressed"),
    "gzip magic then garbage": (b"\x1f\x8b" + random.Random(2).randbytes(4096), {}, "corrupt"),
    "gzip of text": (gzip.compress(b"just some text, not a tar archive\n" * 50), {}, "not a tar archive"),
    "gzip of nothing": (gzip.compress(b""), {}, "not a tar archive"),
    "dot-dot": (_with_summary(("../evil", b"x")), {}, "unsafe path: '../evil'"),
    "dot-dot inside": (_tar_gz(("resources/../../evil.yaml", b"x")), {}, "unsafe path"),
    "absolute path": (_tar_gz(("/etc/cron.d/evil", b"x")), {}, "unsafe path: '/etc/cron.d/evil'"),
    "empty segment": (_tar_gz(("resources//x.yaml", b"x")), {}, "unsafe path"),
    "symlink": (
        _tar_gz(_info("resources/link", tarfile.SYMTYPE, linkname="/etc/passwd")),
        {},
        "symbolic link",
    ),
    "hardlink": (
        _tar_gz(_info("resources/hard", tarfile.LNKTYPE, linkname="kaas-backup.json")),
        {},
        "hard link",
    ),
    "char device": (_tar_gz(_info("resources/tty", tarfile.CHRTYPE, devmajor=4, devminor=1)), {}, "device"),
    "block device": (_tar_gz(_info("resources/sda", tarfile.BLKTYPE, devmajor=8, devminor=0)), {}, "device"),
    "fifo": (_tar_gz(_info("resources/pipe", tarfile.FIFOTYPE)), {}, "device or pipe"),
    "directory": (_tar_gz(_info("resources", tarfile.DIRTYPE)), {}, "not a regular file"),
    "foreign tar.gz": (
        _tar_gz(("Chart.yaml", b"name: web\n"), ("values.yaml", b"a: 1\n")),
        {},
        "not a kaas backup: it has an unexpected file 'Chart.yaml'",
    ),
    "no summary": (_tar_gz((CONFIGMAP_PATH, CONFIGMAP)), {}, "not a kaas backup: it has no kaas-backup.json"),
    "summary not json": (_tar_gz(("kaas-backup.json", b"{not json")), {}, "kaas-backup.json is invalid"),
    "format version 2": (_tar_gz(("kaas-backup.json", _summary(0, format=2))), {}, "format version 2"),
    "summary field wrong": (_tar_gz(("kaas-backup.json", _summary(0, cluster=None))), {}, "`cluster` must"),
    "yaml bomb": (_with_summary((CONFIGMAP_PATH, BOMB)), {}, "billion laughs"),
    "broken yaml": (
        _with_summary((CONFIGMAP_PATH, b"kind: [unclosed")),
        {},
        "backup file resources/shop/core/ConfigMap/settings.yaml document 1",
    ),
    "name mismatch": (
        _with_summary(("resources/shop/core/ConfigMap/other.yaml", CONFIGMAP)),
        {},
        "belongs at resources/shop/core/ConfigMap/settings.yaml",
    ),
    "namespace mismatch": (
        _with_summary(("resources/prod/core/ConfigMap/settings.yaml", CONFIGMAP)),
        {},
        "the archive was altered",
    ),
    "group mismatch": (
        _with_summary(("resources/shop/apps/ConfigMap/settings.yaml", CONFIGMAP)),
        {},
        "the archive was altered",
    ),
    "two objects in a file": (
        _with_summary((CONFIGMAP_PATH, CONFIGMAP + b"---\n" + CONFIGMAP.replace(b"settings", b"more"))),
        {},
        "holds 2 objects",
    ),
    "duplicate member": (
        _with_summary((CONFIGMAP_PATH, CONFIGMAP), (CONFIGMAP_PATH, CONFIGMAP)),
        {},
        "twice",
    ),
    "count mismatch": (
        _tar_gz((CONFIGMAP_PATH, CONFIGMAP), ("kaas-backup.json", _summary(3))),
        {},
        "incomplete",
    ),
    "too many members": (VALID, {"max_members": 1}, "more than 1 files"),
    "over max_bytes": (VALID, {"max_bytes": 1000}, "larger than 1,000 bytes"),
    "compression bomb": (
        _tar_gz(("kaas-backup.json", b" " * 3_000_000)),
        {"max_bytes": 1_000_000},
        "larger than",
    ),
    "truncated in the middle": (VALID[: len(VALID) // 2], {}, "truncated"),
    "truncated trailer": (VALID[:-4], {}, "truncated"),
    "bad checksum": (VALID[:-8] + b"\x00" * 8, {}, "corrupt"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_archives_are_refused(case: str) -> None:
    data, limits, message = HOSTILE[case]
    with pytest.raises(InvalidManifest, match=message) as refused:
        backup.read_archive(io.BytesIO(data), **limits)
    assert refused.value.hint
