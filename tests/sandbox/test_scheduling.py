"""The sandbox scheduler and node lifecycle, observed through kubectl and the control API."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from providers.sandbox.sandbox import Sandbox
from tests.sandbox.clients import Client, make_client

pytestmark = pytest.mark.e2e

HUNGRY = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: hungry, namespace: default}
spec:
  replicas: 3
  selector: {matchLabels: {app: hungry}}
  template:
    metadata: {labels: {app: hungry}}
    spec:
      containers:
      - name: main
        image: busybox
        resources: {requests: {cpu: "%s"}}
"""


def _pods(client: Client, selector: str) -> list[dict]:
    return json.loads(client.kubectl("get", "pods", "-l", selector, "-o", "json").stdout)["items"]


def _wait(predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.1)


def test_insufficient_cpu_leaves_pods_pending_until_the_pool_grows(sandbox: Sandbox, tmp_path: Path) -> None:
    # e2-standard-2 nodes have 1930m allocatable cpu: a 5-cpu pod fits none of them.
    c = make_client(sandbox, tmp_path, "tight", nodes=3, machine_type="e2-standard-2")
    path = tmp_path / "hungry.yaml"
    path.write_text(HUNGRY % "1500m")
    c.kubectl("apply", "-f", str(path))
    path.write_text(HUNGRY.replace("replicas: 3", "replicas: 4") % "1500m")
    c.kubectl("apply", "-f", str(path))
    pods = _pods(c, "app=hungry")
    pending = [p for p in pods if p["status"]["phase"] == "Pending"]
    assert len(pods) == 4 and len(pending) == 1
    cond = next(x for x in pending[0]["status"]["conditions"] if x["type"] == "PodScheduled")
    assert cond["status"] == "False" and cond["reason"] == "Unschedulable"
    assert cond["message"].startswith("0/3 nodes are available: 3 Insufficient cpu.")

    sandbox.resize(c.info.id, 4)
    pods = _wait(
        lambda: (ps := _pods(c, "app=hungry")) and all(p["status"]["phase"] == "Running" for p in ps) and ps
    )
    assert len({p["spec"]["nodeName"] for p in pods}) == 4


def test_not_ready_node_is_tainted_and_its_pods_move(sandbox: Sandbox, tmp_path: Path) -> None:
    c = make_client(sandbox, tmp_path, "flaky", nodes=3)
    c.kubectl("create", "deployment", "web", "--image=nginx", "--replicas=6")
    c.kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    victim = _pods(c, "app=web")[0]["spec"]["nodeName"]
    sandbox.set_node_ready(c.info.id, victim, False)
    node = json.loads(c.kubectl("get", "node", victim, "-o", "json").stdout)
    assert any(
        t["key"] == "node.kubernetes.io/not-ready" and t["effect"] == "NoExecute"
        for t in node["spec"]["taints"]
    )
    assert "NotReady" in c.kubectl("get", "node", victim, "--no-headers").stdout
    # After the (1 s) eviction grace period the pods are recreated on the healthy nodes.
    _wait(
        lambda: (
            all(
                p["spec"].get("nodeName") not in (None, victim) and p["status"]["phase"] == "Running"
                for p in _pods(c, "app=web")
            )
            and len(_pods(c, "app=web")) == 6
        )
    )
    sandbox.set_node_ready(c.info.id, victim, True)
    node = json.loads(c.kubectl("get", "node", victim, "-o", "json").stdout)
    assert not any(t["key"] == "node.kubernetes.io/not-ready" for t in node["spec"].get("taints") or [])
