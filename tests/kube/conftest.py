"""Sandbox clusters for the cluster-side client tests: one sandbox per module, one cluster per test."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from providers.sandbox.sandbox import Sandbox, SandboxSettings
from tests.sandbox.clients import Client, make_client


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    sb = Sandbox(
        SandboxSettings(
            state_dir=tmp_path_factory.mktemp("sandbox"), tick_seconds=0.05, node_eviction_seconds=1.0
        )
    )
    sb.start()
    yield sb
    sb.close()


@pytest.fixture
def cluster(sandbox: Sandbox, tmp_path: Path, request: pytest.FixtureRequest) -> Client:
    """A fresh 3-node cluster: `.kubeconfig` is its kubeconfig file, `.kubectl(...)` runs real kubectl."""
    name = "k" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:10]
    return make_client(sandbox, tmp_path, name, nodes=3)
