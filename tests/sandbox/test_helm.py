"""The real helm v4 binary installs, upgrades, lists and uninstalls a chart on a sandbox cluster."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.sandbox.clients import Client

pytestmark = pytest.mark.e2e

CHART = str(Path(__file__).parent / "charts" / "shop")


def _releases(client: Client) -> dict[str, dict]:
    return {r["name"]: r for r in json.loads(client.helm("list", "-A", "-o", "json").stdout)}


@pytest.mark.parametrize("wait", ["hookOnly", "watcher", "legacy"])
def test_install_upgrade_list_uninstall(client: Client, wait: str) -> None:
    client.helm("install", "r1", CHART, f"--wait={wait}", "--timeout=60s")
    client.helm("install", "r2", CHART, "--set", "color=red", f"--wait={wait}", "--timeout=60s")
    releases = _releases(client)
    assert {"r1", "r2"} <= set(releases)
    assert releases["r1"]["status"] == "deployed" and releases["r1"]["revision"] == "1"
    assert client.kubectl("get", "cm", "r2-settings", "-o", "jsonpath={.data.color}").stdout == "red"

    client.helm(
        "upgrade",
        "r1",
        CHART,
        "--set",
        "replicaCount=3",
        "--set",
        "image=nginx:1.28",
        f"--wait={wait}",
        "--timeout=60s",
    )
    assert _releases(client)["r1"]["revision"] == "2"
    client.kubectl("rollout", "status", "deployment/r1-web", "--timeout=60s")
    images = client.kubectl(
        "get", "pods", "-l", "app=r1-web", "-o", "jsonpath={.items[*].spec.containers[0].image}"
    ).stdout.split()
    assert images == ["nginx:1.28"] * 3

    client.helm("uninstall", "r1", "--timeout=60s")
    assert "r1" not in _releases(client)
    assert client.kubectl("get", "deploy", "r1-web", check=False).returncode != 0
    assert client.kubectl("get", "pods", "-l", "app=r1-web", "-o", "name").stdout.strip() == ""
    assert "r2" in _releases(client)
