"""`providers.kube.helm` drives the real helm binary against sandbox clusters and maps its failures."""

from __future__ import annotations

import json
import socket
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from providers.kube.errors import ClusterUnreachable, InvalidManifest, KubeError
from providers.kube.helm import ChartRef, Helm, HelmRelease
from tests.sandbox.clients import Client, helm_binary

pytestmark = pytest.mark.e2e

CHARTS = Path(__file__).parent / "charts"
WEBAPP = ChartRef(str(CHARTS / "webapp"))
BROKEN = ChartRef(str(CHARTS / "broken"))
UNUSED_KUBECONFIG = "apiVersion: v1\nkind: Config\n"
"""For calls refused before helm runs: no cluster is needed to check them."""


@pytest.fixture
def work_dir(tmp_path: Path) -> Path:
    return tmp_path / "kaas-helm"


@pytest.fixture
def helm(work_dir: Path) -> Helm:
    return Helm(helm_binary(), work_dir=work_dir, timeout=120)


@pytest.fixture
def kubeconfig(cluster: Client) -> str:
    return cluster.kubeconfig.read_text()


@pytest.fixture
def closed_port_kubeconfig(cluster: Client) -> str:
    """The cluster's kubeconfig, pointed at a port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return _with_server(cluster.kubeconfig.read_text(), f"https://127.0.0.1:{port}")


@pytest.fixture
def silent_server_kubeconfig(cluster: Client) -> Iterator[str]:
    """A kubeconfig for a server that accepts connections and then never says a word."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield _with_server(cluster.kubeconfig.read_text(), f"https://127.0.0.1:{s.getsockname()[1]}")


def _with_server(kubeconfig: str, server: str) -> str:
    config = yaml.safe_load(kubeconfig)
    for entry in config["clusters"]:
        entry["cluster"]["server"] = server
    return yaml.safe_dump(config)


def _leftovers(work_dir: Path) -> list[Path]:
    """Files a call left behind in its private directory (none should survive the call)."""
    return sorted((work_dir / "calls").rglob("*"))


def _wait_ready(cluster: Client, namespace: str, name: str, replicas: int) -> dict:
    """The Deployment once its rollout is complete with `replicas` ready pods (fails after a deadline)."""
    deadline = time.monotonic() + 60
    while True:
        d = json.loads(cluster.kubectl("get", "deploy", name, "-n", namespace, "-o", "json").stdout)
        status = d.get("status", {})
        if (
            status.get("observedGeneration", 0) >= d["metadata"]["generation"]
            and d["spec"]["replicas"] == replicas
            and status.get("updatedReplicas") == replicas
            and status.get("readyReplicas") == replicas
            and status.get("replicas") == replicas
        ):
            return d
        if time.monotonic() > deadline:
            pytest.fail(f"deployment {namespace}/{name} never had {replicas} ready replicas: {status}")
        time.sleep(0.2)


def _configmap(cluster: Client, namespace: str, name: str) -> dict[str, str]:
    return json.loads(cluster.kubectl("get", "cm", name, "-n", namespace, "-o", "json").stdout)["data"]


def test_install_upgrade_manifest_uninstall(
    helm: Helm, kubeconfig: str, cluster: Client, work_dir: Path
) -> None:
    release = helm.upgrade_install(kubeconfig, release="shop", namespace="apps", chart=WEBAPP)

    assert release == HelmRelease(
        name="shop", namespace="apps", revision=1, status="deployed", chart="webapp-0.1.0", app_version="1.27"
    )
    _wait_ready(cluster, "apps", "shop-web", 1)
    assert _configmap(cluster, "apps", "shop-settings") == {"MESSAGE": "hello"}

    upgraded = helm.upgrade_install(
        kubeconfig,
        release="shop",
        namespace="apps",
        chart=WEBAPP,
        values_yaml=["message: first\nimage:\n  tag: '1.28'\n", "message: from the values file\n"],
        set_values=["replicaCount=3"],
    )

    assert (upgraded.revision, upgraded.status) == (2, "deployed")
    deployment = _wait_ready(cluster, "apps", "shop-web", 3)
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
    assert _configmap(cluster, "apps", "shop-settings") == {"MESSAGE": "from the values file"}
    assert helm.status(kubeconfig, release="shop", namespace="apps") == upgraded

    objects = list(yaml.safe_load_all(helm.manifest(kubeconfig, release="shop", namespace="apps")))
    assert sorted((o["kind"], o["metadata"]["name"]) for o in objects if o) == [
        ("ConfigMap", "shop-settings"),
        ("Deployment", "shop-web"),
        ("Service", "shop-web"),
    ]
    assert next(o for o in objects if o and o["kind"] == "Deployment")["spec"]["replicas"] == 3

    assert helm.uninstall(kubeconfig, release="shop", namespace="apps") is True
    for kind, name in (("deploy", "shop-web"), ("svc", "shop-web"), ("cm", "shop-settings")):
        assert cluster.kubectl("get", kind, name, "-n", "apps", check=False).returncode != 0
    assert helm.status(kubeconfig, release="shop", namespace="apps") is None
    assert helm.uninstall(kubeconfig, release="shop", namespace="apps") is False
    assert _leftovers(work_dir) == []


def test_without_create_namespace_a_missing_namespace_is_helms_error(helm: Helm, kubeconfig: str) -> None:
    with pytest.raises(KubeError) as err:
        helm.upgrade_install(
            kubeconfig, release="shop", namespace="nowhere", chart=WEBAPP, create_namespace=False
        )

    assert "nowhere" in err.value.message and not err.value.message.startswith("Error:")


def test_manifest_of_a_missing_release_says_so(helm: Helm, kubeconfig: str) -> None:
    with pytest.raises(KubeError, match="no release 'ghost' in namespace 'apps'") as err:
        helm.manifest(kubeconfig, release="ghost", namespace="apps")

    assert err.value.status == 404


def test_a_chart_that_fails_to_render_is_an_invalid_manifest(
    helm: Helm, kubeconfig: str, cluster: Client, work_dir: Path
) -> None:
    with pytest.raises(InvalidManifest) as err:
        helm.upgrade_install(kubeconfig, release="bad", namespace="apps", chart=BROKEN)

    assert err.value.message == (
        "execution error at (broken/templates/configmap.yaml:6:10): "
        "image.tag is required: set it in the values"
    )
    assert "helm template" in err.value.hint
    assert helm.status(kubeconfig, release="bad", namespace="apps") is None
    assert _leftovers(work_dir) == []


def test_values_that_do_not_parse_are_an_invalid_manifest_without_private_paths(
    helm: Helm, kubeconfig: str, work_dir: Path
) -> None:
    with pytest.raises(InvalidManifest) as err:
        helm.upgrade_install(
            kubeconfig, release="shop", namespace="apps", chart=WEBAPP, values_yaml=["ok: 1\n", "- a list\n"]
        )

    assert err.value.message.startswith("failed to parse values-2.yaml:")
    assert str(work_dir) not in err.value.message
    assert _leftovers(work_dir) == []


def test_an_unreachable_cluster_is_transient(helm: Helm, closed_port_kubeconfig: str, work_dir: Path) -> None:
    with pytest.raises(ClusterUnreachable, match="connection refused"):
        helm.upgrade_install(closed_port_kubeconfig, release="shop", namespace="apps", chart=WEBAPP)
    with pytest.raises(ClusterUnreachable):
        helm.status(closed_port_kubeconfig, release="shop", namespace="apps")
    with pytest.raises(ClusterUnreachable):
        helm.uninstall(closed_port_kubeconfig, release="shop", namespace="apps")

    assert _leftovers(work_dir) == []


def test_a_kubeconfig_helm_cannot_load_is_a_kube_error_without_its_path(helm: Helm, work_dir: Path) -> None:
    with pytest.raises(KubeError) as err:
        helm.status("clusters: [", release="shop", namespace="apps")

    assert 'error loading config file "kubeconfig"' in err.value.message
    assert str(work_dir) not in err.value.message
    assert _leftovers(work_dir) == []


def test_helm_that_does_not_finish_in_time_is_stopped(work_dir: Path, silent_server_kubeconfig: str) -> None:
    helm = Helm(helm_binary(), work_dir=work_dir, timeout=1)

    with pytest.raises(KubeError, match="did not finish within 1 s") as err:
        helm.status(silent_server_kubeconfig, release="shop", namespace="apps")

    assert not isinstance(err.value, ClusterUnreachable)
    assert _leftovers(work_dir) == []


@pytest.mark.parametrize(
    "value",
    ["--post-renderer=x", "-f=/etc/passwd", "replicaCount", "=3", "a b=c", "a\n=b", "", "image.tag\\=x"],
)
def test_set_values_that_are_not_key_value_are_refused(helm: Helm, value: str) -> None:
    with pytest.raises(InvalidManifest, match="is not a key=value setting"):
        helm.upgrade_install(
            UNUSED_KUBECONFIG, release="shop", namespace="apps", chart=WEBAPP, set_values=[value]
        )


def test_a_set_value_never_becomes_a_flag(helm: Helm, kubeconfig: str, cluster: Client) -> None:
    helm.upgrade_install(
        kubeconfig,
        release="shop",
        namespace="apps",
        chart=WEBAPP,
        set_values=["message=--post-renderer=x", "extra=b --kubeconfig /etc/passwd", "image.tag=1.28"],
    )

    assert _configmap(cluster, "apps", "shop-settings") == {"MESSAGE": "--post-renderer=x"}
    values = json.loads(cluster.helm("get", "values", "shop", "-n", "apps", "-o", "json").stdout)
    assert values == {
        "message": "--post-renderer=x",
        "extra": "b --kubeconfig /etc/passwd",
        "image": {"tag": "1.28"},
    }


@pytest.mark.parametrize(
    "name",
    ["Shop", "shop_1", "-shop", "shop-", "", "a" * 54, "--kubeconfig=/etc/passwd", "shop.web", "shop\n"],
)
def test_release_names_must_be_dns_labels_of_53_characters(helm: Helm, name: str) -> None:
    with pytest.raises(InvalidManifest, match="is not a valid release name"):
        helm.upgrade_install(UNUSED_KUBECONFIG, release=name, namespace="apps", chart=WEBAPP)
    with pytest.raises(InvalidManifest, match="is not a valid release name"):
        helm.uninstall(UNUSED_KUBECONFIG, release=name, namespace="apps")


def test_a_53_character_release_name_is_accepted(helm: Helm, closed_port_kubeconfig: str) -> None:
    # The name passes kaas's checks and reaches helm, which then fails to reach the (closed) cluster.
    with pytest.raises(ClusterUnreachable):
        helm.upgrade_install(closed_port_kubeconfig, release="a" * 53, namespace="apps", chart=WEBAPP)


@pytest.mark.parametrize("namespace", ["Apps", "apps_1", "-apps", "", "a" * 64])
def test_namespaces_must_be_dns_labels(helm: Helm, namespace: str) -> None:
    with pytest.raises(InvalidManifest, match="is not a valid namespace name"):
        helm.status(UNUSED_KUBECONFIG, release="shop", namespace=namespace)


@pytest.mark.parametrize(
    ("chart", "message"),
    [
        (ChartRef("--post-renderer=x"), "is not a chart reference"),
        (ChartRef(""), "is not a chart reference"),
        (ChartRef("nginx", repo_url="file:///etc"), "is not a chart repository URL"),
        (ChartRef("../nginx", repo_url="https://charts.example.com"), "is not a chart name"),
    ],
)
def test_chart_references_are_checked(helm: Helm, chart: ChartRef, message: str) -> None:
    with pytest.raises(InvalidManifest, match=message):
        helm.upgrade_install(UNUSED_KUBECONFIG, release="shop", namespace="apps", chart=chart)


FAKE_HELM = """\
import json, os, stat, sys
config = next(a.split("=", 1)[1] for a in sys.argv if a.startswith("--kubeconfig="))
values = [a.split("=", 1)[1] for a in sys.argv if a.startswith("--values=")]
seen = {
    "argv": sys.argv[1:],
    "env": dict(os.environ),
    "config_path": config,
    "config": open(config).read(),
    "mode": stat.S_IMODE(os.stat(config).st_mode),
    "values": [open(v).read() for v in values],
    "values_modes": [stat.S_IMODE(os.stat(v).st_mode) for v in values],
}
json.dump(seen, open(RECORD, "w"))
chart = {"metadata": {"name": "webapp", "version": "0.1.0"}}
release = {"name": "shop", "namespace": "apps", "version": 4, "info": {"status": "deployed"}, "chart": chart}
print(json.dumps(release))
"""


def test_helm_sees_a_private_kubeconfig_only_during_the_call_and_a_minimal_environment(
    tmp_path: Path, work_dir: Path
) -> None:
    """A stand-in binary records what helm would see: its argv, its environment, the kubeconfig file."""
    record = tmp_path / "record.json"
    fake = tmp_path / "fake-helm"
    fake.write_text(f"#!{sys.executable}\nRECORD = {str(record)!r}\n" + FAKE_HELM)
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    helm = Helm(fake, work_dir=work_dir, timeout=30)

    release = helm.upgrade_install(
        "apiVersion: v1\nkind: Config\n",
        release="shop",
        namespace="apps",
        chart=ChartRef("webapp", repo_url="https://charts.example.com", version="0.1.0"),
        values_yaml=["password: s3cret\n"],
        set_values=["replicaCount=3"],
    )

    seen = json.loads(record.read_text())
    assert release.revision == 4
    assert seen["config"] == "apiVersion: v1\nkind: Config\n" and seen["mode"] == 0o600
    assert seen["values"] == ["password: s3cret\n"] and seen["values_modes"] == [0o600]
    assert Path(seen["config_path"]).is_relative_to(work_dir)
    assert not Path(seen["config_path"]).exists()
    assert _leftovers(work_dir) == []
    # Python itself adds LC_CTYPE when it starts without a locale; helm gets nothing beyond these.
    assert set(seen["env"]) - {"LC_CTYPE"} == {
        "PATH",
        "HOME",
        "HELM_CACHE_HOME",
        "HELM_CONFIG_HOME",
        "HELM_DATA_HOME",
    }
    assert all(
        Path(seen["env"][k]).is_relative_to(work_dir) for k in seen["env"] if k.startswith(("HOME", "HELM_"))
    )
    argv = seen["argv"]
    assert argv[:2] == ["upgrade", "--install"]
    assert argv[-3:] == ["--", "shop", "webapp"]
    assert {
        "--namespace=apps",
        "--create-namespace",
        "--repo=https://charts.example.com",
        "--version=0.1.0",
        "--set=replicaCount=3",
        "--output=json",
    } <= set(argv)
    assert not any(a.startswith("--wait") for a in argv)
    assert "s3cret" not in " ".join(argv)


def test_a_missing_helm_binary_says_how_to_fix_it(tmp_path: Path, work_dir: Path) -> None:
    helm = Helm(tmp_path / "no-such-helm", work_dir=work_dir)

    with pytest.raises(KubeError, match=r"helm binary was not found at .*no-such-helm.*configure the path"):
        helm.upgrade_install(UNUSED_KUBECONFIG, release="shop", namespace="apps", chart=WEBAPP)

    assert _leftovers(work_dir) == []
