"""Deploy, list and undeploy apps through the core, against sandbox clusters, checked with kubectl."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
import time
from pathlib import Path

import pytest
from sqlmodel import select

from bot.runtime import Core
from handlers import errors
from handlers.apps import DeployRequest
from storage.models import AppRelease, AuditEvent, Cluster
from tests.handlers.conftest import ADMIN, ALICE, BOB, FileServer, RecordingSink
from tests.sandbox.clients import helm_binary

CHARTS = Path(__file__).resolve().parents[1] / "kube" / "charts"

APP = textwrap.dedent(
    """\
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
              x-kubernetes-preserve-unknown-fields: true
    ---
    apiVersion: example.com/v1
    kind: Widget
    metadata:
      name: gear
    spec:
      size: 3
    ---
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: web-config
    data:
      greeting: hello
    ---
    apiVersion: v1
    kind: Secret
    metadata:
      name: web-secret
    stringData:
      password: hunter2
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
    spec:
      replicas: 2
      selector:
        matchLabels: {app: web}
      template:
        metadata:
          labels: {app: web}
        spec:
          containers:
            - name: web
              image: nginx:1.27
              resources:
                requests: {cpu: 100m, memory: 64Mi}
    ---
    apiVersion: v1
    kind: Service
    metadata:
      name: web
    spec:
      selector: {app: web}
      ports:
        - port: 80
    ---
    apiVersion: networking.k8s.io/v1
    kind: Ingress
    metadata:
      name: web
    spec:
      rules:
        - host: web.example.com
          http:
            paths:
              - path: /
                pathType: Prefix
                backend:
                  service:
                    name: web
                    port: {number: 80}
    ---
    apiVersion: autoscaling/v2
    kind: HorizontalPodAutoscaler
    metadata:
      name: web
    spec:
      scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
      minReplicas: 2
      maxReplicas: 5
      metrics:
        - type: Resource
          resource:
            name: cpu
            target: {type: Utilization, averageUtilization: 80}
    """
)


def _cluster(core: Core, sink: RecordingSink, name: str = "apps", actor=ALICE) -> None:
    accepted = core.clusters.create(actor, name=name, nodes=3, idempotency_key=f"create-{name}")
    assert sink.final(accepted.operation_id).status == "succeeded"


def _kubectl(
    core: Core, tmp_path: Path, cluster: str, *args: str, check: bool = True
) -> subprocess.CompletedProcess:
    path = tmp_path / f"{cluster}.kubeconfig"
    if not path.exists():
        path.write_text(core.clusters.kubeconfig(ADMIN, cluster).content)
        path.chmod(0o600)
    return subprocess.run(
        ["kubectl", "--kubeconfig", str(path), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=check,
        env={"HOME": str(tmp_path), "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
    )


def _deploy(core: Core, sink: RecordingSink, key: str, actor=ALICE, **kwargs):
    accepted = core.apps.deploy(actor, DeployRequest(**kwargs), idempotency_key=key)
    return accepted, sink.final(accepted.operation_id, timeout=90)


def test_two_versions_side_by_side_then_undeploy_one(core: Core, sink: RecordingSink, tmp_path: Path) -> None:
    _cluster(core, sink)
    _, v1 = _deploy(core, sink, "d1", cluster="apps", app="web", version="v1", manifest=APP)
    assert v1.status == "succeeded", v1.text
    assert "`web@v1` is ready" in v1.text and "namespace `web-v1`" in v1.text
    _, v2 = _deploy(core, sink, "d2", cluster="apps", app="web", version="v2", manifest=APP)
    assert v2.status == "succeeded", v2.text

    for namespace, version in (("web-v1", "v1"), ("web-v2", "v2")):
        got = json.loads(
            _kubectl(
                core,
                tmp_path,
                "apps",
                "get",
                "deploy,svc,cm,secret,ingress,hpa,widgets",
                "-n",
                namespace,
                "-o",
                "json",
                "--show-managed-fields",
            ).stdout
        )
        kinds = sorted(
            {
                (item["kind"], item["metadata"]["name"])
                for item in got["items"]
                if item["metadata"]["name"] != "kube-root-ca.crt"
            }
        )
        assert kinds == sorted(
            [
                ("ConfigMap", "web-config"),
                ("Deployment", "web"),
                ("HorizontalPodAutoscaler", "web"),
                ("Ingress", "web"),
                ("Secret", "web-secret"),
                ("Service", "web"),
                ("Widget", "gear"),
            ]
        )
        for item in got["items"]:
            if item["metadata"]["name"] == "kube-root-ca.crt":
                continue
            labels = item["metadata"]["labels"]
            assert labels["kaas.dev/app"] == "web" and labels["kaas.dev/version"] == version
            managers = {m["manager"] for m in item["metadata"].get("managedFields", [])}
            assert "kaas" in managers
        pods = json.loads(
            _kubectl(core, tmp_path, "apps", "get", "pods", "-n", namespace, "-o", "json").stdout
        )
        assert len(pods["items"]) == 2
        assert all(p["metadata"]["labels"]["kaas.dev/version"] == version for p in pods["items"])

    listing = core.apps.apps(BOB, "apps")
    assert [(r.app, r.version, r.namespace, r.ready) for r in listing.rows] == [
        ("web", "v1", "web-v1", True),
        ("web", "v2", "web-v2", True),
    ]

    with pytest.raises(errors.Forbidden):
        core.apps.undeploy(BOB, "apps", "web", "v1", idempotency_key="u-bob")
    removed = core.apps.undeploy(ALICE, "apps", "web", "v1", idempotency_key="u1")
    final = sink.final(removed.operation_id, timeout=60)
    assert final.status == "succeeded", final.text
    gone = _kubectl(core, tmp_path, "apps", "get", "namespace", "web-v1", check=False)
    assert gone.returncode != 0 or "Terminating" in gone.stdout
    still = json.loads(
        _kubectl(core, tmp_path, "apps", "get", "deploy", "web", "-n", "web-v2", "-o", "json").stdout
    )
    assert still["metadata"]["name"] == "web"
    # The CRD is shared by the remaining version, so it stays.
    _kubectl(core, tmp_path, "apps", "get", "crd", "widgets.example.com")
    assert [(r.app, r.version) for r in core.apps.apps(ALICE, "apps").rows] == [("web", "v2")]
    with core.runner.sessions() as s:
        actions = [a.action for a in s.exec(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions.count("deploy") == 2 and "undeploy" in actions


def test_redeploy_updates_in_place_and_a_secret_never_reaches_a_message(
    core: Core, sink: RecordingSink, tmp_path: Path
) -> None:
    _cluster(core, sink)
    _, first = _deploy(core, sink, "a", cluster="apps", app="web", manifest=APP)
    assert first.status == "succeeded", first.text
    changed = APP.replace("greeting: hello", "greeting: bonjour")
    _, second = _deploy(core, sink, "b", cluster="apps", app="web", manifest=changed)
    assert second.status == "succeeded", second.text
    value = _kubectl(
        core, tmp_path, "apps", "get", "cm", "web-config", "-n", "web", "-o", "jsonpath={.data.greeting}"
    )
    assert value.stdout == "bonjour"
    assert all("hunter2" not in u.text and "hunter2" not in u.step for u in sink.updates)
    with core.runner.sessions() as s:
        for row in s.exec(select(AppRelease)):
            assert "hunter2" not in json.dumps(row.objects)

    # A third version of the manifest drops the Secret: the redeploy prunes it, as helm upgrade would.
    without_secret = "---\n".join(d for d in changed.split("---\n") if "kind: Secret" not in d)
    _, third = _deploy(core, sink, "c", cluster="apps", app="web", manifest=without_secret)
    assert third.status == "succeeded", third.text
    assert (
        _kubectl(core, tmp_path, "apps", "get", "secret", "web-secret", "-n", "web", check=False).returncode
        != 0
    )
    # The namespace was created by the first deploy, so undeploy still removes it after redeploys.
    removed = core.apps.undeploy(ALICE, "apps", "web", None, idempotency_key="u")
    assert sink.final(removed.operation_id, timeout=60).status == "succeeded"
    gone = _kubectl(core, tmp_path, "apps", "get", "namespace", "web", "-o", "name", check=False)
    assert (
        gone.returncode != 0 or "Terminating" in _kubectl(core, tmp_path, "apps", "get", "ns", "web").stdout
    )


FAILING = {
    "image": ("registry.invalid/web:1.0", "ImagePullBackOff"),
    "crash": ("nginx:1.27", "CrashLoopBackOff"),
}


@pytest.mark.parametrize("case", sorted(FAILING))
def test_rollout_failure_names_the_pod_reason(core: Core, sink: RecordingSink, case: str) -> None:
    _cluster(core, sink)
    image, reason = FAILING[case]
    manifest = APP.split("---\n")[4].replace("nginx:1.27", image)
    if case == "crash":
        manifest = manifest.replace("image: nginx:1.27", 'image: nginx:1.27\n          command: ["false"]')
    _, final = _deploy(
        core, sink, case, cluster="apps", app="bad", version="v1", manifest=manifest, timeout=60
    )
    assert final.status == "failed"
    assert reason in final.text and "Deployment web" in final.text
    row = core.apps.apps(ALICE, "apps").rows[0]
    assert row.status == "failed" and reason in row.detail
    # The cluster itself is fine: a failed deploy is not a failed cluster.
    assert core.clusters.info(ALICE, "apps").state == "ready"


def test_unschedulable_pods_time_out_with_the_scheduler_message(core: Core, sink: RecordingSink) -> None:
    _cluster(core, sink)
    manifest = APP.split("---\n")[4].replace("cpu: 100m", "cpu: '64'")
    _, final = _deploy(core, sink, "big", cluster="apps", app="big", manifest=manifest, timeout=10)
    assert final.status == "failed"
    assert "not ready within 10 s" in final.text
    assert "Insufficient cpu" in final.text


def test_helm_chart_install_and_upgrade_through_deploy(
    core: Core, sink: RecordingSink, tmp_path: Path
) -> None:
    _cluster(core, sink)
    chart = str(CHARTS / "webapp")
    _, first = _deploy(
        core, sink, "h1", cluster="apps", app="shop", version="1", chart=chart, local_paths=True
    )
    assert first.status == "succeeded", first.text
    values = "replicaCount: 3\n"
    _, second = _deploy(
        core,
        sink,
        "h2",
        cluster="apps",
        app="shop",
        version="1",
        chart=chart,
        values=(values,),
        set_values=("replicaCount=3",),
        local_paths=True,
    )
    assert second.status == "succeeded", second.text
    deployments = json.loads(
        _kubectl(core, tmp_path, "apps", "get", "deploy", "-n", "shop-1", "-o", "json").stdout
    )
    assert [d["spec"]["replicas"] for d in deployments["items"]] == [3]
    row = core.apps.apps(ALICE, "apps").rows[0]
    assert (row.kind, row.ready, row.namespace) == ("helm", True, "shop-1")
    removed = core.apps.undeploy(ALICE, "apps", "shop", "1", idempotency_key="hu")
    assert sink.final(removed.operation_id, timeout=90).status == "succeeded"
    left = json.loads(_kubectl(core, tmp_path, "apps", "get", "deploy", "-A", "-o", "json").stdout)
    assert not [d for d in left["items"] if d["metadata"]["namespace"] == "shop-1"]


def test_a_chart_that_fails_to_render_fails_the_deploy_with_helms_message(
    core: Core, sink: RecordingSink
) -> None:
    _cluster(core, sink)
    _, final = _deploy(
        core, sink, "hb", cluster="apps", app="broken", chart=str(CHARTS / "broken"), local_paths=True
    )
    assert final.status == "failed"
    assert "broken" in final.text.lower() or "render" in final.text.lower() or "fail" in final.text.lower()


def _bomb(levels: int = 9) -> str:
    """A billion-laughs document: each level refers ten times to the one before."""
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


BOMB = _bomb()
BAD_MANIFESTS = [
    ("not-yaml", "a: [1, 2\n", "line"),
    ("bomb", BOMB, "alias"),
    ("no-name", "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n", "name"),
    ("too-big", "a: " + "x" * (2 * 1024 * 1024 + 10) + "\n", "MiB"),
    ("empty", "# nothing\n", "no objects"),
]


@pytest.mark.parametrize(("case", "text", "fragment"), BAD_MANIFESTS, ids=[c[0] for c in BAD_MANIFESTS])
def test_hostile_manifests_are_refused_before_anything_is_recorded(
    core: Core, sink: RecordingSink, case: str, text: str, fragment: str
) -> None:
    _cluster(core, sink)
    with pytest.raises(errors.InvalidRequest) as raised:
        core.apps.deploy(ALICE, DeployRequest(cluster="apps", app="x", manifest=text), idempotency_key=case)
    assert fragment.lower() in raised.value.message.lower()
    assert core.apps.apps(ALICE, "apps").rows == ()


def test_unknown_kind_fails_without_applying_anything(
    core: Core, sink: RecordingSink, tmp_path: Path
) -> None:
    _cluster(core, sink)
    manifest = (
        APP.split("---\n")[2] + "---\n" + "apiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: g}\n"
    )
    _, final = _deploy(core, sink, "unknown", cluster="apps", app="odd", manifest=manifest)
    assert final.status == "failed"
    assert "Gadget" in final.text and "CustomResourceDefinition" in final.text
    missing = _kubectl(core, tmp_path, "apps", "get", "cm", "web-config", "-n", "odd", check=False)
    assert missing.returncode != 0


def test_a_namespace_the_manifest_pins_elsewhere_is_refused(core: Core, sink: RecordingSink) -> None:
    _cluster(core, sink)
    manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: prod}\n"
    _, final = _deploy(core, sink, "pinned", cluster="apps", app="pin", version="v1", manifest=manifest)
    assert final.status == "failed"
    assert "namespace `prod`" in final.text and "pin-v1" in final.text


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("file:///etc/passwd", "http"),
        ("http://169.254.169.254/latest/meta-data/", "address"),
        ("http://127.0.0.1:1/app.yaml", "address"),
        ("http://[::1]/app.yaml", "address"),
    ],
)
def test_ssrf_urls_are_refused(core: Core, sink: RecordingSink, url: str, fragment: str) -> None:
    _cluster(core, sink)
    try:
        accepted = core.apps.deploy(
            ALICE, DeployRequest(cluster="apps", app="x", url=url), idempotency_key=url
        )
    except errors.InvalidRequest as e:
        assert fragment in e.message.lower() or fragment in e.hint.lower()
        return
    final = sink.final(accepted.operation_id)
    assert final.status == "failed" and fragment in final.text.lower()


def test_someone_elses_cluster_and_unready_clusters(core: Core, sink: RecordingSink) -> None:
    _cluster(core, sink)
    with pytest.raises(errors.Forbidden):
        core.apps.deploy(BOB, DeployRequest(cluster="apps", app="x", manifest=APP), idempotency_key="bob")
    with pytest.raises(errors.NotFound):
        core.apps.deploy(ALICE, DeployRequest(cluster="nope", app="x", manifest=APP), idempotency_key="nope")
    with pytest.raises(errors.InvalidRequest):
        core.apps.deploy(ALICE, DeployRequest(cluster="apps", app="x"), idempotency_key="nothing")
    with core.runner.sessions() as s:
        denied = [a for a in s.exec(select(AuditEvent)) if a.result == "denied"]
        assert [a.action for a in denied] == ["deploy"]
        cluster = s.exec(select(Cluster).where(Cluster.name == "apps")).one()
        assert cluster.state == "ready"


def test_deploy_from_a_url_on_an_allowed_host_with_values_urls_refused_elsewhere(
    core: Core, sink: RecordingSink, file_server: FileServer, tmp_path: Path
) -> None:
    _cluster(core, sink)
    file_server.files["/web.yaml"] = APP.encode()
    _, final = _deploy(
        core, sink, "url", cluster="apps", app="web", version="v3", url=file_server.url("/web.yaml")
    )
    assert final.status == "succeeded", final.text
    assert core.apps.apps(ALICE, "apps").rows[0].source == file_server.url("/web.yaml")
    _, missing = _deploy(core, sink, "404", cluster="apps", app="gone", url=file_server.url("/nothing.yaml"))
    assert missing.status == "failed" and "404" in missing.text
    file_server.files["/huge.yaml"] = b"a: " + b"x" * (2 * 1024 * 1024 + 1)
    _, huge = _deploy(core, sink, "huge", cluster="apps", app="huge", url=file_server.url("/huge.yaml"))
    assert huge.status == "failed" and "larger than 2,097,152 bytes" in huge.text


def test_a_deploy_resumes_by_following_the_rollout_after_the_runner_stops(
    core: Core, sink: RecordingSink, tmp_path: Path
) -> None:
    _cluster(core, sink)
    waiting = APP.split("---\n")[4].replace(
        "      containers:", "      nodeSelector: {pool: later}\n      containers:"
    )
    manifest = APP.split("---\n")[2] + "---\n" + waiting
    accepted = core.apps.deploy(
        ALICE,
        DeployRequest(cluster="apps", app="late", manifest=manifest, timeout=120),
        idempotency_key="late",
    )

    def following() -> bool:
        return any(u.operation_id == accepted.operation_id and "replicas" in u.step for u in sink.updates)

    deadline = time.monotonic() + 30
    while not following():
        assert time.monotonic() < deadline, sink.updates
        time.sleep(0.05)
    applied = _kubectl(core, tmp_path, "apps", "get", "cm", "web-config", "-n", "late", "-o", "json")
    before = json.loads(applied.stdout)["metadata"]["resourceVersion"]
    core.runner.stop()  # as a stopping replica does: steps finish, leases are released

    nodes = _kubectl(core, tmp_path, "apps", "get", "nodes", "-o", "name").stdout.split()
    _kubectl(core, tmp_path, "apps", "label", nodes[0], "pool=later")
    core.runner.start()
    final = sink.final(accepted.operation_id, timeout=60)
    assert final.status == "succeeded", final.text
    after = _kubectl(core, tmp_path, "apps", "get", "cm", "web-config", "-n", "late", "-o", "json")
    assert json.loads(after.stdout)["metadata"]["resourceVersion"] == before, "the apply was not repeated"


def test_chart_from_a_helm_repository_by_url_and_version(
    core: Core, sink: RecordingSink, file_server: FileServer, tmp_path: Path
) -> None:
    """`--chart REPO_URL/NAME --chart-version X`: a real `helm package` and `helm repo index` on loopback."""
    helm = helm_binary()
    packaged = tmp_path / "repo"
    packaged.mkdir()
    env = {"HOME": str(tmp_path), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    subprocess.run(
        [helm, "package", str(CHARTS / "webapp"), "-d", str(packaged)],
        check=True,
        env=env,
        capture_output=True,
    )
    repo_url = file_server.url("/charts")
    subprocess.run(
        [helm, "repo", "index", str(packaged), "--url", repo_url], check=True, env=env, capture_output=True
    )
    for path in packaged.iterdir():
        file_server.files[f"/charts/{path.name}"] = path.read_bytes()
    _cluster(core, sink)
    _, final = _deploy(
        core,
        sink,
        "repo",
        cluster="apps",
        app="shop",
        version="2",
        chart=f"{repo_url}/webapp",
        chart_version="0.1.0",
    )
    assert final.status == "succeeded", final.text
    row = core.apps.apps(ALICE, "apps").rows[0]
    assert (row.kind, row.source, row.ready) == ("helm", f"{repo_url}/webapp", True)
    _, missing = _deploy(
        core,
        sink,
        "nover",
        cluster="apps",
        app="shop",
        version="3",
        chart=f"{repo_url}/webapp",
        chart_version="9.9.9",
    )
    assert missing.status == "failed" and "9.9.9" in missing.text


def test_following_a_rollout_does_not_hold_the_cluster_so_a_scale_can_rescue_it(
    core: Core, sink: RecordingSink
) -> None:
    accepted = core.clusters.create(ALICE, name="tight", nodes=1, idempotency_key="create-tight")
    assert sink.final(accepted.operation_id).status == "succeeded"
    # Two pods of three CPUs each: one fits on the single node, the other is Unschedulable.
    manifest = APP.split("---\n")[4].replace("cpu: 100m", "cpu: '3'")
    deploy = core.apps.deploy(
        ALICE,
        DeployRequest(cluster="tight", app="big", manifest=manifest, timeout=120),
        idempotency_key="deploy-big",
    )
    waiting = sink.wait_for(
        lambda u: u.operation_id == deploy.operation_id and "waiting for the rollout" in u.step
    )
    assert not waiting.final
    scale = core.clusters.scale(ALICE, "tight", nodes=2, idempotency_key="rescue")
    assert "starts once" not in scale.text  # nothing holds the cluster while the rollout is followed
    assert sink.final(scale.operation_id).status == "succeeded"
    assert sink.final(deploy.operation_id, timeout=90).status == "succeeded"
