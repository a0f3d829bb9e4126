"""Per-cluster bearer tokens, verified TLS, and state that survives a restart of the sandbox process."""

from __future__ import annotations

import base64
import socket
import ssl
from pathlib import Path

import pytest
import requests
import yaml

from providers.sandbox import pki
from providers.sandbox.sandbox import Sandbox, SandboxSettings
from tests.sandbox.clients import make_client

pytestmark = pytest.mark.e2e


def _ca_file(sandbox: Sandbox, tmp_path: Path) -> str:
    path = tmp_path / "ca.crt"
    path.write_text(sandbox.ca_pem)
    return str(path)


@pytest.mark.parametrize("who", ["none", "wrong", "other-cluster", "basic-scheme"])
def test_requests_without_this_clusters_token_get_401(sandbox: Sandbox, tmp_path: Path, who: str) -> None:
    mine = sandbox.create_cluster("mine", nodes=1)
    other = sandbox.create_cluster("other", nodes=1)
    headers = {
        "none": {},
        "wrong": {"Authorization": "Bearer not-the-token"},
        "other-cluster": {"Authorization": f"Bearer {sandbox.token(other.id)}"},
        "basic-scheme": {"Authorization": f"Basic {sandbox.token(mine.id)}"},
    }[who]
    resp = requests.get(
        f"{mine.endpoint}/api/v1/namespaces", headers=headers, verify=_ca_file(sandbox, tmp_path), timeout=10
    )
    assert resp.status_code == 401
    body = resp.json()
    assert body["kind"] == "Status" and body["reason"] == "Unauthorized" and body["code"] == 401
    ok = requests.get(
        f"{mine.endpoint}/api/v1/namespaces",
        verify=_ca_file(sandbox, tmp_path),
        timeout=10,
        headers={"Authorization": f"Bearer {sandbox.token(mine.id)}"},
    )
    assert ok.status_code == 200
    sandbox.delete_cluster(mine.id)
    sandbox.delete_cluster(other.id)


def test_kubeconfig_verifies_tls_and_fails_against_another_ca(sandbox: Sandbox, tmp_path: Path) -> None:
    c = make_client(sandbox, tmp_path, "tls", nodes=1)
    config = yaml.safe_load(c.kubeconfig.read_text())
    cluster = config["clusters"][0]["cluster"]
    assert "certificate-authority-data" in cluster and "insecure-skip-tls-verify" not in cluster
    # The served certificate chains to the CA in the kubeconfig and nowhere else.
    ctx = ssl.create_default_context(cadata=sandbox.ca_pem)
    host, port = sandbox.url.removeprefix("https://").rsplit(":", 1)
    with ctx.wrap_socket(socket.create_connection((host, int(port))), server_hostname=host):
        pass
    cluster["certificate-authority-data"] = base64.b64encode(pki.make_ca("impostor").cert_pem).decode()
    c.kubeconfig.write_text(yaml.safe_dump(config))
    proc = c.kubectl("get", "nodes", check=False)
    assert proc.returncode != 0
    assert "certificate signed by unknown authority" in proc.stderr


def test_state_survives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = Sandbox(SandboxSettings(state_dir=state)).start()
    c = make_client(first, tmp_path, "keep", nodes=2)
    c.kubectl("create", "namespace", "keepme")
    c.kubectl("create", "configmap", "precious", "-n", "keepme", "--from-literal=answer=42")
    uid = c.kubectl("get", "cm", "precious", "-n", "keepme", "-o", "jsonpath={.metadata.uid}").stdout
    rv_before = int(
        c.kubectl(
            "get", "cm", "precious", "-n", "keepme", "-o", "jsonpath={.metadata.resourceVersion}"
        ).stdout
    )
    port = first.port
    first.close()

    second = Sandbox(SandboxSettings(state_dir=state)).start()
    try:
        assert second.port == port, "the sandbox reuses its port so issued kubeconfigs keep working"
        # The kubeconfig issued before the restart (same CA, same token) still works.
        assert (
            c.kubectl("get", "cm", "precious", "-n", "keepme", "-o", "jsonpath={.data.answer}").stdout == "42"
        )
        assert (
            c.kubectl("get", "cm", "precious", "-n", "keepme", "-o", "jsonpath={.metadata.uid}").stdout == uid
        )
        assert len(c.kubectl("get", "nodes", "-o", "name").stdout.split()) == 2
        c.kubectl("create", "configmap", "later", "-n", "keepme")
        rv_after = int(
            c.kubectl(
                "get", "cm", "later", "-n", "keepme", "-o", "jsonpath={.metadata.resourceVersion}"
            ).stdout
        )
        assert rv_after > rv_before
    finally:
        second.close()
