"""Unmodified /usr/bin/kubectl against sandbox clusters over verified HTTPS."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from providers.sandbox import versions
from providers.sandbox.sandbox import Sandbox
from tests.sandbox.clients import Client, make_client

pytestmark = pytest.mark.e2e

APP = textwrap.dedent("""\
    apiVersion: v1
    kind: Namespace
    metadata:
      name: shop
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
    stringData:
      password: hunter2
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
      namespace: shop
      labels: {app: web}
    spec:
      replicas: 3
      selector:
        matchLabels: {app: web}
      template:
        metadata:
          labels: {app: web}
        spec:
          containers:
          - name: web
            image: nginx:1.27
            ports:
            - containerPort: 80
            resources:
              requests: {cpu: 100m, memory: 64Mi}
    ---
    apiVersion: v1
    kind: Service
    metadata:
      name: web
      namespace: shop
    spec:
      selector: {app: web}
      ports:
      - port: 80
        targetPort: 80
    ---
    apiVersion: networking.k8s.io/v1
    kind: Ingress
    metadata:
      name: web
      namespace: shop
    spec:
      rules:
      - host: shop.example.com
        http:
          paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: web
                port: {number: 80}
    ---
    apiVersion: apiextensions.k8s.io/v1
    kind: CustomResourceDefinition
    metadata:
      name: widgets.example.com
    spec:
      group: example.com
      scope: Namespaced
      names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
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
                  color: {type: string}
        additionalPrinterColumns:
        - {name: Size, type: integer, jsonPath: .spec.size}
""")

WIDGET = textwrap.dedent("""\
    apiVersion: example.com/v1
    kind: Widget
    metadata:
      name: gear
      namespace: shop
    spec:
      size: 3
      color: red
""")


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("minor", versions.supported())
def test_get_nodes_on_every_offered_version(sandbox: Sandbox, tmp_path: Path, minor: str) -> None:
    c = make_client(sandbox, tmp_path, f"v{minor.replace('.', '')}", nodes=4, version=minor)
    out = c.kubectl("get", "nodes", "--no-headers").stdout.splitlines()
    assert len(out) == 4
    assert all(" Ready " in f" {line} " for line in out), out
    assert all(versions.PATCH_RELEASES[minor] in line for line in out), out
    server = json.loads(c.kubectl("version", "-o", "json").stdout)["serverVersion"]
    assert server["gitVersion"] == versions.PATCH_RELEASES[minor]


def test_apply_multi_document_manifest_then_custom_resource(client: Client, tmp_path: Path) -> None:
    out = client.kubectl("apply", "-f", _write(tmp_path, "app.yaml", APP)).stdout
    for line in (
        "namespace/shop created",
        "configmap/settings created",
        "secret/creds created",
        "deployment.apps/web created",
        "service/web created",
        "ingress.networking.k8s.io/web created",
        "customresourcedefinition.apiextensions.k8s.io/widgets.example.com created",
    ):
        assert line in out
    assert (
        "widget.example.com/gear created"
        in client.kubectl("apply", "-f", _write(tmp_path, "w.yaml", WIDGET)).stdout
    )
    got = client.kubectl("get", "widgets", "-n", "shop").stdout
    assert "gear" in got and "SIZE" in got and "3" in got
    client.kubectl("rollout", "status", "deployment/web", "-n", "shop", "--timeout=60s")
    pods = client.kubectl("get", "pods", "-n", "shop", "-l", "app=web", "--no-headers").stdout.splitlines()
    assert len(pods) == 3 and all("Running" in p and "1/1" in p for p in pods), pods
    secret = json.loads(client.kubectl("get", "secret", "creds", "-n", "shop", "-o", "json").stdout)
    assert secret["data"] == {"password": "aHVudGVyMg=="}


def test_unknown_field_is_rejected_without_disabling_validation(client: Client, tmp_path: Path) -> None:
    bad = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: default\nbogusField: 1\n"
    proc = client.kubectl("apply", "-f", _write(tmp_path, "bad.yaml", bad), check=False)
    assert proc.returncode != 0
    assert 'unknown field "bogusField"' in proc.stderr


def test_reapply_after_edit_patches_in_place(client: Client, tmp_path: Path) -> None:
    path = _write(tmp_path, "app.yaml", APP)
    client.kubectl("apply", "-f", path)
    uid = client.kubectl("get", "deploy", "web", "-n", "shop", "-o", "jsonpath={.metadata.uid}").stdout
    edited = APP.replace("replicas: 3", "replicas: 2").replace("nginx:1.27", "nginx:1.28")
    out = client.kubectl("apply", "-f", _write(tmp_path, "app2.yaml", edited)).stdout
    assert "deployment.apps/web configured" in out
    assert "configmap/settings unchanged" in out
    client.kubectl("rollout", "status", "deployment/web", "-n", "shop", "--timeout=60s")
    deploy = json.loads(client.kubectl("get", "deploy", "web", "-n", "shop", "-o", "json").stdout)
    assert deploy["metadata"]["uid"] == uid
    assert deploy["spec"]["replicas"] == 2
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
    images = client.kubectl(
        "get", "pods", "-n", "shop", "-o", "jsonpath={.items[*].spec.containers[0].image}"
    ).stdout
    assert images.split() == ["nginx:1.28", "nginx:1.28"]


def test_server_side_apply_creates_then_updates(client: Client, tmp_path: Path) -> None:
    path = _write(tmp_path, "app.yaml", APP)
    out = client.kubectl("apply", "--server-side", "-f", path).stdout
    assert "deployment.apps/web serverside-applied" in out
    edited = APP.replace("color: blue", "color: green")
    client.kubectl("apply", "--server-side", "-f", _write(tmp_path, "app2.yaml", edited))
    color = client.kubectl("get", "cm", "settings", "-n", "shop", "-o", "jsonpath={.data.color}").stdout
    assert color == "green"
    managers = client.kubectl(
        "get",
        "cm",
        "settings",
        "-n",
        "shop",
        "--show-managed-fields",
        "-o",
        "jsonpath={.metadata.managedFields[*].manager}",
    ).stdout
    assert "kubectl" in managers.split()


def test_scale_and_label_selection(client: Client, tmp_path: Path) -> None:
    client.kubectl("apply", "-f", _write(tmp_path, "app.yaml", APP))
    client.kubectl("scale", "deployment/web", "-n", "shop", "--replicas=5")
    client.kubectl("rollout", "status", "deployment/web", "-n", "shop", "--timeout=60s")
    assert len(client.kubectl("get", "pods", "-n", "shop", "-l", "app=web", "-o", "name").stdout.split()) == 5
    assert client.kubectl("get", "pods", "-n", "shop", "-l", "app!=web", "-o", "name").stdout.strip() == ""
    assert (
        len(client.kubectl("get", "pods", "-A", "-l", "app in (web,api)", "-o", "name").stdout.split()) == 5
    )


def test_delete_namespace_cascades(client: Client, tmp_path: Path) -> None:
    client.kubectl("apply", "-f", _write(tmp_path, "app.yaml", APP))
    client.kubectl("apply", "-f", _write(tmp_path, "w.yaml", WIDGET))
    client.kubectl("delete", "namespace", "shop", "--timeout=60s")
    assert "shop" not in client.kubectl("get", "ns", "-o", "name").stdout
    assert client.kubectl("get", "pods", "-A", "-l", "app=web", "-o", "name").stdout.strip() == ""
    assert client.kubectl("get", "rs", "-A", "-o", "name").stdout.strip() == ""
    assert client.kubectl("get", "widgets", "-A", "-o", "name").stdout.strip() == ""


def test_describe_shows_the_deployment_and_its_pods(client: Client, tmp_path: Path) -> None:
    client.kubectl("apply", "-f", _write(tmp_path, "app.yaml", APP))
    out = client.kubectl("describe", "deployment", "web", "-n", "shop").stdout
    assert "Replicas:               3 desired | 3 updated | 3 total | 3 available | 0 unavailable" in out
    assert "nginx:1.27" in out
    node = client.kubectl("describe", "nodes").stdout
    assert "Allocatable:" in node and "Non-terminated Pods:" in node


def test_imperative_create_commands_send_protobuf(client: Client) -> None:
    client.kubectl("create", "namespace", "proto")
    client.kubectl("create", "configmap", "c1", "-n", "proto", "--from-literal=a=b")
    client.kubectl("create", "secret", "generic", "s1", "-n", "proto", "--from-literal=k=v")
    client.kubectl("create", "serviceaccount", "robot", "-n", "proto")
    client.kubectl("create", "deployment", "hello", "-n", "proto", "--image=nginx", "--replicas=2")
    client.kubectl("rollout", "status", "deployment/hello", "-n", "proto", "--timeout=60s")
    assert client.kubectl("get", "cm", "c1", "-n", "proto", "-o", "jsonpath={.data.a}").stdout == "b"
    assert client.kubectl("get", "secret", "s1", "-n", "proto", "-o", "jsonpath={.data.k}").stdout == "dg=="
    pods = client.kubectl("get", "pods", "-n", "proto", "-l", "app=hello", "-o", "name").stdout.split()
    assert len(pods) == 2


def test_get_watch_streams_changes_as_table_rows(client: Client) -> None:
    client.kubectl("create", "namespace", "w")
    proc = client.kubectl("get", "configmaps", "-n", "w", "--watch", "--request-timeout=3s", check=False)
    assert "kube-root-ca.crt" in proc.stdout
    assert proc.stdout.splitlines()[0].split() == ["NAME", "DATA", "AGE"]


@pytest.mark.parametrize("minor", versions.supported())
def test_each_bundled_kubectl_can_create_apply_and_roll_out(
    sandbox: Sandbox, tmp_path: Path, minor: str
) -> None:
    # The dispatcher runs a different kubectl per server minor: 1.30/1.31 send JSON, 1.32+ protobuf.
    c = make_client(sandbox, tmp_path, f"k{minor.replace('.', '')}", nodes=2, version=minor)
    c.kubectl("create", "namespace", "app")
    c.kubectl("create", "configmap", "cfg", "-n", "app", "--from-literal=k=v")
    c.kubectl("create", "deployment", "web", "-n", "app", "--image=nginx", "--replicas=2")
    c.kubectl("rollout", "status", "deployment/web", "-n", "app", "--timeout=60s")
    out = c.kubectl("apply", "-f", _write(tmp_path, "app.yaml", APP)).stdout
    assert "deployment.apps/web created" in out
    c.kubectl("rollout", "status", "deployment/web", "-n", "shop", "--timeout=60s")
    c.kubectl("delete", "namespace", "app", "--timeout=60s")
    assert "app" not in c.kubectl("get", "ns", "-o", "name").stdout.split("namespace/")


def test_top_and_logs(client: Client, sandbox: Sandbox) -> None:
    client.kubectl("create", "deployment", "busy", "--image=nginx", "--replicas=2")
    client.kubectl("rollout", "status", "deployment/busy", "--timeout=60s")
    pod = client.kubectl("get", "pods", "-l", "app=busy", "-o", "jsonpath={.items[0].metadata.name}").stdout
    client.kubectl("annotate", "pod", pod, 'sandbox.kaas.dev/usage={"cpu": "900m", "memory": "1Gi"}')
    top = client.kubectl("top", "pod", pod, "--no-headers").stdout.split()
    assert top[:3] == [pod, "900m", "1024Mi"]
    nodes = client.kubectl("top", "nodes", "--no-headers").stdout.splitlines()
    assert len(nodes) == 3
    assert "started" in client.kubectl("logs", pod).stdout


def test_creating_in_a_terminating_namespace_is_forbidden(client: Client, sandbox: Sandbox) -> None:
    client.kubectl("create", "namespace", "doomed")
    client.kubectl("create", "deployment", "web", "-n", "doomed", "--image=nginx")
    # A finalizer on a dependent keeps the namespace Terminating long enough to observe.
    client.kubectl("create", "configmap", "held", "-n", "doomed")
    client.kubectl(
        "patch",
        "configmap",
        "held",
        "-n",
        "doomed",
        "--type=merge",
        "-p",
        '{"metadata": {"finalizers": ["example.com/hold"]}}',
    )
    client.kubectl("delete", "namespace", "doomed", "--wait=false")
    proc = client.kubectl("create", "configmap", "late", "-n", "doomed", check=False)
    assert proc.returncode != 0
    assert "forbidden" in proc.stderr and "being terminated" in proc.stderr


WORKLOADS = """\
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 3
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: postgres:16}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: agent, image: fluent-bit}]
"""


def test_statefulset_daemonset_and_job(client: Client, tmp_path: Path) -> None:
    client.kubectl("apply", "-f", _write(tmp_path, "workloads.yaml", WORKLOADS))
    client.kubectl("rollout", "status", "statefulset/db", "--timeout=60s")
    client.kubectl("rollout", "status", "daemonset/agent", "--timeout=60s")
    db = client.kubectl("get", "pods", "-l", "app=db", "-o", "name").stdout.split()
    assert db == ["pod/db-0", "pod/db-1", "pod/db-2"]
    agents = client.kubectl(
        "get", "pods", "-l", "app=agent", "-o", "jsonpath={.items[*].spec.nodeName}"
    ).stdout
    assert len(set(agents.split())) == 3
    client.kubectl("create", "job", "once", "--image=busybox", "--", "true")
    client.kubectl("wait", "--for=condition=complete", "job/once", "--timeout=60s")
    assert client.kubectl("get", "job", "once", "-o", "jsonpath={.status.succeeded}").stdout == "1"


def test_diff_and_server_dry_run_change_nothing_and_replace_does(client: Client, tmp_path: Path) -> None:
    path = _write(tmp_path, "app.yaml", APP)
    client.kubectl("apply", "-f", path)
    edited = _write(tmp_path, "edited.yaml", APP.replace("replicas: 3", "replicas: 1"))
    diff = client.kubectl("diff", "-f", edited, check=False)
    assert diff.returncode == 1 and "-  replicas: 3" in diff.stdout and "+  replicas: 1" in diff.stdout
    client.kubectl("apply", "--dry-run=server", "-f", edited)
    replicas = "jsonpath={.spec.replicas}"
    assert client.kubectl("get", "deploy", "web", "-n", "shop", "-o", replicas).stdout == "3"
    cm = json.loads(client.kubectl("get", "cm", "settings", "-n", "shop", "-o", "json").stdout)
    cm["data"]["color"] = "purple"
    assert "replaced" in client.kubectl("replace", "-f", "-", stdin=json.dumps(cm)).stdout
    assert (
        client.kubectl("get", "cm", "settings", "-n", "shop", "-o", "jsonpath={.data.color}").stdout
        == "purple"
    )
    # Replacing with the now-stale resourceVersion is a conflict, not a lost update.
    cm["data"]["color"] = "orange"
    stale = client.kubectl("replace", "-f", "-", stdin=json.dumps(cm), check=False)
    assert stale.returncode != 0 and "the object has been modified" in stale.stderr
