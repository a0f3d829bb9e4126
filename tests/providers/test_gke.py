"""The GKE adapter against the loopback GKE emulator (real google-cloud-container client, real HTTP)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time

import pytest
import yaml

from providers.base import ClusterSpec, Progress
from providers.errors import (
    ClusterNotFound,
    InvalidClusterRequest,
    PermanentProviderError,
    ProviderConfigError,
    TransientProviderError,
)
from providers.gke import GkeProvider, from_profile
from providers.sandbox.sandbox import Sandbox, SandboxSettings
from tests.emulators.gke.server import GkeEmulator

TOKEN = "test-access-token"
PROJECT, LOCATION = "kaas-test", "europe-west1"


@pytest.fixture
def sandbox(tmp_path):
    sb = Sandbox(SandboxSettings(state_dir=tmp_path / "sandbox")).start()
    yield sb
    sb.close()


@pytest.fixture
def emulator(sandbox):
    with GkeEmulator(sandbox, access_tokens=(TOKEN,), op_seconds=0.2) as em:
        yield em


def settings(emulator: GkeEmulator, **over) -> dict:
    base = {
        "project": PROJECT,
        "location": LOCATION,
        "api_endpoint": emulator.url,
        "token_env": "GKE_TOKEN",
        "kubeconfig_auth": "token",
        "machine_type": "e2-standard-2",
    }
    base.update(over)
    return base


def provider(emulator: GkeEmulator, **over) -> GkeProvider:
    return from_profile(settings(emulator, **over), env={"GKE_TOKEN": TOKEN})


def wait(p: GkeProvider, handle: dict, timeout: float = 15) -> Progress:
    deadline = time.monotonic() + timeout
    while True:
        progress = p.poll(handle)
        assert 0 <= progress.percent <= 100
        if progress.done:
            return progress
        assert time.monotonic() < deadline, f"operation did not finish: {progress}"
        time.sleep(0.05)


def kubectl_nodes(kubeconfig: str, tmp_path) -> list[str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    path = home / "kubeconfig"
    path.write_text(kubeconfig)
    out = subprocess.run(
        ["/usr/bin/kubectl", "--kubeconfig", str(path), "get", "nodes", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin")},
    )
    assert out.returncode == 0, out.stderr
    return [item["status"]["nodeInfo"]["kubeletVersion"] for item in json.loads(out.stdout)["items"]]


SPEC = ClusterSpec(
    name="demo", node_count=2, version="1.31", machine_type="e2-standard-2", request_id="req-1"
)


def test_full_lifecycle(emulator, sandbox, tmp_path):
    p = provider(emulator)
    handle = p.start_create(SPEC)
    assert handle["op"] == "create" and handle["operation"]
    json.dumps(handle)
    first = p.poll(handle)
    assert first.cluster_ref == f"projects/{PROJECT}/locations/{LOCATION}/clusters/{handle['cluster']}"
    ref = wait(p, handle).cluster_ref

    desc = p.describe(ref)
    assert (desc.state, desc.version, desc.node_count, desc.machine_type) == (
        "running",
        "1.31",
        2,
        "e2-standard-2",
    )
    assert desc.endpoint.startswith("https://127.0.0.1:")
    assert desc.name.startswith("demo-")

    kubeconfig = p.kubeconfig(ref)
    assert yaml.safe_load(kubeconfig)["users"][0]["user"] == {"token": TOKEN}
    assert [v.rsplit(".", 1)[0] for v in kubectl_nodes(kubeconfig, tmp_path)] == ["v1.31", "v1.31"]

    wait(p, p.start_scale(ref, 3))
    assert p.describe(ref).node_count == 3
    assert len(kubectl_nodes(kubeconfig, tmp_path)) == 3

    wait(p, p.start_upgrade(ref, "1.32"))
    assert p.describe(ref).version == "1.32"
    assert {v.rsplit(".", 1)[0] for v in kubectl_nodes(kubeconfig, tmp_path)} == {"v1.32"}

    wait(p, p.start_delete(ref))
    with pytest.raises(ClusterNotFound):
        p.describe(ref)
    assert sandbox.list_clusters() == []


def test_new_instance_resumes_saved_handle_and_retry_does_not_duplicate(emulator, sandbox):
    saved = json.loads(json.dumps(provider(emulator).start_create(SPEC)))
    resumed = provider(emulator)
    done = wait(resumed, saved)
    assert done.done and done.percent == 100

    again = provider(emulator).start_create(SPEC)
    assert again["cluster"] == saved["cluster"]
    assert wait(provider(emulator), again).cluster_ref == done.cluster_ref
    assert len(emulator.clusters) == 1 and len(sandbox.list_clusters()) == 1
    assert sum(1 for m, path in emulator.calls if m == "POST" and path.endswith("/clusters")) == 2


def test_retry_while_still_provisioning_polls_the_existing_cluster(emulator):
    emulator.op_seconds = 1.5
    p = provider(emulator)
    p.start_create(SPEC)
    retried = p.start_create(SPEC)
    assert retried["operation"] is None
    assert not p.poll(retried).done
    assert wait(p, retried).done


def test_same_name_different_requests_get_different_clusters(emulator):
    p = provider(emulator)
    a = p.start_create(SPEC)
    b = p.start_create(ClusterSpec(name="demo", node_count=1, version="1.31", request_id="req-2"))
    assert a["cluster"] != b["cluster"]
    wait(p, a)
    wait(p, b)
    assert len(emulator.clusters) == 2


def test_upgrade_resumes_from_stale_handle_without_a_second_node_upgrade(emulator):
    p = provider(emulator)
    ref = wait(p, p.start_create(SPEC)).cluster_ref
    handle = p.start_upgrade(ref, "1.33")
    stale = json.loads(json.dumps(handle))  # saved before poll moved on to the node pool stage
    time.sleep(0.3)
    assert not p.poll(handle).done
    assert handle["stage"] == "nodes"
    resumed = provider(emulator)
    assert wait(resumed, stale).done
    assert resumed.describe(ref).version == "1.33"
    assert sum(1 for m, path in emulator.calls if m == "PUT" and "/nodePools/" in path) == 1


@pytest.mark.parametrize(
    ("method", "kind", "error", "text"),
    [
        ("create_cluster", "429", TransientProviderError, "rate limit exceeded"),
        ("create_cluster", "503", TransientProviderError, "currently unavailable"),
        ("create_cluster", "quota", PermanentProviderError, "Insufficient regional quota"),
    ],
)
def test_create_faults_map_to_error_types(emulator, method, kind, error, text):
    emulator.fail_next(method, kind)
    with pytest.raises(error) as info:
        provider(emulator).start_create(SPEC)
    assert not isinstance(info.value, TransientProviderError) or error is TransientProviderError
    assert text in info.value.message
    assert not info.value.message.startswith(("POST", "GET"))
    assert info.value.provider == "gke"
    # the fault was one call only: the retry succeeds
    assert wait(provider(emulator), provider(emulator).start_create(SPEC)).done


def test_quota_error_is_not_transient(emulator):
    emulator.fail_next("create_cluster", "quota")
    with pytest.raises(PermanentProviderError) as info:
        provider(emulator).start_create(SPEC)
    assert not isinstance(info.value, TransientProviderError)
    assert f"project={PROJECT}" in info.value.message


def test_poll_faults_are_transient_then_recover(emulator):
    p = provider(emulator)
    handle = p.start_create(SPEC)
    emulator.fail_next("get_operation", "503", times=2)
    for _ in range(2):
        with pytest.raises(TransientProviderError):
            p.poll(handle)
    assert wait(p, handle).done


def test_operation_finishing_with_error_is_permanent(emulator):
    message = "Google Compute Engine: Not enough resources available to fulfill the request."
    emulator.fail_next_operation("CREATE_CLUSTER", message)
    p = provider(emulator)
    handle = p.start_create(SPEC)
    with pytest.raises(PermanentProviderError) as info:
        wait(p, handle)
    assert info.value.message == message
    assert (
        p.describe(f"projects/{PROJECT}/locations/{LOCATION}/clusters/{handle['cluster']}").state == "error"
    )


def test_cluster_deleted_out_of_band(emulator):
    p = provider(emulator)
    handle = p.start_create(SPEC)
    ref = wait(p, handle).cluster_ref
    emulator.delete_out_of_band(PROJECT, LOCATION, handle["cluster"])
    for call in (p.describe, p.kubeconfig, lambda r: p.start_scale(r, 1), p.start_delete):
        with pytest.raises(ClusterNotFound) as info:
            call(ref)
        assert "Not found" in info.value.message


def test_busy_cluster_is_transient_and_bad_request_is_invalid(emulator):
    emulator.op_seconds = 60
    p = provider(emulator, machine_types=["e2-standard-2", "c9-imaginary-4"])
    handle = p.start_create(SPEC)
    ref = f"projects/{PROJECT}/locations/{LOCATION}/clusters/{handle['cluster']}"
    with pytest.raises(TransientProviderError, match="incompatible operation"):
        p.start_scale(ref, 3)
    with pytest.raises(InvalidClusterRequest, match="unknown machine type"):
        p.start_create(
            ClusterSpec(
                name="x", node_count=1, version="1.31", machine_type="c9-imaginary-4", request_id="r9"
            )
        )
    with pytest.raises(InvalidClusterRequest, match="not offered"):
        p.start_create(ClusterSpec(name="x", node_count=1, version="1.29", request_id="r8"))
    with pytest.raises(InvalidClusterRequest, match="not offered"):
        p.start_upgrade(ref, "1.40")


def test_replace_node_is_explained_as_unsupported(emulator):
    with pytest.raises(PermanentProviderError, match="no Kubernetes Engine API call to replace one node"):
        provider(emulator).start_replace_node(f"projects/{PROJECT}/locations/{LOCATION}/clusters/x", "node-1")


def test_exec_kubeconfig_uses_the_gke_auth_plugin(emulator):
    p = provider(emulator, kubeconfig_auth="exec")
    ref = wait(p, p.start_create(SPEC)).cluster_ref
    doc = yaml.safe_load(p.kubeconfig(ref))
    user = doc["users"][0]["user"]
    assert "token" not in user and user["exec"]["command"] == "gke-gcloud-auth-plugin"
    assert TOKEN not in p.kubeconfig(ref)
    assert doc["clusters"][0]["cluster"]["certificate-authority-data"]


def test_wrong_access_token_is_permanent(emulator):
    p = from_profile(settings(emulator), env={"GKE_TOKEN": "not-the-token"})
    with pytest.raises(PermanentProviderError, match="rejected the access token"):
        p.start_create(SPEC)


def test_unreachable_endpoint_is_transient(emulator):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = provider(emulator, api_endpoint=f"http://127.0.0.1:{port}", timeout_seconds=2)
    with pytest.raises(TransientProviderError, match="cannot reach"):
        p.start_create(SPEC)


def test_token_from_file(emulator, tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    p = from_profile(settings(emulator, token_env=None, token_file=str(path)), env={})
    assert wait(p, p.start_create(SPEC)).done


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"zone": "x"}, "zone"),
        ({"project": ""}, "project"),
        ({"location": None}, "location"),
        ({"machine_type": "m9-huge"}, "machine_type"),
        ({"versions": ["1.x"]}, "versions"),
        ({"api_endpoint": "http://host/with path"}, "api_endpoint"),
        ({"kubeconfig_auth": "password"}, "kubeconfig_auth"),
        ({"token_file": "/tmp/t"}, "token_file"),
        ({"token": "inline-secret"}, "token"),
    ],
)
def test_bad_settings_name_the_field(emulator, over, field):
    with pytest.raises(ProviderConfigError) as info:
        from_profile(settings(emulator, **over), env={"GKE_TOKEN": TOKEN})
    assert field in info.value.message
    assert "inline-secret" not in info.value.message


def test_missing_project_is_named(emulator):
    s = settings(emulator)
    del s["project"]
    with pytest.raises(ProviderConfigError, match="project"):
        from_profile(s, env={"GKE_TOKEN": TOKEN})


def test_no_token_configured(emulator, tmp_path):
    with pytest.raises(ProviderConfigError, match="token_env or token_file"):
        from_profile(settings(emulator, token_env=None), env={})
    with pytest.raises(ProviderConfigError, match="GKE_TOKEN"):
        from_profile(settings(emulator), env={})
    empty = tmp_path / "empty"
    empty.write_text("")
    with pytest.raises(ProviderConfigError, match="token_file"):
        from_profile(settings(emulator, token_env=None, token_file=str(empty)), env={})
    with pytest.raises(ProviderConfigError, match="token_file"):
        from_profile(settings(emulator, token_env=None, token_file=str(tmp_path / "missing")), env={})


def test_emulator_speaks_google_error_shape_and_enum_encodings(emulator):
    import requests

    emulator.op_seconds = 30
    auth = {"Authorization": f"Bearer {TOKEN}"}
    base = f"{emulator.url}/v1/projects/{PROJECT}/locations/{LOCATION}"
    missing = requests.get(f"{base}/clusters/nope", headers=auth, timeout=10)
    assert missing.status_code == 404
    assert missing.json()["error"]["status"] == "NOT_FOUND" and missing.json()["error"]["code"] == 404
    emulator.fail_next("get_cluster", "429")
    limited = requests.get(f"{base}/clusters/nope", headers=auth, timeout=10)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
    assert limited.json()["error"]["status"] == "RESOURCE_EXHAUSTED"

    handle = provider(emulator).start_create(SPEC)
    as_names = requests.get(f"{base}/operations/{handle['operation']}", headers=auth, timeout=10).json()
    as_ints = requests.get(
        f"{base}/operations/{handle['operation']}",
        params={"$alt": "json;enum-encoding=int"},
        headers=auth,
        timeout=10,
    ).json()
    assert as_names["operationType"] == "CREATE_CLUSTER" and as_ints["operationType"] == 1
    assert as_names["status"] in ("PENDING", "RUNNING") and as_ints["status"] in (1, 2)
