"""Fixtures for driving sandbox clusters with real clients (kubectl, helm, the kubernetes package)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from providers.sandbox.sandbox import Sandbox, SandboxSettings
from tests.sandbox.clients import Client, make_client


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """One sandbox server per test module, with fast ticks and a short eviction grace period."""
    sb = Sandbox(
        SandboxSettings(
            state_dir=tmp_path_factory.mktemp("sandbox"), tick_seconds=0.05, node_eviction_seconds=1.0
        )
    )
    sb.start()
    yield sb
    sb.close()


@pytest.fixture
def client(sandbox: Sandbox, tmp_path: Path, request: pytest.FixtureRequest) -> Client:
    """A fresh 3-node cluster (Kubernetes 1.32) for one test."""
    name = "t" + str(abs(hash(request.node.nodeid)) % 10**8)
    return make_client(sandbox, tmp_path, name, nodes=3)
