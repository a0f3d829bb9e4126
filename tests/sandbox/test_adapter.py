"""The sandbox provider adapter honours the provider protocol: resumable, idempotent, typed errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from providers.base import ClusterSpec, Provider
from providers.errors import ClusterNotFound, InvalidClusterRequest
from providers.sandbox.adapter import SandboxProvider
from providers.sandbox.sandbox import Sandbox, SandboxSettings


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def provider(tmp_path: Path, clock: FakeClock):
    sb = Sandbox(
        SandboxSettings(state_dir=tmp_path / "sb", create_seconds=30, delete_seconds=10, clock=clock)
    )
    yield SandboxProvider(sb)
    sb.close()


def test_satisfies_the_protocol(provider: SandboxProvider) -> None:
    assert isinstance(provider, Provider)
    assert "1.32" in provider.versions() and "e2-standard-4" in provider.machine_types()


def test_create_progresses_with_time_and_is_idempotent_per_request(provider, clock) -> None:
    spec = ClusterSpec(name="app", node_count=2, version="1.31", request_id="op-1")
    handle = provider.start_create(spec)
    assert provider.start_create(spec) == handle, "a retried start must not create a second cluster"
    assert len(provider.sandbox.list_clusters()) == 1
    first = provider.poll(handle)
    assert not first.done and first.cluster_ref == handle["ref"]
    clock.now += 15
    provider.sandbox.tick()
    halfway = provider.poll(handle)
    assert not halfway.done and 40 <= halfway.percent <= 60
    clock.now += 16
    provider.sandbox.tick()
    assert provider.poll(handle).done
    desc = provider.describe(handle["ref"])
    assert desc.state == "running" and desc.version == "1.31" and len(desc.nodes) == 2
    assert all(n.ready and n.version == "v1.31.10" for n in desc.nodes)
    assert "certificate-authority-data" in provider.kubeconfig(handle["ref"])


def test_day_two_operations_and_delete(provider, clock) -> None:
    provider.sandbox.settings.create_seconds = 0
    ref = provider.start_create(ClusterSpec(name="ops", node_count=1, version="1.30"))["ref"]
    assert provider.poll(provider.start_scale(ref, 3)).done
    assert provider.describe(ref).node_count == 3
    assert provider.poll(provider.start_upgrade(ref, "1.31")).done
    assert {n.version for n in provider.describe(ref).nodes} == {"v1.31.10"}
    old = provider.describe(ref).nodes[0].name
    replaced = provider.start_replace_node(ref, old)
    assert provider.poll(replaced).done and old not in {n.name for n in provider.describe(ref).nodes}
    handle = provider.start_delete(ref)
    assert not provider.poll(handle).done
    clock.now += 11
    provider.sandbox.tick()
    assert provider.poll(handle).done
    with pytest.raises(ClusterNotFound):
        provider.describe(ref)


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        (ClusterSpec(name="Bad_Name", node_count=1, version="1.32"), "invalid cluster name"),
        (ClusterSpec(name="x" * 41, node_count=1, version="1.32"), "invalid cluster name"),
        (ClusterSpec(name="ok", node_count=-1, version="1.32"), "node count"),
        (ClusterSpec(name="ok", node_count=10_000, version="1.32"), "node count"),
        (ClusterSpec(name="ok", node_count=1, version="1.12"), "unsupported Kubernetes version"),
        (ClusterSpec(name="ok", node_count=1, version="latest; rm -rf /"), "unsupported Kubernetes version"),
        (
            ClusterSpec(name="ok", node_count=1, version="1.32", machine_type="z9-huge"),
            "unknown machine type",
        ),
    ],
)
def test_invalid_requests_are_permanent_errors(provider, spec, fragment) -> None:
    with pytest.raises(InvalidClusterRequest, match=fragment):
        provider.start_create(spec)
    assert provider.sandbox.list_clusters() == []


def test_unknown_cluster_and_downgrade(provider) -> None:
    provider.sandbox.settings.create_seconds = 0
    with pytest.raises(ClusterNotFound):
        provider.start_scale("nope-123", 2)
    ref = provider.start_create(ClusterSpec(name="up", node_count=1, version="1.32"))["ref"]
    with pytest.raises(InvalidClusterRequest, match="cannot downgrade"):
        provider.start_upgrade(ref, "1.31")
