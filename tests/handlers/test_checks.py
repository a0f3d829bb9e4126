"""`/kaas check` through the core against a sandbox cluster: pending pods, a NotReady node, usage."""

from __future__ import annotations

import pytest

from bot import insight_views
from bot.runtime import Core
from handlers import errors
from handlers.apps import DeployRequest
from tests.handlers.conftest import ALICE, BOB, MALLORY, RecordingSink

HUNGRY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: hungry
spec:
  replicas: 2
  selector:
    matchLabels: {app: hungry}
  template:
    metadata:
      labels: {app: hungry}
    spec:
      containers:
        - name: main
          image: nginx:1.27
          resources:
            requests: {cpu: "64", memory: 64Mi}
"""


def test_check_reports_pending_pods_and_a_not_ready_node(core: Core, sink: RecordingSink) -> None:
    accepted = core.clusters.create(ALICE, name="busy", nodes=3, idempotency_key="c")
    assert sink.final(accepted.operation_id).status == "succeeded"
    healthy = core.checks.check(BOB, "busy")
    assert healthy.report.healthy and healthy.report.totals.nodes_ready == 3
    # The sandbox serves metrics.k8s.io, so usage is there next to requests.
    assert healthy.report.totals.metrics_available
    assert all(node.cpu.usage is not None for node in healthy.report.nodes)

    deploy = core.apps.deploy(
        ALICE, DeployRequest(cluster="busy", app="hungry", manifest=HUNGRY, timeout=10), idempotency_key="d"
    )
    assert sink.final(deploy.operation_id, timeout=60).status == "failed"
    sandbox = core.sandboxes[0]
    cluster_id = next(c.id for c in sandbox.list_clusters() if c.name == "busy")
    node = sorted(n["metadata"]["name"] for n in sandbox.cluster(cluster_id).nodes())[0]
    sandbox.set_node_ready(cluster_id, node, False)

    reply = core.checks.check(ALICE, "busy")
    report = reply.report
    codes = {w.code for w in report.warnings}
    assert {"NodeNotReady", "PodsUnschedulable"} <= codes
    unschedulable = next(w for w in report.warnings if w.code == "PodsUnschedulable")
    assert "Insufficient cpu" in unschedulable.text
    assert report.workload.pods.pending == 2
    assert report.totals.nodes_ready == 2 and report.totals.nodes_total == 3
    assert any(d.name == "hungry" and d.ready == 0 for d in report.workload.deployments)

    text = insight_views.check_text(reply.cluster, report)
    assert "NotReady" in text and "Insufficient cpu" in text
    blocks, detail = insight_views.check_blocks(reply.cluster, report)
    assert len(blocks) <= 50 and detail is None


def test_check_refuses_other_workspaces_and_unready_clusters(core: Core, sink: RecordingSink) -> None:
    accepted = core.clusters.create(ALICE, name="slow", nodes=1, idempotency_key="c")
    with pytest.raises(errors.NotFound):
        core.checks.check(MALLORY, "slow")
    sink.final(accepted.operation_id)
    with pytest.raises(errors.NotFound):
        core.checks.check(ALICE, "missing")


def test_check_of_an_unreachable_cluster_says_so(core: Core, sink: RecordingSink) -> None:
    accepted = core.clusters.create(ALICE, name="gone", nodes=1, idempotency_key="c")
    assert sink.final(accepted.operation_id).status == "succeeded"
    sandbox = core.sandboxes[0]
    sandbox.stop()
    with pytest.raises(errors.Conflict) as raised:
        core.checks.check(ALICE, "gone")
    assert "did not answer" in raised.value.message
