"""The AKS adapter through the real azure-mgmt-containerservice SDK against the loopback ARM emulator."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from providers.aks import AksProvider, from_profile
from providers.aks.adapter import cluster_name
from providers.base import ClusterSpec, Progress, Provider
from providers.errors import (
    ClusterNotFound,
    InvalidClusterRequest,
    PermanentProviderError,
    ProviderConfigError,
    TransientProviderError,
)
from providers.sandbox.sandbox import Sandbox, SandboxSettings
from tests.emulators.aks import AksEmulator

TOKEN = "arm-test-token-0123456789"
SUBSCRIPTION = "00000000-0000-0000-0000-0000000000aa"
KUBECTL = "/usr/bin/kubectl"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    sb = Sandbox(SandboxSettings(state_dir=tmp_path_factory.mktemp("aks-sandbox"), tick_seconds=0.05))
    sb.start()
    yield sb
    sb.close()


@pytest.fixture(scope="module")
def emulator(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AksEmulator]:
    emu = AksEmulator(sandbox, tmp_path_factory.mktemp("arm"), token=TOKEN, op_seconds=0.3).start()
    yield emu
    emu.close()


@pytest.fixture(autouse=True)
def _clean_faults(emulator: AksEmulator) -> Iterator[None]:
    yield
    with emulator.lock:
        emulator.faults.clear()
        emulator._fail_next = None


def profile(emulator: AksEmulator, **overrides) -> dict:
    settings = {
        "subscription_id": SUBSCRIPTION,
        "resource_group": "kaas-rg",
        "location": "westeurope",
        "arm_endpoint": emulator.url,
        "ca_file": str(emulator.ca_file),
        "token_env": "KAAS_TEST_ARM_TOKEN",
        "max_retries": 0,
    }
    settings.update(overrides)
    return {k: v for k, v in settings.items() if v is not None}


def make(emulator: AksEmulator, **overrides) -> AksProvider:
    return from_profile(profile(emulator, **overrides), env={"KAAS_TEST_ARM_TOKEN": TOKEN})


@pytest.fixture
def provider(emulator: AksEmulator) -> Iterator[AksProvider]:
    p = make(emulator)
    yield p
    p.close()


def wait(provider: AksProvider, handle: dict, timeout: float = 20.0) -> tuple[Progress, list[Progress]]:
    seen: list[Progress] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        progress = provider.poll(json.loads(json.dumps(handle)))
        seen.append(progress)
        if progress.done:
            return progress, seen
        time.sleep(0.05)
    raise AssertionError(f"operation {handle.get('op')} did not finish: {seen[-1:]}")


def create(provider: AksProvider, name: str, **kw) -> str:
    spec = ClusterSpec(name=name, node_count=kw.pop("nodes", 1), version=kw.pop("version", "1.31"), **kw)
    done, _ = wait(provider, provider.start_create(spec))
    assert done.cluster_ref
    return done.cluster_ref


def kubectl_nodes(kubeconfig: str, tmp_path: Path) -> list[str]:
    path = tmp_path / "kubeconfig"
    path.write_text(kubeconfig)
    out = subprocess.run(
        [KUBECTL, "--kubeconfig", str(path), "get", "nodes", "-o", "name"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        check=True,
    )
    return out.stdout.split()


# -- lifecycle ---------------------------------------------------------------------------------------


def test_full_lifecycle(provider: AksProvider, emulator: AksEmulator, tmp_path: Path) -> None:
    assert isinstance(provider, Provider)
    spec = ClusterSpec(name="life", node_count=2, version="1.31", request_id="req-life")
    handle = provider.start_create(spec)
    assert handle["op"] == "create" and isinstance(handle["token"], str)
    done, seen = wait(provider, handle)
    assert not seen[0].done, "the create LRO should report InProgress first"
    ref = done.cluster_ref
    assert ref == cluster_name(spec)

    desc = provider.describe(ref)
    assert (desc.state, desc.version, desc.node_count, desc.machine_type) == (
        "running",
        "1.31",
        2,
        "Standard_D2s_v3",
    )
    assert desc.endpoint.startswith("https://") and desc.endpoint.endswith(":443")

    kubeconfig = provider.kubeconfig(ref)
    assert "certificate-authority-data" in kubeconfig
    assert len(kubectl_nodes(kubeconfig, tmp_path)) == 2

    wait(provider, provider.start_scale(ref, 3))
    assert provider.describe(ref).node_count == 3
    assert len(kubectl_nodes(kubeconfig, tmp_path)) == 3

    wait(provider, provider.start_upgrade(ref, "1.32"))
    assert provider.describe(ref).version == "1.32"

    done, _ = wait(provider, provider.start_delete(ref))
    assert done.cluster_ref == ref
    with pytest.raises(ClusterNotFound):
        provider.describe(ref)

    paths = [(m, p) for m, p, _ in emulator.requests]
    assert all(v for _, _, v in emulator.requests), "every ARM request carries api-version"
    assert any(
        p.endswith(f"/managedClusters/{ref}/listClusterUserCredential") for m, p in paths if m == "POST"
    )
    assert not any(p.endswith("/listClusterAdminCredential") for _, p in paths)
    assert any(m == "PUT" and p.endswith(f"/managedClusters/{ref}/agentPools/nodepool1") for m, p in paths)


def test_versions_and_machine_types(provider: AksProvider) -> None:
    assert provider.versions() == ["1.30", "1.31", "1.32", "1.33"]
    assert "Standard_D4s_v3" in provider.machine_types()


# -- resuming ----------------------------------------------------------------------------------------


def test_new_instance_resumes_saved_handles(emulator: AksEmulator) -> None:
    first = make(emulator)
    saved = json.dumps(first.start_create(ClusterSpec("resume", 1, "1.31", request_id="req-resume")))
    first.close()

    second = make(emulator)
    done, _ = wait(second, json.loads(saved))
    assert done.cluster_ref == cluster_name(ClusterSpec("resume", 1, "1.31", request_id="req-resume"))
    assert second.describe(done.cluster_ref).state == "running"

    saved = json.dumps(second.start_delete(done.cluster_ref))
    second.close()
    third = make(emulator)
    wait(third, json.loads(saved))
    assert emulator.find(done.cluster_ref) is None
    third.close()


def test_retried_start_create_adopts_the_same_cluster(
    provider: AksProvider, emulator: AksEmulator, sandbox: Sandbox
) -> None:
    spec = ClusterSpec("retry", 1, "1.31", request_id="req-retry")
    before = len(sandbox.list_clusters())
    first = provider.start_create(spec)  # the caller crashes before saving this handle
    second = provider.start_create(spec)
    assert second["cluster"] == first["cluster"]
    done, _ = wait(provider, second)
    assert done.cluster_ref == first["cluster"]
    assert len(sandbox.list_clusters()) == before + 1
    puts = [
        p
        for m, p, _ in emulator.requests
        if m == "PUT" and p.endswith(f"/managedClusters/{first['cluster']}")
    ]
    assert len(puts) == 1
    wait(provider, provider.start_delete(done.cluster_ref))


# -- faults ------------------------------------------------------------------------------------------


def test_throttling_is_transient_with_azures_message(provider: AksProvider, emulator: AksEmulator) -> None:
    emulator.inject(
        429,
        "TooManyRequests",
        "The request is being throttled as the limit has been reached for operation type - Read.",
        method="GET",
        headers={"Retry-After": "1"},
    )
    with pytest.raises(TransientProviderError, match="being throttled") as info:
        provider.describe("whatever")
    assert info.value.provider == "aks"
    assert info.value.__cause__ is not None


def test_sdk_honours_retry_after_before_giving_up(emulator: AksEmulator) -> None:
    patient = make(emulator, max_retries=2)
    emulator.inject(429, "TooManyRequests", "throttled", method="GET", headers={"Retry-After": "1"})
    started = time.monotonic()
    with pytest.raises(ClusterNotFound):
        patient.describe("no-such-cluster")
    assert time.monotonic() - started >= 0.9
    patient.close()


def test_service_unavailable_is_transient(provider: AksProvider, emulator: AksEmulator) -> None:
    emulator.inject(503, "ServiceUnavailable", "The service is temporarily unavailable.", method="PUT")
    with pytest.raises(TransientProviderError, match="temporarily unavailable"):
        provider.start_create(ClusterSpec("busy", 1, "1.31"))


def test_quota_exceeded_is_permanent_with_azures_message(
    provider: AksProvider, emulator: AksEmulator
) -> None:
    message = (
        "Operation could not be completed as it results in exceeding approved standardDSv3Family Cores "
        "quota. Location: westeurope, Current Limit: 10, Current Usage: 8, Additional Required: 4."
    )
    emulator.inject(400, "QuotaExceeded", message, method="PUT")
    with pytest.raises(PermanentProviderError) as info:
        provider.start_create(ClusterSpec("greedy", 2, "1.31"))
    assert info.value.message == message
    assert not isinstance(info.value, InvalidClusterRequest)


def test_rejected_parameters_are_invalid_requests(emulator: AksEmulator) -> None:
    lenient = make(emulator, versions=["1.29", "1.31"])
    with pytest.raises(InvalidClusterRequest, match=r"Version 1\.29 is not supported"):
        lenient.start_create(ClusterSpec("old", 1, "1.29"))
    lenient.close()


def test_adapter_rejects_unknown_version_and_machine_type(provider: AksProvider) -> None:
    with pytest.raises(InvalidClusterRequest, match=r"1\.99"):
        provider.start_create(ClusterSpec("x", 1, "1.99"))
    with pytest.raises(InvalidClusterRequest, match="Standard_Z9"):
        provider.start_create(ClusterSpec("x", 1, "1.31", machine_type="Standard_Z9"))


def test_failed_operation_raises_azures_message(provider: AksProvider, emulator: AksEmulator) -> None:
    emulator.fail_next_operation(
        "VMExtensionProvisioningError", "VM has reported a failure when processing extension 'vmssCSE'."
    )
    handle = provider.start_create(ClusterSpec("doomed", 1, "1.31", request_id="req-doomed"))
    with pytest.raises(PermanentProviderError, match="failure when processing extension 'vmssCSE'"):
        wait(provider, handle)
    assert provider.describe(handle["cluster"]).state == "error"
    wait(provider, provider.start_delete(handle["cluster"]))


def test_update_while_busy_is_transient(provider: AksProvider) -> None:
    ref = create(provider, "busy-scale", request_id="req-busy")
    handle = provider.start_scale(ref, 2)
    with pytest.raises(TransientProviderError, match="in progress operation"):
        provider.start_scale(ref, 3)
    wait(provider, handle)
    wait(provider, provider.start_delete(ref))


def test_cluster_deleted_out_of_band(provider: AksProvider, emulator: AksEmulator) -> None:
    ref = create(provider, "vanishing", request_id="req-vanish")
    emulator.delete_out_of_band(ref)
    with pytest.raises(ClusterNotFound, match="was not found"):
        provider.describe(ref)
    with pytest.raises(ClusterNotFound):
        provider.kubeconfig(ref)
    with pytest.raises(ClusterNotFound):
        provider.start_scale(ref, 2)
    with pytest.raises(ClusterNotFound):
        provider.start_upgrade(ref, "1.32")
    done, _ = wait(provider, provider.start_delete(ref))  # deleting what is gone succeeds at once (204)
    assert done.done


def test_wrong_token_is_permanent(emulator: AksEmulator) -> None:
    p = from_profile(profile(emulator), env={"KAAS_TEST_ARM_TOKEN": "not-the-token"})
    with pytest.raises(PermanentProviderError, match="access token is invalid"):
        p.describe("anything")
    p.close()


def test_unreachable_endpoint_is_transient(emulator: AksEmulator) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = make(emulator, arm_endpoint=f"https://127.0.0.1:{port}")
    with pytest.raises(TransientProviderError, match="cannot reach"):
        p.describe("anything")
    p.close()


def test_replace_node_is_not_supported(provider: AksProvider) -> None:
    with pytest.raises(PermanentProviderError, match="scale the node pool"):
        provider.start_replace_node("any", "aks-nodepool1-0")


def test_malformed_handle(provider: AksProvider) -> None:
    with pytest.raises(PermanentProviderError, match="malformed"):
        provider.poll({"op": "create"})
    with pytest.raises(PermanentProviderError, match="malformed"):
        provider.poll({"op": "create", "cluster": "c", "token": "not-a-token"})


# -- settings ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"subscription_id": None}, "subscription_id"),
        ({"subscription_id": "my-subscription"}, "subscription_id"),
        ({"resource_group": ""}, "resource_group"),
        ({"arm_endpoint": "http://127.0.0.1:1"}, "arm_endpoint"),
        ({"max_retries": 99}, "max_retries"),
        ({"client_secret": "inline-secret"}, "client_secret"),
        ({"token_env": None}, "token_env or token_file"),
        ({"token_file": "/tmp/also"}, "token_env or token_file"),
        ({"versions": []}, "versions"),
        ({"default_machine_type": "Standard_Z9"}, "default_machine_type"),
        ({"ca_file": "/nonexistent/ca.pem"}, "ca_file"),
        ({"token_env": "KAAS_TEST_UNSET_TOKEN"}, "token_env"),
        ({"token_env": None, "token_file": "/nonexistent/token"}, "token_file"),
    ],
)
def test_bad_settings_name_the_field(emulator: AksEmulator, overrides: dict, field: str) -> None:
    with pytest.raises(ProviderConfigError, match=field) as info:
        make(emulator, **overrides)
    assert "inline-secret" not in info.value.message


def test_token_file(emulator: AksEmulator, tmp_path: Path) -> None:
    token_file = tmp_path / "arm-token"
    token_file.write_text(TOKEN + "\n")
    p = from_profile(profile(emulator, token_env=None, token_file=str(token_file)), env={})
    with pytest.raises(ClusterNotFound):
        p.describe("absent")
    p.close()
